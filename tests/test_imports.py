"""What a static run must not import: torch never, libcst only to verify a fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PROBE = """
import sys
from esper_lint.cli import main
try:
    main([{args}])
except SystemExit:
    pass
print("torch" in sys.modules, "libcst" in sys.modules, file=sys.stderr)
"""


def _imports(*args: str) -> tuple[bool, bool]:
    code = PROBE.format(args=", ".join(repr(a) for a in args))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    torch, libcst = done.stderr.split()[-2:]
    return torch == "True", libcst == "True"


def test_static_run_imports_neither_torch_nor_libcst() -> None:
    assert _imports("--no-dynamic", "--no-cache", "fixtures/static") == (False, False)


def test_files_without_registrations_are_not_parsed() -> None:
    assert _imports("--no-dynamic", "fixtures/static/no_registrations.py") == (False, False)


def test_python_m_never_imports_the_projects_own_modules(tmp_path: Path) -> None:
    for shadow in ("dataclasses", "json", "enum", "typing", "click"):
        (tmp_path / f"{shadow}.py").write_text(
            f"open({str(tmp_path / ('IMPORTED-' + shadow))!r}, 'w').close()\nraise SystemExit(99)\n")
    (tmp_path / "bp.py").write_text('@BlueprintRegistry.register("n", "cnn", param_estimate=1)\n'
                                    "def make(dim):\n    return dim\n")
    done = subprocess.run([sys.executable, "-m", "esper_lint", "--no-dynamic", "--no-cache", "."],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "bp.py:1:" in done.stdout, done.stderr
    assert not list(tmp_path.glob("IMPORTED-*"))
