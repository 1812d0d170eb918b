"""The sweep pages in Chromium (fixtures shared with test_dashboard.py): the trials table sorts by the
metric both ways, and a scatter of each parameter against the metric has a dot per scored trial."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.helpers.dashboard import api, browser, live, page, screenshot  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.e2e

SWEEP = {
    "name": "browser-sweep",
    "base": {
        "dataset": "builtin:digits",
        "task": "classification",
        "model": {"type": "mlp", "hidden": [32]},
        "training": {"epochs": 2, "optimizer": {"name": "adam", "lr": 0.001}},
    },
    "method": "random",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {
        "training.optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
        "model.hidden": {"values": [[16], [64]]},
    },
    "run_cap": 4,
    "parallelism": 2,
    "seed": 3,
}


def test_the_sweep_page_sorts_by_metric_and_plots_parameters(
    page: Page,  # noqa: F811
    api: httpx.Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    sweep_id = api.post("/v1/sweeps", json=SWEEP).json()["id"]
    deadline = time.monotonic() + 300
    while api.get(f"/v1/sweeps/{sweep_id}").json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    sweep = api.get(f"/v1/sweeps/{sweep_id}").json()
    page.click("nav >> text=Sweeps")
    page.click(f"text={SWEEP['name']}")
    expect(page.locator("h1")).to_have_text(SWEEP["name"])
    expect(page.locator("[data-role=best]")).to_contain_text(sweep["best_run_id"])
    rows = page.locator("#trials tbody tr")
    expect(rows).to_have_count(4)

    def metrics() -> list[float]:
        return [float(v) for v in rows.evaluate_all("rs => rs.map(r => r.dataset.metric)")]

    assert metrics() == sorted(metrics(), reverse=True)  # best first for a maximised metric
    page.click("#sort-metric")
    expect(page).to_have_url(re.compile(r"sort=metric&order=asc"))
    assert metrics() == sorted(metrics())
    for i in range(2):
        expect(page.locator(f"#plot-{i} circle.pt")).to_have_count(4)
    expect(page.locator("#plot-0 text.axis-label")).to_contain_text("log10")
    screenshot(page, tmp_path, "sweep")
