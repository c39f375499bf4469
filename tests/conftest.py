"""Shared helpers: run the real CLI, read the `# expect: CODE` markers in fixture files; the
Hypothesis profiles of the property tests."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings

from esper_lint.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>ESP\d+(?:,\s*ESP\d+)*)")

# CI runs the ``ci`` profile (fixed seed, a few hundred examples); HYPOTHESIS_PROFILE=long runs more
settings.register_profile("ci", max_examples=200, derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def run_cli(*args: str, cwd: Path | None = None) -> Result:
    """The real click command, in ``cwd`` (default: the repository root)."""
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd or ROOT)
        return runner.invoke(main, list(args), catch_exceptions=False)


def run_json(*args: str, cwd: Path | None = None) -> tuple[Result, list[dict[str, Any]]]:
    result = run_cli("--format", "json", *args, cwd=cwd)
    return result, json.loads(result.stdout)


def expected_markers(path: Path) -> set[tuple[int, str]]:
    """(line, code) for every ``# expect: CODE`` comment in a fixture file."""
    text = path.read_bytes().decode("latin-1")
    return {
        (number, code.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if (match := EXPECT.search(line))
        for code in match.group("codes").split(",")
    }
