"""No code from data: a crafted pickle that creates a marker file when loaded is refused on every path.

- Datasets: every upload format that could conceivably take a pickle (raw pickles named .pkl/.npy/.pt,
  object arrays in .npy and .npz, torch.save archives, a Parquet file whose schema names pyarrow's old
  pickled extension type), detected by name or bytes, or with each `format` forced.
- Weights: no route or registration path takes user weights; runs' weights are written by workers as
  safetensors. So the test swaps a run's stored weights for a pickle (and for a torch.save file) and
  asserts that every path that loads them (predict, score, samples, register as encoder) refuses
  with a clear 409, never unpickling. The packaged image encoder's weights load with weights_only=True.
- Checkpoints: tests/unit/train/test_checkpoint.py. Celery messages: tests/e2e/test_pickled_message.py.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from deepfeat.config import Settings
from deepfeat.db.models import Artifact, Dataset
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.encoders.image import build_efficientnet
from deepfeat.storage.local import FileStore
from tests.helpers.api import Marker, trained_run
from tests.helpers.specs import MLP_SPEC


def evil_files(marker: Path) -> dict[str, bytes]:
    raw = pickle.dumps({"X": Marker(marker)})
    npy = io.BytesIO()
    np.save(npy, np.array([Marker(marker), 1], dtype=object), allow_pickle=True)
    npz = io.BytesIO()
    np.savez(npz, X=np.array([Marker(marker), 1], dtype=object), y=np.array([0, 1]))
    npz_raw = io.BytesIO()
    with zipfile.ZipFile(npz_raw, "w") as archive:  # a member named .npy that is a bare pickle
        archive.writestr("X.npy", raw)
    torch_file = io.BytesIO()
    torch.save({"X": Marker(marker)}, torch_file)
    parquet = io.BytesIO()
    field = pa.field(
        "x",
        pa.int64(),
        metadata={b"ARROW:extension:name": b"arrow.py_extension_type", b"ARROW:extension:metadata": raw},
    )
    pq.write_table(pa.table({"x": [1, 2]}, schema=pa.schema([field])), parquet)
    return {
        "evil.pkl": raw,
        "evil.pickle": raw,
        "evil.npy": npy.getvalue(),
        "evil.npz": npz.getvalue(),
        "bare.npz": npz_raw.getvalue(),
        "evil.pt": torch_file.getvalue(),
        "evil.pth": torch_file.getvalue(),
        "evil.parquet": parquet.getvalue(),
        "evil.zip": torch_file.getvalue(),
        "noname": raw,
    }


def dataset_count(settings: Settings) -> int:
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(Dataset))
    engine.dispose()
    return int(count or 0)


@pytest.mark.parametrize("fmt", [None, "npz", "parquet", "images", "csv", "jsonl"])
def test_pickles_uploaded_as_datasets_are_refused_unloaded(
    client: TestClient, admin_headers: dict[str, str], settings: Settings, tmp_path: Path, fmt: str | None
) -> None:
    marker = tmp_path / "pwned"
    for filename, content in evil_files(marker).items():
        fields = {"name": "evil", **({"format": fmt} if fmt else {})}
        response = client.post(
            "/v1/datasets",
            data=fields,
            files={"file": (filename, content, "application/octet-stream")},
            headers=admin_headers,
        )
        assert not marker.exists(), (filename, fmt)
        if filename == "evil.parquet" and fmt in (None, "parquet"):
            # Pyarrow no longer knows that extension type: the column is read as plain int64 numbers.
            assert response.status_code in (201, 422), response.text
            continue
        assert 400 <= response.status_code < 500, (filename, fmt, response.status_code, response.text)
        body = response.json()
        assert body["error"], body
        assert body["detail"], body
    assert not marker.exists()
    assert dataset_count(settings) <= 1  # at most the harmless Parquet numbers


def replace_blob(settings: Settings, run_id: str, name: str, content: bytes) -> None:
    """Overwrite a stored artifact's bytes in place, as an attacker with disk access would."""
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        artifact = session.scalar(select(Artifact).where(Artifact.run_id == run_id, Artifact.name == name))
        assert artifact is not None
        path = FileStore(settings.artifacts_dir).path(artifact.path)
    engine.dispose()
    path.chmod(0o644)
    path.write_bytes(content)


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_weights_replaced_by_a_pickle_are_refused_on_every_load(
    client: TestClient, admin_headers: dict[str, str], settings: Settings, tmp_path: Path, kind: str
) -> None:
    spec = {**MLP_SPEC, "training": {**MLP_SPEC["training"], "epochs": 1}}
    run_id = trained_run(client, admin_headers, settings, spec)
    marker = tmp_path / "pwned"
    payload = io.BytesIO()
    if kind == "pickle":
        pickle.dump({"fc.weight": Marker(marker)}, payload)
    else:
        torch.save({"fc.weight": Marker(marker)}, payload)
    replace_blob(settings, run_id, "model.safetensors", payload.getvalue())
    inputs = {"inputs": [[0.0] * 64]}
    for path, body in (
        (f"/v1/runs/{run_id}/predict", inputs),
        (f"/v1/runs/{run_id}/score", inputs),
        (f"/v1/runs/{run_id}/samples", {"n": 1}),
        ("/v1/encoders", {"run_id": run_id, "name": "evil"}),
    ):
        response = client.post(path, json=body, headers=admin_headers)
        assert response.status_code == 409, (path, response.text)
        assert response.json()["error"] == "artifact_corrupt", response.text
        assert "refusing to load" in response.json()["detail"]
        assert not marker.exists(), path


def test_weights_whose_record_matches_a_pickle_are_still_never_unpickled(
    client: TestClient, admin_headers: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    """Even if the recorded sha256 were forged to match, weights are parsed as safetensors only."""
    spec = {**MLP_SPEC, "training": {**MLP_SPEC["training"], "epochs": 1}}
    run_id = trained_run(client, admin_headers, settings, spec)
    marker = tmp_path / "pwned"
    blob = FileStore(settings.artifacts_dir).put_bytes(pickle.dumps({"w": Marker(marker)}))
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        artifact = session.scalar(
            select(Artifact).where(Artifact.run_id == run_id, Artifact.name == "model.safetensors")
        )
        assert artifact is not None
        artifact.path, artifact.sha256 = blob.key, blob.sha256
        session.commit()
    engine.dispose()
    response = client.post(f"/v1/runs/{run_id}/predict", json={"inputs": [[0.0] * 64]}, headers=admin_headers)
    assert response.status_code == 409, response.text
    assert "not a readable safetensors file" in response.json()["detail"]
    assert not marker.exists()


def test_packaged_encoder_weights_load_without_unpickling_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    weights = tmp_path / "weights.pth"
    torch.save({"stem.weight": Marker(marker)}, weights)
    with pytest.raises(pickle.UnpicklingError):
        build_efficientnet(weights)
    assert not marker.exists()
