"""Public ids: a readable prefix plus a time-ordered hex body, so ids sort by creation (cursor paging)."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    """`run_0193a1b2c3d4e5f60718` — 12 hex digits of milliseconds, then 8 random ones."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(4)}"
