"""The CLI and the client without a server: a refused connection, unreadable specs and files, the key
fallback. Real processes where it matters (a subprocess must print one line, not a traceback)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepfeat.cli import app
from deepfeat.client import Client, ServerUnreachable, SpecFileError, default_key, load_spec
from deepfeat.devstack import free_port

runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deepfeat.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**(env or {}), "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )


def test_server_down_is_one_line_naming_the_url_and_exit_3() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = cli("--url", url, "runs", "list")
    assert done.returncode == 3
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line == (
        f"error: cannot reach {url}: is `deepfeat up` running? "
        "(connection refused; point --url or DEEPFEAT_URL at the server)"
    )


def test_the_url_comes_from_deepfeat_url_too() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["runs", "show", "run_x"], env={"DEEPFEAT_URL": url})
    assert result.exit_code == 3
    assert f"cannot reach {url}" in result.stderr
    with pytest.raises(ServerUnreachable, match="connection refused"), Client(url, key="k") as client:
        client.run("run_x")


def test_unreadable_spec_files_fail_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    (tmp_path / "list.json").write_text("[1, 2]")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: a request would exit 3, not 2
    for spec, says in [
        ("missing.yaml", "cannot read spec"),
        (str(tmp_path / "bad.yaml"), "is not valid yaml"),
        (str(tmp_path / "list.json"), "must hold one object"),
    ]:
        result = runner.invoke(app, ["--url", url, "runs", "submit", spec])
        assert result.exit_code == 2, result.output
        assert len(result.stderr.splitlines()) == 1
        assert says in result.stderr


def test_an_upload_of_a_missing_file_says_so() -> None:
    result = runner.invoke(app, ["datasets", "upload", "no-such.csv"])
    assert result.exit_code == 2
    assert "no such file: no-such.csv" in result.stderr


def test_specs_load_from_yaml_json_dicts_and_models(tmp_path: Path) -> None:
    from deepfeat.specs.runs import RunSpec

    doc = {"dataset": "builtin:iris", "task": "classification", "model": {"type": "mlp"}}
    (tmp_path / "s.yml").write_text("dataset: builtin:iris\ntask: classification\nmodel: {type: mlp}\n")
    (tmp_path / "s.json").write_text(
        '{"dataset": "builtin:iris", "task": "classification", "model": {"type": "mlp"}}'
    )
    assert load_spec(tmp_path / "s.yml") == doc
    assert load_spec(str(tmp_path / "s.json")) == doc
    assert load_spec(doc) == doc
    full = load_spec(RunSpec.model_validate(doc))
    assert full["model"]["type"] == "mlp"
    assert full["training"]["epochs"] == 10
    with pytest.raises(SpecFileError):
        load_spec(tmp_path / "absent.yaml")


def test_the_key_falls_back_to_the_admin_key_of_a_local_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEEPFEAT_API_KEY", raising=False)
    monkeypatch.setenv("DEEPFEAT_DATA_DIR", str(tmp_path))
    assert default_key() is None
    (tmp_path / "admin.key").write_text("df_local\n")
    assert default_key() == "df_local"
    assert default_key("https://deepfeat.example.com") is None  # never send a local key elsewhere
    monkeypatch.setenv("DEEPFEAT_API_KEY", "df_env")
    assert default_key() == "df_env"


def test_help_lists_every_command_group() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in (
        "up",
        "api",
        "worker",
        "migrate",
        "datasets",
        "runs",
        "encoders",
        "embed",
        "extract",
        "keys",
    ):
        assert name in result.stdout


def test_url_and_key_may_follow_the_command() -> None:
    from deepfeat.cli.output import hoist_globals

    assert hoist_globals(["runs", "list", "--url", "http://h:1", "--json", "--key=k"]) == [
        "--url",
        "http://h:1",
        "--key=k",
        "runs",
        "list",
        "--json",
    ]
    assert hoist_globals(["embed", "e", "--", "--url"]) == ["embed", "e", "--", "--url"]
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["runs", "show", "run_x", "--url", url, "--key", "k"])
    assert result.exit_code == 3
    assert f"cannot reach {url}" in result.stderr


@pytest.mark.parametrize("command", ["up", "api"])
def test_a_busy_port_is_one_friendly_line(tmp_path: Path, command: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        extra = ["--data-dir", str(tmp_path)] if command == "up" else []
        done = cli(command, "--port", str(port), *extra, env={"DEEPFEAT_DATA_DIR": str(tmp_path)})
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line == f"port {port} is in use: try `--port {port + 1}` (or `make run PORT={port + 1}`)"
