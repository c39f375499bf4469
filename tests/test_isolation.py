"""Odd neighbours: each blueprint module is measured as if it were alone, and nothing
user code starts outlives the run (fixtures/neighbours)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch.nn as nn

from conftest import FIXTURES
from esper_lint.expression import evaluate

NEIGHBOURS = FIXTURES / "neighbours"
pytestmark = pytest.mark.slow


def lint(project: Path, *paths: str, pids: Path | None = None) -> list[dict[str, Any]]:
    env = {**os.environ, "ESPER_LINT_TEST_PIDS": str(pids)} if pids else None
    done = subprocess.run([sys.executable, "-m", "esper_lint", "--no-cache", "--format", "json", *paths],
                          cwd=project, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1, done.stderr
    return list(json.loads(done.stdout))


def formula_of(findings: list[dict[str, Any]], name: str) -> str:
    [formula] = {f["formula"] for f in findings if f["blueprint"]["name"] == name and f.get("formula")}
    return str(formula)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().rpartition(")")[2].split()[0] != "Z"


def linear_count(dim: int) -> int:
    return sum(p.numel() for p in nn.Linear(dim, dim, device="meta").parameters())


def test_a_module_patching_torch_does_not_change_its_neighbours_counts(tmp_path: Path) -> None:
    project = tmp_path / "neighbours"
    shutil.copytree(NEIGHBOURS, project)
    together = lint(project, ".")
    alone = lint(project, "neighbourpkg/b_linear.py")
    assert formula_of(together, "linear") == formula_of(alone, "linear")
    for findings in (together, alone):
        for dim in (1, 64, 384, 4096):
            assert evaluate(formula_of(findings, "linear"), {"dim": dim}) == linear_count(dim)
    # the patcher itself is measured with its own patch: no bias
    assert not [f for f in together if f["blueprint"]["name"] == "patcher" and f["code"] != "ESP004"]


def test_user_code_writing_into_low_fds_is_measured_like_any_other(tmp_path: Path) -> None:
    project = tmp_path / "neighbours"
    shutil.copytree(NEIGHBOURS, project)
    findings = lint(project, "neighbourpkg/c_fd_writer.py")
    assert [f["code"] for f in findings] == ["ESP001"]
    assert evaluate(formula_of(findings, "fd_writer"), {"dim": 64}) == linear_count(64)


def test_processes_user_code_starts_in_their_own_session_end_with_the_run(tmp_path: Path) -> None:
    project, pids = tmp_path / "neighbours", tmp_path / "pids"
    shutil.copytree(NEIGHBOURS, project)
    findings = lint(project, "neighbourpkg/d_daemon.py", pids=pids)
    assert [f["code"] for f in findings] == ["ESP001"]
    started = [int(line) for line in pids.read_text().split()]
    assert started and not any(alive(pid) for pid in started)


EXITING = '''
import os
import torch.nn as nn
from neighbourpkg.registry import BlueprintRegistry

@BlueprintRegistry.register("before", "cnn", param_estimate=4000)
def create_before(dim: int) -> nn.Module:
    return nn.Linear(dim, dim)

@BlueprintRegistry.register("exiting", "cnn", param_estimate=4000)
def create_exiting(dim: int) -> nn.Module:
    os._exit(3)

@BlueprintRegistry.register("after", "cnn", param_estimate=4000)
def create_after(dim: int) -> nn.Module:
    return nn.Linear(dim, dim)
'''


def test_a_module_whose_process_dies_while_building_costs_one_blueprint(tmp_path: Path) -> None:
    # its other blueprints are built again in a fresh process, while the modules after it were
    # already being built alongside: each still gets its own replies
    project = tmp_path / "neighbours"
    shutil.copytree(NEIGHBOURS, project)
    (project / "neighbourpkg" / "a0_exiting.py").write_text(EXITING)
    findings = lint(project, ".")
    [exiting] = [f for f in findings if f["blueprint"]["name"] == "exiting" and f["code"] == "ESP913"]
    assert "exit code 3" in exiting["message"]
    for name in ("before", "after", "linear"):
        for dim in (1, 64, 4096):
            assert evaluate(formula_of(findings, name), {"dim": dim}) == linear_count(dim)


HANGING = '''
import os, subprocess, time
import torch.nn as nn
from neighbourpkg.registry import BlueprintRegistry
for session in (True, False):
    child = subprocess.Popen(["sleep", "600"], start_new_session=session)
    with open(os.environ["ESPER_LINT_TEST_PIDS"], "a") as pids:
        pids.write(f"{child.pid}\\n")
time.sleep(600)

@BlueprintRegistry.register("hanging", "cnn", param_estimate=4000)
def create(dim: int) -> nn.Module:
    return nn.Linear(dim, dim)
'''


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_esper_lint_ends_the_worker_and_everything_user_code_started(
        tmp_path: Path, signum: int) -> None:
    project, pids = tmp_path / "neighbours", tmp_path / "pids"
    shutil.copytree(NEIGHBOURS, project)
    (project / "neighbourpkg" / "hanging.py").write_text(HANGING)
    process = subprocess.Popen(
        [sys.executable, "-m", "esper_lint", "--no-cache", "neighbourpkg/hanging.py"], cwd=project,
        env={**os.environ, "ESPER_LINT_TEST_PIDS": str(pids)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while len(pids.read_text().split() if pids.exists() else []) < 2:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    started = [int(line) for line in pids.read_text().split()]
    process.send_signal(signum)
    process.wait(timeout=30)
    assert process.returncode != 0
    assert b"Traceback" not in process.stderr.read()  # type: ignore[union-attr]
    time.sleep(0.5)
    assert not any(alive(pid) for pid in started)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_esper_lint_during_the_static_pass_ends_the_worker_it_started_early(
        tmp_path: Path, signum: int) -> None:
    package = tmp_path / "manypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bp.py").write_text('@BlueprintRegistry.register("n", "cnn", param_estimate=1)\n'
                                   "def make(dim):\n    return dim\n")
    for i in range(600):  # files that read the estimate: each is parsed, so the static pass lasts
        (package / f"reader_{i:04}.py").write_text("def size(b):\n    return b.param_estimate\n" * 50)
    process = subprocess.Popen(
        [sys.executable, "-m", "esper_lint", "--no-cache", "."], cwd=tmp_path,
        env={**os.environ, "ESPER_LINT_TRACE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    assert process.stderr is not None
    for line in process.stderr:
        if "worker started: pid " in line:
            worker = int(line.split("worker started: pid ")[1].split(",")[0])
            break
    else:
        raise AssertionError("no worker was started")
    process.send_signal(signum)
    process.wait(timeout=60)
    rest = process.stderr.read()
    assert process.returncode != 0 and "Traceback" not in rest, rest
    assert "static pass ended" not in rest  # it was stopped inside the static pass
    deadline = time.monotonic() + 10
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker)

