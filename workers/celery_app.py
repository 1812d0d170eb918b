"""The Celery app: JSON only, late acks, one message at a time; run state lives in our DB, not in results."""

from __future__ import annotations

import os
import signal
from typing import Any

from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from deepfeat import logs
from deepfeat.config import get_settings
from deepfeat.cores import pool_threads
from workers.queue import QUEUES, Enqueuer, make_celery

# The worker's app (`celery -A workers.celery_app worker`); the gateway only sends, via workers.queue.
app = make_celery(get_settings(), include=("workers.tasks",))
_reaper: Any = None
_heartbeat: Any = None
_webhooks: Any = None


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _child_init(**_: object) -> None:
    """Each pool child: its own DB connections (never share a forked pool), a fair share of cores, and
    its own GPU, picked by the index the prefork pool gives it (kept by a child that replaces it)."""
    import billiard.process
    import torch

    from deepfeat.gpus import claim_slot
    from workers.runner import reset_process_state

    claim_slot(getattr(billiard.process.current_process(), "index", None))

    settings = get_settings()
    concurrency = int(os.environ.get("DEEPFEAT_WORKER_CONCURRENCY", "1"))
    torch.set_num_threads(pool_threads(settings.torch_threads, concurrency))
    reset_process_state()


@worker_ready.connect  # type: ignore[untyped-decorator]
def _start_reaper(sender: Any = None, **_: object) -> None:
    """Threads of the worker's main process (never of a pool child): the reaper and the heartbeat."""
    global _reaper, _heartbeat, _webhooks
    from workers.heartbeat import HeartbeatThread
    from workers.reaper import Reaper
    from workers.webhooks import WebhookDispatcher

    settings = get_settings()
    enqueuer = Enqueuer(settings)
    _reaper = Reaper(settings, enqueuer, enqueuer.extraction)
    _reaper.start()
    queues = sorted(sender.app.amqp.queues.consume_from) if sender is not None else list(QUEUES)
    name = getattr(sender, "hostname", None) or f"worker@{os.getpid()}"
    concurrency = int(getattr(getattr(sender, "controller", None), "concurrency", None) or 1)
    _heartbeat = HeartbeatThread(settings, name, queues, concurrency)
    _heartbeat.start()
    _webhooks = WebhookDispatcher(settings)  # sends webhook deliveries, with retries
    _webhooks.start()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _say_goodbye(**_: object) -> None:
    """After the pool has stopped: remove this worker's heartbeat row (a killed worker goes stale)."""
    if _heartbeat is not None:
        _heartbeat.goodbye()


@worker_shutting_down.connect  # type: ignore[untyped-decorator]
def _preempt_children(**_: object) -> None:
    """A warm shutdown waits for running tasks; tell them to wind down instead of training to the end."""
    import billiard.process

    if _reaper is not None:
        _reaper.stopped.set()
    if _webhooks is not None:
        _webhooks.stopped.set()
    for child in billiard.process.active_children():
        if child.pid:
            os.kill(child.pid, signal.SIGTERM)


@setup_logging.connect  # type: ignore[untyped-decorator]
def _json_logs(loglevel: int | str = "INFO", **_: object) -> None:
    """JSON lines like the gateway's (connecting here stops Celery from installing its own format)."""
    logs.configure_json_logging(loglevel or "INFO")


@task_prerun.connect  # type: ignore[untyped-decorator]
def _bind_run_id(args: tuple[object, ...] = (), **_: object) -> None:
    """Every log line of a task carries the run id it was given, to follow one run end to end."""
    logs.run_id.set(args[0] if args and isinstance(args[0], str) else None)


@task_postrun.connect  # type: ignore[untyped-decorator]
def _unbind_run_id(**_: object) -> None:
    logs.run_id.set(None)
