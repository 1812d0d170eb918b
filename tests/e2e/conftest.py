"""End-to-end fixtures: a real API process and a real Celery worker process, on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY
from tests.helpers.stack import running_stack


@pytest.fixture(params=["embedded", "postgres+redis"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevStack]:
    """The service on the embedded defaults, and on PostgreSQL + Redis when CI provides them."""
    yield from running_stack(request, tmp_path)


@pytest.fixture
def api(stack: DevStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def api_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """One API process (embedded defaults, no worker) shared by a module's tests: for what needs no
    training (embedding, the model list, docs), so the module starts one server, not one per test."""
    with DevStack(tmp_path_factory.mktemp("api") / "var", ADMIN_KEY, worker=False) as running:
        yield running
