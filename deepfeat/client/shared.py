"""What `Client` and `AsyncClient` share besides the requests (calls.py): headers, the wait loop's
pacing, and where a download lands."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from deepfeat.client.errors import ClientError, WaitTimeout
from deepfeat.client.local import DEFAULT_URL, default_key
from deepfeat.specs.runs import TERMINAL_STATUSES, RunOut


def base_url(url: str | None) -> str:
    return (url or os.environ.get("DEEPFEAT_URL") or DEFAULT_URL).rstrip("/")


def headers_for(url: str, key: str | None) -> tuple[str | None, dict[str, str]]:
    key = key if key is not None else default_key(url)
    headers = {"User-Agent": "deepfeat-client"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return key, headers


@dataclass
class Pacer:
    """`wait`'s polling: the interval grows ×1.5 up to `max_interval` while nothing changes and drops
    back on progress, so a watched run costs a few requests per epoch."""

    interval: float
    max_interval: float
    timeout: float | None
    deadline: float | None = field(init=False)
    seen: tuple[str, str] | None = None
    delay: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout
        self.delay = self.interval

    def changed(self, run: RunOut) -> bool:
        state = (run.status, json.dumps(run.progress, sort_keys=True))
        if state != self.seen:
            self.seen, self.delay = state, self.interval
            return True
        self.delay = min(self.delay * 1.5, self.max_interval)
        return False

    def next_delay(self, run: RunOut) -> float | None:
        """Seconds until the next poll; None once the run has ended. Raises WaitTimeout past the deadline."""
        if run.status in TERMINAL_STATUSES:
            return None
        if self.deadline is not None and time.monotonic() + self.delay > self.deadline:
            raise WaitTimeout(run, self.timeout or 0.0)
        return self.delay


def download_target(name: str, dest: str | Path | None) -> tuple[Path, Path]:
    """The file a download ends in, and the `.part` file it is written to first."""
    target = Path(dest) if dest is not None else Path(name)
    if target.is_dir():
        target = target / name
    return target, target.with_name(target.name + ".part")


def finish_download(partial: Path, target: Path, expected: str | None, actual: str, what: str) -> Path:
    """Move the checked bytes into place; a sha256 mismatch leaves no file."""
    if expected and expected != actual:
        partial.unlink(missing_ok=True)
        raise ClientError(f"{what} arrived corrupted (sha256 mismatch)")
    partial.replace(target)
    return target
