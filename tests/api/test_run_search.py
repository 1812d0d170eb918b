"""Finding runs: experiment, tags and metadata on submit and PATCH; `GET /v1/runs` narrowed by
experiment, tag, status and the filter language, sorted by a best metric, pages staying whole — on
SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from deepfeat.config import Settings
from deepfeat.db.migrate import upgrade
from deepfeat.db.models import Run
from deepfeat.db.session import make_engine, make_session_factory
from tests.helpers.env import ADMIN_KEY
from tests.helpers.specs import MLP_SPEC


@pytest.fixture
def api(any_db_url: str, data_dir: Path) -> Iterator[tuple[TestClient, Settings]]:
    from service.app import create_app

    upgrade(any_db_url)
    settings = Settings(data_dir=data_dir, database_url=any_db_url, bootstrap_key=ADMIN_KEY)
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        yield client, settings


def submit(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/runs", json={**MLP_SPEC, **fields})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def set_best(settings: Settings, run_id: str, best: dict[str, float], status: str = "succeeded") -> None:
    """What a worker leaves on a finished run (best metrics), written as the worker's repository would."""
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        session.execute(update(Run).where(Run.id == run_id).values(best_metrics=best, status=status))
        session.commit()
    engine.dispose()


def ids(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/v1/runs", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["data"]]


def test_tags_metadata_and_experiment_are_kept_beside_the_spec_and_editable(
    api: tuple[TestClient, Settings],
) -> None:
    client, _ = api
    run = submit(
        client, experiment="lr-search", tags=["baseline", "mlp", "baseline"], metadata={"team": "vision"}
    )
    assert (run["experiment"], run["tags"], run["metadata"]) == (
        "lr-search",
        ["baseline", "mlp"],
        {"team": "vision"},
    )
    assert "tags" not in run["spec"]
    assert "experiment" not in run["spec"]
    plain = submit(client)
    assert (plain["experiment"], plain["tags"], plain["metadata"]) == ("default", [], {})

    patched = client.patch(
        f"/v1/runs/{run['id']}", json={"add_tags": ["best"], "remove_tags": ["mlp"], "metadata": {"k": "v"}}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["tags"], body["metadata"], body["experiment"]) == (
        ["baseline", "best"],
        {"k": "v"},
        "lr-search",
    )
    renamed = client.patch(
        f"/v1/runs/{run['id']}", json={"name": "kept", "experiment": "final", "tags": []}
    ).json()
    assert (renamed["name"], renamed["experiment"], renamed["tags"]) == ("kept", "final", [])
    assert client.get(f"/v1/runs/{run['id']}").json()["experiment"] == "final"
    assert client.patch("/v1/runs/run_nope", json={"tags": []}).status_code == 404


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "/metadata"),
        ({"metadata": {"k" * 65: "v"}}, "/metadata/" + "k" * 65 + "/[key]"),
        ({"metadata": {"k": "v" * 513}}, "/metadata/k"),
        ({"metadata": {"k": 3}}, "/metadata/k"),
        ({"tags": ["x"] * 33}, "/tags"),
        ({"tags": [""]}, "/tags/0"),
        ({"tags": ["a\x00b"]}, "/tags/0"),
        ({"tags": "solo"}, "/tags"),
        ({"experiment": ""}, "/experiment"),
        ({"experiment": "line\nbreak"}, "/experiment"),
    ],
)
def test_bad_finding_fields_are_refused_with_where(
    client: TestClient, admin_headers: dict[str, str], fields: dict[str, Any], loc: str
) -> None:
    response = client.post("/v1/runs", json={**MLP_SPEC, **fields}, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert response.json()["loc"].startswith(loc.split("/[")[0]), response.json()


def test_list_narrows_by_experiment_tag_status_and_filter(api: tuple[TestClient, Settings]) -> None:
    client, settings = api
    a = submit(client, experiment="e1", tags=["x"], metadata={"team": "nlp"})
    b = submit(
        client,
        experiment="e1",
        tags=["x", "y"],
        training={**MLP_SPEC["training"], "optimizer": {"name": "adam", "lr": 0.001}},
    )
    c = submit(client, experiment="e2", tags=["y"], model={**MLP_SPEC["model"], "hidden": [128]})
    set_best(settings, a["id"], {"val_accuracy": 0.95, "val_loss": 0.2})
    set_best(settings, b["id"], {"val_accuracy": 0.85, "val_loss": 0.4})

    assert ids(client, experiment="e1") == [b["id"], a["id"]]
    assert ids(client, tag="y") == [c["id"], b["id"]]
    assert ids(client, tag=["x", "y"]) == [b["id"]]
    assert ids(client, tag="x", status="succeeded", experiment="e1") == [b["id"], a["id"]]
    assert ids(client, status="queued") == [c["id"]]
    assert ids(client, filter="metrics.val_accuracy > 0.9") == [a["id"]]
    assert ids(client, filter="metrics.val_accuracy > 0.9 and training.optimizer.lr < 0.01") == []
    assert ids(client, filter="training.optimizer.lr < 0.01") == [b["id"]]
    assert ids(client, filter="training.optimizer.name == 'adam' or model.hidden.0 >= 100") == [
        c["id"],
        b["id"],
    ]
    assert ids(client, filter='spec.model.type = "mlp" and not metrics.val_loss < 0.3') == [c["id"], b["id"]]
    assert ids(client, filter='metadata.team == "nlp"') == [a["id"]]
    assert ids(client, filter="training.optimizer.name > 1") == []  # a string is no number: false, no error
    assert ids(client, filter="model.dropout == 0.1 and model.batchnorm == false") == [
        c["id"],
        b["id"],
        a["id"],
    ]


def test_sort_by_a_metric_pages_through_every_run_once(api: tuple[TestClient, Settings]) -> None:
    client, settings = api
    runs = [submit(client, experiment="s") for _ in range(7)]
    values = [0.5, 0.9, None, 0.7, 0.9, None, 0.1]
    for run, value in zip(runs, values, strict=True):
        if value is not None:
            set_best(settings, run["id"], {"val_accuracy": value})
    for order in ("desc", "asc"):
        seen, after = [], None
        while True:
            params = {"sort": "metrics.val_accuracy", "order": order, "limit": 2, "experiment": "s"}
            page = client.get("/v1/runs", params={**params, **({"after": after} if after else {})}).json()
            seen += page["data"]
            after = page["next_after"]
            if not after:
                break
        got = [r["best_metrics"].get("val_accuracy") for r in seen]
        numbers = sorted((v for v in values if v is not None), reverse=order == "desc")
        assert got == [*numbers, None, None]
        assert len({r["id"] for r in seen}) == len(runs)
    # Filtered pages stay whole too: every matching run once, none of the others.
    seen, after = [], None
    while True:
        params = {"filter": "metrics.val_accuracy >= 0.5", "limit": 1, **({"after": after} if after else {})}
        page = client.get("/v1/runs", params=params).json()
        seen += [r["id"] for r in page["data"]]
        after = page["next_after"]
        if not after:
            break
    assert seen == [r["id"] for r, v in zip(runs, values, strict=True) if v is not None and v >= 0.5][::-1]


@pytest.mark.parametrize(
    ("params", "offset"),
    [
        ({"filter": "metrics.val_accuracy >"}, 22),
        ({"filter": "metrics.val_accuracy >> 1"}, 22),
        ({"filter": "bogus.path == 1"}, 0),
        ({"filter": "metrics.a < 'x'"}, 10),
        ({"filter": "metrics.a > 1 and (task == 'gan'"}, 32),
        ({"filter": "metrics.a > 1; drop table runs"}, 13),
        ({"sort": "training.epochs"}, 0),
    ],
)
def test_bad_filters_are_422_pointing_at_the_character(
    client: TestClient, admin_headers: dict[str, str], params: dict[str, str], offset: int
) -> None:
    response = client.get("/v1/runs", params=params, headers=admin_headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_filter"
    assert body["offset"] == offset, body
    assert body["loc"] == "/" + next(iter(params))
    assert f"at character {offset}" in body["detail"]
