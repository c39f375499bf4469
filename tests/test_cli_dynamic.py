"""The whole CLI, dynamic pass included, as a subprocess: what a user's terminal or CI sees."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES

pytestmark = pytest.mark.slow

EXPECTED_FAILURES = {
    "hang_on_import.py": "ESP912", "hang_in_factory.py": "ESP912", "exit_on_import.py": "ESP911",
    "import_error.py": "ESP911", "crash_on_import.py": "ESP913", "memory_hog.py": "ESP913",
    "nested.py": "ESP914", "raising_factory.py": "ESP915", "surrogate_error.py": "ESP915",
}


def _esper_lint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "esper_lint", "--no-cache", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_hostile_blueprints_in_one_run_keep_json_valid() -> None:
    done = _esper_lint("--format", "json", ".", cwd=FIXTURES / "hostile")
    findings = json.loads(done.stdout)  # nothing the blueprints print got into stdout
    failures = {Path(f["path"]).name: f["code"] for f in findings if f["code"].startswith("ESP9")}
    assert failures == EXPECTED_FAILURES
    confirmed = {Path(f["path"]).name for f in findings if f["code"] == "ESP001" and f["confirmed"]}
    assert {"fine.py", "noisy.py", "hang_in_factory.py"} <= confirmed
    assert done.returncode == 1 and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def surrogate_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile package with only its blueprint that raises lone surrogates."""
    project = tmp_path_factory.mktemp("surrogates")
    package = project / "hostilepkg"
    package.mkdir()
    for name in ("__init__.py", "registry.py", "surrogate_error.py"):
        shutil.copy(FIXTURES / "hostile" / "hostilepkg" / name, package / name)
    return project


@pytest.mark.parametrize("output_format", ["text", "json", "github", "sarif"])
def test_lone_surrogates_in_user_errors_are_escaped_in_every_output(surrogate_project: Path,
                                                                    output_format: str) -> None:
    out = surrogate_project / f"out.{output_format}"
    args = ("--format", output_format, ".")
    done = _esper_lint(*args, cwd=surrogate_project)
    written = _esper_lint(*args, "--output-file", str(out), cwd=surrogate_project)
    assert done.returncode == written.returncode == 1, done.stderr + written.stderr
    text = out.read_bytes().decode("utf-8")  # strict: no surrogate reached the bytes
    assert text == done.stdout and "\\udcff\\ud800" in text.replace("\\\\", "\\")


def test_demo_findings_carry_verified_numbers() -> None:
    done = _esper_lint("--format", "json", ".", cwd=FIXTURES / "demo")
    findings = json.loads(done.stdout)
    norm = next(f for f in findings if f["blueprint"]["name"] == "norm")
    assert norm["confirmed"] and (norm["reference_dim"], norm["reference_source"]) == (64, "configured")
    assert "22% low at dim=64 (actual 129)" in norm["message"]
    from esper_lint.expression import evaluate

    for finding in findings:
        for width, count in (finding["counts"] or {}).items():
            if finding["formula"]:
                assert evaluate(finding["formula"], {"dim": int(width), "rank": 8, "expansion": 4,
                                                     "reduction": 16}) == count
    assert {f["code"] for f in findings} == {"ESP001", "ESP002", "ESP003", "ESP004"}
