"""Checkpoints: everything needed to resume a run, written so a crash never leaves a broken latest one.

A checkpoint is a folder `epoch-000003-<random>/` holding `model.safetensors` (the weights) and `state.pt`
(optimizer, scheduler, RNG states, counters; tensors and plain values only, loaded with
`weights_only=True` so nothing in it can run code). It is written in a temp folder, each file fsynced,
then renamed into place in one step; older checkpoints are removed only after that.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from deepfeat.storage import fsync_path

# `epoch-000003-1a2b3c4d`: a redone epoch gets a new folder, so the old one stays until the new is whole.
_NAME = re.compile(r"^epoch-\d{6}-[0-9a-f]{8}$")


@dataclass(frozen=True)
class Checkpoint:
    epoch: int
    model: dict[str, torch.Tensor]
    state: dict[str, Any]


class CheckpointDir:
    """The checkpoints of one run, newest wins; `keep` of them are kept."""

    def __init__(self, root: Path, keep: int = 1) -> None:
        self.root = root
        self.keep = keep

    def save(self, epoch: int, model: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".tmp-"))
        try:
            save_file({k: v.detach().contiguous().cpu() for k, v in model.items()}, tmp / "model.safetensors")
            torch.save(state, tmp / "state.pt")
            for name in ("model.safetensors", "state.pt"):
                fsync_path(tmp / name)
            final = self.root / f"epoch-{epoch:06d}-{secrets.token_hex(4)}"
            os.replace(tmp, final)
            fsync_path(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune()
        return final

    def latest(self) -> Checkpoint | None:
        """The newest complete checkpoint (temp folders of interrupted writes are ignored)."""
        for path in reversed(self._complete()):
            try:
                model = load_file(path / "model.safetensors")
                state = torch.load(path / "state.pt", weights_only=True)
            except Exception:  # noqa: S112 - an unreadable one is skipped for the one before it
                continue
            return Checkpoint(epoch=int(path.name[6:12]), model=model, state=state)
        return None

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _complete(self) -> list[Path]:
        """Finished checkpoints, oldest first (by epoch, then by when they were written)."""
        if not self.root.exists():
            return []
        found = [p for p in self.root.iterdir() if _NAME.match(p.name) and p.is_dir()]
        return sorted(found, key=lambda p: (p.name[:12], p.stat().st_mtime_ns))

    def _prune(self) -> None:
        for path in self._complete()[: -self.keep]:
            shutil.rmtree(path, ignore_errors=True)
        for stale in self.root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
