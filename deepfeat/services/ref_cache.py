"""Registered encoder refs (`name`, `name@3`, `name@prod`) as the embedding routes resolve them,
remembered for a moment. Resolving one is a database read per request; at 32 clients on 2 cores those
reads, and the GIL their threads took from the event loop, held a small MLP to ~380 requests/s, against
~1,090 with them remembered.

An entry is trusted for `ttl_s`, and only while no encoder changed in this process since its lookup
began: registering, moving an alias and archiving call `encoders_changed` after their commit, which
voids every cache of the process at once. Another API process learns of a change within `ttl_s`.
"""

from __future__ import annotations

import itertools
import time
from typing import Generic, TypeVar

T = TypeVar("T")
REF_TTL_S = 1.0
_changes = itertools.count(1)
_generation = 0


def encoders_changed() -> None:
    """After a commit that registered, re-pointed or archived an encoder: nothing cached holds."""
    global _generation
    _generation = next(_changes)


def generation() -> int:
    """Read before a lookup and handed to `put`: a change while it ran keeps its answer out."""
    return _generation


class RefCache(Generic[T]):
    def __init__(self, ttl_s: float = REF_TTL_S, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: dict[tuple[str, str], tuple[T, float, int]] = {}

    def get(self, project_id: str, ref: str) -> T | None:
        hit = self._entries.get((project_id, ref))
        if hit is None or hit[1] <= time.monotonic() or hit[2] != _generation:
            return None
        return hit[0]

    def put(self, project_id: str, ref: str, value: T, looked_up_at: int) -> None:
        if looked_up_at != _generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[(project_id, ref)] = (value, time.monotonic() + self.ttl_s, looked_up_at)
