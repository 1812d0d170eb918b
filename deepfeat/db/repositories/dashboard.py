"""Read models for the dashboard and `/metrics`: counts across the whole service, queue positions, and
the project's encoders with their aliases. (Workers: repositories/workers.py.)

Cross-project answers here are numbers and worker names only; anything that names a run or an object is
scoped to a project by the caller's id, as in the other repositories.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deepfeat.db.models import Encoder, EncoderAlias, Run


@dataclass(frozen=True)
class EncoderListed:
    """A registered encoder with the aliases (`latest`, `prod`) that point at it."""

    encoder: Encoder
    aliases: list[str]


class DashboardRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def status_counts(self) -> dict[str, int]:
        """Runs per status over every project (for `/metrics`)."""
        rows = self.session.execute(select(Run.status, func.count()).group_by(Run.status)).all()
        return {str(s): int(n) for s, n in rows}

    def queue_depth(self) -> dict[str, int]:
        """Queued runs per queue (`cpu`, `gpu`)."""
        rows = self.session.execute(
            select(Run.device, func.count()).where(Run.status == "queued").group_by(Run.device)
        ).all()
        return {str(d): int(n) for d, n in rows}

    def encoders(self, project_id: str) -> list[EncoderListed]:
        """Encoders the project registered from its runs, newest version first within a name, each with
        its aliases (the pretrained catalogue lives in code)."""
        rows = self.session.scalars(
            select(Encoder)
            .where(Encoder.project_id == project_id)
            .order_by(Encoder.name, Encoder.version.desc())
        ).all()
        aliases: dict[str, list[str]] = {}
        if rows:
            found = self.session.execute(
                select(EncoderAlias.encoder_id, EncoderAlias.alias)
                .where(
                    EncoderAlias.project_id == project_id, EncoderAlias.encoder_id.in_([r.id for r in rows])
                )
                .order_by(EncoderAlias.alias)
            )
            for encoder_id, alias in found:
                aliases.setdefault(encoder_id, []).append(alias)
        return [EncoderListed(r, aliases.get(r.id, [])) for r in rows]
