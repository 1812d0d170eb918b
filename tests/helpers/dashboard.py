"""The browser tests' fixtures: one live API + worker and one Chromium per module that imports them, a
signed-in page, screenshots."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY

CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


SCREENS = Path("/tmp/deepfeat-screens")  # a copy for people to look at; the tmp dir one is the test's


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """One API + worker for the module (embedded DB and broker): browser tests share it to save time."""
    with DevStack(tmp_path_factory.mktemp("dashboard") / "var", ADMIN_KEY) as stack:
        yield stack


@pytest.fixture(scope="module")
def api(live: DevStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (`apt-get install chromium`; .ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, live: DevStack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live.url)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.goto("/")
    expect(tab).to_have_url(re.compile(r"/signin\?next=/$"))
    tab.fill("#key", ADMIN_KEY)
    tab.click("button[type=submit]")
    expect(tab.locator("h1")).to_have_text("Runs")
    yield tab
    context.close()


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / path.name)
