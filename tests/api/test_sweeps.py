"""/v1/sweeps in-process: what a sweep config may say (422 with `loc` before anything is queued), the
first trials queued as ordinary runs with their parameters, listing, and cancel."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers.specs import SWEEP


def _with(**changes: Any) -> dict[str, Any]:
    sweep = copy.deepcopy(SWEEP)
    sweep.update(changes)
    return sweep


def test_create_queues_parallelism_trials_as_runs(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/v1/sweeps", json=SWEEP, headers=admin_headers)
    assert response.status_code == 202, response.text
    sweep = response.json()
    assert sweep["status"] == "running"
    assert sweep["run_cap"] == 4
    assert [t["number"] for t in sweep["trials"]] == [0, 1]
    for trial in sweep["trials"]:
        run = client.get(f"/v1/runs/{trial['run_id']}", headers=admin_headers).json()
        assert run["status"] == "queued"
        lr = trial["params"]["training.optimizer.lr"]
        assert 1e-4 <= lr <= 0.1
        assert run["spec"]["training"]["optimizer"]["lr"] == lr
        assert run["spec"]["model"]["hidden"] == trial["params"]["model.hidden"]
        assert trial["params"]["model.hidden"] in ([64], [128, 64])
    listed = client.get("/v1/sweeps", headers=admin_headers).json()["data"]
    assert [s["id"] for s in listed] == [sweep["id"]]
    assert client.get(f"/v1/sweeps/{sweep['id']}", headers=admin_headers).json()["trials"] == sweep["trials"]


def test_cancel_cancels_the_queued_children(client: TestClient, admin_headers: dict[str, str]) -> None:
    sweep = client.post("/v1/sweeps", json=SWEEP, headers=admin_headers).json()
    response = client.post(f"/v1/sweeps/{sweep['id']}/cancel", headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    for trial in response.json()["trials"]:
        assert (
            client.get(f"/v1/runs/{trial['run_id']}", headers=admin_headers).json()["status"] == "cancelled"
        )
    again = client.post(f"/v1/sweeps/{sweep['id']}/cancel", headers=admin_headers)
    assert again.status_code == 409


def test_grid_runs_every_point_once(client: TestClient, admin_headers: dict[str, str]) -> None:
    grid = _with(
        method="grid",
        run_cap=None,
        parallelism=6,
        parameters={
            "model.hidden": {"values": [[16], [32], [8, 8]]},
            "training.optimizer.lr": {"values": [0.01, 0.001]},
        },
    )
    sweep = client.post("/v1/sweeps", json=grid, headers=admin_headers).json()
    assert sweep["run_cap"] == 6
    points = {
        (str(t["params"]["model.hidden"]), t["params"]["training.optimizer.lr"]) for t in sweep["trials"]
    }
    assert len(points) == 6


@pytest.mark.parametrize(
    ("changes", "loc", "words"),
    [
        (
            {"parameters": {"training.optimizer.lrr": {"values": [0.1]}}},
            "/parameters/training.optimizer.lrr",
            "no field",
        ),
        ({"parameters": {"model.nope.x": {"values": [1]}}}, "/parameters/model.nope.x", "not an object"),
        ({"metric": {"name": "val_accuracyy", "goal": "maximize"}}, "/metric/name", "not logged per epoch"),
        (
            {"parameters": {"training.optimizer.lr": {"values": [-1.0]}}},
            "/parameters/training.optimizer.lr",
            "greater than 0",
        ),
        ({"parameters": {"model.hidden": {"values": [[64], [0]]}}}, "/parameters/model.hidden", "[0]"),
        ({"parameters": {"training.epochs": {"values": [100000]}}}, "/parameters/training.epochs", "limit"),
        (
            {
                "parameters": {
                    "training.optimizer.lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}
                }
            },
            "/parameters/training.optimizer.lr",
            "min",
        ),
        (
            {"parameters": {"training.optimizer.lr": {"distribution": "uniform", "min": 0.1}}},
            "/parameters/training.optimizer.lr",
            "max",
        ),
        (
            {
                "method": "grid",
                "parameters": {"training.optimizer.lr": {"distribution": "uniform", "min": 0.1, "max": 0.2}},
            },
            "/parameters/training.optimizer.lr",
            "grid",
        ),
        ({"method": "annealing"}, "/method", "grid"),
        ({"run_cap": None}, "/run_cap", "run_cap"),
        ({"metric": {"name": "val_accuracy", "goal": "up"}}, "/metric/goal", "maximize"),
        ({"early_terminate": {"type": "asha"}}, "/early_terminate/type", "hyperband"),
        (
            {
                "base": {
                    "dataset": "builtin:digits",
                    "task": "classification",
                    "model": {"type": "mlp", "hidden": [0]},
                }
            },
            "/base/model/hidden/0",
            "greater",
        ),
    ],
)
def test_bad_sweep_configs_are_422_with_loc(
    client: TestClient, admin_headers: dict[str, str], changes: dict[str, Any], loc: str, words: str
) -> None:
    response = client.post("/v1/sweeps", json=_with(**changes), headers=admin_headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["loc"].startswith(loc), body
    assert words in body["detail"], body
    assert client.get("/v1/runs", headers=admin_headers).json()["data"] == []  # nothing was queued
    assert client.get("/v1/sweeps", headers=admin_headers).json()["data"] == []
