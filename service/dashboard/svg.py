"""Small charts drawn on the server as SVG: they need no JavaScript and no charting library.

Python computes the geometry; `templates/charts.html` turns it into markup (autoescaped like any page).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 14, 30


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def histogram_from_quantiles(quantiles: Sequence[float], bins: int = 30) -> dict[str, list[Any]]:
    """Counts per bin from the 0th..100th percentiles (each gap between two holds 1% of the data): the
    histogram of runs whose `anomaly.json` predates the stored one. Counts are in percent."""
    q = np.asarray(quantiles, dtype=np.float64)
    high = float(q[-1]) if q.size and q[-1] > 0 else 1.0
    edges = np.linspace(0.0, high, bins + 1)
    share = 100.0 / max(len(q) - 1, 1)
    counts = np.zeros(bins)
    for low_q, high_q in pairwise(q):
        span = max(high_q - low_q, 1e-12)
        overlap = np.clip(np.minimum(edges[1:], high_q) - np.maximum(edges[:-1], low_q), 0, None)
        counts += share * (overlap / span if high_q > low_q else (edges[:-1] <= low_q) & (low_q < edges[1:]))
    return {"edges": edges.tolist(), "counts": np.round(counts, 3).tolist()}


def histogram_chart(
    edges: Sequence[float], counts: Sequence[float], threshold: float | None
) -> dict[str, Any] | None:
    """Geometry of bars over `edges` and a vertical line at `threshold`, for `charts.html:histogram`."""
    if len(edges) < 2 or len(counts) != len(edges) - 1:
        return None
    low, high = float(edges[0]), float(edges[-1])
    if threshold is not None:
        high = max(high, float(threshold) * 1.02)
    span = (high - low) or 1.0
    top = max(max(counts), 1e-12)
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    bottom = PAD_TOP + plot_h

    def x(value: float) -> float:
        return round(PAD_LEFT + (float(value) - low) / span * plot_w, 1)

    def y(value: float) -> float:
        return round(bottom - float(value) / top * plot_h, 1)

    bars = [
        {
            "x": x(left) + 0.5,
            "y": y(count),
            "width": max(round(x(right) - x(left) - 1, 1), 0.5),
            "height": round(bottom - y(count), 1),
            "title": f"{_fmt(left)}–{_fmt(right)}: {_fmt(count)}",
        }
        for left, right, count in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": PAD_LEFT,
        "right": WIDTH - PAD_RIGHT,
        "top": PAD_TOP,
        "bottom": bottom,
        "y_ticks": [{"y": y(top * i / 4), "label": _fmt(top * i / 4)} for i in range(5)],
        "x_ticks": [{"x": x(low + span * i / 4), "label": _fmt(low + span * i / 4)} for i in range(5)],
        "bars": bars,
        "threshold": None
        if threshold is None
        else {"x": x(threshold), "value": float(threshold), "label": _fmt(float(threshold))},
    }


def pair_chart(original: Sequence[float], reconstruction: Sequence[float]) -> dict[str, Any] | None:
    """One sample: polyline points of its (scaled) input and of the reconstruction, for `charts.html:pair`."""
    width, height, pad = 300, 110, 6
    values = [*original, *reconstruction]
    if not original or not values:
        return None
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 2 * pad) / max(len(original) - 1, 1)

    def points(series: Sequence[float]) -> str:
        return " ".join(
            f"{pad + i * step:.1f},{pad + (high - v) / span * (height - 2 * pad):.1f}"
            for i, v in enumerate(series)
        )

    return {"width": width, "height": height, "input": points(original), "output": points(reconstruction)}
