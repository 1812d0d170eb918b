"""The one door from the gateway to the queue: send a run or extraction id by task name (no task code
imported)."""

from __future__ import annotations

from functools import cached_property

from celery import Celery

from deepfeat.config import Settings
from workers.celery_app import EXTRACT_TASK, TRAIN_TASK, make_celery


class Enqueuer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def app(self) -> Celery:
        return make_celery(self.settings)

    def __call__(self, run_id: str, queue: str) -> None:
        self.app.send_task(TRAIN_TASK, args=[run_id], queue=queue)

    def extraction(self, extraction_id: str, queue: str) -> None:
        self.app.send_task(EXTRACT_TASK, args=[extraction_id], queue=queue)

    def ping(self) -> None:
        """Raise unless the broker answers (readiness)."""
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
