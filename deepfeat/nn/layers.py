"""Reading a named layer's output: a forward hook that stops the pass there (later layers never run).

Used to serve embeddings from any layer and to fine-tune from a registered encoder's layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


class _Captured(Exception):  # control flow, not an error: stops the forward pass at the layer
    def __init__(self, output: torch.Tensor) -> None:
        self.output = output


@contextmanager
def capture(module: nn.Module) -> Iterator[None]:
    """Stop the forward pass at `module` and raise its output: later layers are never computed."""

    def hook(_m: nn.Module, _args: Any, output: Any) -> None:
        tensor = output[0] if isinstance(output, tuple | list) else output
        raise _Captured(tensor)

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def output_of(module: nn.Module, run: Callable[[], object]) -> Any:
    """`module`'s output when `run()` reaches it (the rest of the pass is skipped); None if it never runs."""
    try:
        with capture(module):
            run()
    except _Captured as captured:
        return captured.output
    return None
