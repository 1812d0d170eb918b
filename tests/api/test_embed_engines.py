"""The engine underneath the embedding routes, through the HTTP stack: what GET /v1/encoders/{ref}
reports, the batcher's metrics on /metrics, preloading behind /readyz, int8 on request, and
extraction jobs that ask for the gpu queue."""

from __future__ import annotations

import socket
from typing import Any

import numpy as np
import torch
from fastapi.testclient import TestClient
from sqlalchemy import select

from deepfeat.config import Settings
from deepfeat.cores import available_cores, left_over
from deepfeat.db.models import Extraction
from deepfeat.db.repositories.workers import Slot, WorkerBeat, WorkerRepository
from deepfeat.db.session import unit_of_work
from deepfeat.encoders.embedder import EmbedOptions
from deepfeat.services.serving import threads_left_by_workers
from tests.helpers.api import submit, text_dataset, trained_run
from tests.helpers.specs import DIGITS_MLP
from workers.extractor import execute_extraction


def test_an_encoder_reports_its_engine_and_each_precisions_cosine(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = client.get("/v1/encoders/minilm-l6", headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["ref"], body["dim"], body["kind"]) == ("minilm-l6", 384, "pretrained")
    serving = body["serving"]
    assert serving["engine"] == "onnx"  # auto: the graph matched torch on the probe
    assert serving["precisions"]["fp32"]["onnx_cosine_to_torch"] >= 0.9999
    assert 0.999 <= serving["precisions"]["bf16"]["cosine_to_fp32"] <= 1.0
    assert 0.9 < serving["precisions"]["int8"]["cosine_to_fp32"] < 1.0
    assert serving["onnx_threads"] == torch.get_num_threads()  # no worker on this host: every core
    assert serving["inline"] is False  # a full batch takes far longer than a thread hop
    assert client.get("/v1/encoders/nope@2", headers=admin_headers).status_code == 404
    assert client.get("/v1/encoders/minilm-l6").status_code == 401


def test_the_onnx_engines_take_the_cores_the_workers_on_this_host_leave(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    sessions = client.app.state.deepfeat.sessions  # type: ignore[attr-defined]
    assert threads_left_by_workers(settings, sessions)() is None  # no worker here: every core
    cores, here = available_cores(), socket.gethostname()
    taken = max(cores - 1, 1)
    with unit_of_work(sessions) as session:
        slots = (Slot(0, f"{here}:1", "cpu", None, taken),)
        WorkerRepository(session).beat(
            WorkerBeat(f"w@{here}", here, 1, "cpu", "cpu", ["cpu"], 1, [f"{here}:1"], cores, 0, slots)
        )
    serving = client.get("/v1/encoders/minilm-l6", headers=admin_headers).json()["serving"]
    assert serving["onnx_threads"] == left_over(cores, taken) == 1


def test_a_registered_encoder_serves_from_its_graph_with_torch_answers(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = trained_run(client, admin_headers, settings, {**DIGITS_MLP, "training": {"epochs": 1}})
    registered = client.post("/v1/encoders", json={"run_id": run_id, "name": "dg"}, headers=admin_headers)
    assert registered.status_code == 201, registered.text
    serving = client.get("/v1/encoders/dg@1", headers=admin_headers).json()["serving"]
    assert serving["engine"] == "onnx"
    assert serving["inline"] is True  # a small MLP: its batches run on the event loop
    assert serving["full_batch_ms"] < 1
    rows = np.random.default_rng(0).uniform(0, 16, size=(5, 64)).tolist()
    on_graph = client.post("/v1/encoders/dg/embed", json={"inputs": rows}, headers=admin_headers).json()
    # forward_features is `features` after the input norm: named as a layer, torch's hook answers it
    layer = client.post(
        "/v1/encoders/dg/embed", json={"inputs": rows, "layer": "features"}, headers=admin_headers
    )
    assert layer.status_code == 200, layer.text
    assert np.allclose(layer.json()["embeddings"], on_graph["embeddings"], atol=1e-5)
    runtime = client.app.state.encoders  # type: ignore[attr-defined]
    embedder = runtime.servings[(f"run:{run_id}", None)].embedder
    expected = np.stack(embedder.embed(embedder.prepare(rows), EmbedOptions()))  # torch, directly
    assert np.allclose(np.asarray(on_graph["embeddings"]), expected, atol=1e-5)


def test_a_layer_request_on_the_onnx_engine_falls_back_to_torch_with_the_same_answer(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """MiniLM's last layer, named, is what its graph outputs: torch (hooks) and ONNX must agree."""
    texts = ["a layer request", "and a second, longer text to pad against"]
    default = client.post("/v1/encoders/minilm-l6/embed", json={"inputs": texts}, headers=admin_headers)
    named = client.post(
        "/v1/encoders/minilm-l6/embed",
        json={"inputs": texts, "layer": "encoder.layer.5"},
        headers=admin_headers,
    )
    assert named.status_code == 200, named.text
    runtime = client.app.state.encoders  # type: ignore[attr-defined]
    serving = runtime.servings[("pretrained:minilm-l6", None)]
    assert serving.plan(EmbedOptions(layer="encoder.layer.5"), 2)[0] == "torch"
    assert serving.plan(EmbedOptions(), 2)[0] == "onnx"
    assert np.allclose(default.json()["embeddings"], named.json()["embeddings"], atol=1e-5)


def test_int8_on_request_and_the_batchers_metrics(client: TestClient, admin_headers: dict[str, str]) -> None:
    texts = ["the first sentence", "a second, somewhat longer sentence than the first"]
    fp32 = client.post("/v1/encoders/minilm-l6/embed", json={"inputs": texts}, headers=admin_headers)
    int8 = client.post(
        "/v1/encoders/minilm-l6/embed", json={"inputs": texts, "precision": "int8"}, headers=admin_headers
    )
    assert int8.status_code == 200, int8.text
    # The server's default is auto; 2 inputs are under the bf16 batch size, so they run in fp32.
    assert (fp32.json()["precision"], int8.json()["precision"]) == ("auto", "int8")
    a, b = np.asarray(fp32.json()["embeddings"]), np.asarray(int8.json()["embeddings"])
    assert not np.allclose(a, b, atol=1e-6)  # really quantised
    assert np.min(np.sum(a * b, axis=1)) > 0.9
    layered = client.post(
        "/v1/encoders/minilm-l6/embed",
        json={"inputs": texts, "precision": "int8", "layer": "encoder.layer.1"},
        headers=admin_headers,
    )
    assert (layered.status_code, layered.json()["loc"]) == (422, "/precision")
    auto = client.post(
        "/v1/encoders/minilm-l6/embed", json={"inputs": texts, "precision": "auto"}, headers=admin_headers
    )
    exact = client.post(
        "/v1/encoders/minilm-l6/embed", json={"inputs": texts, "precision": "fp32"}, headers=admin_headers
    )
    assert (auto.json()["precision"], exact.json()["precision"]) == ("auto", "fp32")
    assert np.allclose(auto.json()["embeddings"], a, atol=1e-6)
    assert np.allclose(exact.json()["embeddings"], a, atol=1e-6)

    metrics = client.get("/metrics").text
    samples = _samples(metrics)
    assert samples["deepfeat_embedding_batch_size_count"] >= 2
    assert samples["deepfeat_embedding_batch_tokens_sum"] > 0
    assert samples['deepfeat_embedding_queue_depth{encoder="pretrained:minilm-l6"}'] == 0
    assert samples['deepfeat_embedding_inference_duration_seconds_count{engine="onnx",precision="int8"}'] >= 1
    assert samples["deepfeat_embedding_tokenization_duration_seconds_count"] >= 2


def _samples(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("deepfeat_embedding") and " " in line:
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def test_preloaded_encoders_gate_readiness(settings: Settings, admin_headers: dict[str, str]) -> None:
    from service.app import create_app

    good = settings.model_copy(update={"preload_encoders": "minilm-l6"})
    with TestClient(create_app(good)) as client:
        runtime = client.app.state.encoders  # type: ignore[attr-defined]
        early = client.get("/readyz")
        assert early.status_code == (200 if runtime.ready.is_set() else 503)
        assert runtime.ready.wait(timeout=240)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["encoders"] == "ok"
        assert ("pretrained:minilm-l6", None) in runtime.servings  # loaded before any request

    bad = settings.model_copy(update={"preload_encoders": "no-such-encoder"})
    with TestClient(create_app(bad)) as client:
        assert client.app.state.encoders.ready.wait(timeout=60)  # type: ignore[attr-defined]
        refused = client.get("/readyz")
        assert refused.status_code == 503
        assert "no-such-encoder" in refused.json()["checks"]["encoders"]


def test_the_serving_process_freezes_its_start_up_heap_before_it_is_ready(settings: Settings) -> None:
    """service/asgi.py's app freezes what start-up made (a full collection walked it for 200+ ms every
    few seconds under load); an app made the plain way, as tests make many, leaves the collector be."""
    import gc

    from service.app import create_app

    gc.unfreeze()
    try:
        with TestClient(create_app(settings)) as client:
            client.app.state.preload.join(timeout=60)  # type: ignore[attr-defined]
            assert gc.get_freeze_count() == 0
        with TestClient(create_app(settings, freeze_heap=True)) as client:
            client.app.state.preload.join(timeout=60)  # type: ignore[attr-defined]
            assert client.get("/readyz").status_code == 200
            frozen = gc.get_freeze_count()
            assert frozen > 10_000  # torch, the app, its schemas: the heap itself, not a handful
            assert len(gc.get_objects()) < frozen  # what a collection still walks: the rest, not it
    finally:
        gc.unfreeze()


def test_an_extraction_can_ask_for_the_gpu_queue(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    dataset_id = text_dataset(client, admin_headers, n=3)
    queues: list[Any] = []
    queued = submit(client, admin_headers, encoder="minilm-l6", dataset=dataset_id, device="gpu")
    assert queued.status_code == 202, queued.text
    with client.app.state.deepfeat.sessions() as session:  # type: ignore[attr-defined]
        row = session.scalars(select(Extraction).where(Extraction.id == queued.json()["id"])).one()
        assert row.device == "gpu"
    execute_extraction(queued.json()["id"], settings, lambda *a: queues.append(a))
    done = client.get(f"/v1/extractions/{queued.json()['id']}", headers=admin_headers).json()
    if torch.cuda.is_available():
        assert done["status"] == "succeeded"
    else:  # honest on a CPU host: the job fails naming why, it does not quietly run on the CPU
        assert done["status"] == "failed"
        assert "CUDA" in done["error"]
    bad = submit(client, admin_headers, encoder="minilm-l6", dataset=dataset_id, device="tpu")
    assert (bad.status_code, bad.json()["loc"]) == (422, "/device")
