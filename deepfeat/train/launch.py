"""Start the ranks of a data-parallel run (training.world_size > 1) from the process that holds its lease.

The calling process is rank 0: it keeps the run's one lease, its reporter (metrics, heartbeat, cancel
flag, preemption) and its checkpoints, exactly as a one-process run does. Ranks 1..W-1 are child
processes (`python -m deepfeat.train.follower`) that never touch the database: they read the spec and
the arrays rank 0 wrote to a private folder, meet rank 0 through a TCPStore it serves, train, and exit.

Failure handling, all on rank 0's side:
- a rank that dies (kill -9, crash) breaks the next collective; one that hangs trips the collective
  timeout (`dist_timeout_s`). Either way rank 0 raises `RankLost`: the attempt fails and the caller
  requeues the run, which resumes from its last checkpoint;
- whatever ends the attempt, the followers are killed before this returns (no orphans);
- if rank 0 itself is killed, the kernel kills the followers (PR_SET_PDEATHSIG, set in follower.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch._C._distributed_c10d import TCPStore
from torch.distributed.distributed_c10d import Store

from deepfeat.config import Settings
from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.schema import DatasetSchema
from deepfeat.gpus import pool_index
from deepfeat.nn import BuildContext
from deepfeat.specs.runs import RunSpec
from deepfeat.train.checkpoint import CheckpointDir
from deepfeat.train.job import TrainOutcome, train
from deepfeat.train.loop import Reporter
from deepfeat.train.ranks import Ranks

FOLLOWER_EXIT_GRACE_S = 30.0  # after a finished run, how long a follower may take to leave


class RankLost(Exception):
    """A rank died or stopped answering: this attempt is over; the run resumes from its checkpoint."""


@dataclass(frozen=True)
class Meeting:
    """How a follower finds rank 0 and what it runs as (written to the payload folder as JSON)."""

    world_size: int
    backend: str
    port: int
    threads: int
    parent_pid: int
    checkpoints: str | None
    pool_index: int | None = None  # rank 0's pool process: rank r trains on the r-th GPU after its own


def backend_for(device: str) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device in ("gpu", "auto") and torch.cuda.is_available() else "gloo"


def train_on_ranks(
    spec: RunSpec,
    data: ArrayDataset,
    reporter: Reporter,
    settings: Settings,
    checkpoints: CheckpointDir | None = None,
    context: BuildContext | None = None,
) -> TrainOutcome:
    """`train`, on `spec.training.world_size` processes when that is over 1; rank 0's outcome."""
    world = spec.training.world_size
    if world == 1:
        return train(spec, data, reporter, settings, checkpoints, context)
    backend = backend_for(spec.training.device)
    threads = max(1, torch.get_num_threads() // world)  # this process's cores, shared by the ranks
    startup = timedelta(seconds=settings.dist_startup_timeout_s)
    store = TCPStore("127.0.0.1", 0, world, is_master=True, timeout=startup, wait_for_workers=False)
    meeting = Meeting(
        world,
        backend,
        store.port,
        threads,
        os.getpid(),
        str(checkpoints.root) if checkpoints else None,
        pool_index(),
    )
    followers: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="deepfeat-ranks-") as folder, _threads(threads):
        write_payload(Path(folder), spec, data, settings, meeting)
        try:
            followers = [
                subprocess.Popen([sys.executable, "-m", "deepfeat.train.follower", str(rank), folder])
                for rank in range(1, world)
            ]
            ranks = ranks_of(
                store, 0, meeting, settings, lost=lambda: any(p.poll() is not None for p in followers)
            )
            try:
                outcome = train(spec, data, reporter, settings, checkpoints, context, ranks)
            finally:
                ranks.leave()
        except (dist.DistError, RuntimeError) as exc:
            if not _collective_failure(exc, followers):
                _stop(followers, grace_s=0)
                raise
            raise RankLost(_lost(followers, exc)) from exc
        except BaseException:
            _stop(followers, grace_s=0)
            raise
        _stop(followers, grace_s=FOLLOWER_EXIT_GRACE_S)
    return outcome


def ranks_of(
    store: Store, rank: int, meeting: Meeting, settings: Settings, lost: Callable[[], bool] | None = None
) -> Ranks:
    """Rank `rank` of the run; its process group forms when the ranks meet (`Ranks.start`)."""
    return Ranks(
        rank,
        meeting.world_size,
        meeting.backend,
        store,
        startup_timeout_s=settings.dist_startup_timeout_s,
        timeout_s=settings.dist_timeout_s,
        lost=lost,
    )


def write_payload(
    folder: Path, spec: RunSpec, data: ArrayDataset, settings: Settings, meeting: Meeting
) -> None:
    """What a follower needs, as JSON and a plain `.npz` (read back with allow_pickle=False)."""
    (folder / "spec.json").write_text(spec.model_dump_json())
    values = settings.model_dump(mode="json", exclude={"bootstrap_key"})  # no secret leaves the process
    (folder / "settings.json").write_text(json.dumps(values))
    (folder / "schema.json").write_text(data.schema.model_dump_json())
    (folder / "meeting.json").write_text(json.dumps(asdict(meeting)))
    x = data.X.astype(str) if data.X.dtype == object else data.X  # text as fixed-width unicode, not objects
    np.savez(folder / "data.npz", X=x, y=data.y)


def read_payload(folder: Path) -> tuple[RunSpec, ArrayDataset, Settings, Meeting]:
    spec = RunSpec.model_validate_json((folder / "spec.json").read_text())
    settings = Settings(**json.loads((folder / "settings.json").read_text()))
    meeting = Meeting(**json.loads((folder / "meeting.json").read_text()))
    with np.load(folder / "data.npz", allow_pickle=False) as arrays:
        schema = DatasetSchema.model_validate_json((folder / "schema.json").read_text())
        data = ArrayDataset(X=arrays["X"], y=arrays["y"], schema=schema)
    return spec, data, settings, meeting


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Rank 0 gets its share of the cores while the run lasts; the worker process keeps its own after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _collective_failure(exc: BaseException, followers: list[subprocess.Popen[bytes]]) -> bool:
    """A lost or hung rank, not a bug of the run: torch's distributed errors (gloo reports a dead peer
    as a plain RuntimeError from its transport), or a follower that is gone."""
    text = str(exc).lower()
    return (
        isinstance(exc, dist.DistError)
        # gloo words a hung peer either way: "Timed out waiting …" or "Application timeout caused pair
        # closure" (which one depends on where the collective was when the timeout hit).
        or any(
            word in text
            for word in ("gloo", "nccl", "timed out", "timeout", "connection reset", "closed by peer")
        )
        or any(p.poll() is not None for p in followers)
    )


def _lost(followers: list[subprocess.Popen[bytes]], exc: BaseException) -> str:
    """Which rank went, for the run's events (read before the survivors are killed)."""
    exited = {rank: p.poll() for rank, p in enumerate(followers, start=1)}
    _stop(followers, grace_s=0)
    gone = [f"rank {rank} exited ({code})" for rank, code in exited.items() if code is not None]
    timed_out = "timed out" in str(exc).lower() or "timeout" in str(exc).lower()
    what = "; ".join(gone) or (
        "a rank stopped answering (collective timeout)" if timed_out else "a rank was lost"
    )
    return f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _stop(followers: list[subprocess.Popen[bytes]], grace_s: float) -> None:
    """Wait up to `grace_s` for the followers to leave, then kill the rest and reap them all."""
    for process in followers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
        if process.poll() is None:
            process.kill()
            process.wait()
