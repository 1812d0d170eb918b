"""/docs and /redoc render the API's operations in Chromium with every non-local request aborted: their
assets come from deepfeat itself, not a CDN."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Route, expect

from deepfeat.devstack import DevStack
from tests.helpers.dashboard import browser  # noqa: F401 - the dashboard tests' Chromium fixture

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/docs", ".opblock-summary-path[data-path='/v1/embeddings']"),
        ("/redoc", "h2:has-text('Create Dataset')"),
    ],
)
def test_docs_render_with_the_network_closed(
    browser: Browser,  # noqa: F811 - the imported fixture
    api_only: DevStack,
    path: str,
    operation: str,
) -> None:
    context = browser.new_context(base_url=api_only.url)
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
