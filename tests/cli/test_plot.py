"""The terminal plot: curves land where their values say, with labels and a legend."""

from __future__ import annotations

from deepfeat.cli.plot import plot


def test_a_falling_curve_starts_top_left_and_ends_bottom_right() -> None:
    text = plot({"loss": [(1, 2.0), (2, 1.0), (3, 0.5)]}, width=20, height=5)
    lines = text.splitlines()
    grid = [line.split("┤", 1)[1] for line in lines[:5]]
    assert grid[0][0] == "●"
    assert grid[-1][-1] == "●"
    assert lines[0].lstrip().startswith("2 ")
    assert lines[4].lstrip().startswith("0.5 ")
    assert lines[6].strip().startswith("1")
    assert lines[6].strip().endswith("3")
    assert "● loss" in lines[7]


def test_two_series_get_two_markers_and_a_flat_one_does_not_divide_by_zero() -> None:
    text = plot({"accuracy": [(1, 0.9), (2, 0.9)], "val_accuracy": [(1, 0.8), (2, 0.8)]})
    assert "● accuracy" in text
    assert "○ val_accuracy" in text
    assert "○" in text.split("└")[0]
    assert "●" in plot({"flat": [(1, 1.0), (5, 1.0)]})


def test_nothing_to_draw_says_so() -> None:
    assert plot({}) == "(no metrics yet)"
    assert "●" in plot({"one": [(3, 0.25)]}, width=10, height=3)
