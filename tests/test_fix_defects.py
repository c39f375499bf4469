"""Fixes that once wrote wrong code, each reproduced through the real CLI with the dynamic pass.

Comments belong to exactly one registration; the static pass and the fixer share one span;
the fixer writes only over exactly the bytes that were scanned, checked just before the
rename; and "Fixed" is printed only for edits that were written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli, run_json

pytestmark = pytest.mark.slow

HEADER = '''from torch import nn

from fixable_int.registry import BlueprintRegistry


def create_norm(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)


def create_lin(dim: int) -> nn.Module:
    return nn.Linear(dim, dim)


'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """fixable_int's registry (ints only: estimates are sorted), with seeds written by each test."""
    root = shutil.copytree(FIXTURES / "fixable_int", tmp_path / "project",
                           ignore=shutil.ignore_patterns("__pycache__", ".esper-lint-cache"))
    (root / "fixable_int" / "seeds.py").unlink()
    return root


def write_seeds(project: Path, body: str) -> Path:
    path = project / "fixable_int" / "seeds.py"
    path.write_text(HEADER + body)
    return path


def body_lines(path: Path) -> list[str]:
    return path.read_text().removeprefix(HEADER).splitlines()


def test_a_comment_belongs_to_the_call_its_line_ends(project: Path) -> None:
    seeds = write_seeds(project, (
        'BlueprintRegistry.register("norm", "cnn", param_estimate=128)(create_norm)  # formula: 2*dim\n'
        'BlueprintRegistry.register("lin", "cnn", param_estimate=4160)(create_lin)\n'))
    _, static = run_json("--no-dynamic", ".", cwd=project)
    assert [(f["blueprint"]["name"], f["code"]) for f in static] == [("lin", "ESP001")]
    fixed = run_cli("--fix", "--no-cache", ".", cwd=project)
    assert fixed.exit_code == 0, fixed.output
    norm, above, lin = body_lines(seeds)
    assert norm.endswith("(create_norm)  # formula: 2*dim")
    assert above == "# formula: dim**2 + dim"  # trailing, lin's line would pass 88 characters
    assert lin.endswith("(create_lin)")
    again = run_cli("--fix", "--no-cache", ".", cwd=project)
    assert again.exit_code == 0 and "Fixed" not in again.stdout
    assert body_lines(seeds) == [norm, above, lin]


def test_a_parenthesised_estimate_is_fixed_at_the_span_that_was_scanned(project: Path) -> None:
    seeds = write_seeds(project, (
        '@BlueprintRegistry.register("lin", "cnn", param_estimate=(4160))\n'
        'def create_lin_seed(dim: int) -> nn.Module:\n    return create_lin(dim)\n'))
    result = run_cli("--fix", "--unsafe-fixes", "--no-cache", ".", cwd=project)
    assert result.exit_code == 0 and "ESP921" not in result.output, result.output
    assert body_lines(seeds)[0] == \
        '@BlueprintRegistry.register("lin", "cnn", param_estimate=lambda dim: dim**2 + dim)'


LINES = ('BlueprintRegistry.register("norm", "cnn", param_estimate=100)(create_norm)\n'
         'BlueprintRegistry.register("wide", "cnn", param_estimate=100)(create_wide)\n')
SWAPPING = '''
def create_wide(dim: int) -> nn.Module:
    return nn.Linear(dim, dim)


''' + LINES + '''

import pathlib

_here = pathlib.Path(__file__)
_once = _here.with_suffix(".swapped")
if not _once.exists():  # an editor swaps two lines of the same shape while the pass imports it
    _once.touch()
    _norm, _wide = [line for line in _here.read_text().splitlines(True) if line.startswith("Blue")]
    _here.write_text(_here.read_text().replace(_norm + _wide, _wide + _norm))
'''


def test_a_file_edited_during_the_run_is_not_fixed(project: Path) -> None:
    seeds = write_seeds(project, SWAPPING)
    scanned = seeds.read_text()
    result, remaining = run_json("--fix", "--no-cache", ".", cwd=project)
    edited = seeds.read_text()
    assert len(edited) == len(scanned) and edited != scanned and "# formula" not in edited
    assert result.exit_code == 1
    [problem] = [f for f in remaining if f["code"] == "ESP921"]
    assert "changed since it was checked" in problem["message"]
    text = run_cli("--fix", "--no-cache", ".", cwd=project)  # the settled file is fixed
    assert "Fixed 2 findings." in text.stdout
    lines = body_lines(seeds)
    wide, norm = [i for i, line in enumerate(lines) if line.startswith("BlueprintRegistry")]
    # trailing, either line would pass 88 characters: each comment goes on the line above
    assert [lines[wide - 1], lines[norm - 1]] == ["# formula: dim**2 + dim", "# formula: 2*dim"]
    assert lines[wide].endswith("(create_wide)") and lines[norm].endswith("(create_norm)")


def test_an_editor_save_just_before_the_rename_is_kept(project: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = write_seeds(project, 'BlueprintRegistry.register("lin", "cnn", param_estimate=100)(create_lin)\n')
    saved = HEADER + "# the user's newer save\n"
    real_fsync = os.fsync

    def editor_saves_meanwhile(fd: int) -> None:  # after the fix is written, before the rename
        real_fsync(fd)
        if seeds.read_text() != saved:
            seeds.write_text(saved)

    monkeypatch.setattr(os, "fsync", editor_saves_meanwhile)
    result = run_cli("--fix", "--no-cache", ".", cwd=project)
    assert seeds.read_text() == saved
    assert result.exit_code == 1 and "Fixed" not in result.stdout
    assert "ESP921" in result.stdout and "changed on disk since it was read" in result.stdout
    assert not [p for p in seeds.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_wrong_callable_that_starts_like_the_right_one_is_rewritten(project: Path) -> None:
    registry = project / "fixable_int" / "registry.py"
    registry.write_text(registry.read_text().replace("param_estimate: int,", "param_estimate: Any,"))
    (project / "pyproject.toml").write_text(
        (project / "pyproject.toml").read_text() + "callable-estimates = true\n")
    seeds = write_seeds(project, (
        '@BlueprintRegistry.register("norm", "cnn", param_estimate=lambda dim: 2*dim + 10)\n'
        'def create_norm_seed(dim: int) -> nn.Module:\n    return create_norm(dim)\n'))
    _, found = run_json("--no-cache", ".", cwd=project)
    assert [f["code"] for f in found] == ["ESP003"]
    fixed = run_cli("--fix", "--no-cache", ".", cwd=project)
    assert fixed.exit_code == 0 and "Fixed 1 finding." in fixed.stdout
    assert body_lines(seeds)[0] == \
        '@BlueprintRegistry.register("norm", "cnn", param_estimate=lambda dim: 2*dim)'
    assert run_json("--no-cache", ".", cwd=project)[1] == []
