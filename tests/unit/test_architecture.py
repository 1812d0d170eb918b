"""The import contracts in pyproject.toml hold (no cycles between sibling modules, the core imports no
face or framework, the gateway reaches the workers only through workers.queue), and the checker used
for them does catch a cycle (so a green run means something)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = [
    sys.executable,
    "-c",
    "from importlinter.cli import lint_imports_command; lint_imports_command()",
]


def _lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LINT_IMPORTS, "--no-cache", *args], cwd=cwd, capture_output=True, text=True)


def test_the_projects_import_contracts_are_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_a_cycle_between_sibling_modules_breaks_the_contract(tmp_path: Path) -> None:
    package = tmp_path / "looped"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from looped import b\n")
    (package / "b.py").write_text(
        "def later() -> None:\n    from looped import a  # a lazy import still counts\n"
    )
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = looped\n\n"
        "[importlinter:contract:acyclic]\nname = no cycles\ntype = acyclic_siblings\nancestors = looped\n"
    )
    result = subprocess.run(
        [*LINT_IMPORTS, "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
