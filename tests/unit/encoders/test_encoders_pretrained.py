"""The packaged encoders, loaded once for the module: reference properties, not just shapes, on
each engine (torch, and the ONNX Runtime graph exported from the same weights)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as photos

from deepfeat.encoders.catalogue import PRETRAINED, EncoderUnavailable, load_pretrained, verified_weights
from deepfeat.encoders.embedder import EmbedOptions
from deepfeat.encoders.engine import GraphCache
from deepfeat.encoders.image import preprocess
from deepfeat.encoders.serving import Serving
from deepfeat.storage.local import FileStore


@pytest.fixture(scope="module", params=["torch", "onnx"])
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def served(name: str, engine: str, root: Path) -> Serving:
    cache = GraphCache(FileStore(root / "artifacts"), root / "graphs")
    serving = Serving(load_pretrained(name), None, engine=engine, precision="fp32", cache=cache, threads=1)
    assert (serving.onnx is not None) == (engine == "onnx")  # the engine under test really serves
    return serving


@pytest.fixture(scope="module")
def minilm(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Serving:
    return served("minilm-l6", engine, tmp_path_factory.mktemp("minilm"))


@pytest.fixture(scope="module")
def effnet(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Serving:
    return served("efficientnet-lite0", engine, tmp_path_factory.mktemp("effnet"))


def vectors(serving: Serving, items: list[object], **options: object) -> np.ndarray:
    return np.stack(serving.run(items, EmbedOptions(**options)))  # type: ignore[arg-type]


def test_minilm_puts_paraphrases_closer_than_unrelated_sentences(minilm: Serving) -> None:
    pairs = [
        ("How do I reset my password?", "I forgot my password, how can I change it?"),
        ("The cat sat on the mat.", "A cat is sitting on a rug."),
        ("What time does the store open?", "When does the shop open in the morning?"),
    ]
    unrelated = ["Quantum chromodynamics describes the strong force.", "Preheat the oven to 200 degrees."]
    texts = [t for pair in pairs for t in pair] + unrelated
    v = vectors(minilm, minilm.embedder.prepare(texts), normalize=True)
    assert v.shape == (8, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    for i in range(3):
        paraphrase = sims[2 * i, 2 * i + 1]
        assert paraphrase > 0.5
        assert paraphrase > max(sims[2 * i, 6], sims[2 * i, 7]) + 0.3
    # sentence-transformers' own documented figure for this pair (all-MiniLM-L6-v2): 0.7553
    food = vectors(
        minilm,
        minilm.embedder.prepare(["A man is eating food.", "A man is eating a piece of bread."]),
        normalize=True,
    )
    assert float(food[0] @ food[1]) == pytest.approx(0.7553, abs=1e-3)


def test_minilm_batching_padding_and_truncation_do_not_change_results(minilm: Serving) -> None:
    texts = ["short", "a considerably longer sentence that needs much more padding for the short one"]
    together = vectors(minilm, minilm.embedder.prepare(texts), normalize=True)
    alone = np.concatenate([vectors(minilm, minilm.embedder.prepare([t]), normalize=True) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
    long = minilm.embedder.prepare(["word " * 1000])
    assert len(long[0]) == 256


def test_bf16_is_close_to_fp32(minilm: Serving) -> None:
    items = minilm.embedder.prepare(["The quick brown fox jumps over the lazy dog."] * 4)
    fp32 = vectors(minilm, items, normalize=True)
    bf16 = vectors(minilm, items, normalize=True, precision="bf16")
    assert np.min(np.sum(fp32 * bf16, axis=1)) > 0.999


def test_efficientnet_embeds_photos_in_1280_dimensions(effnet: Serving) -> None:
    images = [photos.coffee(), photos.chelsea(), photos.astronaut(), photos.rocket()]
    items = [preprocess(Image.fromarray(image)) for image in images]
    assert tuple(items[0].shape) == (3, 224, 224)
    v = vectors(effnet, items)
    assert v.shape == (4, 1280)
    assert np.all(v >= 0)  # the global average of swish features of a trained net: mostly positive mass
    # a photo is closer to a lightly shifted crop of itself than to a different photo
    shifted = preprocess(Image.fromarray(photos.chelsea()[10:, 10:]))
    w = vectors(effnet, [shifted], normalize=True)[0]
    n = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert float(n[1] @ w) > max(float(n[i] @ w) for i in (0, 2, 3))


def test_weights_are_refused_on_a_sha256_mismatch() -> None:
    for entry in PRETRAINED.values():
        assert verified_weights(entry).is_file()
        tampered = dataclasses.replace(entry, sha256="0" * 64)
        with pytest.raises(EncoderUnavailable, match="refusing to load"):
            verified_weights(tampered)
