"""The packaged encoders, loaded once for the module: reference properties, not just shapes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image
from skimage import data as photos

from deepfeat.encoders.catalogue import PRETRAINED, EncoderUnavailable, load_pretrained, verified_weights
from deepfeat.encoders.embedder import Embedder, EmbedOptions
from deepfeat.encoders.image import preprocess


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return load_pretrained("minilm-l6")


@pytest.fixture(scope="module")
def effnet() -> Embedder:
    return load_pretrained("efficientnet-lite0")


def vectors(embedder: Embedder, items: list[object], **options: object) -> np.ndarray:
    return np.stack(embedder.embed(items, EmbedOptions(**options)))  # type: ignore[arg-type]


def test_minilm_puts_paraphrases_closer_than_unrelated_sentences(minilm: Embedder) -> None:
    pairs = [
        ("How do I reset my password?", "I forgot my password, how can I change it?"),
        ("The cat sat on the mat.", "A cat is sitting on a rug."),
        ("What time does the store open?", "When does the shop open in the morning?"),
    ]
    unrelated = ["Quantum chromodynamics describes the strong force.", "Preheat the oven to 200 degrees."]
    texts = [t for pair in pairs for t in pair] + unrelated
    v = vectors(minilm, minilm.prepare(texts), normalize=True)
    assert v.shape == (8, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    for i in range(3):
        paraphrase = sims[2 * i, 2 * i + 1]
        assert paraphrase > 0.5
        assert paraphrase > max(sims[2 * i, 6], sims[2 * i, 7]) + 0.3
    # sentence-transformers' own documented figure for this pair (all-MiniLM-L6-v2): 0.7553
    food = vectors(
        minilm, minilm.prepare(["A man is eating food.", "A man is eating a piece of bread."]), normalize=True
    )
    assert float(food[0] @ food[1]) == pytest.approx(0.7553, abs=1e-3)


def test_minilm_batching_padding_and_truncation_do_not_change_results(minilm: Embedder) -> None:
    texts = ["short", "a considerably longer sentence that needs much more padding for the short one"]
    together = vectors(minilm, minilm.prepare(texts), normalize=True)
    alone = np.concatenate([vectors(minilm, minilm.prepare([t]), normalize=True) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
    long = minilm.prepare(["word " * 1000])
    assert len(long[0]) == 256


def test_bf16_is_close_to_fp32(minilm: Embedder) -> None:
    items = minilm.prepare(["The quick brown fox jumps over the lazy dog."] * 4)
    fp32 = vectors(minilm, items, normalize=True)
    bf16 = vectors(minilm, items, normalize=True, precision="bf16")
    assert np.min(np.sum(fp32 * bf16, axis=1)) > 0.999


def test_efficientnet_embeds_photos_in_1280_dimensions(effnet: Embedder) -> None:
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
