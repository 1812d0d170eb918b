"""Rank 1..W-1 of a data-parallel run: `python -m deepfeat.train.follower RANK PAYLOAD_FOLDER`.

Started by rank 0 (train/launch.py), it trains its shard of every batch and never touches the database:
rank 0 reports, heartbeats and checkpoints for the run. Its life is rank 0's: the kernel kills it when
its parent dies (PR_SET_PDEATHSIG), SIGTERM/SIGINT are left to rank 0 (which winds the run down and
then stops its followers), and a stop decided on rank 0 reaches it within a step (Ranks.agree_to_stop).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from torch._C._distributed_c10d import TCPStore

from deepfeat.gpus import claim_slot
from deepfeat.train.checkpoint import CheckpointDir
from deepfeat.train.job import train
from deepfeat.train.launch import ranks_of, read_payload

_PR_SET_PDEATHSIG = 1


class Silent:
    """A follower's reporter: it reports nothing and never decides to stop (rank 0 does both)."""

    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        """Rank 0 records the epoch."""

    def warn(self, message: str, data: dict[str, Any]) -> None:
        """Rank 0 records warnings."""

    def artifact(self, name: str, content: bytes, media_type: str) -> None:
        """Rank 0 stores files."""

    def should_stop(self) -> bool:
        return False


def die_with_parent(parent_pid: int) -> None:
    """Be killed when rank 0 dies, however it dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def main(argv: list[str]) -> int:
    rank, folder = int(argv[0]), Path(argv[1])
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec, data, settings, meeting = read_payload(folder)
    die_with_parent(meeting.parent_pid)
    claim_slot(meeting.pool_index)  # its GPU follows rank 0's (deepfeat/gpus.py)
    torch.set_num_threads(meeting.threads)
    startup = timedelta(seconds=settings.dist_startup_timeout_s)
    store = TCPStore("127.0.0.1", meeting.port, meeting.world_size, is_master=False, timeout=startup)
    ranks = ranks_of(store, rank, meeting, settings)
    checkpoints = CheckpointDir(Path(meeting.checkpoints)) if meeting.checkpoints else None
    try:
        train(spec, data, Silent(), settings, checkpoints, None, ranks)  # reads checkpoints, never writes
    finally:
        ranks.leave()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
