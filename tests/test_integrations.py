"""flake8, pre-commit and GitHub Actions, each run for real against esper-lint's own output."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import FIXTURES, ROOT, run_cli
from esper_lint.cli import main

REPORTED = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>[A-Z]+\d+)(?: \[\*\])? "
                      r"(?P<message>.*)$")
FLAKE8_TARGETS = ["fixtures/static", *(f"fixtures/bad/{name}" for name in
                                       ("crlf.py", "latin1_cookie.py", "utf8_bom.py", "undecodable.py"))]
BAD_ESTIMATE = '''from seedlib.registry import BlueprintRegistry


@BlueprintRegistry.register("norm", "cnn", param_estimate=100)
def create_norm(dim):
    return dim
'''


def reported(output: str) -> list[tuple[str, int, int, str, str]]:
    """(path, line, column, code, message) of every ``path:line:col: CODE message`` line."""
    found = [REPORTED.match(line) for line in output.splitlines()]
    return [(m["path"].removeprefix("./"), int(m["line"]), int(m["col"]), m["code"], m["message"])
            for m in found if m]


def flake8(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flake8", "--select", "ESP", *args], cwd=cwd,
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)


def test_flake8_reports_what_esper_lint_reports() -> None:
    done = flake8("fixtures/static/shapes.py")
    expected = reported(run_cli("--no-dynamic", "fixtures/static/shapes.py").stdout)
    assert [(line, col, code) for _, line, col, code, _ in reported(done.stdout)] == \
        [(line, col, code) for _, line, col, code, _ in expected]
    assert len(expected) == 9 and done.returncode == 1, done.stderr


def test_flake8_matches_on_every_fixture_including_encodings() -> None:
    done = flake8(*FLAKE8_TARGETS)
    ours = run_cli("--no-dynamic", *FLAKE8_TARGETS).stdout
    assert sorted(reported(done.stdout)) == sorted(reported(ours))
    assert {"ESP001", "ESP902"} <= {code for *_, code, _ in reported(done.stdout)}


def test_flake8_checks_the_lines_it_is_given() -> None:
    edited = (FIXTURES / "static" / "shapes.py").read_text().replace(
        'param_estimate=100, description="GroupNorm")', 'param_estimate=100)  # formula: 2*dim', 1)
    done = flake8("--stdin-display-name", "fixtures/static/shapes.py", "-", stdin=edited)
    lines = [line for _, line, *_ in reported(done.stdout)]
    assert 14 not in lines and len(lines) == 8


def test_flake8_reads_the_projects_configuration(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.esper-lint]\nregister-functions = ["Seeds.add"]\n')
    (tmp_path / "bp.py").write_text(BAD_ESTIMATE + '\n\n@Seeds.add("x", "cnn", param_estimate=5)\n'
                                    "def create_x(dim):\n    return dim\n")
    done = flake8("bp.py", cwd=tmp_path)
    ours = run_cli("--no-dynamic", "bp.py", cwd=tmp_path).stdout
    assert [line for _, line, *_ in reported(done.stdout)] == [9]
    assert reported(done.stdout) == reported(ours)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_flake8_config_error_is_one_line_not_a_traceback(tmp_path: Path, jobs: str) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.esper-lint]\nfoo = 1\n")
    (tmp_path / "bp.py").write_text(BAD_ESTIMATE)
    (tmp_path / "other.py").write_text(BAD_ESTIMATE)
    done = flake8("-j", jobs, "bp.py", "other.py", cwd=tmp_path)
    ours = run_cli("--no-dynamic", "bp.py", cwd=tmp_path)
    assert "Traceback" not in done.stdout + done.stderr and done.returncode != 0
    cause = f"{tmp_path / 'pyproject.toml'}: unknown key(s) in [tool.esper-lint]: foo"
    assert cause in done.stdout.splitlines()[0] and ours.stderr == f"esper-lint: error: {cause}\n"


def test_static_install_needs_no_torch() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith("torch") for dep in project["dependencies"])
    assert any(dep.startswith("torch") for dep in project["optional-dependencies"]["dynamic"])


def test_declared_click_floor_runs_the_tests() -> None:
    """Every test reads ``CliRunner`` results' ``stderr`` apart from stdout, which click 8.2 made
    the default; under 8.1 ``result.stderr`` raises. The floor a user installs is the one tested."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [click] = [dep for dep in project["dependencies"] if re.match(r"click\b", dep)]
    floor = re.search(r">=\s*([\d.]+)", click)
    assert floor is not None and tuple(int(p) for p in floor[1].split(".")[:2]) >= (8, 2), click


def _hooks() -> dict[str, dict[str, Any]]:
    hooks: list[dict[str, Any]] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return {hook["id"]: hook for hook in hooks}


def test_pre_commit_hooks_are_declared() -> None:
    hooks = _hooks()
    assert hooks["esper-lint"]["entry"] == "esper-lint --no-dynamic --"
    assert hooks["esper-lint"]["language"] == "python"
    assert hooks["esper-lint-dynamic"]["entry"] == "esper-lint --"
    assert hooks["esper-lint-dynamic"]["language"] == "system"
    for hook in hooks.values():
        assert hook["types"] == ["python"] and hook["require_serial"] is True
        command, *args = shlex.split(hook["entry"])
        assert command == "esper-lint" and args[-1] == "--"  # file names are never options
        context = main.make_context("esper-lint", [*args, "--output-file=x.py"])  # unknown: raises
        assert context.params["paths"] == ("--output-file=x.py",)


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=esper-lint tests", "-c", "user.email=tests@example.invalid",
                    "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                   cwd=cwd, check=True, capture_output=True, timeout=60, env=_clean_env())


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without git's per-repository variables (set when run from a git hook)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    return {**env, **extra}


def _source_files() -> list[str]:
    """This repository's files as they are now: tracked or new, not ignored."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True, timeout=60, env=_clean_env())
    return sorted({name for name in listed.stdout.decode().split("\0") if name})


def snapshot(target: Path) -> Path:
    """A one-commit copy of this repository's working tree, so the hook sees uncommitted work too."""
    for name in _source_files():
        source, copy = ROOT / name, target / name
        if not (source.exists() or source.is_symlink()):
            continue  # deleted in the working tree
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, copy)
    _git("init", "-q", cwd=target)
    _git("add", "-A", cwd=target)
    _git("commit", "-q", "-m", "snapshot", cwd=target)
    return target


def try_repo(repo: Path, project: Path, home: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """The hook on ``files``, or on every file in the project's index without any."""
    which = ["--files", *files] if files else ["--all-files"]
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(repo), "esper-lint",
                           *which], cwd=project, capture_output=True, text=True,
                          timeout=600, check=False, env=_clean_env(PRE_COMMIT_HOME=str(home)))


@pytest.mark.slow
def test_pre_commit_hook_fails_on_a_constant_and_passes_once_documented(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of esper-lint")
    repo = snapshot(tmp_path / "esper-lint")
    project = tmp_path / "project"
    project.mkdir()
    _git("init", "-q", cwd=project)
    (project / "bp.py").write_text(BAD_ESTIMATE)
    _git("add", "bp.py", cwd=project)
    started = time.monotonic()
    failed = try_repo(repo, project, tmp_path / "home", "bp.py")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "bp.py:4:59: ESP001 " in failed.stdout
    (project / "bp.py").write_text(BAD_ESTIMATE.replace("param_estimate=100)",
                                                        "param_estimate=100)  # formula: 2*dim"))
    passed = try_repo(repo, project, tmp_path / "home", "bp.py")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"^esper-lint\.+Passed$", passed.stdout, re.MULTILINE)
    print(f"pre-commit try-repo, two runs: {time.monotonic() - started:.1f} s")


@pytest.mark.slow
def test_pre_commit_never_takes_a_file_name_for_an_option(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of esper-lint")
    repo = snapshot(tmp_path / "esper-lint")
    project = tmp_path / "project"
    project.mkdir()
    _git("init", "-q", cwd=project)
    victim, odd = project / "victim.py", project / "--output-file=victim.py"
    victim.write_text("x = 1\n")
    odd.write_text(BAD_ESTIMATE)
    _git("add", "--", victim.name, odd.name, cwd=project)
    failed = try_repo(repo, project, tmp_path / "home")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "--output-file=victim.py:4:59: ESP001 " in failed.stdout
    assert victim.read_text() == "x = 1\n"


WORKFLOW = ROOT / "docs" / "github-workflow.yml"


def _workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def _steps() -> list[dict[str, Any]]:
    return [step for job in _workflow()["jobs"].values() for step in job["steps"]]


def _esper_lint_commands() -> list[list[str]]:
    commands = [shlex.split(line) for step in _steps() if "run" in step
                for line in step["run"].splitlines() if line.strip()]
    return [command[1:] for command in commands if command[0] == "esper-lint"]


def test_workflow_has_a_valid_shape() -> None:
    workflow = _workflow()
    triggers = workflow["on"] if "on" in workflow else workflow[True]  # YAML 1.1: a bare `on` is true
    assert {"push", "pull_request"} <= set(triggers)
    for job in workflow["jobs"].values():
        assert job["runs-on"] and job["steps"]
        assert all(("uses" in step) != ("run" in step) for step in job["steps"])
        assert job["permissions"]["security-events"] == "write"
    upload = "github/codeql-action/upload-sarif@"
    uploads = [step for step in _steps() if step.get("uses", "").startswith(upload)]
    [sarif] = [args for args in _esper_lint_commands() if "sarif" in args]
    assert [step["with"]["sarif_file"] for step in uploads] == [sarif[sarif.index("--output-file") + 1]]


def test_workflow_commands_run(tmp_path: Path) -> None:
    commands = _esper_lint_commands()
    assert {args[args.index("--format") + 1] for args in commands} == {"github", "sarif"}
    for args in commands:
        main.make_context("esper-lint", list(args))  # raises on an unknown option
        runnable = ["fixtures/static/shapes.py" if arg == "src/" else arg for arg in args]
        if "--output-file" in runnable:
            runnable[runnable.index("--output-file") + 1] = str(tmp_path / "out")
        result = run_cli("--no-dynamic", *runnable)
        assert result.exit_code == (0 if "--exit-zero" in args else 1), result.output
