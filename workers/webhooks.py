"""The webhook dispatcher: a thread of each worker's main process that sends due deliveries, with
exponential backoff between attempts. State is the delivery row, so a restart loses nothing: a
delivery taken by a dispatcher that died is tried again once its hold expires."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from deepfeat.config import Settings
from deepfeat.db.repositories.webhooks import DeliveryQueue
from deepfeat.db.session import unit_of_work
from deepfeat.db.types import utcnow
from deepfeat.webhooks.send import send
from workers.runner import sessions_for

log = logging.getLogger(__name__)
BATCH = 20


def dispatch_once(settings: Settings) -> int:
    """Send every delivery that is due now; how many were attempted."""
    sessions = sessions_for(settings)
    hold = settings.webhook_timeout_s * 3
    with unit_of_work(sessions) as session:
        queue = DeliveryQueue(session)
        taken = []
        for delivery in queue.due(utcnow(), BATCH):
            if queue.take(delivery, utcnow(), hold):
                webhook = queue.endpoint(delivery.webhook_id)
                if webhook is not None:
                    taken.append(
                        (delivery.id, delivery.attempts + 1, delivery.payload, webhook.url, webhook.secret)
                    )
    for delivery_id, attempt, payload, url, secret in taken:  # no transaction open while sending
        outcome = send(url, secret, delivery_id, payload, settings)
        now = utcnow()
        if outcome.delivered:
            status, next_at = "delivered", now
        elif outcome.retry and attempt < settings.webhook_max_attempts:
            status, next_at = (
                "pending",
                now + timedelta(seconds=settings.webhook_backoff_s * 4 ** (attempt - 1)),
            )
        else:
            status, next_at = "failed", now
        with unit_of_work(sessions) as session:
            DeliveryQueue(session).record(
                delivery_id,
                status=status,
                next_attempt_at=next_at,
                code=outcome.status_code,
                error=outcome.error,
                delivered_at=now if outcome.delivered else None,
            )
        log.info("webhook %s attempt %d: %s (%s)", delivery_id, attempt, status, outcome.status_code)
    return len(taken)


class WebhookDispatcher(threading.Thread):
    def __init__(self, settings: Settings) -> None:
        super().__init__(name="deepfeat-webhooks", daemon=True)
        self.settings = settings
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.settings.webhook_poll_s):
            try:
                dispatch_once(self.settings)
            except Exception:
                log.exception("webhook dispatch failed; trying again next poll")
