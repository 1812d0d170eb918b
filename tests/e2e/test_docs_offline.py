"""/docs and /redoc render the API's operations in Chromium with every non-local request aborted: their
assets come from deepfeat itself, not a CDN."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Route, expect, sync_playwright

from deepfeat.devstack import DevStack
from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (`apt-get install chromium`; .ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/docs", ".opblock-summary-path[data-path='/v1/embeddings']"),
        ("/redoc", "h2:has-text('Create Dataset')"),
    ],
)
def test_docs_render_with_the_network_closed(
    offline_browser: Browser, api_only: DevStack, path: str, operation: str
) -> None:
    context = offline_browser.new_context(base_url=api_only.url)
    blocked: list[tuple[str, str]] = []

    def only_local(route: Route) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append((route.request.resource_type, route.request.url))
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(path)
    expect(page.locator(operation).first).to_be_visible(timeout=60_000)
    # every operation, not an error box
    assert page.locator(".opblock" if path == "/docs" else "h2").count() >= 20
    context.close()
    # No script, style or font was even asked of another host. ReDoc's bundle itself links its
    # "powered by" logo to cdn.redoc.ly: an image, aborted here, that nothing depends on.
    assert [(kind, url) for kind, url in blocked if kind != "image"] == []
