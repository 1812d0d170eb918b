"""The CLI and the Python client against a live server with a real worker (one stack for the module).

Journeys: register data → submit a YAML spec with `--follow` to `succeeded` → metrics (table, JSON,
plot) → artifacts; the same from the client with a JSON spec; and every error a user can meet from the
CLI (bad key, bad spec, unknown id, a finished run, a failed run, Ctrl-C) as one line and an exit code.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from deepfeat.cli import app
from deepfeat.client import Client, DeepfeatAPIError
from deepfeat.devstack import DevStack
from deepfeat.specs.runs import MetricOut, RunOut
from tests.helpers.env import ADMIN_KEY

pytestmark = pytest.mark.e2e

YAML_SPEC = """\
name: cli-digits
dataset: {dataset}
task: classification
model:
  type: mlp
  hidden: [64, 32]
training:
  epochs: 5
  batch_size: 64
  optimizer: {{name: adam, lr: 0.003}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with DevStack(tmp_path_factory.mktemp("cli") / "var", ADMIN_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def env(stack: DevStack) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEEPFEAT_")}
    return {**clean, "DEEPFEAT_URL": stack.url, "DEEPFEAT_API_KEY": ADMIN_KEY, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def client(stack: DevStack) -> Iterator[Client]:
    with Client(stack.url, ADMIN_KEY) as c:
        yield c


def cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`deepfeat ...` as its own process, the way a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "deepfeat.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=180,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def test_cli_journey_yaml_spec_follow_metrics_artifacts(env: dict[str, str], tmp_path: Path) -> None:
    created = cli(env, "datasets", "upload", "builtin:digits", "--json")  # registers it: no file upload
    assert created.returncode == 0, created.stderr
    dataset = json.loads(created.stdout)
    assert dataset["n_rows"] == 1797
    spec = tmp_path / "digits.yaml"
    spec.write_text(YAML_SPEC.format(dataset=dataset["id"]))

    followed = cli(env, "runs", "submit", str(spec), "--follow")
    assert followed.returncode == 0, followed.stderr
    assert "following run run_" in followed.stderr, followed.stderr
    assert "epoch 5/5  loss " in followed.stderr  # off a terminal: one line per epoch seen
    [summary] = followed.stdout.splitlines()
    assert summary.startswith("run run_")
    assert " succeeded after 5 epochs: " in summary
    assert "val_accuracy" in summary
    run_id = summary.split()[1]

    runner = CliRunner()
    invoke = lambda *args: runner.invoke(app, list(args), env=env)  # noqa: E731 - one-line helper
    url, key = env["DEEPFEAT_URL"], ADMIN_KEY  # globals may follow the command
    listed = runner.invoke(app, ["runs", "list", "--status", "succeeded", "--url", url, "--key", key])
    assert run_id in listed.stdout
    assert "cli-digits" in listed.stdout
    shown = json.loads(invoke("runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "succeeded"
    assert shown["progress"]["epoch"] == 5

    metrics = json.loads(invoke("runs", "metrics", run_id, "--json").stdout)
    assert [m["epoch"] for m in metrics if m["key"] == "val_loss"] == [1, 2, 3, 4, 5]
    table = invoke("runs", "metrics", run_id, "--metric", "loss", "-m", "val_accuracy").stdout
    assert table.split("\n")[0].split() == ["epoch", "┃", "loss", "┃", "val_accuracy"]
    plotted = invoke("runs", "metrics", run_id, "--plot").stdout
    assert "● loss   ○ val_loss" in plotted
    assert "● accuracy   ○ f1   ◆ val_accuracy   ◇ val_f1" in plotted
    assert "epoch_time" not in plotted
    assert "grad_norm/" not in plotted  # per-layer diagnostics only with --all or --metric
    assert "grad_norm/" in invoke("runs", "metrics", run_id, "--all").stdout
    events = invoke("runs", "events", run_id).stdout
    assert "queued" in events
    assert "epoch 5/5" in events
    followed_log = invoke("runs", "events", run_id, "--follow", "--json")
    assert followed_log.exit_code == 0
    lines = [json.loads(line) for line in followed_log.stdout.splitlines()]
    assert lines[0]["message"] == "queued"
    assert lines[-1]["message"].startswith("succeeded after 5 epochs")

    predicted = invoke("runs", "predict", run_id, "--inputs", json.dumps([[0.0] * 64, [16.0] * 64]))
    assert predicted.exit_code == 0, predicted.output
    assert [line.split("\t")[0] for line in predicted.stdout.splitlines()] == ["0", "1"]
    (tmp_path / "rows.json").write_text(json.dumps([[1.0] * 64]))
    answer = json.loads(
        invoke("runs", "predict", run_id, "-i", f"@{tmp_path / 'rows.json'}", "--json").stdout
    )
    assert len(answer["predictions"]) == 1
    misshapen = invoke("runs", "predict", run_id, "--inputs", "[[1, 2, 3]]")
    assert misshapen.exit_code == 6
    assert len(misshapen.stderr.splitlines()) == 1

    artifacts = {a["name"]: a for a in json.loads(invoke("runs", "artifacts", run_id, "--json").stdout)}
    assert {"model.safetensors", "spec.json", "receipt.json"} <= set(artifacts)
    saved = cli(env, "runs", "download", run_id, "model.safetensors", "-o", str(tmp_path))
    assert saved.returncode == 0, saved.stderr
    weights = (tmp_path / "model.safetensors").read_bytes()
    assert hashlib.sha256(weights).hexdigest() == artifacts["model.safetensors"]["sha256"]
    assert (
        json.loads(invoke("datasets", "show", dataset["id"], "--json").stdout)["sha256"] == dataset["sha256"]
    )
    assert dataset["id"] in invoke("datasets", "list").stdout


def test_upload_a_csv_train_on_it_and_delete_it(env: dict[str, str], client: Client, tmp_path: Path) -> None:
    """Needs multipart upload on the server (the datasets feature); skipped where it is not there yet."""
    upload = client._http.get("/openapi.json").json()["paths"]["/v1/datasets"]["post"]
    if "multipart/form-data" not in upload.get("requestBody", {}).get("content", {}):
        pytest.skip("this server has no multipart upload on POST /v1/datasets yet")
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{'yes' if i % 2 else 'no'}" for i in range(60))
    (tmp_path / "tiny.csv").write_text("a,b,label\n" + rows + "\n")
    created = cli(env, "datasets", "upload", str(tmp_path / "tiny.csv"), "--target", "label", "--json")
    assert created.returncode == 0, created.stderr
    dataset = json.loads(created.stdout)
    assert dataset["n_rows"] == 60
    assert dataset["format"] == "csv"
    refused = cli(env, "datasets", "upload", str(tmp_path / "tiny.csv"), "--target", "nope")
    assert refused.returncode == 6
    assert "nope" in one_error_line(refused)

    spec = {"dataset": dataset["id"], "task": "classification", "model": {"type": "mlp", "hidden": [8]}}
    run = client.wait(client.submit({**spec, "training": {"epochs": 1}}).id, timeout=120)
    assert run.status == "succeeded", run.error
    assert cli(env, "datasets", "rm", dataset["id"]).returncode == 0
    gone = cli(env, "datasets", "show", dataset["id"])
    assert gone.returncode == 5
    assert "datasets list" in one_error_line(gone)
    again = client.upload_dataset(tmp_path / "tiny.csv", target="label", name="again")
    assert again.name == "again"


def test_client_journey_json_spec_wait_with_progress(client: Client, tmp_path: Path) -> None:
    dataset = client.create_builtin("iris")
    assert dataset.schema_.modality == "tabular"
    spec = {
        "name": "client-iris",
        "dataset": dataset.id,
        "task": "classification",
        "model": {"type": "mlp", "hidden": [16]},
        "training": {"epochs": 6, "optimizer": {"name": "adam", "lr": 0.01}},
    }
    (tmp_path / "iris.json").write_text(json.dumps(spec))
    report = client.validate(tmp_path / "iris.json")
    assert report.output_shape == [3]

    run = client.submit(tmp_path / "iris.json", idempotency_key="iris-once")
    assert client.submit(spec, idempotency_key="iris-once").id == run.id  # a retried submit is one run
    seen: list[RunOut] = []
    done = client.wait(run.id, on_progress=seen.append, timeout=120)
    assert done.status == "succeeded", done.error
    assert seen[-1] == done
    epochs = [r.progress.get("epoch", 0) for r in seen]
    assert epochs == sorted(epochs)

    metrics = client.metrics(run.id, key="val_accuracy")
    assert all(isinstance(m, MetricOut) for m in metrics)
    assert [m.epoch for m in metrics] == [1, 2, 3, 4, 5, 6]
    assert client.events(run.id, page_size=2)[-1].message.startswith("succeeded")
    path = client.download(run.id, "spec.json", tmp_path)
    assert json.loads(path.read_text())["name"] == "client-iris"

    answer = client.predict(run.id, np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))
    assert len(answer.predictions) == 2
    assert answer.probabilities is not None
    assert abs(sum(answer.probabilities[0]) - 1) < 1e-4

    ids = [r.id for r in client.runs(page_size=1)]  # one run per page: the cursor is followed
    assert run.id in ids
    assert len(ids) == len(set(ids)) >= 2
    assert [r.id for r in client.runs(status="succeeded", limit=1)] == [ids[0]]
    assert any(d.id == dataset.id for d in client.datasets(page_size=1))

    with pytest.raises(DeepfeatAPIError) as caught:
        client.submit({**spec, "model": {"type": "mlp", "hidden": [0]}})
    assert caught.value.status == 422
    assert caught.value.loc == "/model/hidden/0"


def test_cli_errors_are_one_line_with_an_exit_code(env: dict[str, str], tmp_path: Path) -> None:
    bad_key = one_error_line(cli({**env, "DEEPFEAT_API_KEY": "df_wrong"}, "runs", "list"))
    assert "refused the API key (401: invalid or revoked API key); pass --key" in bad_key

    missing = cli(env, "runs", "show", "run_doesnotexist")
    assert missing.returncode == 5
    assert one_error_line(missing) == (
        "error: not found (404: run 'run_doesnotexist' not found); list what exists with `deepfeat runs list`"
    )

    spec = tmp_path / "bad.yaml"
    spec.write_text("dataset: builtin:digits\ntask: classification\nmodel: {type: mlp, hidden: [64, 0]}\n")
    invalid = cli(env, "runs", "submit", str(spec), "--follow")
    assert invalid.returncode == 6
    assert one_error_line(invalid).startswith("error: invalid spec at /model/hidden/1: ")

    spec.write_text("dataset: builtin:nope\ntask: classification\nmodel: {type: mlp}\n")
    unknown_data = cli(env, "runs", "submit", str(spec), "--dry-run")
    assert unknown_data.returncode == 6
    assert "invalid spec at /dataset: no built-in data set 'nope'" in one_error_line(unknown_data)

    unknown = cli(env, "datasets", "rm", "ds_x")  # 404, or 405 where DELETE is not served yet
    assert unknown.returncode == 5
    one_error_line(unknown)

    # A text encoder on an image data set is refused before anything is queued: one clear line.
    mismatched = cli(env, "extract", "minilm-l6", "builtin:digits")
    assert mismatched.returncode == 6
    assert "invalid spec at /dataset: minilm-l6 cannot read digits" in one_error_line(mismatched)


def test_encoders_list_and_embed_text_from_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    listed = cli(env, "encoders", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {"minilm-l6", "efficientnet-lite0"} <= {e["name"] for e in json.loads(listed.stdout)}
    saved = tmp_path / "emb.npy"
    done = cli(env, "embed", "minilm-l6", "a cat sat on the mat", "stock prices fell", "--output", str(saved))
    assert done.returncode == 0, done.stderr
    vectors = np.load(saved)
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    unknown = cli(env, "embed", "no-such-encoder", "hi")
    assert unknown.returncode == 5
    one_error_line(unknown)


def test_a_failed_run_exits_non_zero_with_follow(
    env: dict[str, str], stack: DevStack, tmp_path: Path
) -> None:
    dataset = json.loads(cli(env, "datasets", "upload", "builtin:wine", "--json").stdout)
    for blob in (stack.data_dir / "artifacts" / "blobs").rglob(dataset["sha256"]):
        blob.unlink()  # its data vanished: the worker cannot load the run
    spec = tmp_path / "wine.yaml"
    spec.write_text(f"dataset: {dataset['id']}\ntask: classification\nmodel: {{type: mlp}}\n")
    failed = cli(env, "runs", "submit", str(spec), "--follow")
    assert failed.returncode == 1, f"{failed.stdout}\n{failed.stderr}\n{stack.log('worker')[-3000:]}"
    assert failed.stdout == ""
    last = failed.stderr.splitlines()[-1]
    assert last.startswith("error: run run_")
    assert " failed: " in last
    assert "cannot load the run" in last


def test_ctrl_c_detaches_without_cancelling_then_cancel(env: dict[str, str], tmp_path: Path) -> None:
    spec: dict[str, Any] = {
        "name": "long",
        "dataset": "builtin:digits",
        "task": "classification",
        "model": {"type": "mlp", "hidden": [256, 256]},
        "training": {"epochs": 400, "batch_size": 16},
    }
    (tmp_path / "long.json").write_text(json.dumps(spec))
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepfeat.cli", "runs", "submit", str(tmp_path / "long.json"), "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "following run run_... (Ctrl-C detaches; ...)"
    run_id = first.split()[2]
    with Client(env["DEEPFEAT_URL"], ADMIN_KEY) as client:
        deadline = time.monotonic() + 60
        while client.run(run_id).status != "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        assert stdout == ""
        assert proc.returncode == 130, stderr
        assert f"detached; run {run_id} keeps going" in stderr
        assert "Traceback" not in stderr
        assert client.run(run_id).status == "running", stderr

        cancelled = cli(env, "runs", "cancel", run_id)
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout.strip() in (f"run {run_id} cancelling", f"run {run_id} cancelled")
        assert client.wait(run_id, timeout=60).status == "cancelled"
        again = cli(env, "runs", "cancel", run_id)
        assert again.returncode == 7
        assert "conflict (409" in one_error_line(again)


def test_score_an_autoencoder_and_sample_a_gan_from_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    """The shipped example specs, shortened to 2 epochs: `--epochs` is not an option, the spec is."""
    runs = {}
    for example in ("autoencoder-digits", "gan-digits"):
        spec = json.loads((Path(__file__).parents[2] / "examples" / f"{example}.json").read_text())
        spec["training"] = {**spec["training"], "epochs": 2, "early_stopping": None}
        (tmp_path / f"{example}.json").write_text(json.dumps(spec))
        done = cli(env, "runs", "submit", str(tmp_path / f"{example}.json"), "--follow", "--json")
        assert done.returncode == 0, done.stderr
        runs[example] = json.loads(done.stdout)["id"]

    rows = json.dumps([[0.0] * 64, [16.0] * 64])
    scored = cli(env, "runs", "score", runs["autoencoder-digits"], "--inputs", rows, "--fpr", "0.05")
    assert scored.returncode == 0, scored.stderr
    assert scored.stderr.startswith("threshold ")
    assert [line.split("\t")[2] in ("ok", "ANOMALY") for line in scored.stdout.splitlines()] == [True, True]

    out = tmp_path / "samples.npy"
    sampled = cli(env, "runs", "samples", runs["gan-digits"], "--n", "5", "--seed", "1", "-o", str(out))
    assert sampled.returncode == 0, sampled.stderr
    assert np.load(out).shape[0] == 5
    with Client(env["DEEPFEAT_URL"], ADMIN_KEY) as client:
        assert np.array_equal(client.samples(runs["gan-digits"], 5, seed=1), np.load(out))


def test_keys_create_list_revoke_from_the_cli(env: dict[str, str]) -> None:
    created = cli(env, "keys", "create", "ci-reader", "--scope", "read", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["key"].startswith("df_")
    reader = {**env, "DEEPFEAT_API_KEY": key["key"]}
    assert cli(reader, "runs", "list", "--json").returncode == 0
    refused = cli(reader, "keys", "list")
    assert refused.returncode == 4  # 403: a read key is not an admin
    one_error_line(refused)

    listed = json.loads(cli(env, "keys", "list", "--json").stdout)
    rows = listed if isinstance(listed, list) else listed["data"]
    assert key["id"] in [k["id"] for k in rows]
    assert cli(env, "keys", "revoke", key["id"]).returncode == 0
    after = cli(reader, "runs", "list")
    assert after.returncode == 4  # 401 now
    assert "key" in one_error_line(after).lower()


def test_register_a_trained_run_as_an_encoder_from_the_cli(env: dict[str, str], client: Client) -> None:
    run = client.submit(
        {
            "dataset": "builtin:iris",
            "task": "classification",
            "model": {"type": "mlp", "hidden": [16, 8]},
            "training": {"epochs": 3},
        }
    )
    assert client.wait(run.id, timeout=120).status == "succeeded"
    first = cli(env, "encoders", "register", run.id, "iris-features", "--json")
    assert first.returncode == 0, first.stderr
    again = json.loads(cli(env, "encoders", "register", run.id, "iris-features", "--json").stdout)
    assert (json.loads(first.stdout)["version"], again["version"]) == (1, 2)
    vectors = client.embed("iris-features@1", [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    assert vectors.shape == (2, 8)
