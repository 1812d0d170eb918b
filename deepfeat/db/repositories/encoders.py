"""Encoders registered from runs, and their movable aliases, for one project."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from deepfeat.db.models import Artifact, Dataset, Encoder, EncoderAlias, Run

WEIGHTS = "model.safetensors"


@dataclass
class EncoderFacts:
    """What a catalogue entry of a registered encoder shows beside its own row."""

    input_shape: list[int] = field(default_factory=list)  # its run's dataset's (empty if gone)
    weights_sha256: str | None = None  # its run's `model.safetensors`
    aliases: list[str] = field(default_factory=list)  # sorted


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

    def facts(self, encoder_ids: Sequence[str]) -> dict[str, EncoderFacts]:
        """Input shape, weights digest and aliases of each encoder, in one query for any number of them
        (listing a page must not cost queries per entry): one row per (encoder, alias)."""
        if not encoder_ids:
            return {}
        p = self.project_id
        rows = self.session.execute(
            select(Encoder.id, Dataset.schema, Artifact.sha256, EncoderAlias.alias)
            .select_from(Encoder)
            .outerjoin(Run, and_(Run.id == Encoder.run_id, Run.project_id == p))
            .outerjoin(Dataset, and_(Dataset.id == Run.dataset_id, Dataset.project_id == p))
            .outerjoin(
                Artifact,
                and_(Artifact.run_id == Encoder.run_id, Artifact.project_id == p, Artifact.name == WEIGHTS),
            )
            .outerjoin(
                EncoderAlias, and_(EncoderAlias.encoder_id == Encoder.id, EncoderAlias.project_id == p)
            )
            .where(Encoder.project_id == p, Encoder.id.in_(encoder_ids))
            .order_by(Encoder.id, EncoderAlias.alias)
        )
        found: dict[str, EncoderFacts] = {}
        for encoder_id, schema, sha256, alias in rows:
            facts = found.get(encoder_id)
            if facts is None:
                shape = list(schema.input_shape) if schema is not None else []
                facts = found[encoder_id] = EncoderFacts(shape, sha256)
            if alias is not None:
                facts.aliases.append(alias)
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
