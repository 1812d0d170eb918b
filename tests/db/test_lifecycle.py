"""The one leased-job lifecycle (`workers/lifecycle.py`) against a real database, for both kinds of job
it serves (runs and extraction jobs): claim or skip, finish with the files a job leaves, requeue, the
worker's unit of work (after-commit callbacks run once committed, dropped on rollback) and the fencing
that makes an attempt which lost its lease change nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from deepfeat.db.models import Artifact, Extraction, Run, RunEvent
from deepfeat.db.repositories.extractions import ExtractionLeases
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.session import after_commit, make_session_factory, rollback, unit_of_work
from deepfeat.db.types import utcnow
from deepfeat.storage.local import FileStore
from workers import lifecycle
from workers.lifecycle import PREEMPT, Outputs

Kind = type[LeaseRepository] | type[ExtractionLeases]
KINDS: dict[str, Kind] = {"run_1": LeaseRepository, "ext_1": ExtractionLeases}
log = logging.getLogger("tests.lifecycle")


@pytest.fixture
def sessions(session: Session) -> sessionmaker[Session]:
    """The worker's sessions on the fixture's database, which also holds a queued extraction `ext_1`."""
    session.add(
        Extraction(
            id="ext_1",
            project_id="prj_1",
            dataset_id="ds_1",
            dataset_sha256="0" * 64,
            encoder="minilm-l6",
            options={},
            max_attempts=2,
        )
    )
    session.commit()
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    return make_session_factory(engine)


@pytest.fixture(params=sorted(KINDS))
def job_id(request: pytest.FixtureRequest) -> str:
    """Each test using this runs for a run and for an extraction job."""
    value: str = request.param
    return value


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "artifacts")


@pytest.fixture
def no_preempt() -> Iterator[None]:
    yield
    PREEMPT.clear()


def claim(sessions: sessionmaker[Session], job_id: str, owner: str = "w1") -> int:
    with sessions() as session:
        leases = KINDS[job_id](session)
        attempt = lifecycle.claim_or_skip(
            leases, job_id, lambda: leases.claim(job_id, owner, 60), _no_send, log
        )
    assert attempt is not None
    return attempt


def expire(sessions: sessionmaker[Session], job_id: str) -> None:
    model = Run if job_id.startswith("run") else Extraction
    with unit_of_work(sessions) as session:
        session.execute(
            update(model).where(model.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def state(sessions: sessionmaker[Session], job_id: str) -> tuple[str, int, int, str | None]:
    with sessions() as session:
        job = KINDS[job_id](session).get(job_id)
        assert job is not None
        return job.status, job.attempt, job.max_attempts, job.lease_owner


def artifacts(sessions: sessionmaker[Session], job_id: str) -> list[tuple[str, str, int]]:
    column = Artifact.run_id if job_id.startswith("run") else Artifact.extraction_id
    with sessions() as session:
        rows = session.scalars(select(Artifact).where(column == job_id).order_by(Artifact.name))
        return [(row.name, row.media_type, row.size_bytes) for row in rows]


def events(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(RunEvent)) or 0)


def _no_send(job_id: str, queue: str) -> None:
    raise AssertionError(f"nothing may be sent here, yet {job_id} was sent to {queue}")


def test_a_workers_unit_of_work_runs_its_after_commit_callbacks_once_committed(
    sessions: sessionmaker[Session],
) -> None:
    seen: list[str] = []

    def callback() -> None:  # reads in its own session: the write must already be durable
        seen.append(state(sessions, "run_1")[0])

    with unit_of_work(sessions) as session:
        session.execute(update(Run).where(Run.id == "run_1").values(status="cancelled"))
        after_commit(session, callback)
        assert seen == []
    assert seen == ["cancelled"]


def test_a_rolled_back_unit_of_work_drops_its_writes_and_callbacks(sessions: sessionmaker[Session]) -> None:
    ran: list[str] = []

    def failing_step() -> None:
        with unit_of_work(sessions) as session:
            session.execute(update(Run).where(Run.id == "run_1").values(status="cancelled"))
            after_commit(session, lambda: ran.append("raised"))
            raise RuntimeError("the step failed")

    with pytest.raises(RuntimeError):
        failing_step()
    with unit_of_work(sessions) as session:  # a fenced write that did not land rolls back itself
        session.execute(update(Run).where(Run.id == "run_1").values(status="cancelled"))
        after_commit(session, lambda: ran.append("rolled back"))
        rollback(session)
    assert ran == []
    assert state(sessions, "run_1")[0] == "queued"


def test_a_preempted_job_is_requeued_without_counting_and_sent_after_the_commit(
    sessions: sessionmaker[Session], job_id: str
) -> None:
    attempt = claim(sessions, job_id)
    sent: list[tuple[str, str, str]] = []

    def send(sent_id: str, queue: str) -> None:  # enqueue after commit: the job is queued by then
        sent.append((sent_id, queue, state(sessions, job_id)[0]))

    kind = KINDS[job_id]
    assert lifecycle.requeue(sessions, kind, job_id, attempt, "cpu", send, count_attempt=False)
    assert sent == [(job_id, "cpu", "queued")]
    assert state(sessions, job_id) == ("queued", 1, 3, None)  # the cap grew by the attempt it gave back
    # A lost rank counts: the cap stays.
    attempt = claim(sessions, job_id)
    assert lifecycle.requeue(sessions, kind, job_id, attempt, "gpu", send, count_attempt=True)
    assert state(sessions, job_id) == ("queued", 2, 3, None)
    assert sent[-1] == (job_id, "gpu", "queued")


def test_a_finish_stores_the_jobs_files_and_records_one_row_each(
    sessions: sessionmaker[Session], job_id: str, store: FileStore
) -> None:
    attempt = claim(sessions, job_id)
    adopted = store.tmp_dir / "embeddings.npy"
    adopted.write_bytes(b"\x93NUMPY" + b"0" * 10)
    files: list[tuple[str, str, bytes | Path]] = [
        ("a.json", "application/json", b"{}"),
        ("embeddings.npy", "application/x-npy", adopted),
    ]
    assert lifecycle.finish(
        sessions, KINDS[job_id], job_id, attempt, "succeeded", outputs=Outputs(store, "prj_1", files)
    )
    assert state(sessions, job_id) == ("succeeded", 1, 2, None)
    assert artifacts(sessions, job_id) == [
        ("a.json", "application/json", 2),
        ("embeddings.npy", "application/x-npy", 16),
    ]
    assert not adopted.exists()  # consumed into the store
    with sessions() as session:
        row = session.scalars(select(Artifact).where(Artifact.name == "a.json")).one()
        assert store.path(row.path).read_bytes() == b"{}"


def test_a_file_stored_again_replaces_its_row(sessions: sessionmaker[Session], store: FileStore) -> None:
    for content in (b"first", b"second!"):
        with unit_of_work(sessions) as session:
            lifecycle.store_artifact(
                LeaseRepository(session), store, "run_1", "prj_1", "grid.png", "image/png", content
            )
    assert artifacts(sessions, "run_1") == [("grid.png", "image/png", 7)]


def test_an_attempt_that_lost_its_lease_changes_nothing(
    sessions: sessionmaker[Session], job_id: str, store: FileStore
) -> None:
    kind = KINDS[job_id]
    stale = claim(sessions, job_id, "w1")
    expire(sessions, job_id)
    assert claim(sessions, job_id, "w2") == stale + 1
    before = state(sessions, job_id), events(sessions)
    assert before[0] == ("running", 2, 2, "w2")

    def event(leases: LeaseRepository | ExtractionLeases) -> None:
        raise AssertionError("a fenced-out attempt must not write what its kind adds")

    outputs = Outputs(store, "prj_1", [("model.safetensors", "application/octet-stream", b"weights")])
    assert not lifecycle.finish(sessions, kind, job_id, stale, "succeeded", outputs=outputs, then=event)
    assert not lifecycle.finish(sessions, kind, job_id, stale, "failed", error="boom", then=event)
    assert not lifecycle.requeue(
        sessions, kind, job_id, stale, "cpu", _no_send, count_attempt=False, then=event
    )
    assert (state(sessions, job_id), events(sessions)) == before
    assert artifacts(sessions, job_id) == []


def test_a_held_job_is_skipped_and_a_shutting_down_worker_sends_a_queued_one_on(
    sessions: sessionmaker[Session], job_id: str, no_preempt: None, caplog: pytest.LogCaptureFixture
) -> None:
    claim(sessions, job_id, "w1")
    with sessions() as session, caplog.at_level(logging.INFO, logger=log.name):
        leases = KINDS[job_id](session)
        assert (
            lifecycle.claim_or_skip(leases, job_id, lambda: leases.claim(job_id, "w2", 60), _no_send, log)
            is None
        )
    noun = "run" if job_id.startswith("run") else "extraction"
    assert f"{noun} {job_id} not claimable; skipping" in caplog.messages
    assert state(sessions, job_id)[3] == "w1"  # a duplicate delivery leaves the holder alone

    expire(sessions, job_id)
    with unit_of_work(sessions) as session:  # back in the queue, its message then reaches a worker going down
        assert KINDS[job_id](session).requeue(job_id, 1, count_attempt=True)
    PREEMPT.set()
    sent: list[tuple[str, str]] = []
    with sessions() as session:
        leases = KINDS[job_id](session)
        attempt = lifecycle.claim_or_skip(
            leases, job_id, lambda: leases.claim(job_id, "w3", 60), lambda i, q: sent.append((i, q)), log
        )
    assert attempt is None
    assert sent == [(job_id, "cpu")]
    assert state(sessions, job_id) == ("queued", 1, 2, None)


def test_what_a_claim_adds_is_committed_with_it_and_a_held_back_job_says_why(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    with sessions() as session, caplog.at_level(logging.INFO, logger=log.name):
        leases = LeaseRepository(session)
        refused = lifecycle.claim_or_skip(
            leases, "run_1", lambda: None, _no_send, log, waiting="left queued: at its cap"
        )
        assert refused is None
        attempt = lifecycle.claim_or_skip(
            leases,
            "run_1",
            lambda: leases.claim("run_1", "w1", 60),
            _no_send,
            log,
            started=lambda n: leases.add_event("run_1", "status", f"running (attempt {n})"),
        )
    assert caplog.messages == ["run run_1 left queued: at its cap"]
    assert attempt == 1
    with sessions() as session:
        assert session.scalars(select(RunEvent.message)).all() == ["running (attempt 1)"]
    assert state(sessions, "run_1") == ("running", 1, 2, "w1")
