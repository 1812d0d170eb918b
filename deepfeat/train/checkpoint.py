"""Checkpoints: everything needed to resume a run, written so a crash never leaves a broken latest one.

A checkpoint is a folder `epoch-000003/` holding `model.safetensors` (the weights) and `state.pt`
(optimizer, scheduler, RNG states, counters; tensors and plain values only, loaded with
`weights_only=True` so nothing in it can run code). It is written in a temp folder, each file fsynced,
then renamed into place in one step; older checkpoints are removed only after that.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

_NAME = re.compile(r"^epoch-(\d{6})$")


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
                _fsync(tmp / name)
            final = self.root / f"epoch-{epoch:06d}"
            if final.exists():  # a redone epoch: replace the earlier copy
                shutil.rmtree(final)
            os.replace(tmp, final)
            _fsync(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune()
        return final

    def latest(self) -> Checkpoint | None:
        """The newest complete checkpoint (temp folders of interrupted writes are ignored)."""
        for path in sorted(self._complete(), reverse=True):
            try:
                model = load_file(path / "model.safetensors")
                state = torch.load(path / "state.pt", weights_only=True)
            except Exception:  # noqa: S112 - an unreadable one is skipped for the one before it
                continue
            return Checkpoint(epoch=int(_NAME.match(path.name).group(1)), model=model, state=state)  # type: ignore[union-attr]
        return None

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _complete(self) -> list[Path]:
        if not self.root.exists():
            return []
        return [p for p in self.root.iterdir() if _NAME.match(p.name) and p.is_dir()]

    def _prune(self) -> None:
        for path in sorted(self._complete())[: -self.keep]:
            shutil.rmtree(path, ignore_errors=True)
        for stale in self.root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
