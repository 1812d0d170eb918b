"""A GAN's run page in a real browser: the sample-quality curve and the epoch whose generator is kept."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.helpers.dashboard import api, browser, live, page, screenshot  # noqa: F401 - the fixtures
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.e2e

EPOCHS = 5
GAN = {
    "name": "digits-gan",
    "dataset": "builtin:digits",
    "task": "gan",
    "model": {"type": "gan", "latent_dim": 16, "generator": {"hidden": [64, 64], "batchnorm": True}},
    "training": {"epochs": EPOCHS, "batch_size": 64, "seed": 0},
}


def test_the_gan_run_page_plots_sample_quality_and_marks_the_kept_epoch(
    page: Page,  # noqa: F811
    api: httpx.Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    submitted = api.post("/v1/runs", json=GAN)
    assert submitted.status_code == 202, submitted.text
    run = wait_for(api, submitted.json()["id"])
    assert run["status"] == "succeeded", run["error"]
    receipt = api.get(f"/v1/runs/{run['id']}/artifacts/receipt.json")
    assert receipt.status_code == 200, receipt.text
    kept = receipt.json()["best_epoch"]
    curve = {m["epoch"]: m["value"] for m in api.get(f"/v1/runs/{run['id']}/metrics?key=val_mmd").json()}
    assert len(curve) == EPOCHS
    assert curve[kept] == min(curve.values())
    assert run["best_metrics"]["val_mmd"] == curve[kept]

    page.goto(f"/runs/{run['id']}")
    chart = page.locator("#chart-gan-quality")
    expect(chart.locator("circle[data-key='val_mmd']")).to_have_count(EPOCHS)
    expect(chart.locator("circle[data-key='val_w1']")).to_have_count(EPOCHS)
    dot = chart.locator("circle[data-key='kept']")
    expect(dot).to_have_count(1)
    expect(dot.locator("title")).to_contain_text(f"epoch {kept}:")
    note = page.locator("[data-role='chosen-epoch']")
    expect(note).to_contain_text(f"Kept: the generator of epoch {kept} (val_mmd")
    expect(note).to_have_attribute("data-epoch", str(kept))
    expect(page.locator(".gallery img").first).to_be_visible()  # the per-epoch sample grids
    screenshot(page, tmp_path, "gan-run-page")
