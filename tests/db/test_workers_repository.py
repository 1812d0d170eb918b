"""Worker heartbeats on both databases: upsert, stale → offline, goodbye, and whose run may be named."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from deepfeat.db.models import Run, Worker
from deepfeat.db.repositories.workers import Slot, WorkerBeat, WorkerRepository, stale_after
from deepfeat.db.types import utcnow
from tests.helpers.db import placeholder_run

STALE = stale_after(10.0)


def beat(name: str, processes: list[str], device: str = "cpu") -> WorkerBeat:
    return WorkerBeat(
        id=name,
        hostname="host",
        pid=1,
        device=device,
        device_name="NVIDIA H200" if device == "cuda" else "cpu (2 cores)",
        queues=["gpu"] if device == "cuda" else ["cpu"],
        concurrency=len(processes),
        processes=processes,
    )


def running(run_id: str, project: str, owner: str, expires_in_s: float = 60) -> Run:
    expires = utcnow() + timedelta(seconds=expires_in_s)
    return placeholder_run(
        run_id,
        project,
        "ds_1",
        name=f"name-of-{run_id}",
        status="running",
        lease_owner=owner,
        lease_expires_at=expires,
    )


@pytest.fixture
def session(two_projects: Session) -> Session:
    return two_projects


def test_a_beat_inserts_then_refreshes_one_row(session: Session) -> None:
    repo = WorkerRepository(session)
    first = utcnow() - timedelta(seconds=20)
    repo.beat(beat("w1@host", ["host:11"]), now=first)
    repo.beat(beat("w1@host", ["host:12"], device="cuda"))
    session.commit()
    row = session.get_one(Worker, "w1@host")
    session.refresh(row)
    assert row.started_at == first  # kept from the first beat
    assert row.last_seen > first
    assert (row.device, row.device_name, row.queues, row.processes) == (
        "cuda",
        "NVIDIA H200",
        ["gpu"],
        ["host:12"],
    )
    assert session.query(Worker).count() == 1


def test_a_silent_worker_is_offline_and_a_goodbye_removes_it(session: Session) -> None:
    repo = WorkerRepository(session)
    now = utcnow()
    repo.beat(beat("fresh@host", ["host:1"]), now=now - timedelta(seconds=5))
    repo.beat(beat("late@host", ["host:2"]), now=now - timedelta(seconds=25))  # two missed beats: still on
    repo.beat(beat("dead@host", ["host:3"]), now=now - timedelta(seconds=31))  # three: gone
    session.commit()
    assert [w.id for w in repo.online("prj_a", STALE, now)] == ["fresh@host", "late@host"]
    assert repo.count_online(STALE, now) == 2
    repo.remove("fresh@host")
    assert repo.prune(now - timedelta(seconds=30)) == 1  # the dead one's row is forgotten
    session.commit()
    assert [w.id for w in repo.online("prj_a", STALE, now)] == ["late@host"]
    assert session.query(Worker).count() == 1


def test_busy_workers_name_only_the_viewers_runs(session: Session) -> None:
    session.add_all(
        [
            running("run_mine", "prj_a", "host:11"),
            running("run_theirs", "prj_b", "host:21"),
            running("run_expired", "prj_a", "host:31", expires_in_s=-5),  # its worker lost the lease
        ]
    )
    repo = WorkerRepository(session)
    repo.beat(beat("a@host", ["host:10", "host:11"]))
    repo.beat(beat("b@host", ["host:21"]))
    repo.beat(beat("c@host", ["host:31"]))
    repo.beat(beat("idle@host", ["host:41"]))
    session.commit()
    seen = {w.id: (w.state, w.run_id, w.run_name) for w in repo.online("prj_a", STALE)}
    assert seen == {
        "a@host": ("busy", "run_mine", "name-of-run_mine"),
        "b@host": ("busy", None, None),  # busy, but with another project's run: no id, no name
        "c@host": ("idle", None, None),
        "idle@host": ("idle", None, None),
    }
    other = {w.id: w.run_id for w in repo.online("prj_b", STALE)}
    assert other == {"a@host": None, "b@host": "run_theirs", "c@host": None, "idle@host": None}


def test_each_slot_reports_its_device_and_its_own_run(session: Session) -> None:
    session.add_all([running("run_mine", "prj_a", "host:11"), running("run_theirs", "prj_b", "host:12")])
    slots = (
        Slot(0, "host:11", "cuda:0", "3"),
        Slot(1, "host:12", "cuda:1", "5"),
        Slot(2, "host:13", "cuda:0", "3"),
    )
    repo = WorkerRepository(session)
    repo.beat(replace(beat("g@host", ["host:11", "host:12", "host:13"], device="cuda"), slots=slots))
    repo.beat(beat("old@host", ["host:21"]))  # a worker from before slots were kept: none
    session.commit()
    views = {w.id: w for w in repo.online("prj_a", STALE)}
    assert [(s.index, s.pid, s.device, s.gpu, s.state, s.run_id) for s in views["g@host"].slots] == [
        (0, 11, "cuda:0", "3", "busy", "run_mine"),
        (1, 12, "cuda:1", "5", "busy", None),  # another project's run: busy, unnamed
        (2, 13, "cuda:0", "3", "idle", None),
    ]
    assert views["old@host"].slots == ()


def test_threads_on_a_host_add_up_its_live_workers_pool_processes(session: Session) -> None:
    """What the API on a host leaves to training: each live worker's pool processes' torch threads;
    an older row without them counts a fair share of its cores per process; other hosts and workers
    gone silent count nothing."""
    repo = WorkerRepository(session)
    assert repo.threads_on("host", STALE) is None
    slots = (Slot(0, "host:11", "cpu", None, 3), Slot(1, "host:12", "cpu", None, 2))
    repo.beat(replace(beat("w1@host", ["host:11", "host:12"]), slots=slots))
    repo.beat(replace(beat("w2@host", ["host:21"]), cpu_cores=4))  # no slots: 4 cores // 1 process
    repo.beat(replace(beat("w3@other", ["other:31"]), hostname="other", slots=slots))
    repo.beat(replace(beat("w4@host", ["host:41"]), slots=slots), now=utcnow() - 2 * STALE)
    session.commit()
    assert repo.threads_on("host", STALE) == 3 + 2 + 4
    assert repo.threads_on("other", STALE) == 5
    assert repo.threads_on("elsewhere", STALE) is None
