"""ASGI entry point for uvicorn: `uvicorn service.asgi:app`. Logs go to stderr as JSON lines."""

from deepfeat.logs import configure_json_logging
from service.app import create_app

configure_json_logging(loggers=("uvicorn", "uvicorn.error"))
app = create_app(freeze_heap=True)
