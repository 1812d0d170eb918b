"""Webhook endpoints of one project, and the delivery queue the workers' dispatcher works through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from deepfeat.db.models import Webhook, WebhookDelivery


class WebhookRepository:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def get(self, webhook_id: str) -> Webhook | None:
        return self.session.scalar(
            select(Webhook).where(Webhook.id == webhook_id, Webhook.project_id == self.project_id)
        )

    def all(self) -> Sequence[Webhook]:
        return self.session.scalars(
            select(Webhook).where(Webhook.project_id == self.project_id).order_by(Webhook.id)
        ).all()

    def add(self, webhook: Webhook) -> Webhook:
        self.session.add(webhook)
        self.session.flush()
        return webhook

    def delete(self, webhook: Webhook) -> None:
        self.session.delete(webhook)

    def add_delivery(self, delivery: WebhookDelivery) -> None:
        self.session.add(delivery)

    def deliveries(self, webhook_id: str, limit: int) -> Sequence[WebhookDelivery]:
        return self.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        ).all()


class DeliveryQueue:
    """Not project-scoped: the workers send every project's deliveries."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def due(self, now: datetime, limit: int) -> Sequence[WebhookDelivery]:
        return self.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        ).all()

    def take(self, delivery: WebhookDelivery, now: datetime, hold_s: float) -> bool:
        """Count an attempt and hold the delivery for `hold_s` (a dispatcher that dies mid-send leaves
        it to be tried again then); False when another dispatcher took it first."""
        result = self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery.id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.attempts == delivery.attempts,
            )
            .values(attempts=delivery.attempts + 1, next_attempt_at=now + timedelta(seconds=hold_s))
            .execution_options(synchronize_session=False)
        )
        return isinstance(result, CursorResult) and result.rowcount == 1

    def endpoint(self, webhook_id: str) -> Webhook | None:
        return self.session.get(Webhook, webhook_id)

    def record(
        self,
        delivery_id: str,
        *,
        status: str,
        next_attempt_at: datetime,
        code: int | None,
        error: str | None,
        delivered_at: datetime | None,
    ) -> None:
        self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(
                status=status,
                next_attempt_at=next_attempt_at,
                last_status_code=code,
                last_error=error,
                delivered_at=delivered_at,
            )
            .execution_options(synchronize_session=False)
        )
