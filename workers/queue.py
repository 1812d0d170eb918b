"""The queue as both sides see it: queue and task names, the Celery configuration, and the gateway's one
door to the broker (`Enqueuer`: send an id by task name). The gateway imports only this module, never the
worker's app (`workers/celery_app.py`) or any task code."""

from __future__ import annotations

from functools import cached_property

from celery import Celery
from kombu.entity import Queue

from deepfeat.config import Settings
from workers import embedded_broker

embedded_broker.register()

QUEUES = ("cpu", "gpu")
TRAIN_TASK = "deepfeat.train_run"
EXTRACT_TASK = "deepfeat.extract"
# Redis redelivers an unacked message after this; far above any lease so a live worker keeps its run.
# Lost work is found sooner by the reaper (workers/reaper.py), from the database.
VISIBILITY_TIMEOUT_S = 12 * 3600


def make_celery(settings: Settings, include: tuple[str, ...] = ()) -> Celery:
    app = Celery("deepfeat", broker=settings.resolved_broker_url, include=list(include), set_as_current=False)
    embedded = settings.resolved_broker_url.startswith("sqla+")
    transport_options = {} if embedded else {"visibility_timeout": VISIBILITY_TIMEOUT_S}
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],  # a pickled message is refused, never loaded
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="cpu",
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


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
