"""Numbers are exact or absent: no formula is written from too few widths (fixtures/thin)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES
from esper_lint.measure import LARGER_WIDTHS

THIN = FIXTURES / "thin"
pytestmark = pytest.mark.slow


def esper_lint(project: Path, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "esper_lint", "--no-cache", *args], cwd=project,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("name", ["narrow", "slow"])
def test_too_few_widths_give_no_formula_and_no_fix(tmp_path: Path, name: str) -> None:
    project = tmp_path / "thin"
    shutil.copytree(THIN, project)
    target = project / "thinpkg" / f"{name}.py"
    before = target.read_bytes()
    found = esper_lint(project, "--format", "json", str(target.relative_to(project)))
    [finding] = json.loads(found.stdout)
    assert finding["code"] == "ESP001" and finding["formula"] is None and not finding["fixes"]
    assert "no exact formula found (only" in finding["message"]
    fixed = esper_lint(project, "--fix", "--unsafe-fixes", str(target.relative_to(project)))
    assert fixed.returncode == 1 and target.read_bytes() == before
    assert "formula" not in target.read_text()


def widths_built(project: Path, record: Path) -> set[int]:
    record.unlink(missing_ok=True)
    done = esper_lint(project, "thinpkg/recorder.py", env={"ESPER_LINT_TEST_WIDTHS": str(record)})
    assert done.returncode == 1, done.stderr
    return {int(w) for w in record.read_text().split()}


def test_each_run_also_builds_widths_drawn_at_random(tmp_path: Path) -> None:
    project, record = tmp_path / "thin", tmp_path / "widths"
    shutil.copytree(THIN, project)
    first, second = widths_built(project, record), widths_built(project, record)
    fixed = {*range(1, 257), *LARGER_WIDTHS, 64}
    drawn: list[Any] = [first - fixed, second - fixed]
    assert all(drawn) and drawn[0] != drawn[1]
    assert all(256 < w <= 65536 for w in drawn[0] | drawn[1])
