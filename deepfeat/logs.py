"""Structured logs: one JSON object per line, carrying the request id and run id of the work at hand.

Gateway and worker share this format, so `grep '"run_id": "run_…"'` follows one run through both.
The ids live in context variables: the gateway's middleware sets the request id (and the run id of
`/runs/{run_id}` routes), the worker sets the run id around each task.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("deepfeat_request_id", default=None)
run_id: ContextVar[str | None] = ContextVar("deepfeat_run_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the line.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in (("request_id", request_id), ("run_id", run_id)):
            value = getattr(record, key, None) or var.get()
            if value:
                line[key] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line and value is not None:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


_MARK = "_deepfeat_json"


def configure_json_logging(level: int | str = logging.INFO, loggers: tuple[str, ...] = ()) -> None:
    """Send the root logger (and `loggers`, which keep their own handlers otherwise) to stderr as JSON.

    Idempotent: calling it again (another app in the same process) adds no second handler.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    if not any(getattr(h, _MARK, False) for h in root.handlers):
        root.addHandler(handler)
    root.setLevel(level)
    for name in loggers:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
