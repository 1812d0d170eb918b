"""Fuzz every operation of the published OpenAPI schema against a live API process with a valid key:
no 5xx, and every documented response matches its schema."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from deepfeat.config import Settings
from deepfeat.devstack import DevStack
from service.app import create_app
from tests.helpers.env import ADMIN_KEY

pytestmark = pytest.mark.e2e
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    # No worker: submitted runs stay queued, which keeps the fuzzing about the API itself.
    with DevStack(tmp_path_factory.mktemp("fuzz") / "var", ADMIN_KEY, worker=False) as stack:
        httpx.post(f"{stack.url}/v1/datasets", json={"builtin": "digits"}, headers=HEADERS)
        yield stack


# The schema the app publishes, read from the app object itself (building it touches no database);
# the calls go to the live process.
APP = create_app(Settings(data_dir=Path(tempfile.mkdtemp())))
schema = schemathesis.openapi.from_dict(APP.openapi())


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_documented_shapes(case: schemathesis.Case, live_api: DevStack) -> None:
    case.call_and_validate(
        base_url=live_api.url, headers=HEADERS, checks=[not_a_server_error, response_schema_conformance]
    )


def test_the_fuzzed_operations_are_every_route_the_live_api_serves(live_api: DevStack) -> None:
    fuzzed = {(op.ok().path, op.ok().method.upper()) for op in schema.get_all_operations()}
    routed = {
        (context.path_format, method)
        for context in iter_route_contexts(APP.routes)  # routers included into the app, flattened
        if isinstance(context.original_route, APIRoute) and context.original_route.include_in_schema
        for method in context.methods or set()
    }
    assert fuzzed == routed
    served = httpx.get(f"{live_api.url}/openapi.json").json()["paths"]
    assert {(path, method.upper()) for path, ops in served.items() for method in ops} == fuzzed
