"""Metric curves drawn with plain characters, so `deepfeat runs metrics --plot` works in any terminal."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

MARKERS = "●○◆◇▲△■□"


def plot(series: Mapping[str, Sequence[tuple[float, float]]], width: int = 60, height: int = 14) -> str:
    """Render `{name: [(x, y), ...]}` as text: a framed grid, y labels on the left, x range below, legend.

    Each series is sampled at every column by linear interpolation between its points, so a few epochs
    still read as a curve; where two series meet, the one listed later wins the cell.
    """
    points = {name: sorted(p) for name, p in series.items() if p}
    if not points:
        return "(no metrics yet)"
    xs = [x for p in points.values() for x, _ in p]
    ys = [y for p in points.values() for _, y in p]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    grid = [[" "] * width for _ in range(height)]
    for marker, p in zip(MARKERS * 4, points.values(), strict=False):
        for col in range(width):
            x = x0 + (x1 - x0) * col / (width - 1) if x1 > x0 else x0
            y = _interpolate(p, x)
            if y is None:
                continue
            row = round((y1 - y) / (y1 - y0) * (height - 1))
            grid[row][col] = marker
    labels = {0: y1, (height - 1) // 2: (y0 + y1) / 2, height - 1: y0}
    label_width = max(len(f"{v:.4g}") for v in labels.values())
    lines = [
        f"{(f'{labels[r]:.4g}' if r in labels else ''):>{label_width}} ┤{''.join(cells)}"
        for r, cells in enumerate(grid)
    ]
    lines.append(" " * label_width + " └" + "─" * width)
    left, right = f"{x0:g}", f"{x1:g}"
    lines.append(" " * (label_width + 2) + left + right.rjust(width - len(left)))
    legend = "   ".join(f"{m} {name}" for m, name in zip(MARKERS * 4, points, strict=False))
    lines.append(" " * (label_width + 2) + legend)
    return "\n".join(lines)


def _interpolate(points: Sequence[tuple[float, float]], x: float) -> float | None:
    if x < points[0][0] or x > points[-1][0]:
        return None
    for (xa, ya), (xb, yb) in itertools.pairwise(points):
        if xa <= x <= xb:
            return ya if xb == xa else ya + (yb - ya) * (x - xa) / (xb - xa)
    return points[-1][1]
