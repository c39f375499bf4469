"""What makes runs fast, asserted by structure, never by time (the times are in BENCHMARKS.md)."""

from __future__ import annotations

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

    (demo / "tools.py").write_text("print('unrelated')\n")
    again, imported = lint(demo, ".")
    assert again.stdout == first.stdout and not {"torch", "esper_lint.sites"} & imported

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
