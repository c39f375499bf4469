"""The screen walks only the nodes whose lines spell a name it looks for, and finds what a
walk of every node finds; its reads are also held to a plain ``ast.walk`` (every attribute named
like the estimate that is loaded)."""

from __future__ import annotations

import ast
from pathlib import Path
from unittest import mock

import pytest

from conftest import FIXTURES
from esper_lint import screen as screening
from esper_lint.config import Config
from esper_lint.screen import Screen, lines_holding, screen
from esper_lint.source import SourceError, decode

HEADER = "from registry import BlueprintRegistry as BR\n"
TEXTS = [
    HEADER + 'print(\n    (\n        f"{a}Match {b}\\n"\n        f"  {c}\\n"\n'
             "        f\"  {'^':>{BR.register('a', 'b', 3)}}\"\n    )\n)\n",
    HEADER + "reg = BR.register\nagain = reg\n\n\nclass K:\n    @again(\n        'a', 'b', 3)\n"
             "    def make(self):\n        pass\n",
    HEADER + "best = sorted(seeds, key=lambda b:\n    b.param_estimate)\nif not s.\\\n"
             "        param_estimate:\n    pass\n",
    HEADER + "from registry import register as \N{FULLWIDTH LATIN SMALL LETTER R}eg\n\n\n"
             "@reg('a', 'b', 3)\ndef make():\n    pass\n",
    HEADER + "x = 1\r@BR.register('a', 'b',\r    3)\rdef make():\r    pass\r",
    HEADER + "def register(name, topology, param_estimate):\n    return lambda f: f\n",
    HEADER + "BR.register('a', 'b', 3)(make)\nwrapped = (BR.register)('c', 'd', 4)(\n    make)\n",
]


def fixture_texts() -> list[str]:
    texts = []
    for path in sorted(FIXTURES.rglob("*.py")):
        try:
            texts.append(decode(path.read_bytes()).text)
        except SourceError:
            continue
    return texts


def seen(tree: ast.Module, text: str) -> tuple[bool, tuple[object, ...], list[int], set[int]]:
    found: Screen = screen(tree, text, Path("/project/m.py"), "m.py", Config())
    return found.registers, found.uses, [id(call) for call in found.calls], set(found.wrapping)


@pytest.mark.parametrize("text", TEXTS + fixture_texts())
def test_the_walk_finds_what_a_walk_of_every_node_finds(text: str) -> None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        pytest.skip("not valid Python")
    pruned = seen(tree, text)
    with mock.patch.object(screening, "lines_holding", lambda text, words: None):
        assert seen(tree, text) == pruned


def test_lines_are_counted_as_python_counts_them() -> None:
    assert lines_holding("a\nb register\r\nc\n\nregister x", ["register"]) == [2, 5]
    assert lines_holding("a\rregister", ["register"]) is None
    assert lines_holding("\N{FULLWIDTH LATIN SMALL LETTER R} = 1\nregister", ["register"]) is None


def test_a_call_inside_a_misplaced_f_string_part_is_found() -> None:
    assert len(seen(ast.parse(TEXTS[0]), TEXTS[0])[2]) == 1


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


@pytest.mark.parametrize("text", [TRICKY, TRICKY.replace("\n", "\r\n"), TRICKY.replace("\n", "\r")],
                         ids=["lf", "crlf", "cr"])
def test_reads_in_any_statement_and_calls_in_decorators_are_found(text: str) -> None:
    tree = ast.parse(text)
    seen = screen(tree, text, Path("host.py"), "host.py", Config())
    assert [use.line for use in seen.uses] == loaded(tree, "param_estimate") == [13, 16, 17, 25]
    assert seen.registers and sorted(call.lineno for call in seen.calls) == [20, 30]


@pytest.mark.parametrize("text", fixture_texts())
def test_every_read_in_the_fixtures_is_found(text: str) -> None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pytest.skip("not Python that CPython reads")
    uses = screen(tree, text, Path("/project/m.py"), "m.py", Config()).uses
    assert [use.line for use in uses] == loaded(tree, "param_estimate")
