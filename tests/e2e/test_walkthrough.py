"""The README's shell walkthrough, run as it stands against a live server (API + worker), so the docs
cannot drift from the server. A shell block that calls the API is marked on its first line either
`# runnable: ...` (run here, verbatim, no placeholders) or `# illustrative: ...` (names a file or id
of the reader's)."""

from __future__ import annotations

import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell)\n(.*?)^```", flags=re.M | re.S)
PLACEHOLDER = re.compile(r"\.\.\.|…|<[a-z_ ]+>")


def shell_blocks(path: Path) -> list[str]:
    return SHELL_BLOCK.findall(path.read_text())


def runnable(path: Path) -> list[str]:
    return [b for b in shell_blocks(path) if b.startswith("# runnable:")]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_api_calls_in_docs_are_marked_and_runnable_ones_have_no_placeholders(path: Path) -> None:
    for block in shell_blocks(path):
        if "curl" in block:
            assert block.startswith(("# runnable:", "# illustrative:")), block[:200]
        if block.startswith("# runnable:"):
            body = "\n".join(
                line.split(" #", 1)[0] for line in block.splitlines() if not line.startswith("#")
            )
            assert not PLACEHOLDER.search(body), body
        if "curl" in block and "-d " in block and block.startswith("# runnable:"):
            assert '"$JSON"' in block  # every JSON body says its Content-Type


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with DevStack(tmp_path_factory.mktemp("walkthrough") / "var", ADMIN_KEY) as running:
        yield running


def test_readme_walkthrough_runs_verbatim(stack: DevStack, tmp_path: Path) -> None:
    blocks = runnable(ROOT / "README.md")
    assert len(blocks) >= 2  # the quickstart and the embeddings section
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    script = "set -euo pipefail\n" + "\n".join(blocks)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "DEEPFEAT_URL": stack.url,
            "DEEPFEAT_API_KEY": ADMIN_KEY,
            "HOME": "/tmp",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert '"status":"succeeded"' in done.stdout
    assert (tmp_path / "model.safetensors").stat().st_size > 0
    embeddings = np.load(tmp_path / "emb.npy")
    assert embeddings.shape[0] == 1797
    with zipfile.ZipFile(tmp_path / "digits.zip") as bundle:
        assert "model.onnx" in bundle.namelist()
