"""Webhooks: endpoints per project, and the events they are told about.

`emit` writes one delivery row per subscribed endpoint in the caller's transaction (so an event is
sent exactly when what it reports was committed); the workers' dispatcher sends them. Run terminal
states are emitted from one place: the flush that records a run's terminal `status` event, wherever
that happens (worker, reaper, a cancel through the API).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, UOWTransaction

from deepfeat.config import Settings
from deepfeat.db.models import Run, RunEvent, Webhook, WebhookDelivery
from deepfeat.db.repositories.webhooks import WebhookRepository
from deepfeat.errors import NotFound, SpecError
from deepfeat.ids import new_id
from deepfeat.specs.runs import TERMINAL_STATUSES
from deepfeat.specs.webhooks import WebhookCreate
from deepfeat.webhooks.policy import AddressRefused, check_url
from deepfeat.webhooks.send import new_secret


class WebhookService:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id
        self.repo = WebhookRepository(session, project_id)

    def create(self, spec: WebhookCreate, settings: Settings) -> Webhook:
        try:
            check_url(str(spec.url), settings)
        except AddressRefused as exc:
            raise SpecError("/url", str(exc)) from None
        return self.repo.add(
            Webhook(
                id=new_id("whk"),
                project_id=self.project_id,
                url=str(spec.url),
                events=sorted(set(spec.events)),
                secret=new_secret(),
            )
        )

    def get(self, webhook_id: str) -> Webhook:
        webhook = self.repo.get(webhook_id)
        if webhook is None:
            raise NotFound(f"webhook {webhook_id!r} not found")
        return webhook

    def list(self) -> Sequence[Webhook]:
        return self.repo.all()

    def delete(self, webhook_id: str) -> None:
        self.repo.delete(self.get(webhook_id))

    def deliveries(self, webhook_id: str, limit: int) -> Sequence[WebhookDelivery]:
        self.get(webhook_id)
        return self.repo.deliveries(webhook_id, limit)

    def emit(self, event_type: str, data: dict[str, Any]) -> int:
        """Queue `event_type` for every endpoint of the project subscribed to it; how many."""
        payload = {"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}
        count = 0
        for webhook in self.repo.all():
            if event_type in webhook.events:
                self.repo.add_delivery(
                    WebhookDelivery(
                        id=new_id("msg"), webhook_id=webhook.id, event=event_type, payload=payload
                    )
                )
                count += 1
        return count


@event.listens_for(Session, "before_flush")
def _run_terminal_events(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    """A run's terminal status event being written → `run.<status>` for the project's endpoints."""
    ended = [
        obj
        for obj in session.new
        if isinstance(obj, RunEvent)
        and obj.kind == "status"
        and (obj.data or {}).get("status") in TERMINAL_STATUSES
    ]
    if not ended:
        return
    with session.no_autoflush:
        for run_event in ended:
            row = session.execute(
                select(Run.project_id, Run.name, Run.sweep_id, Run.best_metrics, Run.error).where(
                    Run.id == run_event.run_id
                )
            ).first()
            if row is None:
                continue
            status = run_event.data["status"]
            WebhookService(session, row.project_id).emit(
                f"run.{status}",
                {
                    "run_id": run_event.run_id,
                    "name": row.name,
                    "status": status,
                    "sweep_id": row.sweep_id,
                    "best_metrics": row.best_metrics,
                    "error": run_event.data.get("error") or row.error,
                    "message": run_event.message,
                },
            )
