"""The dependency direction of the three packages, checked with import-linter."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    marker = "<!-- test-command -->"
    assert marker in readme, "README.md must mark its test command"
    block = readme.split(marker, 1)[1].split("```", 2)[1]
    command = [line for line in block.splitlines() if line.strip() and not line.startswith("bash")]
    assert command, "no test command found after the marker"
    for line in command:
        assert line.strip() in ci, f".ci/run does not run the README line: {line.strip()}"
