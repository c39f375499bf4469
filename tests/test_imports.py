"""What a static run must not import: torch never, libcst only when a file needs parsing."""

from __future__ import annotations

import subprocess
import sys

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


def test_static_run_never_imports_torch() -> None:
    assert _imports("--no-dynamic", "fixtures/static") == (False, True)


def test_files_without_registrations_are_not_parsed() -> None:
    assert _imports("--no-dynamic", "fixtures/static/no_registrations.py") == (False, False)
