"""The screen walks only statements that spell what it looks for, and loses no read of the estimate.

Its reads are checked against a plain ``ast.walk`` over the whole tree: every attribute named
like the estimate that is loaded, on the same lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import FIXTURES
from esper_lint.config import Config
from esper_lint.screen import screen
from esper_lint.source import SourceError, decode

TRICKY = '''\
import functools
from registry import BlueprintRegistry as BR
reg = BR.register


class Host:
    """A docstring that names param_estimate is not a read."""

    @functools.cache
    def pick(self, seeds):
        def inner():
            return [s for s in seeds
                    if s.
                    param_estimate]
        cheap = sorted(seeds, key=lambda s: (
            s.param_estimate, s.name))
        return cheap if not seeds[0].param_estimate else inner()


@reg("a", "cnn",
     param_estimate=3)
def a(dim):
    total = 0
    for s in BR.all():
        total += (s
                  .param_estimate)
    return total


@reg("b", "cnn", param_estimate=5)
def b(dim):
    return dim
'''


def loaded(tree: ast.Module, keyword: str) -> list[int]:
    return sorted(node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                  and node.attr == keyword and isinstance(node.ctx, ast.Load))


def readable(path: Path) -> str | None:
    try:
        return decode(path.read_bytes()).text
    except SourceError:
        return None


@pytest.mark.parametrize("text", [TRICKY, TRICKY.replace("\n", "\r\n"), TRICKY.replace("\n", "\r")],
                         ids=["lf", "crlf", "cr"])
def test_reads_in_any_statement_and_calls_in_decorators_are_found(text: str) -> None:
    tree = ast.parse(text)
    seen = screen(tree, text, Path("host.py"), "host.py", Config())
    assert [use.line for use in seen.uses] == loaded(tree, "param_estimate") == [13, 16, 17, 25]
    assert seen.registers and sorted(call.lineno for call in seen.calls) == [20, 30]


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("*.py")), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_read_in_the_fixtures_is_found(path: Path) -> None:
    text = readable(path)
    try:
        tree = ast.parse(text or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pytest.skip("not Python that CPython reads")
    config = Config(root=path.parent)
    seen = screen(tree, text or "", path, path.name, config)
    assert [use.line for use in seen.uses] == loaded(tree, config.estimate_keyword)
