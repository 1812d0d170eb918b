"""What the client reads from this machine: spec files, and the admin key of a local `deepfeat up`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from deepfeat.client.errors import SpecFileError
from deepfeat.specs.runs import RunSpec

DEFAULT_URL = "http://127.0.0.1:8000"
SpecLike = Mapping[str, Any] | RunSpec | str | Path


def load_spec(source: SpecLike) -> dict[str, Any]:
    """A run spec as the JSON document to send: from a dict, a RunSpec, or a .json/.yaml file."""
    if isinstance(source, RunSpec):
        return source.model_dump(mode="json", by_alias=True)
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise SpecFileError(f"cannot read spec {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        where = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecFileError(
            f"spec {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {where}"
        ) from None
    if not isinstance(doc, dict):
        raise SpecFileError(f"spec {path} must hold one object (a mapping), not {type(doc).__name__}")
    return doc


def default_key(url: str = DEFAULT_URL) -> str | None:
    """DEEPFEAT_API_KEY, else (for a local server) the admin key `deepfeat up` wrote in the data dir."""
    if key := os.environ.get("DEEPFEAT_API_KEY"):
        return key
    if httpx.URL(url).host not in ("127.0.0.1", "localhost", "::1"):
        return None
    data_dir = Path(os.environ.get("DEEPFEAT_DATA_DIR", "./var")).expanduser()
    try:
        return (data_dir / "admin.key").read_text().strip() or None
    except OSError:
        return None
