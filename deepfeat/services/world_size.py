"""Can any live worker serve a run's `training.world_size`? Asked at `:validate` and at submit.

A worker on the run's queue serves W ranks when it has W GPUs (`gpu`: one process per GPU, NCCL) or
W CPU cores (`cpu`: W gloo processes sharing the cores). Only world sizes over 1 are checked: a
one-process run may be queued before any worker is up, as it always could.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.repositories.workers import WorkerView
from deepfeat.encoders.catalogue import PRETRAINED
from deepfeat.errors import SpecError
from deepfeat.services.workers import online_workers
from deepfeat.specs.model import TransferSpec
from deepfeat.specs.runs import RunSpec

LOC = "/training/world_size"


def slots(worker: WorkerView, queue: str) -> int:
    """How many ranks `worker` can run for a run on `queue` (unknown sizes count as one)."""
    if queue == "gpu":
        return worker.gpus or (1 if worker.device == "cuda" else 0)
    return worker.cpu_cores or 1


def check_world_size(session: Session, spec: RunSpec, settings: Settings, queue: str) -> None:
    """Raise a SpecError at /training/world_size, saying what the live workers on `queue` have, if none
    fits."""
    world = spec.training.world_size
    if world == 1:
        return
    if spec.task == "gan":
        raise SpecError(LOC, "a gan trains on one process for now: use world_size 1")
    if isinstance(spec.model, TransferSpec) and spec.model.encoder not in PRETRAINED:
        raise SpecError(
            LOC, "transfer from a registered encoder trains on one process for now: use world_size 1"
        )
    workers = [w for w in online_workers(session, None, settings) if queue in w.queues]
    if any(slots(w, queue) >= world for w in workers):
        return
    unit = "GPUs" if queue == "gpu" else "CPU cores"
    have = ", ".join(f"{w.id} ({slots(w, queue)} {unit})" for w in workers) or "none"
    raise SpecError(
        LOC,
        f"world_size {world} needs a live worker on the `{queue}` queue with {world} {unit}; "
        f"live workers on that queue: {have}",
    )
