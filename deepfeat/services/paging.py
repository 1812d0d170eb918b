"""Cursor pages: one way for every list to cap its size and say whether rows remain."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar


class HasId(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=HasId)


def cursor_page(fetch: Callable[[int], Sequence[R]], limit: int, cap: int) -> tuple[list[R], str | None]:
    """At most `min(limit, cap)` rows and the `next_after` cursor, None only when no row remains.

    Fetching one row more than the page is the only way to know: comparing the page's length with
    `limit` says "no more" whenever the cap cut the page short, and "more" when exactly `limit` rows
    were left.
    """
    size = min(limit, cap)
    rows = list(fetch(size + 1))
    page = rows[:size]
    return page, page[-1].id if len(rows) > size else None
