"""The plain reading of the lines around register calls says what ``tokenize`` says.

``tokens.Tokens`` reads plain lines (no comment, backslash, triple quote or f-string) from
their text and tokenizes the rest; ``plain=False`` always tokenizes.  Both must give the same
parentheses, line ends and sites, on generated calls full of what makes the text not plain
or looks like parentheses without being them.
"""

from __future__ import annotations

import ast
from functools import partial
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from esper_lint import sites
from esper_lint.config import Config
from esper_lint.lines import Lines
from esper_lint.sites import find_sites
from esper_lint.tokens import Tokens

HEADER = "from registry import BlueprintRegistry as BR\n\n"
PATH = Path("/project/blueprints.py")

# (plain, not plain): half the modules draw from the plain lists only
GAPS = (["", " ", "\n    ", "\n", "\t", "\f"], ["  # a note (\n    ", " \\\n    "])
STRINGS = (['"conv"', "'a(b'", '")"', '"naïve"', '"a" "b"', "b')'", '"leaf"'],
           ['"#x"', "'''multi\nline'''", 'f"{1}"', 'F"(x"', '"f"', "'x'f'y'", 'rb"(\\d"'])
ESTIMATES = ([
    "100", "(100)", "( (100) )", "(\n    100\n)", "((100)\n)", "1_000", "(0x10)", "(lambda d: d)",
    "(not x)", "sum(x for x in y)", "f(x for x in y)", "(x for x in y)", "(1.)", "1.0", "(...)",
    "(2 * dim)", "g()(3)", "[(4)]", "{(5)}", "x[(6)]", "-(7)", "(1if x else(8))", "(é)",
    "d['(']", "(True)", "print (9)", "(x)\n(9)",
], ["(  # formula: 4\n    4)", "(4 \\\n)"])
SHAPES = ([
    "@{call}\ndef make():\n    pass\n",
    "@({call})\ndef make():\n    pass\n",
    "@(\n    {call}\n)\ndef make():\n    pass\n",
    "{call}(make)\n",
    "({call})(make)\n",
    "x = [({call}\n    ),\n]\n",
    "outer(\n    {call},\n    y,\n)\n",
    "y = f\n({call})(make)\n",
    "def outer():\n    return ({call})\n",
    "z = {call} if x else(\n    {call}\n)\n",
    "a = 1; {call}(make)\n",
], ["x = [({call}\n    ),  # formula: 2\n]\n", '"""Doc."""\n{call}(make)\n'])


@st.composite
def modules(draw: st.DrawFn) -> str:
    plain = draw(st.booleans())

    def one(choices: tuple[list[str], list[str]]) -> str:
        return draw(st.sampled_from(choices[0] if plain else choices[0] + choices[1]))

    parts = []
    for _ in range(draw(st.integers(1, 3))):
        g = [one(GAPS) for _ in range(6)]
        estimate = ("param_estimate" + g[4] + "=" if draw(st.booleans()) else "") + one(ESTIMATES)
        call = f"BR.register({g[0]}{one(STRINGS)}{g[1]},{g[2]}{one(STRINGS)}{g[3]},{g[4]}{estimate}{g[5]})"
        parts.append(one(SHAPES).format(call=call))
    return HEADER + "\n\n".join(parts)


def both(text: str) -> tuple[Tokens, Tokens, list[ast.Call]] | None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    source = sites._Source(text)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "register"]
    lines = [(c.lineno, c.end_lineno or c.lineno) for c in calls]
    return Tokens(source, tree, lines), Tokens(source, tree, lines, plain=False), calls


def assert_alike(text: str) -> bool:
    """Both readings agree on ``text``; whether the plain one answered without tokenize."""
    read = both(text)
    if read is None:
        return False
    plain, tokenized, calls = read
    for call in calls:
        for node in ast.walk(call):
            if isinstance(node, ast.expr):
                assert plain.written(node) == tokenized.written(node), ast.unparse(node)
    untouched = not plain.tokenized
    for line in range(1, len(Lines(text).lines) + 1):
        assert plain.ends_line(line) == tokenized.ends_line(line), line
    config = Config()
    with mock.patch.object(sites, "Tokens", partial(Tokens, plain=False)):
        expected = find_sites(PATH, "blueprints.py", text, config)
    assert find_sites(PATH, "blueprints.py", text, config) == expected
    return untouched


@given(modules())
def test_the_plain_reading_agrees_with_tokenize(text: str) -> None:
    assert_alike(text)


@pytest.mark.parametrize("text", [
    HEADER + '@BR.register("linear", "t0", param_estimate=1000, description="linear seed")\n'
             'def create_linear(dim):\n    return nn.Linear(dim, dim)\n',
    HEADER + 'BR.register(\n    "a(b",\n    ")",\n    param_estimate=(\n        4\n    ),\n)(make)\n',
    HEADER + 'x = [\n    BR.register("a", "b", f(x for x in y)),\n    (BR.register("c", "d", (2))),\n]\n',
    HEADER + "def outer():\n    return (BR.register('a', 'b', (not x)))(make)\n",
])
def test_plain_lines_are_read_without_tokenize(text: str) -> None:
    assert assert_alike(text)


@pytest.mark.parametrize("text", [
    HEADER + '@BR.register("a", "b", 4)  # formula: 4\ndef make():\n    pass\n',
    HEADER + '@BR.register("a", "b", 4)\ndef make():\n    """Doc."""\n\n\nx = """\n"""\n'
             '@BR.register("c", "d", \\\n    5)\ndef other():\n    pass\n',
    HEADER + 'y = f\n(BR.register("a", "b", 4))(make)\n',
    HEADER + 'z = [(1.)\n    (BR.register("a", "b", 4))]\n',
])
def test_text_that_is_not_plain_is_tokenized(text: str) -> None:
    assert not assert_alike(text)


pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")  # ``1if x``: Python warns, parses
