"""The runs list narrowed by experiment, tag and the filter language, and the compare page's spec diff,
in a real browser (Debian's chromium). Shares test_dashboard's browser, sign-in and screenshots; its own
API has no worker, since nothing here needs to train (the runs stay queued)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from deepfeat.devstack import DevStack
from tests.helpers.dashboard import browser, page, screenshot
from tests.helpers.env import ADMIN_KEY
from tests.helpers.specs import SPEC

pytestmark = pytest.mark.e2e
__all__ = ["browser", "page"]  # fixtures used by name


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with DevStack(tmp_path_factory.mktemp("find-dashboard") / "var", ADMIN_KEY, worker=False) as stack:
        yield stack


@pytest.fixture(scope="module")
def api(live: DevStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def runs(api: httpx.Client) -> dict[str, str]:
    def submit(name: str, lr: float, hidden: list[int], **finding: Any) -> str:
        spec = {**SPEC, "name": name, "model": {**SPEC["model"], "hidden": hidden}}
        spec["training"] = {**SPEC["training"], "optimizer": {"name": "adam", "lr": lr}}
        response = api.post("/v1/runs", json={**spec, **finding})
        assert response.status_code == 202, response.text
        run_id: str = response.json()["id"]
        return run_id

    return {
        "slow": submit("slow-lr", 0.001, [128, 64], experiment="lr-sweep", tags=["baseline"]),
        "fast": submit("fast-lr", 0.05, [64], experiment="lr-sweep", tags=["candidate"]),
        "other": submit("other", 0.003, [128, 64], experiment="shapes"),
    }


def test_the_runs_list_narrows_by_experiment_tag_and_filter(
    page: Page, runs: dict[str, str], tmp_path: Path
) -> None:
    page.goto("/")
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(page.locator(f"tr[data-run-id='{runs['fast']}']")).to_contain_text("lr-sweep")
    expect(page.locator(f"tr[data-run-id='{runs['fast']}'] a.tag")).to_have_text("candidate")

    page.select_option("#experiment", "lr-sweep")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"experiment=lr-sweep"))
    expect(page.locator("tbody tr")).to_have_count(2)
    page.fill("#filter", "training.optimizer.lr < 0.01")
    page.click("form.filters button[type=submit]")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator(f"tr[data-run-id='{runs['slow']}']")).to_be_visible()
    expect(page.locator("#filter")).to_have_value("training.optimizer.lr < 0.01")  # kept for editing
    screenshot(page, tmp_path, "runs-filtered")

    page.goto("/")
    page.click(f"tr[data-run-id='{runs['slow']}'] a.tag")  # a tag chip lists that tag's runs
    expect(page).to_have_url(re.compile(r"tag=baseline"))
    expect(page.locator("tbody tr")).to_have_count(1)

    page.goto("/")
    page.fill("#filter", "metrics.val_accuracy >")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#filter-problem")).to_contain_text("at character 22")
    expect(page.locator("tbody tr")).to_have_count(0)
    screenshot(page, tmp_path, "runs-filter-error")


def test_the_compare_page_shows_the_spec_values_that_differ(
    page: Page, runs: dict[str, str], tmp_path: Path
) -> None:
    page.goto(f"/compare?run={runs['slow']}&run={runs['fast']}&key=val_loss")
    rows = page.locator("#spec-diff tbody tr")
    fields = [t.strip() for t in rows.locator("td:first-child").all_inner_texts()]
    assert "training.optimizer.lr" in fields
    assert "model.hidden" in fields
    assert "name" in fields
    assert "tags" in fields
    assert "task" not in fields  # the same in both: not a difference
    assert "experiment" not in fields
    lr = rows.filter(has_text="training.optimizer.lr").locator("td")
    expect(lr.nth(1)).to_have_text("0.001")
    expect(lr.nth(2)).to_have_text("0.05")
    screenshot(page, tmp_path, "compare-spec-diff")
    page.goto(f"/compare?run={runs['slow']}&run={runs['other']}")
    expect(page.locator("#spec-diff")).to_contain_text("experiment")
