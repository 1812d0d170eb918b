"""Celery tasks: thin. A message carries one id; everything else is read from the database."""

from __future__ import annotations

import logging
import re
import signal

from deepfeat.config import get_settings
from workers.celery_app import app
from workers.extractor import execute_extraction
from workers.lifecycle import PREEMPT
from workers.queue import EXTRACT_TASK, TRAIN_TASK, Enqueuer
from workers.runner import execute_run

log = logging.getLogger(__name__)
RUN_ID = re.compile(r"^run_[0-9a-f]{20}$")
EXTRACTION_ID = re.compile(r"^ext_[0-9a-f]{20}$")


@app.task(name=TRAIN_TASK)  # type: ignore[untyped-decorator]
def train_run(run_id: object) -> None:
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        log.warning("dropping message with a malformed run id: %r", run_id)
        return
    settings = get_settings()
    # While training, SIGTERM means "requeue and resume elsewhere", not death mid-step. Installed here
    # because billiard resets the child's handlers after Celery's process initializer.
    previous = signal.signal(signal.SIGTERM, lambda *_: PREEMPT.set())
    try:
        execute_run(run_id, settings, Enqueuer(settings))
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.task(name=EXTRACT_TASK)  # type: ignore[untyped-decorator]
def extract(extraction_id: object) -> None:
    """Embed a dataset with an encoder (an extraction job); its own task, never the train task."""
    if not isinstance(extraction_id, str) or not EXTRACTION_ID.match(extraction_id):
        log.warning("dropping message with a malformed extraction id: %r", extraction_id)
        return
    settings = get_settings()
    previous = signal.signal(signal.SIGTERM, lambda *_: PREEMPT.set())  # requeue, as for runs
    try:
        execute_extraction(extraction_id, settings, Enqueuer(settings).extraction)
    finally:
        signal.signal(signal.SIGTERM, previous)
