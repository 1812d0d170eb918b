"""Engines and sessions. SQLite gets WAL and a busy timeout so the API and a worker can share one file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """An engine tuned for its backend; the caller owns it (dispose it after a fork). `pool_size`
    (DEEPFEAT_DB_POOL_SIZE) is per process: processes x pool_size must fit the server's max_connections."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=2 * pool_size)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# Work that must only happen once the transaction is durable (enqueueing a job by id, say): a rollback
# must drop it. The one commit point of a request or a worker step runs these after committing.
_AFTER_COMMIT = "deepfeat.after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once `session` has committed; dropped if it rolls back."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def commit(session: Session) -> None:
    """Commit, then run the callbacks registered with `after_commit`."""
    session.commit()
    callbacks: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        callback()


def rollback(session: Session) -> None:
    session.rollback()
    session.info.pop(_AFTER_COMMIT, None)


@contextmanager
def unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction is committed when the block ends, then its `after_commit` callbacks
    run; if the block raises, it is rolled back and they are dropped. The commit point of a request
    and of each step of a worker. A block may call `rollback` itself (a fenced write that did not
    land): what it wrote and registered until then is dropped, and the final commit has nothing to do."""
    with sessions() as session:
        try:
            yield session
        except BaseException:
            rollback(session)
            raise
        commit(session)
