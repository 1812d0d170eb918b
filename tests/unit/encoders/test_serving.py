"""The serving plan on the real MiniLM: ONNX Runtime answers what torch answers for every pool, graphs
are cached in the artifact store by weights, a graph that drifts is refused by `auto`, chunks are
sorted and token-bounded, precisions report their cosine, and devices are chosen honestly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deepfeat.config import Settings
from deepfeat.encoders import engine
from deepfeat.encoders.catalogue import load_pretrained
from deepfeat.encoders.embedder import Embedder, EmbedOptions, InvalidInput
from deepfeat.encoders.engine import GraphCache, variant_id
from deepfeat.encoders.runtime import DeviceUnavailable, gpu_device, inference_device
from deepfeat.encoders.serving import Serving, cpu_has_bf16
from deepfeat.storage.local import FileStore

TEXTS = [
    "ok",
    "A man is eating food.",
    " ".join(["a much longer text that keeps going"] * 20),
    "The committee postponed the vote.",
    "Photosynthesis converts light into chemical energy.",
]


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return load_pretrained("minilm-l6")


def serving(minilm: Embedder, root: Path, engine_setting: str, **kw: object) -> Serving:
    cache = GraphCache(FileStore(root / "artifacts"), root / "graphs")
    return Serving(
        minilm,
        None,
        engine=engine_setting,
        precision="fp32",
        cache=cache,
        threads=1,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def plans(minilm: Embedder, tmp_path_factory: pytest.TempPathFactory) -> tuple[Serving, Serving]:
    root = tmp_path_factory.mktemp("plans")
    return serving(minilm, root, "onnx"), serving(minilm, root, "torch")


@pytest.mark.parametrize("how", ["mean", "max", "cls", "none"])
def test_onnx_answers_what_torch_answers_for_every_pool(
    minilm: Embedder, plans: tuple[Serving, Serving], how: str
) -> None:
    onnx, torch_only = plans
    assert (onnx.describe()["engine"], torch_only.describe()["engine"]) == ("onnx", "torch")
    items = minilm.prepare(TEXTS)
    options = EmbedOptions(pool=how, normalize=True)  # type: ignore[arg-type]
    assert onnx.plan(options, len(items)) == ("onnx", "fp32")
    for a, b in zip(onnx.run(items, options), torch_only.run(items, options), strict=True):
        assert a.shape == b.shape
        assert np.allclose(a, b, atol=1e-4)


def test_a_layer_request_falls_back_to_torch_with_the_same_answers(
    minilm: Embedder, plans: tuple[Serving, Serving]
) -> None:
    onnx, _ = plans
    items = minilm.prepare(TEXTS)
    options = EmbedOptions(layer="encoder.layer.3", normalize=True)
    assert onnx.plan(options, len(items)) == ("torch", "fp32")
    expected = np.stack(minilm.embed(items, options))
    assert np.allclose(np.stack(onnx.run(items, options)), expected, atol=1e-6)


def test_graphs_are_exported_once_and_found_again_in_the_store(
    minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serving(minilm, tmp_path, "onnx")
    variant = variant_id(minilm, None, "fp32")
    assert variant is not None
    blobs = sorted((tmp_path / "artifacts" / "blobs").rglob("*"))
    [index] = list((tmp_path / "graphs").glob("*.json"))
    assert json.loads(index.read_text())["variant"] == variant
    monkeypatch.setattr(engine, "_memo", {})  # as a new process would start

    def no_export(*_args: object) -> bytes:
        raise AssertionError("the cached graph should have been loaded, not exported again")

    monkeypatch.setattr(engine, "export_onnx", no_export)
    again = serving(minilm, tmp_path, "onnx")
    assert again.onnx is not None  # served from the stored graph
    assert sorted((tmp_path / "artifacts" / "blobs").rglob("*")) == blobs


def test_an_altered_cached_graph_is_not_trusted(
    minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serving(minilm, tmp_path, "onnx")
    [index] = list((tmp_path / "graphs").glob("*.json"))
    blob = FileStore(tmp_path / "artifacts").path(json.loads(index.read_text())["key"])
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    monkeypatch.setattr(engine, "_memo", {})
    cache = GraphCache(FileStore(tmp_path / "artifacts"), tmp_path / "graphs")
    assert cache.get(variant_id(minilm, None, "fp32") or "") is None  # refused, so it will re-export


def test_auto_refuses_a_graph_that_does_not_match_torch(
    minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The int8 graph filed as the fp32 one: `auto` measures it below 0.9999 and keeps torch; `onnx`
    (the operator's explicit choice) serves it and reports the cosine."""
    cache = GraphCache(FileStore(tmp_path / "artifacts"), tmp_path / "graphs")
    int8 = cache.graph(minilm, None, "int8")
    assert int8 is not None
    monkeypatch.setattr(engine, "_memo", {})
    cache.put(variant_id(minilm, None, "fp32") or "", int8)
    auto = Serving(minilm, None, engine="auto", precision="fp32", cache=cache, threads=1)
    report = auto.describe()
    assert report["engine"] == "torch"
    assert report["precisions"]["fp32"]["onnx_cosine_to_torch"] < 0.9999
    forced = Serving(minilm, None, engine="onnx", precision="fp32", cache=cache, threads=1)
    assert forced.describe()["engine"] == "onnx"
    monkeypatch.setattr(engine, "_memo", {})


def test_precisions_report_their_cosine_and_int8_needs_the_graph(
    minilm: Embedder, plans: tuple[Serving, Serving]
) -> None:
    plan, _ = plans
    precisions = plan.describe()["precisions"]
    assert precisions["fp32"]["cosine_to_fp32"] == 1.0
    assert 0.999 < precisions["bf16"]["cosine_to_fp32"] <= 1.0
    assert 0.9 < precisions["int8"]["cosine_to_fp32"] < 1.0  # quantised: close, not equal
    items = minilm.prepare(TEXTS)
    assert plan.plan(EmbedOptions(precision="int8"), 5) == ("onnx", "int8")
    int8 = np.stack(plan.run(items, EmbedOptions(precision="int8", normalize=True)))
    fp32 = np.stack(plan.run(items, EmbedOptions(normalize=True)))
    assert np.min(np.sum(int8 * fp32, axis=1)) > 0.9
    with pytest.raises(InvalidInput) as refused:
        plan.plan(EmbedOptions(layer="encoder.layer.2", precision="int8"), 5)
    assert refused.value.extra["loc"] == "/precision"


def test_auto_precision_takes_bf16_only_for_large_batches_where_it_measured_faster(
    minilm: Embedder, tmp_path: Path
) -> None:
    plan = Serving(minilm, None, engine="onnx", precision="auto", cache=None, threads=1)
    report = plan.reports["bf16"]
    # Timed at load only where it may pay: on bf16 hardware, for a model that keeps its answers.
    assert (report["speedup_vs_fp32"] is not None) == (
        report["hardware"] and report["cosine_to_fp32"] >= 0.9999
    )
    pays = report["hardware"] and (report["speedup_vs_fp32"] or 0) >= 1.1
    assert plan.plan(EmbedOptions(), 1) == ("torch", "fp32")  # no cache given: torch, and fp32 at batch 1
    assert plan.plan(EmbedOptions(), 32)[1] == ("bf16" if pays else "fp32")
    report.update(hardware=True, speedup_vs_fp32=1.6)
    assert plan.plan(EmbedOptions(), 32)[1] == "bf16"
    assert plan.plan(EmbedOptions(), 7)[1] == "fp32"  # under BF16_MIN_BATCH: bf16 was slower at batch 1
    report.update(speedup_vs_fp32=1.02)  # bf16 measured no faster (a small MLP, a CPU without AMX)
    assert plan.plan(EmbedOptions(), 32)[1] == "fp32"
    report.update(speedup_vs_fp32=1.6, cosine_to_fp32=0.9995)  # under the default's 0.9999 bar
    assert plan.plan(EmbedOptions(), 32)[1] == "fp32"
    assert plan.plan(EmbedOptions(precision="bf16"), 1)[1] == "bf16"  # asked for: granted


def test_cpu_flags_decide_bf16() -> None:
    assert cpu_has_bf16(frozenset({"avx2", "avx512_bf16"}))
    assert cpu_has_bf16(frozenset({"amx_bf16", "amx_tile"}))
    assert not cpu_has_bf16(frozenset({"avx2", "avx512f", "avx512_vnni"}))


def test_chunks_are_sorted_token_bounded_and_answers_keep_their_order(
    minilm: Embedder, plans: tuple[Serving, Serving]
) -> None:
    plan = plans[0]
    plan.max_batch, plan.max_tokens = 3, 60
    items = minilm.prepare(TEXTS * 3)
    order = sorted(range(len(items)), key=lambda i: len(items[i]))
    chunks = plan._chunks(order, items)
    assert [i for chunk in chunks for i in chunk] == order  # sorted, nothing lost
    for chunk in chunks:
        longest = max(len(items[i]) for i in chunk)
        assert len(chunk) <= 3
        assert len(chunk) == 1 or len(chunk) * longest <= 60
    options = EmbedOptions(normalize=True)
    alone = np.stack([minilm.embed([item], options)[0] for item in items])
    try:
        assert np.allclose(np.stack(plan.run(items, options)), alone, atol=1e-4)
    finally:
        plan.max_batch, plan.max_tokens = 32, None


def test_device_selection_is_honest_about_cuda(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert inference_device(settings.model_copy(update={"inference_device": "auto"}), False) == "cpu"
    assert inference_device(settings.model_copy(update={"inference_device": "auto"}), True) == "cuda"
    assert inference_device(settings.model_copy(update={"inference_device": "cuda"}), True) == "cuda"
    with pytest.raises(DeviceUnavailable, match="no CUDA device"):
        inference_device(settings.model_copy(update={"inference_device": "cuda"}), False)
    with pytest.raises(DeviceUnavailable):
        gpu_device(False)
    assert engine.providers("cpu") == ["CPUExecutionProvider"]
    assert engine.providers("cuda")[-1] == "CPUExecutionProvider"


def test_exporting_a_graph_leaves_the_shared_encoder_as_it_was(tmp_path: Path) -> None:
    """The served encoder is shared by every request and engine: exporting its ONNX graph must leave it
    in eval mode with its batch-norm statistics untouched (the exporter used to hand it back in training
    mode, and every later forward moved its statistics)."""
    import torch

    effnet = load_pretrained("efficientnet-lite0")
    before = {k: v.clone() for k, v in effnet.module.state_dict().items()}
    serving(effnet, tmp_path, "onnx")
    assert not any(m.training for m in effnet.module.modules())
    after = effnet.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
