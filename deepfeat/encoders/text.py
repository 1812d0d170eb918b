"""`minilm-l6`: the packaged all-MiniLM-L6-v2 weights in the plain-torch BERT, with its own tokenizer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from tokenizers import Encoding, Tokenizer
from torch import nn

from deepfeat.encoders import metrics
from deepfeat.encoders.bert import Bert, BertConfig
from deepfeat.encoders.embedder import Embedder, InvalidInput

MAX_TOKENS = 256  # what the model was trained with; longer texts are truncated, as sentence-transformers does
MAX_CHARS = 100_000  # beyond any 256-token text: refuse rather than tokenise megabytes
# The fixed probe set engines and precisions are compared on: short and long, plain and odd.
PROBE_TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The quick brown fox jumps over the lazy dog near the river bank this morning.",
    "Quarterly revenue rose 12% while operating costs fell, beating analysts' forecasts.",
    "How do I reset my password if I no longer have access to my e-mail address?",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    "ok",
    "Ünïcödé, emoji 🙂 and numbers 3.14159 mixed together in one sentence.",
    " ".join(["a long text that repeats itself to fill many tokens"] * 12),
    "The committee postponed the vote until the independent audit is published next spring.",
    "She painted the old bicycle blue and left it by the station.",
    "Neural networks learn representations that transfer between related tasks.",
]


class TextEmbedder(Embedder):
    modality = "text"
    default_normalize = True

    def __init__(self, folder: Path, weights: Path) -> None:
        config = BertConfig.from_json(json.loads((folder / "config.json").read_text()))
        self.bert = Bert(config)
        state = load_file(str(weights))
        state.pop("embeddings.position_ids", None)  # a constant; rebuilt by the module
        state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
        self.bert.load_state_dict(state)
        self.bert.eval()
        self.module = self.bert
        self.dim = config.hidden_size
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()

    def prepare(self, inputs: Sequence[Any]) -> list[Any]:
        for i, text in enumerate(inputs):
            if not isinstance(text, str):
                raise InvalidInput(f"/inputs/{i}", "this encoder reads text: send a string")
            if len(text) > MAX_CHARS:
                raise InvalidInput(f"/inputs/{i}", f"text of {len(text)} characters is over {MAX_CHARS}")
        with metrics.TOKENIZATION_SECONDS.time():
            encodings: list[Encoding] = self.tokenizer.encode_batch(list(inputs))
            return [e.ids for e in encodings]

    def tokens(self, items: list[Any]) -> int:
        return sum(len(ids) for ids in items)

    def length(self, item: Any) -> int:
        return len(item)

    def feed(self, items: list[Any]) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None]:
        ids, mask = self.collate(items)
        return (ids, mask), mask

    def graph(self, layer: str | None) -> nn.Module | None:
        return self.bert if layer is None else None  # other layers: the torch path's hooks

    def dynamic_axes(self) -> list[tuple[int, ...]]:
        return [(0, 1), (0, 1)]

    def probe(self) -> list[Any]:
        return self.prepare(PROBE_TEXTS)

    def collate(self, items: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        length = max(len(ids) for ids in items)
        ids = torch.zeros(len(items), length, dtype=torch.long)
        mask = torch.zeros(len(items), length, dtype=torch.long)
        for row, tokens in enumerate(items):
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        return ids, mask

    def forward(self, items: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        ids, mask = self.collate(items)
        ids, mask = ids.to(self.device), mask.to(self.device)
        return self.bert(ids, mask), mask

    def _mask_for(self, out: torch.Tensor, items: list[Any]) -> torch.Tensor | None:
        _, mask = self.collate(items)
        return mask.to(out.device) if out.dim() == 3 and tuple(out.shape[:2]) == tuple(mask.shape) else None
