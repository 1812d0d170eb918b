"""Lists say `next_after: null` only when no row remains, whatever `limit` asks and the cap allows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.db.migrate import upgrade
from tests.helpers.env import ADMIN_KEY

HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def capped(settings: Settings) -> Iterator[TestClient]:
    from service.app import create_app

    small = settings.model_copy(update={"page_size_max": 2})
    upgrade(small.resolved_database_url)
    with TestClient(create_app(small)) as client:
        yield client


def read_all(client: TestClient, path: str, limit: int) -> tuple[list[str], int]:
    ids: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": limit, **({"after": after} if after else {})}
        body = client.get(path, params=params, headers=HEADERS).json()
        pages += 1
        ids += [row["id"] for row in body["data"]]
        after = body["next_after"]
        if after is None:
            return ids, pages


@pytest.mark.parametrize("limit", [50, 2, 3])
def test_every_row_is_reachable_past_the_cap(capped: TestClient, limit: int) -> None:
    made = {
        capped.post("/v1/datasets", json={"builtin": "iris"}, headers=HEADERS).json()["id"] for _ in range(3)
    }
    spec = {"dataset": "builtin:iris", "task": "classification", "model": {"type": "mlp", "hidden": [4]}}
    runs = {capped.post("/v1/runs", json=spec, headers=HEADERS).json()["id"] for _ in range(3)}
    for path, expected in (("/v1/datasets", made), ("/v1/runs", runs)):
        ids, pages = read_all(capped, path, limit)
        assert expected <= set(ids), path
        assert len(ids) == len(set(ids))
        assert pages == -(-len(ids) // 2)  # pages of the cap (2), and no empty page at the end


def test_exactly_a_full_last_page_says_the_end(capped: TestClient) -> None:
    for name in ("iris", "wine"):
        assert capped.post("/v1/datasets", json={"builtin": name}, headers=HEADERS).status_code == 201
    body = capped.get("/v1/datasets", params={"limit": 2}, headers=HEADERS).json()
    assert len(body["data"]) == 2
    assert body["next_after"] is None
