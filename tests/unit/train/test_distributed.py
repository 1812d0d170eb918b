"""Data-parallel training on CPU with real gloo ranks (world_size 2): same results as one process,
cancel on every rank, a killed or hung rank fails the attempt, resume from the checkpoint, no orphans."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from deepfeat.specs.runs import RunSpec
from deepfeat.train.checkpoint import CheckpointDir
from deepfeat.train.launch import RankLost, _collective_failure, train_on_ranks
from tests.helpers.training import Recorder
from tests.processes import follower_processes, ranks_under

# Short collective timeout: a hung rank is noticed in seconds.
FAST = {"dist_timeout_s": 3.0, "dist_startup_timeout_s": 120.0}


def spec(dataset: str = "digits", **training: Any) -> RunSpec:
    return RunSpec.model_validate(
        {
            "dataset": f"builtin:{dataset}",
            "task": "classification",
            "model": {"type": "mlp", "hidden": [64]},
            "training": {"epochs": 3, "batch_size": 63, "world_size": 2, **training},
        }
    )


class OnEpoch(Recorder):
    """A recorder that does something to the follower rank at the end of one epoch."""

    def __init__(self, epoch: int, act: Callable[[int], None]) -> None:
        super().__init__()
        self.at, self.act = epoch, act

    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        super().epoch_end(epoch, step, metrics)
        if epoch == self.at:
            (follower,) = ranks_under(os.getpid())
            self.act(follower)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", **FAST)


@pytest.fixture(autouse=True)
def no_orphans() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 5
    while follower_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert follower_processes() == [], "a follower rank outlived its run"


@pytest.mark.parametrize("dataset", ["digits", "mnist-5k"])
def test_two_ranks_reach_the_accuracy_of_one_with_the_same_global_batch(
    dataset: str, settings: Settings
) -> None:
    data = load_builtin(dataset)
    one, two = Recorder(), Recorder()
    # l2 too: the penalty's gradient is added on every rank after DDP's all-reduce, not averaged away
    single = train_on_ranks(spec(dataset, world_size=1, l2=1e-4), data, one, settings)
    double = train_on_ranks(spec(dataset, l2=1e-4), data, two, settings)
    assert abs(single.result.best["val_accuracy"] - double.result.best["val_accuracy"]) <= 0.01
    assert double.result.best["val_accuracy"] > 0.8  # both learned, not both stuck at chance
    assert [e["epoch"] for e in two.epochs] == [1, 2, 3]  # rank 0 alone reported, once per epoch
    assert double.receipt["world_size"] == 2
    assert double.receipt["backend"] == "gloo"
    assert double.receipt["rank_devices"] == ["cpu (fp32)", "cpu (fp32)"]
    assert single.receipt["world_size"] == 1
    assert single.receipt["backend"] is None


def test_a_cancel_seen_by_rank_0_stops_every_rank_within_a_step(settings: Settings) -> None:
    recorder = Recorder(stop_after_checks=5)
    outcome = train_on_ranks(spec(epochs=50), load_builtin("digits"), recorder, settings)
    assert outcome.result.stopped == "cancelled"
    assert recorder.epochs == []  # stopped on step 5 of epoch 1, on both ranks (else rank 0 would hang)


def test_kill_9_of_rank_1_fails_the_attempt_and_the_next_resumes_from_the_checkpoint(
    settings: Settings, tmp_path: Path
) -> None:
    checkpoints = CheckpointDir(tmp_path / "ckpt")
    data = load_builtin("digits")
    first = OnEpoch(2, lambda pid: os.kill(pid, signal.SIGKILL))
    with pytest.raises(RankLost, match="rank 1 exited"):
        train_on_ranks(spec(epochs=4), data, first, settings, checkpoints)
    assert [e["epoch"] for e in first.epochs] == [1, 2]

    second = Recorder()
    resumed = train_on_ranks(spec(epochs=4), data, second, settings, checkpoints)
    assert resumed.result.resumed_from == 2
    assert [e["epoch"] for e in second.epochs] == [3, 4]  # every epoch's metrics exactly once overall
    uninterrupted = Recorder()
    train_on_ranks(spec(epochs=4), data, uninterrupted, Settings(data_dir=tmp_path / "other", **FAST))
    assert second.epochs[-1]["val_accuracy"] == pytest.approx(
        uninterrupted.epochs[-1]["val_accuracy"], abs=0.01
    )


def test_a_hung_rank_trips_the_collective_timeout_instead_of_hanging(settings: Settings) -> None:
    recorder = OnEpoch(1, lambda pid: os.kill(pid, signal.SIGSTOP))
    started = time.monotonic()
    with pytest.raises(RankLost, match=r"collective timeout|timed out|Timed out"):
        train_on_ranks(spec(epochs=20), load_builtin("digits"), recorder, settings)
    assert time.monotonic() - started < 60  # seconds past the 3 s timeout, not the 20 epochs


class Preempted(Exception):
    pass


class PreemptedAfter(Recorder):
    def should_stop(self) -> bool:
        if super().should_stop() and self.checks >= 5:
            raise Preempted
        return False


def test_an_exception_of_rank_0s_reporter_stops_the_followers_and_reaches_the_caller(
    settings: Settings,
) -> None:
    with pytest.raises(Preempted):  # the runner requeues on its own exceptions (SIGTERM, lost lease)
        train_on_ranks(spec(epochs=50), load_builtin("digits"), PreemptedAfter(stop_after_checks=5), settings)


def test_both_of_gloos_timeout_messages_count_as_a_lost_rank() -> None:
    """A hung peer surfaces as either message depending on where the collective was; both must requeue
    the attempt (a RankLost), not fail the run as if it were a bug."""
    for message in ("[gloo] Timed out waiting 3000ms for recv", "Application timeout caused pair closure"):
        assert _collective_failure(RuntimeError(message), [])
    assert not _collective_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"), [])
