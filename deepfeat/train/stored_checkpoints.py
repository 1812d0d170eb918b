"""Checkpoints kept in the artifact store, so an attempt resumed on another machine continues from them.

Each epoch's checkpoint is first written locally the usual way (`CheckpointDir`: temp folder, fsync,
rename), then its two files are uploaded under `checkpoints/<run>/` by sha256, and only then is the run's
pointer `checkpoints/<run>/latest.json` replaced (one PUT: whole or not at all) to name them. A crash at
any instant leaves the previous pointer naming complete objects; objects the pointer no longer names are
removed after it moved. `latest` fetches what the pointer names, checked against the sha256 in each key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from deepfeat.storage import ArtifactStore
from deepfeat.train.checkpoint import Checkpoint, CheckpointDir

FILES = ("model.safetensors", "state.pt")


def checkpoints_prefix(run_id: str) -> str:
    """Where a run's checkpoints live in the store (the trailing slash keeps `run_1` off `run_12`)."""
    return f"checkpoints/{run_id}/"


def remove_stored_checkpoints(store: ArtifactStore, run_id: str) -> None:
    """Every checkpoint object of `run_id` (a deleted run's, whatever its attempts left behind)."""
    store.delete_prefix(checkpoints_prefix(run_id))


class StoredCheckpoints(CheckpointDir):
    """A `CheckpointDir` whose checkpoints live in `store` (the local folder is only a staging area)."""

    def __init__(self, store: ArtifactStore, run_id: str, local: Path) -> None:
        super().__init__(local, keep=1)
        self.store = store
        self.run_id = run_id
        self.prefix = checkpoints_prefix(run_id).rstrip("/")
        self.pointer = f"{self.prefix}/latest.json"

    def save(self, epoch: int, model: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
        folder = super().save(epoch, model, state)
        previous = self._read_pointer()
        keys = {}
        for name in FILES:
            staged = Path(self.store.tmp_dir) / f"ckpt-{folder.name}-{name}"
            shutil.copyfile(folder / name, staged)
            try:
                keys[name] = self.store.adopt(staged, namespace=self.prefix).key
            finally:  # adopted (moved away) or not: a store that is down must not leave the copy behind
                staged.unlink(missing_ok=True)
        self.store.put_pointer(self.pointer, json.dumps({"epoch": epoch, "files": keys}).encode())
        if previous is not None:
            for key in set(previous["files"].values()) - set(keys.values()):
                self.store.delete(key)
        return folder

    def latest(self) -> Checkpoint | None:
        pointer = self._read_pointer()
        if pointer is None:
            return None
        files = pointer["files"]
        model = load_file(self.store.path(files["model.safetensors"]))
        state = torch.load(self.store.path(files["state.pt"]), weights_only=True)
        return Checkpoint(epoch=int(pointer["epoch"]), model=model, state=state)

    def clear(self) -> None:
        super().clear()
        remove_stored_checkpoints(self.store, self.run_id)

    def _read_pointer(self) -> dict[str, Any] | None:
        raw = self.store.get_pointer(self.pointer)
        if raw is None:
            return None
        pointer: dict[str, Any] = json.loads(raw)
        return pointer
