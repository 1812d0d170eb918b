"""What the CLI prints: tables for people, `--json` for scripts, and every failure as one line + exit code.

Results go to stdout; progress and errors go to stderr, so `deepfeat runs list --json | jq` stays clean.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
import typer.core
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deepfeat.client import ClientError, DeepfeatAPIError, ServerUnreachable, SpecFileError, WaitTimeout

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

PIPE_WIDTH = 240  # tables piped to a file or grep are not squeezed into 80 columns
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")]


class Exit:
    """Exit codes, documented in docs/cli.md."""

    OK = 0
    FAILED = 1  # a followed run ended failed/cancelled, or the server failed (5xx)
    USAGE = 2  # bad option or argument, unreadable spec or input file
    UNREACHABLE = 3
    AUTH = 4  # 401, 403
    NOT_FOUND = 5  # 404
    INVALID = 6  # 400, 413, 422: the request (spec, data) was refused
    CONFLICT = 7  # 409
    TIMEOUT = 124  # --timeout of a followed run ran out
    DETACHED = 130  # Ctrl-C while following: the run goes on


def describe(exc: ClientError, url: str) -> tuple[str, int]:
    """One line saying what went wrong and what to do, and the exit code."""
    if isinstance(exc, ServerUnreachable):
        return (
            f"cannot reach {exc.url}: is `deepfeat up` running? ({exc.reason}; "
            "point --url or DEEPFEAT_URL at the server)",
            Exit.UNREACHABLE,
        )
    if isinstance(exc, SpecFileError):
        return str(exc), Exit.USAGE
    if isinstance(exc, WaitTimeout):
        return f"{exc}; still watching? `deepfeat runs show {exc.run.id}`", Exit.TIMEOUT
    if not isinstance(exc, DeepfeatAPIError):
        return str(exc), Exit.FAILED
    status, detail = exc.status, exc.detail
    if status == 401:
        return (
            f"{url} refused the API key (401: {detail}); pass --key or set DEEPFEAT_API_KEY",
            Exit.AUTH,
        )
    if status == 403:
        return f"forbidden (403: {detail}); use a key with the needed scope", Exit.AUTH
    if status == 404:
        if exc.error == "not_found" and detail == "Not Found":
            return f"{url} does not offer this yet (404: no such route); upgrade the server", Exit.NOT_FOUND
        group = _GROUPS.get(detail.split(" ", 1)[0], "runs")
        return f"not found (404: {detail}); list what exists with `deepfeat {group} list`", Exit.NOT_FOUND
    if status == 405:
        return f"{url} does not offer this yet (405: {detail}); upgrade the server", Exit.NOT_FOUND
    if status == 409:
        return f"conflict (409: {detail})", Exit.CONFLICT
    if status in (400, 413, 422):
        if exc.loc:
            message = detail.removeprefix(f"{exc.loc}: ")
            return f"invalid {_what(exc)} at {exc.loc}: {message} ({status} {exc.error})", Exit.INVALID
        return f"{exc.error.replace('_', ' ')}: {detail} ({status})", Exit.INVALID
    if status == 429:
        return f"rate limited (429: {detail}); try again shortly", Exit.FAILED
    return f"the server failed ({status} {exc.error}: {detail})", Exit.FAILED


_GROUPS = {"run": "runs", "dataset": "datasets", "encoder": "encoders", "key": "keys"}


def _what(exc: DeepfeatAPIError) -> str:
    return "spec" if exc.error in ("invalid_spec", "invalid_request") else "request"


def fail(message: str, code: int) -> typer.Exit:
    """Print `error: message` on stderr and return the Exit to raise."""
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


class ErrorHandlingGroup(typer.core.TyperGroup):
    """The root group: a ClientError anywhere below it becomes one line on stderr and an exit code.

    It also takes `--url`/`--key` anywhere on the line (`deepfeat runs list --url ...`), not only
    before the command: people type them last.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_globals(args))

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context; its module is private
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            url = getattr(ctx.obj, "url", "the server")
            message, code = describe(exc, url)
            raise fail(message, code) from None
        except (typer.Exit, typer.TyperException, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("DEEPFEAT_DEBUG"):
                raise
            message = f"unexpected {type(exc).__name__}: {exc}; rerun with DEEPFEAT_DEBUG=1 for details"
            raise fail(message, Exit.FAILED) from None


GLOBAL_OPTIONS = ("--url", "--key")


def hoist_globals(args: list[str]) -> list[str]:
    """Move `--url X`/`--key X` (or `--url=X`) before the command, where the root option parser looks."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg in GLOBAL_OPTIONS and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        (front if arg.split("=", 1)[0] in GLOBAL_OPTIONS and "=" in arg else rest).append(arg)
        i += 1
    return front + rest


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """JSON on stdout, plain (no colours or wrapping), one document."""
    print(json.dumps(to_jsonable(value), indent=2, default=str))


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    """A table on stdout. Cells fold rather than end in "…": an id cut short is useless; the first
    column (the id) never wraps."""
    cells = [[cell_text(c) for c in row] for row in rows]
    grid = Table(title=title, show_edge=False, header_style="bold")
    for i, name in enumerate(columns):
        if i == 0:
            grid.add_column(name, no_wrap=True, min_width=max([len(name)] + [len(r[0]) for r in cells]))
        else:
            grid.add_column(name, overflow="fold")
    for row in cells:
        grid.add_row(*(escape(c) for c in row))
    _wide().print(grid)


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """A two-column `field  value` listing for one object."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in pairs:
        grid.add_row(name, escape(cell_text(value)))
    _wide().print(grid)


def _wide() -> Console:
    """stdout as a console; off a terminal (a pipe, a file) as wide as a table needs, not 80 columns."""
    if out.is_terminal or os.environ.get("COLUMNS"):
        return out
    return Console(file=sys.stdout, width=PIPE_WIDTH, highlight=False, soft_wrap=True)


def cell_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {cell_text(v)}" for k, v in value.items()) or "-"
    return str(value)
