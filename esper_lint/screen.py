"""Stage 2, first look: one walk over CPython's tree decides which files hold registrations.

``scan.too_hard`` compiles every candidate file to an :mod:`ast` tree anyway; one walk over it
says whether the file can hold a registration at all, and where it reads the estimate
attribute.  Most files that mention the keyword only read it (``sorted(..., key=lambda b:
b.param_estimate)``), so only the few with a register call or definition go on to
:mod:`esper_lint.sites`, which takes the calls found here rather than walking the tree again.

The screen is conservative: a call counts when its callee's last name is a register
function's, or a name bound in the file to something ending in one (``reg = BR.register``).
Such a call, or a read of the estimate, spells its name on some line of every node it is in:
the walk goes only into nodes whose lines hold one of those names (:func:`lines_holding`).
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from esper_lint.config import Config
from esper_lint.model import Use


@dataclass(frozen=True)
class Screen:
    registers: bool  # a register call or definition: the site finder must read the file
    uses: tuple[Use, ...]  # reads of the estimate attribute
    calls: tuple[ast.Call, ...] = ()  # calls that may be register calls
    wrapping: Mapping[int, ast.Call] = field(default_factory=dict)  # id(f(...)) -> f(...)(x)


def register_leaves(config: Config) -> set[str]:
    """The last names of the register functions: a file that spells none cannot register."""
    return {name.rsplit(".", 1)[-1] for name in config.register_functions}


def screen(tree: ast.Module, text: str, path: Path, display: str, config: Config) -> Screen:
    leaves = register_leaves(config)
    # Whatever binds or calls a register function spells its name; whatever reads the estimate
    # spells the keyword: a name absent from the text spares its part of the walk.
    possible = {leaf for leaf in leaves if leaf in text}
    if not possible and config.estimate_keyword not in text:
        return Screen(False, ())
    names = _register_names(tree, possible) if possible else set()
    walker = _Walker(config.estimate_keyword, names)
    walker.visit(tree, lines_holding(text, [*names, config.estimate_keyword]))
    uses = tuple(Use(path, display, line, how) for line, _, how in sorted(walker.reads) if how != "write")
    registers = bool(walker.calls) or walker.defines(possible)
    return Screen(registers, uses, tuple(walker.calls), walker.wrapping)


def _last(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _register_names(tree: ast.Module, leaves: set[str]) -> set[str]:
    """Names bound anywhere in the file to a register function (or to such a name)."""
    bindings: list[tuple[str, str]] = []  # (local name, last name of what it is bound to)
    for node, _ in statements(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            bindings += [(a.asname or a.name, a.name.rsplit(".", 1)[-1]) for a in node.names]
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = _last(node.value)
            bindings += [(t.id, value) for t in targets if isinstance(t, ast.Name) and value]
    names = set(leaves)
    while True:
        more = {local for local, bound in bindings if bound in names} - names
        if not more:
            return names
        names |= more


def lines_holding(text: str, words: Iterable[str]) -> list[int] | None:
    """The numbers of the lines that spell one of ``words``; None when that cannot tell where
    a name is (the parser normalizes non-ASCII names; a lone ``\\r`` ends a line too)."""
    if not text.isascii() or _LONE_CR.search(text):
        return None
    lines: list[int] = []
    line, at = 1, 0
    for match in re.finditer("|".join(map(re.escape, sorted(words, key=len, reverse=True))), text):
        line += text.count("\n", at, match.start())
        at = match.start()
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


_LONE_CR = re.compile(r"\r(?!\n)")


def touches(node: ast.AST, lines: Sequence[int] | None) -> bool:
    """Do ``node``'s lines (a definition's from its first decorator) hold one of ``lines``?"""
    last = getattr(node, "end_lineno", None)
    if lines is None or last is None:
        return True
    decorators = getattr(node, "decorator_list", None)
    first = decorators[0].lineno if decorators else node.lineno  # type: ignore[attr-defined]
    index = bisect.bisect_left(lines, first)
    return index < len(lines) and lines[index] <= last


def statements(tree: ast.Module, lines: Sequence[int] | None = None
               ) -> Iterator[tuple[ast.stmt, tuple[str, ...]]]:
    """Every statement, however deep, with the qualified name of its scope (``f.<locals>``);
    only those that :func:`touches` ``lines``, when given."""
    stack: list[tuple[ast.stmt, tuple[str, ...]]] = [(s, ()) for s in reversed(tree.body)]
    while stack:
        node, scope = stack.pop()
        if not touches(node, lines):
            continue
        yield node, scope
        if not isinstance(node, _COMPOUND):
            continue
        if isinstance(node, ast.ClassDef):
            inner = (*scope, node.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = (*scope, node.name, "<locals>")
        else:
            inner = scope
        blocks = [getattr(node, name, ()) for name in ("body", "orelse", "finalbody")]
        blocks += [part.body for part in (*getattr(node, "handlers", ()), *getattr(node, "cases", ()))]
        stack.extend((child, inner) for block in reversed(blocks) for child in reversed(block))


_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor,
             ast.While, ast.With, ast.AsyncWith, ast.Try, ast.TryStar, ast.Match)
_LEAVES = (ast.Name, ast.Constant)  # the most frequent nodes: nothing below


class _Walker:
    """Register calls and reads of the estimate, each with the innermost context it is in.

    Iterative, not an ``ast.NodeVisitor``: a chain of 800 attributes must not recurse.
    """

    def __init__(self, keyword: str, callees: set[str]) -> None:
        self.keyword = keyword
        self.callees = callees
        self.calls: list[ast.Call] = []
        self.wrapping: dict[int, ast.Call] = {}
        self.functions: set[str] = set()
        self.reads: list[tuple[int, int, str]] = []

    def defines(self, leaves: set[str]) -> bool:
        return bool(self.functions & leaves)

    def visit(self, tree: ast.AST, lines: Sequence[int] | None) -> None:
        """Every node of ``tree`` that :func:`touches` ``lines``."""
        stack: list[tuple[ast.AST, str, Sequence[int] | None]] = [(tree, "read", lines)]
        while stack:
            node, how, within = stack.pop()
            if isinstance(node, _LEAVES) or not touches(node, within):
                continue
            inner = None if isinstance(node, ast.JoinedStr) else within  # 3.11 misplaces its parts
            stack.extend((child, context, inner) for child, context in self._children(node, how))

    def _children(self, node: ast.AST, how: str) -> list[tuple[ast.AST, str]]:
        """``node``'s children, each with the context a read of the estimate there is in."""
        if isinstance(node, ast.Call):
            if _last(node.func) in self.callees:
                self.calls.append(node)
            elif isinstance(node.func, ast.Call):
                self.wrapping[id(node.func)] = node
            return [(node.func, how), *((a, how) for a in node.args),
                    *((k.value, "sort key" if k.arg == "key" else how) for k in node.keywords)]
        if isinstance(node, ast.Attribute) and node.attr == self.keyword:
            self.reads.append((node.lineno, node.col_offset, how))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.functions.add(node.name)
        elif isinstance(node, ast.Compare):
            test = "zero test" if _tests_zero(node) else "comparison"
            return [(part, test) for part in (node.left, *node.comparators)]
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return [(node.operand, "zero test")]
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            rest = [part for part in (node.value, getattr(node, "annotation", None)) if part is not None]
            return [*((t, "write") for t in targets), *((part, how) for part in rest)]
        return [(child, how) for child in _child_nodes(node)]


def _child_nodes(node: ast.AST) -> list[ast.AST]:
    """``ast.iter_child_nodes`` without its two generators, and without the ``Load`` markers."""
    children: list[ast.AST] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            children += [item for item in value if isinstance(item, ast.AST)]
        elif isinstance(value, ast.AST) and not isinstance(value, ast.expr_context):
            children.append(value)
    return children


def _tests_zero(node: ast.Compare) -> bool:
    equality = (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)
    operands = [node.left, *node.comparators]
    zero = any(isinstance(o, ast.Constant) and type(o.value) is int and o.value == 0 for o in operands)
    return zero and any(isinstance(op, equality) for op in node.ops)
