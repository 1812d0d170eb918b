"""What a client may say about an upload besides its bytes, plus the server's limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MissingPolicy = Literal["refuse", "drop", "impute"]


@dataclass(frozen=True)
class ReadOptions:
    """What a client may say about an upload besides its bytes (all optional)."""

    format: str | None = None
    target: str | None = None
    target_type: Literal["categorical", "numeric"] | None = None
    missing: MissingPolicy = "refuse"
    modality: Literal["tabular", "image", "sequence"] | None = None  # NPZ with 3-d X: image or sequence
    image_size: tuple[int, int] = (32, 32)
    color: Literal["auto", "rgb", "grayscale"] = "auto"
    max_categories: int = 1000
    limits: dict[str, int] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """What the dataset records of how it was read (without the server's limits)."""
        return {
            "format": self.format,
            "target": self.target,
            "target_type": self.target_type,
            "missing": self.missing,
            "modality": self.modality,
            "image_size": list(self.image_size),
            "color": self.color,
        }
