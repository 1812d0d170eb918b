"""Encoders registered from runs, and their movable aliases, for one project."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deepfeat.db.models import Encoder, EncoderAlias


class EncoderRepository:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def get(self, name: str, version: int) -> Encoder | None:
        return self.session.scalar(
            select(Encoder).where(
                Encoder.project_id == self.project_id, Encoder.name == name, Encoder.version == version
            )
        )

    def by_id(self, encoder_id: str) -> Encoder:
        """A version this project registered (an extraction pins one by id at submit)."""
        return self.session.scalars(
            select(Encoder).where(Encoder.project_id == self.project_id, Encoder.id == encoder_id)
        ).one()

    def by_alias(self, name: str, alias: str) -> Encoder | None:
        return self.session.scalar(
            select(Encoder)
            .join(EncoderAlias, EncoderAlias.encoder_id == Encoder.id)
            .where(
                EncoderAlias.project_id == self.project_id,
                EncoderAlias.name == name,
                EncoderAlias.alias == alias,
            )
        )

    def latest_version(self, name: str) -> int:
        version = self.session.scalar(
            select(func.max(Encoder.version)).where(
                Encoder.project_id == self.project_id, Encoder.name == name
            )
        )
        return int(version or 0)

    def page(self, after: str | None, limit: int) -> Sequence[Encoder]:
        query = select(Encoder).where(Encoder.project_id == self.project_id, Encoder.archived_at.is_(None))
        if after:
            query = query.where(Encoder.id > after)
        return self.session.scalars(query.order_by(Encoder.id).limit(limit)).all()

    def aliases(self, encoder_ids: Sequence[str]) -> dict[str, list[str]]:
        rows = self.session.execute(
            select(EncoderAlias.encoder_id, EncoderAlias.alias)
            .where(EncoderAlias.project_id == self.project_id, EncoderAlias.encoder_id.in_(encoder_ids))
            .order_by(EncoderAlias.alias)
        )
        found: dict[str, list[str]] = {}
        for encoder_id, alias in rows:
            found.setdefault(encoder_id, []).append(alias)
        return found

    def newest_live(self, name: str) -> Encoder | None:
        """The highest version of `name` not archived."""
        return self.session.scalar(
            select(Encoder)
            .where(Encoder.project_id == self.project_id, Encoder.name == name, Encoder.archived_at.is_(None))
            .order_by(Encoder.version.desc())
            .limit(1)
        )

    def of_run(self, run_id: str) -> Sequence[Encoder]:
        """Every version registered from `run_id`, archived ones too."""
        return self.session.scalars(
            select(Encoder).where(Encoder.project_id == self.project_id, Encoder.run_id == run_id)
        ).all()

    def drop_alias(self, name: str, alias: str) -> None:
        row = self.session.scalar(
            select(EncoderAlias).where(
                EncoderAlias.project_id == self.project_id,
                EncoderAlias.name == name,
                EncoderAlias.alias == alias,
            )
        )
        if row is not None:
            self.session.delete(row)
            self.session.flush()

    def add(self, encoder: Encoder) -> Encoder:
        encoder.project_id = self.project_id
        self.session.add(encoder)
        self.session.flush()
        return encoder

    def set_alias(self, name: str, alias: str, encoder_id: str) -> None:
        """Point `name@alias` at `encoder_id`, moving it if it pointed elsewhere."""
        row = self.session.scalar(
            select(EncoderAlias).where(
                EncoderAlias.project_id == self.project_id,
                EncoderAlias.name == name,
                EncoderAlias.alias == alias,
            )
        )
        if row is None:
            self.session.add(
                EncoderAlias(project_id=self.project_id, name=name, alias=alias, encoder_id=encoder_id)
            )
        else:
            row.encoder_id = encoder_id
        self.session.flush()
