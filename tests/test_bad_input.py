"""Bad files and paths give one clear ESP9xx diagnostic each, and the run goes on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli, run_json
from esper_lint import check
from esper_lint.catalog import Rule, rules
from esper_lint.model import Finding

GOOD = FIXTURES / "static" / "shapes.py"


def _codes_by_file(findings: list[dict[str, object]]) -> dict[str, set[object]]:
    table: dict[str, set[object]] = {}
    for f in findings:
        table.setdefault(str(f["path"]).rsplit("/", 1)[-1], set()).add(f["code"])
    return table


def test_each_bad_file_gets_one_diagnostic_and_the_rest_is_linted() -> None:
    result, findings = run_json("--no-dynamic", "fixtures/bad", "fixtures/static/shapes.py")
    by_file = _codes_by_file(findings)
    assert by_file["syntax_error.py"] == {"ESP999"}
    assert by_file["undecodable.py"] == {"ESP902"}
    assert by_file["latin1_cookie.py"] == {"ESP001"}
    assert by_file["shapes.py"] == {"ESP001"}
    assert sum(1 for f in findings if f["code"] in ("ESP999", "ESP902")) == 2
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_syntax_error_points_at_the_line() -> None:
    _, findings = run_json("--no-dynamic", "fixtures/bad/syntax_error.py")
    [error] = findings
    assert error["line"] == 3 and "'(' was never closed" in error["message"]


def test_latin1_cookie_is_decoded() -> None:
    _, findings = run_json("--no-dynamic", "fixtures/bad/latin1_cookie.py")
    assert findings[0]["blueprint"]["name"] == "café"


def test_missing_path(tmp_path: Path) -> None:
    _result, findings = run_json("--no-dynamic", "does/not/exist.py", str(GOOD), cwd=tmp_path)
    [missing] = [f for f in findings if f["code"] == "ESP901"]
    assert missing["path"] == "does/not/exist.py" and "no such file" in missing["message"]
    assert any(f["code"] == "ESP001" for f in findings)


def test_unreadable_file(tmp_path: Path) -> None:
    """Paths that cannot be read even as root: a dangling symlink and a FIFO, named explicitly."""
    shutil.copy(GOOD, tmp_path / "good.py")
    (tmp_path / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    os.mkfifo(tmp_path / "pipe.py")  # reading would block: it is refused, not read
    _, findings = run_json("--no-dynamic", "dangling.py", "pipe.py", "good.py", cwd=tmp_path)
    codes = _codes_by_file(findings)
    assert codes["dangling.py"] == {"ESP901"} and codes["pipe.py"] == {"ESP901"}
    assert codes["good.py"] == {"ESP001"}


def test_permission_denied() -> None:
    """A mode-000 file; root reads anyway, so as root the CLI runs as ``nobody``."""
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root reads a mode-000 file, and setpriv is missing to run as nobody")
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = subprocess.run([*as_user, sys.executable, "-c", "import esper_lint"],
                               capture_output=True, text=True, timeout=60, check=False)
        if probe.returncode != 0:
            pytest.skip(f"nobody cannot run {sys.executable} (an owner-only folder?): {probe.stderr}")
    with tempfile.TemporaryDirectory() as folder:  # not under pytest's owner-only tmp folders
        Path(folder).chmod(0o755)
        shutil.copy(GOOD, Path(folder) / "good.py")
        (Path(folder) / "good.py").chmod(0o644)
        secret = Path(folder) / "secret.py"
        shutil.copy(GOOD, secret)
        secret.chmod(0)
        done = subprocess.run([*as_user, sys.executable, "-m", "esper_lint", "--no-dynamic",
                               "--format", "json", "secret.py", "good.py"],
                              cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    codes = _codes_by_file(json.loads(done.stdout))
    assert codes == {"secret.py": {"ESP901"}, "good.py": {"ESP001"}}, done.stderr
    assert done.returncode == 1


def test_directory_symlink_loop(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    shutil.copy(GOOD, package / "good.py")
    (package / "loop").symlink_to(package, target_is_directory=True)
    result, findings = run_json("--no-dynamic", ".", cwd=tmp_path)
    loops = [f for f in findings if f["code"] == "ESP903"]
    assert len(loops) == 1 and "loop" in loops[0]["message"]
    assert sum(1 for f in findings if f["code"] == "ESP001") == 9  # linted once, not twice
    assert result.exit_code == 1


def test_excluded_folders_are_skipped_but_named_files_are_not(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    shutil.copy(GOOD, tmp_path / "build" / "generated.py")
    _, findings = run_json("--no-dynamic", ".", cwd=tmp_path)
    assert findings == []
    _, findings = run_json("--no-dynamic", "build/generated.py", cwd=tmp_path)
    assert findings


def test_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    shutil.copy(GOOD, tmp_path / "good.py")
    result, findings = run_json("--no-dynamic", ".", cwd=tmp_path)
    assert result.exit_code == 1 and any(f["path"] == "good.py" for f in findings)


def test_broken_toml_is_a_config_error_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.esper-lint]\nselect = [\n")
    result = run_cli("--no-dynamic", ".", cwd=tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"esper-lint: error: {tmp_path / 'pyproject.toml'}: cannot read configuration")


def _raises(site: object, ctx: object) -> Iterator[Finding]:
    raise ZeroDivisionError("a bug in a rule")


def test_internal_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real failure inside the pipeline (a rule of this test's own that raises)."""
    module = types.ModuleType("esp0zz_raises", "ESP0ZZ raises: a rule with a bug.")
    for key, value in {"CODE": "ESP001", "NAME": "raises", "SUMMARY": "raises", "VALID": [],
                       "INVALID": [], "check": _raises}.items():
        setattr(module, key, value)
    shipped = rules()
    monkeypatch.setattr(check, "rules", lambda: (*shipped, Rule.from_module(module)))
    result = run_cli("--no-dynamic", str(GOOD))
    assert result.exit_code == 2 and "Traceback" not in result.output and result.stdout == ""
    assert result.stderr == "esper-lint: internal error: ZeroDivisionError: a bug in a rule\n"


@pytest.mark.parametrize("selection", [(), ("--select", "ESP001"), ("--ignore", "ALL"),
                                       ("--select", "ESP9", "--ignore", "ESP999")])
def test_syntax_errors_are_reported_whatever_is_selected(selection: tuple[str, ...]) -> None:
    result, findings = run_json("--no-dynamic", *selection, "fixtures/bad/syntax_error.py")
    assert [f["code"] for f in findings] == ["ESP999"] and result.exit_code == 1
