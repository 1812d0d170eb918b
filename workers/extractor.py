"""Around one extraction job: claim it (lease), embed the dataset chunk by chunk with heartbeats,
store `embeddings.npy` + `row_ids.npy`, finish. The workers' commit point for extractions.

Outcomes: succeeded; cancelled (seen between chunks); failed with the reason; requeued on preemption
(SIGTERM), restarting from row 0 elsewhere. A worker killed outright is noticed by the reaper once its
lease expires: requeued (counting the attempt) or, at the cap, failed. No partial file is resumed: a
chunk costs milliseconds, so redoing the rows is simpler than trusting half a file.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sqlalchemy.orm import Session, sessionmaker

from deepfeat.config import Settings
from deepfeat.db.models import Extraction
from deepfeat.db.repositories.datasets import DatasetRepository
from deepfeat.db.repositories.encoders import EncoderRepository
from deepfeat.db.repositories.extractions import ExtractionLeases
from deepfeat.db.session import unit_of_work
from deepfeat.encoders.catalogue import PRETRAINED, load_pretrained
from deepfeat.encoders.embedder import Embedder, EmbedOptions
from deepfeat.encoders.extract import write_embeddings, write_row_ids
from deepfeat.encoders.runtime import gpu_device
from deepfeat.services.datasets import load_arrays
from deepfeat.services.encoders import EncoderService
from deepfeat.storage import ArtifactStore
from deepfeat.storage.backends import open_store
from workers.lifecycle import PREEMPT, LeaseLost, Outputs, Preempted, claim_or_skip, finish, requeue
from workers.runner import Enqueue, lease_owner, sessions_for

log = logging.getLogger(__name__)
NPY = "application/x-npy"
FILES = ("embeddings.npy", "row_ids.npy")  # what a job leaves, in `store.tmp_dir` until adopted
PROGRESS_EVERY_S = 1.0  # progress + lease + cancel check at most this often (one small UPDATE)


class Cancelled(Exception):
    """The job was cancelled while running; it stops after the current chunk."""


@dataclass
class ExtractionProgress:
    """Called after every chunk: records progress, renews the lease (fenced) and notices cancel."""

    sessions: sessionmaker[Session]
    extraction_id: str
    attempt: int
    settings: Settings
    rows_total: int
    rows_done: int = 0
    _next: float = 0.0

    def __call__(self, rows_done: int) -> None:
        self.rows_done = rows_done
        if PREEMPT.is_set():
            raise Preempted
        now = time.monotonic()
        if now < self._next and rows_done < self.rows_total:
            return
        self._next = now + min(PROGRESS_EVERY_S, self.settings.heartbeat_seconds)
        with unit_of_work(self.sessions) as session:
            row = ExtractionLeases(session).renew(
                self.extraction_id, self.attempt, self.settings.lease_seconds, self.progress
            )
        if row is None:
            raise LeaseLost
        if row.cancel_requested:
            raise Cancelled

    @property
    def progress(self) -> dict[str, Any]:
        return {"rows_done": self.rows_done, "rows_total": self.rows_total}


def execute_extraction(extraction_id: str, settings: Settings, enqueue: Enqueue) -> None:
    sessions = sessions_for(settings)
    store = open_store(settings)
    owner = lease_owner(os.getpid())
    with sessions() as session:
        leases = ExtractionLeases(session)
        claim = lambda: leases.claim(extraction_id, owner, settings.lease_seconds)  # noqa: E731
        attempt = claim_or_skip(leases, extraction_id, claim, enqueue, log)
        if attempt is None:
            return
        job = leases.get(extraction_id)
        assert job is not None
        try:
            embedder = _embedder(session, job, store, settings)
            if job.device == "gpu":  # the job asked for the gpu queue: run where the GPU is
                embedder.to(torch.device(gpu_device()))
            data = load_arrays(DatasetRepository(session, job.project_id).of_run(job.dataset_id), store)
        except Exception as exc:
            _finish(sessions, extraction_id, attempt, "failed", error=f"cannot load the job: {exc}")
            return
        options = EmbedOptions(
            layer=job.options.get("layer"),
            pool=job.options.get("pool", "mean"),
            normalize=bool(job.options.get("normalize")),
            precision="bf16" if job.options.get("precision") == "bf16" else None,
        )
        project_id, device = job.project_id, job.device
    log.info("extraction %s attempt %d started (%d rows)", extraction_id, attempt, data.n_rows)
    beat = ExtractionProgress(sessions, extraction_id, attempt, settings, data.n_rows)
    tmp = Path(tempfile.mkdtemp(dir=store.tmp_dir))
    try:
        dim = write_embeddings(
            embedder, options, data.X, tmp / "embeddings.npy", beat, settings.extraction_chunk_rows
        )
        write_row_ids(data.n_rows, tmp / "row_ids.npy")
        outputs = Outputs(store, project_id, [(name, NPY, tmp / name) for name in FILES])
        values = {"dim": dim}
        if not finish(
            sessions,
            ExtractionLeases,
            extraction_id,
            attempt,
            "succeeded",
            progress=beat.progress,
            values=values,
            outputs=outputs,
        ):
            log.warning("extraction %s attempt %d finished after losing its lease", extraction_id, attempt)
    except LeaseLost:
        log.warning(
            "extraction %s attempt %d lost its lease; another attempt owns it", extraction_id, attempt
        )
    except Cancelled:
        _finish(sessions, extraction_id, attempt, "cancelled", progress=beat.progress)
    except Preempted:
        _requeue(sessions, extraction_id, attempt, device, enqueue)
    except Exception as exc:  # the job fails with the reason; the worker lives on
        log.exception("extraction %s attempt %d failed", extraction_id, attempt)
        _finish(sessions, extraction_id, attempt, "failed", error=f"{type(exc).__name__}: {exc}")
    finally:
        for leftover in tmp.iterdir():
            leftover.unlink(missing_ok=True)
        tmp.rmdir()


def _embedder(session: Session, job: Extraction, store: ArtifactStore, settings: Settings) -> Embedder:
    """The encoder pinned at submit time: a catalogue entry, or the registered version's run."""
    if job.encoder_id is None:
        if job.encoder not in PRETRAINED:
            raise LookupError(f"no pretrained encoder {job.encoder!r}")
        return load_pretrained(job.encoder)
    encoder = EncoderRepository(session, job.project_id).by_id(job.encoder_id)
    return EncoderService(session, job.project_id, settings, store).run_embedder(encoder.run_id)


def _requeue(
    sessions: sessionmaker[Session], extraction_id: str, attempt: int, device: str, enqueue: Enqueue
) -> None:
    if requeue(sessions, ExtractionLeases, extraction_id, attempt, device, enqueue, count_attempt=False):
        log.info("extraction %s preempted and requeued", extraction_id)


def _finish(
    sessions: sessionmaker[Session],
    extraction_id: str,
    attempt: int,
    status: str,
    *,
    error: str | None = None,
    progress: dict[str, Any] | None = None,
) -> None:
    finish(sessions, ExtractionLeases, extraction_id, attempt, status, error=error, progress=progress)
