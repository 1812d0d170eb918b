"""Celery tasks: thin. A message carries one id; everything else is read from the database."""

from __future__ import annotations

import logging
import re

from deepfeat.config import get_settings
from workers.celery_app import TRAIN_TASK, app
from workers.runner import execute_run

log = logging.getLogger(__name__)
RUN_ID = re.compile(r"^run_[0-9a-f]{20}$")


@app.task(name=TRAIN_TASK)  # type: ignore[untyped-decorator]
def train_run(run_id: object) -> None:
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        log.warning("dropping message with a malformed run id: %r", run_id)
        return
    execute_run(run_id, get_settings())
