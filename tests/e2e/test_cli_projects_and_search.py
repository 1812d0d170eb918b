"""`deepfeat projects …`, `runs tag` and `runs list --experiment/--tag/--filter/--sort` against a live API
(real uvicorn process; no worker needed: nothing here trains)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from deepfeat.cli import app
from deepfeat.client import Client
from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY
from tests.helpers.specs import MLP_SPEC

pytestmark = pytest.mark.e2e
runner = CliRunner()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with DevStack(tmp_path_factory.mktemp("find") / "var", ADMIN_KEY, worker=False) as running:
        yield running


def cli(stack: DevStack, *args: str, key: str = ADMIN_KEY) -> Any:
    result = runner.invoke(app, ["--url", stack.url, "--key", key, *args])
    assert result.exit_code == 0, result.output
    return result


def test_projects_create_list_and_keys(stack: DevStack) -> None:
    project_id = cli(stack, "projects", "create", "cli-team").stdout.strip()
    assert project_id.startswith("prj_")
    listed = json.loads(cli(stack, "projects", "list", "--json").stdout)
    assert [p["name"] for p in listed] == ["default", "cli-team"]
    secret = cli(stack, "projects", "keys", "cli-team", "--new", "--scope", "write").stdout.strip()
    assert secret.startswith("df_")
    keys = json.loads(cli(stack, "projects", "keys", project_id, "--json").stdout)
    assert [k["scope"] for k in keys] == ["write"]
    with Client(stack.url, secret) as theirs:
        assert list(theirs.runs()) == []
        assert theirs.project(project_id).usage is not None
    shown = json.loads(cli(stack, "projects", "show", "default", "--json").stdout)
    assert (
        shown["usage"]["total_bytes"] == shown["usage"]["datasets_bytes"] + shown["usage"]["artifacts_bytes"]
    )
    refused = runner.invoke(app, ["--url", stack.url, "--key", secret, "projects", "list"])
    assert refused.exit_code != 0
    assert "403" in refused.stderr or "admin" in refused.stderr


def test_runs_tag_then_list_by_experiment_tag_and_filter(stack: DevStack) -> None:
    with Client(stack.url, ADMIN_KEY) as client:
        adam = client.submit(
            {**MLP_SPEC, "training": {**MLP_SPEC["training"], "optimizer": {"name": "adam", "lr": 0.001}}},
            experiment="cli-exp",
        )
        sgd = client.submit(MLP_SPEC, experiment="cli-exp")
        other = client.submit(MLP_SPEC)
    tagged = cli(stack, "runs", "tag", adam.id, "keep", "fast", "--meta", "owner=ana", "--json").stdout
    assert json.loads(tagged)["tags"] == ["keep", "fast"]
    assert json.loads(tagged)["metadata"] == {"owner": "ana"}
    cli(stack, "runs", "tag", adam.id, "--remove", "fast")
    cli(stack, "runs", "tag", sgd.id, "keep")

    def listed(*args: str) -> list[str]:
        return [r["id"] for r in json.loads(cli(stack, "runs", "list", "--json", *args).stdout)]

    assert listed("--experiment", "cli-exp") == [sgd.id, adam.id]
    assert other.id not in listed("--tag", "keep")
    assert listed("--tag", "keep", "--filter", "training.optimizer.lr < 0.01") == [adam.id]
    assert listed("--filter", 'metadata.owner == "ana"') == [adam.id]
    assert listed("--experiment", "cli-exp", "--sort", "metrics.val_accuracy") == [sgd.id, adam.id]
    table = cli(stack, "runs", "list", "--experiment", "cli-exp").stdout
    assert "cli-exp" in table
    assert "keep" in table
    bad = runner.invoke(app, ["--url", stack.url, "--key", ADMIN_KEY, "runs", "list", "--filter", "lr <"])
    assert bad.exit_code != 0
    assert "at character" in bad.stderr
