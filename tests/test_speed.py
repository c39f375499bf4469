"""What makes runs fast, asserted by structure, never by time (the times are in BENCHMARKS.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES


def lint(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """The real CLI in a subprocess, and the modules it imported, with their top-level packages."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "esper_lint", "--format", "json",
                           *args], cwd=folder, capture_output=True, text=True, timeout=300)
    names = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
             if line.startswith("import time:")}
    return done, names | {name.split(".")[0] for name in names}


def test_a_run_without_report_never_imports_the_html_report() -> None:
    done, imported = lint(FIXTURES / "screen", "--no-dynamic", "--no-cache", ".")
    assert done.returncode == 0, done.stderr
    assert "esper_lint.render.json" in imported and "esper_lint.render.html" not in imported


def test_a_file_without_a_register_call_never_reaches_the_site_finder() -> None:
    done, imported = lint(FIXTURES / "screen", "--no-dynamic", "--no-cache", ".")
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout
    assert not {"esper_lint.sites", "libcst"} & imported


def test_bare_name_excludes_never_load_pathspec(tmp_path: Path) -> None:
    done, imported = lint(FIXTURES / "screen", "--no-dynamic", "--no-cache", ".")
    assert done.returncode == 0 and "pathspec" not in imported  # the defaults are all bare names
    (tmp_path / "pyproject.toml").write_text('[tool.esper-lint]\nextend-exclude = ["gen/*.py"]\n')
    done, imported = lint(tmp_path, "--no-dynamic", "--no-cache", ".")
    assert done.returncode == 0 and "pathspec" in imported  # a path pattern: gitignore's rules


def traced(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The real CLI in a subprocess with ``ESPER_LINT_TRACE=1``, and the events it said, in order."""
    done = subprocess.run([sys.executable, "-m", "esper_lint", "--format", "json", *args], cwd=folder,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ESPER_LINT_TRACE": "1"})
    prefix = "esper-lint trace: "
    return done, [line.removeprefix(prefix).split(" ", 1)[1] for line in done.stderr.splitlines()
                  if line.startswith(prefix)]


@pytest.mark.slow
def test_torch_imports_while_the_static_pass_runs() -> None:
    done, events = traced(FIXTURES / "lowrank", "--no-cache", ".")
    assert done.returncode == 1 and '"confirmed": true' in done.stdout, done.stderr
    started = next(i for i, e in enumerate(events) if e.startswith("worker started:"))
    assert events.index("static pass started") < started \
        < events.index("static pass ended") < events.index("module lowrank.blueprints.a_plain sent")
    assert events[-1] == "worker ended"


def test_a_worker_started_early_for_nothing_is_ended() -> None:
    done, events = traced(FIXTURES / "screen", "--no-cache", ".")  # files read the estimate, none registers
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
    assert any(e.startswith("worker started:") for e in events) and events[-1] == "worker ended"


@pytest.mark.slow
def test_torch_loads_its_compiler_stack_only_for_the_modules_that_need_it() -> None:
    done, events = traced(FIXTURES / "lowrank", "--no-cache", ".")
    assert done.returncode == 1 and "ESP91" not in done.stdout, done.stdout
    # 1/r of a random (dim, r) tensor on the meta device: exact counts at every width
    assert all(f'"formula": "{r}*dim"' in done.stdout for r in (2, 3, 4, 5))
    # none while the module without arithmetic was the first in line
    assert events.index("torch compiler warming") > events.index("module lowrank.blueprints.a_plain ended")
    # b's process loaded it (and c's, if c was built at the same time), then the worker, so that
    # the later forks inherit it: fewer loads than the four modules that need it
    assert events.count("torch compiler warming") == events.count("torch compiler warmed") in (2, 3)


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one module at a time on one core")
def test_two_modules_are_built_at_the_same_time_in_forks_of_their_own(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "esper_lint", "--format", "json", "--no-cache", "."],
                          cwd=FIXTURES / "pair", capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ESPER_LINT_TEST_RENDEZVOUS": str(tmp_path)})
    assert done.returncode == 1 and "ESP91" not in done.stdout, done.stdout
    # each module's import waited for the other's: they met only if both were being built at once
    assert (tmp_path / "left.met").read_text() == (tmp_path / "right.met").read_text() == "True"


@pytest.mark.slow
def test_a_warm_rerun_imports_neither_torch_nor_the_site_finder(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    shutil.copytree(FIXTURES / "demo", demo, ignore=shutil.ignore_patterns(".esper-lint-cache"))
    first, imported = lint(demo, ".")
    assert first.returncode == 1 and '"confirmed": true' in first.stdout
    assert "esper_lint.sites" in imported and "libcst" not in imported  # read from CPython's tree
    again, imported = lint(demo, ".")
    assert again.stdout == first.stdout
    # torch's version comes from its folder's name
    assert not {"torch", "libcst", "esper_lint.sites", "importlib.metadata"} & imported
    _, events = traced(demo, ".")
    assert "static pass ended" in events and not any(e.startswith("worker started:") for e in events)

    (demo / "tools.py").write_text("print('unrelated')\n")
    again, imported = lint(demo, ".")
    assert again.stdout == first.stdout and not {"torch", "esper_lint.sites"} & imported
    # a new file that reads the estimate is parsed, but cannot register: no worker for it
    (demo / "cheapest.py").write_text("def cheapest(specs):\n"
                                      "    return min(specs, key=lambda s: s.param_estimate)\n")
    again, events = traced(demo, ".")
    assert again.returncode == 1 and not any(e.startswith("worker started:") for e in events)

    blueprints = demo / "seedlib" / "blueprints" / "cnn.py"
    blueprints.write_text(blueprints.read_text() + "\n# touched\n")
    static, imported = lint(demo, "--no-dynamic", ".")
    assert "esper_lint.sites" in imported  # only the changed file is read again
    assert not {"torch", "libcst"} & imported
    assert static.returncode == 1 and '"seedlib/blueprints/cnn.py"' in static.stdout


# Counts the formula searches of one real CLI run (a profile hook; nothing is replaced).
SEARCHES = """
import sys
from esper_lint import formula
from esper_lint.cli import main
calls = []
sys.setprofile(lambda frame, event, _: calls.append(1)
               if event == "call" and frame.f_code is formula.derive.__code__ else None)
try:
    main(sys.argv[1:])
finally:
    sys.setprofile(None)
    sys.stderr.write(f"searches: {len(calls)}\\n")
"""


def searches(folder: Path) -> tuple[str, int]:
    done = subprocess.run([sys.executable, "-c", SEARCHES, "--format", "json", "."], cwd=folder,
                          capture_output=True, text=True, timeout=300)
    return done.stdout, int(done.stderr.rsplit("searches: ", 1)[1])


@pytest.mark.slow
def test_a_warm_rerun_reads_the_verified_formulas_back_instead_of_searching_again(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    shutil.copytree(FIXTURES / "demo", demo, ignore=shutil.ignore_patterns(".esper-lint-cache"))
    first, searched = searches(demo)
    assert searched > 0 and '"confirmed": true' in first
    again, searched = searches(demo)
    assert again == first and searched == 0
