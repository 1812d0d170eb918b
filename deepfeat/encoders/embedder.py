"""What every encoder does to serve embeddings: check inputs, batch them, run a layer, pool, normalise.

One `Embedder` per loaded network. `prepare` runs per request (it raises 4xx errors naming the bad
input); `embed` runs on a batch that may hold several requests' items, in the inference thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from deepfeat.data.schema import DatasetSchema
from deepfeat.errors import DeepfeatError
from deepfeat.nn.layers import output_of

Pool = Literal["mean", "max", "cls", "none"]
Precision = Literal["fp32", "bf16", "int8", "auto"]


class InvalidInput(DeepfeatError):
    status_code = 422
    error = "invalid_input"

    def __init__(self, loc: str, detail: str) -> None:
        super().__init__(f"{loc}: {detail}", loc=loc)


def numeric_input(index: int, item: Any, input_shape: list[int]) -> npt.NDArray[np.float32]:
    """One client input (nested to `input_shape`, or flat) as float32 of that shape, or a 422 naming it."""
    loc = f"/inputs/{index}"
    if isinstance(item, str):
        raise InvalidInput(loc, "this model reads numeric arrays, not text")
    try:
        array = np.asarray(item, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInput(loc, "must be numbers (nested lists of equal length)") from None
    size = int(np.prod(input_shape))
    if array.size != size:
        raise InvalidInput(loc, f"has {array.size} values; this model takes {size} (shape {input_shape})")
    if not np.isfinite(array).all():
        raise InvalidInput(loc, "contains NaN or infinity")
    return array.reshape(input_shape)


def text_inputs(inputs: Sequence[Any]) -> npt.NDArray[np.str_]:
    """Inputs for a model trained on text: strings only, or a 422 naming the first that is not."""
    for i, item in enumerate(inputs):
        if not isinstance(item, str):
            raise InvalidInput(f"/inputs/{i}", "this model was trained on text: send strings")
    return np.asarray(inputs, dtype=np.str_)


class UnknownLayer(DeepfeatError):
    status_code = 422
    error = "unknown_layer"


@dataclass(frozen=True)
class EmbedOptions:
    """Items of several requests share a batch only when these agree (the batcher keys on them)."""

    layer: str | None = None
    pool: Pool = "mean"
    normalize: bool = False
    precision: Precision | None = None  # None: the server's choice (serving.py)

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"


class Embedder(ABC):
    modality: str
    dim: int
    module: nn.Module
    default_normalize: bool = False
    weights_sha256: str | None = None  # what an exported graph is cached under (engine.py)
    device: torch.device = torch.device("cpu")

    @abstractmethod
    def prepare(self, inputs: Sequence[Any]) -> list[Any]:
        """Validate and convert one request's inputs into items; raise InvalidInput naming the bad one."""

    @abstractmethod
    def forward(self, items: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The default features of a batch, and the token mask for sequence outputs (None otherwise)."""

    def prepare_rows(self, rows: npt.NDArray[Any]) -> list[Any]:
        """Items from rows of a stored dataset (batch extraction); default: as if sent in a request."""
        return self.prepare([row.item() if isinstance(row, np.generic) else row for row in rows])

    def dataset_problem(self, schema: DatasetSchema) -> str | None:
        """Why this encoder cannot read a dataset with `schema` (None when it can)."""
        modality = schema.modality
        if modality != self.modality:
            return f"this encoder reads {self.modality} data; the dataset is {modality}"
        return None

    def forward_all(self, items: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The whole network, so a hook on any named layer fires (heads included); default: `forward`."""
        return self.forward(items)

    def tokens(self, items: list[Any]) -> int:
        """Tokens in the items (text encoders; for usage reports)."""
        return 0

    def length(self, item: Any) -> int:
        """What one item costs in a padded batch: its tokens for text, 1 otherwise."""
        return 1

    def feed(self, items: list[Any]) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None]:
        """The tensors `graph` takes for a batch, and the token mask of its output (None: no sequence)."""
        return (torch.stack(items),), None

    def graph(self, layer: str | None) -> nn.Module | None:
        """A module mapping `feed`'s tensors to the unpooled features at `layer` (None: the default
        output), for export to ONNX; None when this encoder has no such graph (torch serves)."""
        return None

    def dynamic_axes(self) -> list[tuple[int, ...]]:
        """Per `feed` tensor, the axes that vary between batches (batch; for text also length)."""
        return [(0,)]

    def probe(self) -> list[Any]:
        """A fixed probe set of prepared items: engines and precisions are compared with fp32 on it."""
        raise NotImplementedError

    def to(self, device: torch.device) -> None:
        """Move the network to `device` (inputs follow in `feed`)."""
        self.module.to(device)
        self.device = device

    def layer_names(self) -> list[str]:
        return [name for name, _ in self.module.named_modules() if name]

    def check_layer(self, layer: str | None) -> None:
        if layer is None:
            return
        modules = dict(self.module.named_modules())
        if layer not in modules or not layer:
            names = self.layer_names()
            shown = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
            raise UnknownLayer(
                f"/layer: this encoder has no layer {layer!r}; named layers: {shown}", loc="/layer"
            )

    def embed(self, items: list[Any], options: EmbedOptions) -> list[Any]:
        """One embedding per item (a flat vector, or a nested list with `pool: none`)."""
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if options.bf16 else nullcontext()
        with torch.inference_mode(), autocast:
            out, mask = self._run(items, options.layer)
        return pool(out.float(), mask, options.pool, options.normalize)

    def _run(self, items: list[Any], layer: str | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if layer is None:
            return self.forward(items)
        out = output_of(self.module.get_submodule(layer), lambda: self.forward_all(items))
        if out is not None:
            if not isinstance(out, torch.Tensor) or out.dim() == 0 or out.shape[0] != len(items):
                raise UnknownLayer(
                    f"/layer: layer {layer!r} does not output one tensor row per input", loc="/layer"
                )
            return out, self._mask_for(out, items)
        raise UnknownLayer(
            f"/layer: {layer!r} is a container or is not on this encoder's forward path; "
            "name a module that runs (e.g. one listed without children)",
            loc="/layer",
        )

    def _mask_for(self, out: torch.Tensor, items: list[Any]) -> torch.Tensor | None:
        return None


def pool(out: torch.Tensor, mask: torch.Tensor | None, how: Pool, normalize: bool) -> list[Any]:
    """N×D stays as is; N×L×D (sequences, `mask` marks real tokens) and N×C×H×W (feature maps) are
    reduced by `how`. `cls` takes a sequence's first position; `none` keeps every position."""
    if how == "cls" and out.dim() != 3:
        raise InvalidInput("/pool", "`cls` needs a layer that outputs a sequence (N×L×D)")
    if how == "none":
        return _unpooled(out, mask, normalize)
    if out.dim() == 3:
        if how == "cls":
            vectors = out[:, 0]
        else:
            keep = (
                mask.bool().unsqueeze(-1)
                if mask is not None
                else torch.ones((*out.shape[:2], 1), dtype=torch.bool, device=out.device)
            )
            if how == "mean":
                weights = keep.to(out.dtype)
                vectors = (out * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            else:
                vectors = out.masked_fill(~keep, float("-inf")).amax(1)
    elif out.dim() > 3:
        flat = out.flatten(2)
        vectors = flat.mean(2) if how == "mean" else flat.amax(2)
    else:
        vectors = out.reshape(out.shape[0], -1)
    if normalize:
        vectors = nn.functional.normalize(vectors, dim=-1)
    return list(vectors.cpu().numpy())


def _unpooled(out: torch.Tensor, mask: torch.Tensor | None, normalize: bool) -> list[Any]:
    if normalize:
        out = nn.functional.normalize(out, dim=-1 if out.dim() <= 3 else 1)
    rows = []
    for i in range(out.shape[0]):
        row = out[i]
        if mask is not None and out.dim() == 3:
            row = row[: int(mask[i].sum())]  # drop the padding: each text keeps its own length
        rows.append(np.asarray(row.cpu().numpy()))
    return rows
