"""Blocks a new user registers first (fixtures/blocks): a LLaMA gated MLP whose hidden width is
rounded up to a multiple, a grouped convolution.  The real command finds each one's formula, in
the form a reader writes, and plain ``--fix`` documents it without growing a line past the
project's line length; the formulas are checked against torch's counts at widths never sampled.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli, run_json
from esper_lint.expression import evaluate

pytestmark = pytest.mark.slow

BLOCKS = FIXTURES / "blocks"
LINE_LENGTH = 100  # fixtures/blocks/pyproject.toml's [tool.ruff] line-length
# what a reader writes: the hidden width as the code computes it, times the three weights
READER = {
    "swiglu": "3*dim*(8*((8*dim//3 + 7)//8))",
    "swiglu256": "3*dim*(256*((8*dim//3 + 255)//256))",
    "grouped": "9*dim*(dim//4) + dim",
}
# widths the dynamic pass does not build (it samples 1..256 and a spread of larger ones)
UNSAMPLED = [*range(257, 700, 7), 1001, 2047, 4099, 6001, 12289, 24577, 49153]

COUNT = r"""
import json, sys
from importlib import import_module
import torch

seeds = import_module("blocks.seeds")
out = {}
for factory, widths in json.loads(sys.argv[1]).items():
    out[factory] = {}
    for width in widths:
        try:
            with torch.device("meta"):
                module = getattr(seeds, factory)(width)
        except Exception:
            continue  # outside the factory's domain
        out[factory][width] = sum(p.numel() for p in module.parameters())
print(json.dumps(out))
"""


def real_counts(root: Path, widths: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    done = subprocess.run([sys.executable, "-c", COUNT, json.dumps(widths)], cwd=root,
                          capture_output=True, text=True, check=True)
    counts: dict[str, dict[str, int]] = json.loads(done.stdout)
    return counts


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "blocks"
    shutil.copytree(BLOCKS, root, ignore=shutil.ignore_patterns("__pycache__", ".esper-lint-cache"))
    return root


def test_common_blocks_get_the_formula_a_reader_writes(project: Path) -> None:
    result, findings = run_json(".", "--no-cache", cwd=project)
    assert result.exit_code == 1
    formulas = {f["blueprint"]["name"]: (f["blueprint"]["factory"], f["formula"])
                for f in findings if f["code"] == "ESP001"}
    assert set(formulas) == set(READER)
    widths = [*range(1, 257), *UNSAMPLED]
    counts = real_counts(project, {factory: widths for factory, _ in formulas.values()})
    for name, (factory, formula) in formulas.items():
        assert formula is not None, name
        built = counts[factory]
        assert len(built) >= 64, name  # the grouped conv builds at dim % 4 == 0 only
        for width, count in built.items():
            assert evaluate(formula, {"dim": int(width)}) == count, (name, width, formula)
        assert formula.count("//") <= READER[name].count("//"), (name, formula)
        for width, count in built.items():  # the reader's forms are right too
            assert evaluate(READER[name], {"dim": int(width)}) == count, (name, width)


def test_plain_fix_keeps_lines_within_the_line_length_and_reads_back_clean(project: Path) -> None:
    seeds = project / "blocks" / "seeds.py"
    assert max(map(len, seeds.read_text().splitlines())) <= LINE_LENGTH
    fixed = run_cli(".", "--no-cache", "--fix", cwd=project)
    assert fixed.exit_code == 0, fixed.output
    text = seeds.read_text()
    assert max(map(len, text.splitlines())) <= LINE_LENGTH
    assert text.count("\n# formula: ") == len(READER)  # each on its own line, above its call
    again = run_cli(".", "--no-cache", cwd=project)
    assert again.exit_code == 0 and "All checks passed" in again.output, again.output
    run_cli(".", "--no-cache", "--fix", cwd=project)
    assert seeds.read_text() == text  # idempotent


def test_line_length_comes_from_ruff_then_black(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    seeds = project / "blocks" / "seeds.py"
    original = seeds.read_text()
    ruff = "[tool.ruff]\nline-length = 100"
    config = pyproject.read_text().replace(ruff, "[tool.black]\nline-length = 160")
    pyproject.write_text(config)
    run_cli(".", "--no-cache", "--fix", cwd=project)
    wide = seeds.read_text()
    assert "# formula: " in wide and "\n# formula: " not in wide  # 160 columns: they trail
    seeds.write_text(original)
    (project / "ruff.toml").write_text("line-length = 100\n")  # ruff's own file wins over black
    run_cli(".", "--no-cache", "--fix", cwd=project)
    assert seeds.read_text().count("\n# formula: ") == len(READER)
