"""Stage 2, first look: one walk over CPython's tree decides which files hold registrations.

``scan.too_hard`` compiles every candidate file to an :mod:`ast` tree anyway; one walk over it
says whether the file can hold a registration at all, and where it reads the estimate
attribute.  Most files that mention the keyword only read it (``sorted(..., key=lambda b:
b.param_estimate)``), so only the few with a register call or definition go on to
:mod:`esper_lint.sites`, which takes the calls found here rather than walking the tree again.

The screen is conservative: a call counts when its callee's last name is a register
function's, or a name bound in the file to something ending in one (``reg = BR.register``).
"""

from __future__ import annotations

import ast
import bisect
from collections.abc import Iterator, Mapping
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
    walker = _Walker(config.estimate_keyword, names, _lines_spelling(text, {config.estimate_keyword, *names}))
    walker.visit(tree)
    uses = tuple(Use(path, display, line, how) for line, _, how in sorted(walker.reads) if how != "write")
    registers = bool(walker.calls) or walker.defines(possible)
    return Screen(registers, uses, tuple(walker.calls), walker.wrapping)


def _lines_spelling(text: str, needles: set[str]) -> list[int] | None:
    """The lines whose text holds one of ``needles``, in order (``None``: lines end in ``\\r``)."""
    if "\r" in text:  # CPython's line numbers count a lone \r too; str.count would not
        return None
    found = sorted(i for needle in needles for i in _offsets(text, needle))
    lines, line, counted = [], 1, 0
    for offset in found:
        line += text.count("\n", counted, offset)
        counted = offset
        lines.append(line)
    return lines


def _offsets(text: str, needle: str) -> Iterator[int]:
    at = text.find(needle)
    while at >= 0:
        yield at
        at = text.find(needle, at + len(needle))


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


def statements(tree: ast.Module) -> Iterator[tuple[ast.stmt, tuple[str, ...]]]:
    """Every statement, however deep, with the qualified name of its scope (``f.<locals>``)."""
    stack: list[tuple[ast.stmt, tuple[str, ...]]] = [(s, ()) for s in reversed(tree.body)]
    while stack:
        node, scope = stack.pop()
        yield node, scope
        if isinstance(node, ast.ClassDef):
            inner = (*scope, node.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = (*scope, node.name, "<locals>")
        else:
            inner = scope
        blocks = [getattr(node, name, ()) for name in ("body", "orelse", "finalbody")]
        blocks += [part.body for part in (*getattr(node, "handlers", ()), *getattr(node, "cases", ()))]
        stack.extend((child, inner) for block in reversed(blocks) for child in reversed(block))


_LEAVES = (ast.Name, ast.Constant)  # the most frequent nodes: nothing below


class _Walker:
    """Register calls and reads of the estimate, each with the innermost context it is in.

    Iterative, not an ``ast.NodeVisitor``: a chain of 800 attributes must not recurse.  A
    statement none of whose lines spells the keyword or a callee's name is skipped whole: it can
    hold neither (a statement is always in the plain "read" context, whatever encloses it).
    """

    def __init__(self, keyword: str, callees: set[str], lines: list[int] | None) -> None:
        self.keyword = keyword
        self.callees = callees
        self.lines = lines
        self.calls: list[ast.Call] = []
        self.wrapping: dict[int, ast.Call] = {}
        self.functions: set[str] = set()
        self.reads: list[tuple[int, int, str]] = []

    def defines(self, leaves: set[str]) -> bool:
        return bool(self.functions & leaves)

    def visit(self, tree: ast.AST) -> None:
        stack: list[tuple[ast.AST, str]] = [(tree, "read")]
        while stack:
            node, how = stack.pop()
            if isinstance(node, ast.stmt) and not self._spells(node):
                continue
            stack.extend(self._children(node, how))

    def _spells(self, node: ast.stmt) -> bool:
        if self.lines is None:
            return True
        decorators = getattr(node, "decorator_list", None)
        first = decorators[0].lineno if decorators else node.lineno
        at = bisect.bisect_left(self.lines, first)
        return at < len(self.lines) and self.lines[at] <= (node.end_lineno or node.lineno)

    def _children(self, node: ast.AST, how: str) -> list[tuple[ast.AST, str]]:
        """``node``'s children, each with the context a read of the estimate there is in."""
        if isinstance(node, _LEAVES):
            return []
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
