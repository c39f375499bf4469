"""Stage 2: a file's registration :class:`Site`s, read from CPython's ``ast`` plus ``tokenize``.

``scan`` already holds the file's ``ast`` tree (its parse guard), and reading the registrations
from it costs a fraction of a LibCST parse plus the code generation LibCST needs for offsets
(7-15 times this module's whole cost on a blueprint file; importing LibCST alone takes 140 ms).
The tree lacks three things, which :mod:`esper_lint.tokens` supplies: the real comments
(never text inside a string), the real line ends (not inside a string or after a backslash)
and the parentheses around an expression, which belong to its source as written.  Only the
lines around each register call are read, and ``tokenize`` runs only where they are not plain.

Each ``# formula:`` comment belongs to exactly one registration (:class:`_Owners`), and every
constant is evaluated by the formula language (:mod:`esper_lint.expression`) with its limits.
Names are resolved through a small alias table built from the module's imports and top-level
assignments (``from .registry import BlueprintRegistry as BR``, ``register = BR.register``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from esper_lint.config import Config
from esper_lint.expression import FormulaError, LimitError, evaluate
from esper_lint.lines import Lines
from esper_lint.model import Blueprint, Estimate, EstimateKind, FileFacts, Site, Slot, Span
from esper_lint.modules import qualified
from esper_lint.screen import Screen, screen, statements
from esper_lint.signature import accepts_callable
from esper_lint.tokens import Tokens

FORMULA_COMMENT = re.compile(r"#\s*[Ff]ormula:\s*(?P<expr>[^#]*?)\s*(?=#|$)")
NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
# mypy and pyright honour these only as the first comment on the line, so a formula goes after them
STAYS_FIRST = re.compile(r"#\s*(?:type|pyright)\s*:")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_CONSTANT_NODES = (ast.UnaryOp, ast.BinOp, ast.Name, ast.Call)


def find_sites(path: Path, display: str, text: str, config: Config,
               tree: ast.Module | None = None, seen: Screen | None = None) -> FileFacts:
    """The registration sites of ``text``; ``tree``, its ``ast``, and ``seen``, the screen's
    look at it, when the caller has them."""
    tree = tree if tree is not None else ast.parse(text)
    seen = seen if seen is not None else screen(tree, text, path, display, config)
    source = _Source(text)
    module = _scan_module(tree, source)
    calls, factories = _register_calls(tree, seen, module, config)
    sites: tuple[Site, ...] = ()
    if calls:
        tokens = Tokens(source, tree, [(c.lineno, c.end_lineno or c.lineno) for c, _, _ in calls])
        found = sorted((_found(c, with_, resolved, factories, tokens, config)
                        for c, with_, resolved in calls), key=lambda f: f.call_range)
        owners = _Owners(tokens, found, source.where, text)
        names = {callee: qualified(*callee, path) for callee in {f.registry for f in found}}
        sites = tuple(_site(path, display, index, f, module, owners, source, names[f.registry])
                      for index, f in enumerate(found))
    return FileFacts(sites, (), *_register_defs(tree, config, source))


class _Source:
    """The text, and ``ast`` positions (UTF-8 byte columns) as character offsets into it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.where = Lines(text)

    def offset(self, line: int, column: int) -> int:
        content = self.where.lines[line - 1]
        if not content.isascii():
            column = len(content.encode()[:column].decode())
        return self.where.starts[line - 1] + column

    def range(self, node: ast.expr) -> tuple[int, int]:
        """``node``'s offsets, without parentheses around it."""
        return (self.offset(node.lineno, node.col_offset),
                self.offset(node.end_lineno or node.lineno, node.end_col_offset or 0))

    def segment(self, node: ast.expr) -> str:
        start, end = self.range(node)
        return self.text[start:end]


# --- module scan ----------------------------------------------------------------------------


@dataclass
class _Module:
    """Top-level names: aliases for imports and attributes, constants, functions."""

    aliases: dict[str, str] = field(default_factory=dict)
    constants: dict[str, int] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)
    rebound: set[str] = field(default_factory=set)

    def resolve(self, node: ast.expr) -> tuple[str, bool] | None:
        """The dotted name ``node`` stands for, and whether an import or alias led there."""
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        seen: set[str] = set()
        while head in self.aliases and head not in seen:
            seen.add(head)
            dotted = self.aliases[head] + ("." + rest if rest else "")
            head, _, rest = dotted.partition(".")
        return dotted, bool(seen)


def _scan_module(tree: ast.Module, source: _Source) -> _Module:
    module = _Module()
    for statement in _top_level(tree.body):
        if isinstance(statement, _DEFINITIONS):
            module.functions.add(statement.name)
        elif isinstance(statement, ast.Import):
            for alias in statement.names:
                local = alias.asname or alias.name.partition(".")[0]
                module.aliases[local] = alias.name if alias.asname else local
        elif isinstance(statement, ast.ImportFrom):
            _scan_import_from(statement, module)
        elif isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    _bind(target.id, statement.value, module, source)
    for name in module.rebound:
        module.constants.pop(name, None)
    return module


def _top_level(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Module statements, looking inside top-level ``if``/``try`` (TYPE_CHECKING, fallbacks)."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.If):
            yield from _top_level([*statement.body, *statement.orelse])
        elif isinstance(statement, ast.Try):
            yield from _top_level([*statement.body, *statement.orelse,
                                   *(s for handler in statement.handlers for s in handler.body)])


def _scan_import_from(statement: ast.ImportFrom, module: _Module) -> None:
    base = "." * statement.level + (statement.module or "")
    joined = f"{base}." if base and not base.endswith(".") else base
    for alias in statement.names:
        if alias.name == "*":
            return
        module.aliases[alias.asname or alias.name] = joined + alias.name


def _bind(name: str, value: ast.expr, module: _Module, source: _Source) -> None:
    if name in module.constants or name in module.aliases:
        module.rebound.add(name)
    try:
        constant = _evaluated(value, source.segment(value), {})
    except FormulaError:
        constant = None
    if constant is not None:
        module.constants[name] = constant
    elif (resolved := module.resolve(value)) is not None:
        module.aliases[name] = resolved[0]


def _dotted(node: ast.expr | None) -> str | None:
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(names)])


def _evaluated(node: ast.expr, code: str, constants: dict[str, int]) -> int | None:
    """``node``'s integer value; None when it is no constant; LimitError when one too large.

    ``None``, ``True`` and ``False`` count as names: the formula language decides.
    """
    literal = isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, int))
    if not literal and not isinstance(node, _CONSTANT_NODES):
        return None
    # parentheses, so an expression broken over lines inside the call still parses
    return evaluate(f"({code}\n)", constants)


# --- register calls -------------------------------------------------------------------------

_Call = tuple[ast.Call, str, tuple[str, bool]]  # the call, what it registers with, its callee


def _register_calls(tree: ast.Module, seen: Screen, module: _Module,
                    config: Config) -> tuple[list[_Call], dict[int, str | None]]:
    """The register calls among the screen's, and the factory each call registers (by ``id``):
    the function or class it decorates, or ``x`` in ``register(...)(x)``."""
    factories: dict[int, str | None] = {}
    for statement, scope in statements(tree, sorted({call.lineno for call in seen.calls})):
        if isinstance(statement, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in statement.decorator_list:
                if isinstance(decorator, ast.Call):
                    factories[id(decorator)] = ".".join([*scope, statement.name])
    calls = []
    for call in seen.calls:
        outer = seen.wrapping.get(id(call))
        arguments = [*outer.args, *(k.value for k in outer.keywords)] if outer else []
        if len(arguments) == 1:
            only = arguments[0]
            factories.setdefault(id(call), _dotted(only.value if isinstance(only, ast.Starred) else only))
        resolved = module.resolve(call.func)
        registered_with = resolved and next(
            (w for w in config.register_functions if _names_match(resolved[0], w)), None)
        if resolved is not None and registered_with is not None:
            calls.append((call, registered_with, resolved))
    return calls, factories


def _names_match(resolved: str, wanted: str) -> bool:
    bare = resolved.lstrip(".")
    if resolved == wanted or bare.endswith("." + wanted):
        return True
    return resolved.startswith(".") and wanted.endswith("." + bare)


def _estimate_arg(call: ast.Call, config: Config) -> tuple[ast.expr, bool] | None:
    """The estimate argument's value, and whether it is given by keyword."""
    for named in call.keywords:
        if named.arg == config.estimate_keyword:
            return named.value, True
    positional = [arg for arg in call.args if not isinstance(arg, ast.Starred)]
    if len(positional) > config.estimate_position:
        return positional[config.estimate_position], False
    return None


@dataclass(frozen=True)
class _Found:
    call: ast.Call
    call_range: tuple[int, int]  # character offsets into the text, parentheses included
    func_range: tuple[int, int]
    estimate: tuple[ast.expr, bool] | None  # the value, given by keyword?
    estimate_range: tuple[int, int] | None
    factory: str | None
    registered_with: str
    registry: tuple[str, bool]  # the callee's dotted name, and whether it came through an import


def _found(call: ast.Call, registered_with: str, resolved: tuple[str, bool],
           factories: dict[int, str | None], tokens: Tokens, config: Config) -> _Found:
    estimate = _estimate_arg(call, config)
    return _Found(call=call, call_range=tokens.written(call), func_range=tokens.written(call.func),
                  estimate=estimate, estimate_range=tokens.written(estimate[0]) if estimate else None,
                  factory=factories.get(id(call)), registered_with=registered_with, registry=resolved)


# --- which registration a comment belongs to ------------------------------------------------


@dataclass(frozen=True)
class _Comment:
    offset: int
    text: str
    line: int
    own_line: bool  # nothing but whitespace before it on its line


class _Owners:
    """Comments and the one registration each belongs to: the call it is inside, the call its
    line ends (a trailing comment), or the call starting on the next line (a comment line)."""

    def __init__(self, tokens: Tokens, found: Sequence[_Found], where: Lines, text: str) -> None:
        self.where = where
        self.text = text
        self.calls = [(f.call_range, where.position(f.call_range[0])[0],
                       where.position(f.call_range[1])[0]) for f in found]
        self.by_line: dict[int, list[_Comment]] = {}
        for offset, value in tokens.comments:
            comment = self._comment(offset, value)
            self.by_line.setdefault(comment.line, []).append(comment)
        self.ends_line = tokens.ends_line
        self.formulas = [f for cs in self.by_line.values() for c in cs
                         if "ormula" in c.text and (f := self._formula(c)) is not None]

    def _comment(self, offset: int, value: str) -> _Comment:
        line = self.where.position(offset)[0]
        before = self.text[self.where.starts[line - 1]:offset]
        return _Comment(offset, value, line, not before.strip())

    def _formula(self, comment: _Comment) -> tuple[int | None, _Comment, str, Span] | None:
        """(owner, comment, expression, its span) of a ``# formula:`` comment."""
        match = FORMULA_COMMENT.search(comment.text)
        if match is None or not match.group("expr"):
            return None
        start = comment.offset + match.start("expr")
        span = self.where.span(start, start + len(match.group("expr")))
        return self.owner(comment.offset, comment.line, comment.own_line), comment, match.group("expr"), span

    def owner(self, offset: int, line: int, own_line: bool) -> int | None:
        inside = [i for i, ((start, end), _, _) in enumerate(self.calls) if start <= offset < end]
        if inside:
            return max(inside, key=lambda i: self.calls[i][0][0])
        if own_line:
            return next((i for i, (_, first, _) in enumerate(self.calls) if first == line + 1), None)
        ending = [i for i, ((_, end), _, last) in enumerate(self.calls) if last == line and end <= offset]
        return max(ending, key=lambda i: self.calls[i][0][1]) if ending else None

    def formula(self, index: int, estimate: Span) -> tuple[str, Span] | None:
        """The ``# formula:`` comment of registration ``index``: nearest the estimate first."""
        preferred = [estimate.end_line, estimate.line, estimate.line - 1]

        def rank(line: int) -> int:
            return preferred.index(line) if line in preferred else len(preferred)

        mine = [(rank(c.line), c.offset, expr, span)
                for owner, c, expr, span in self.formulas if owner == index]
        return min(mine)[2:] if mine else None

    def noqa(self, lines: set[int]) -> frozenset[str]:
        codes: set[str] = set()
        for line in lines:
            for comment in self.by_line.get(line, ()):
                for match in NOQA.finditer(comment.text):
                    listed = match.group("codes")
                    codes |= set(re.split(r"[,\s]+", listed.upper())) if listed else {"ALL"}
        return frozenset(codes)

    def slot(self, index: int, estimate: Span) -> Slot | None:
        """Where a new ``# formula:`` comment reads as registration ``index``'s, or None.

        Nearest the estimate first: the end of its line, a line of its own above it, then
        the end of the call's last line (when the lines around the estimate end inside a
        string or a backslash continuation).
        """
        return (self._trailing(index, estimate.end_line) or self._above(index, estimate.line)
                or self._trailing(index, self.calls[index][2]))

    def above(self, index: int, estimate: Span) -> Slot | None:
        """A line of its own above the estimate, for a comment too long to trail its line."""
        return self._above(index, estimate.line)

    def _above(self, index: int, first: int) -> Slot | None:
        if first == 1 or self.ends_line(first - 1):
            at = self.where.offset(first, 0)
            inside = self.owner(at, first, own_line=True) == index
            if inside or self.calls[index][1] == first:
                line = self.where.content(first)
                newline = self.where.ending(first) or ("\r\n" if "\r\n" in self.text else "\n")
                return Slot(self.where.span(at, at), line[:len(line) - len(line.lstrip())], newline)
        return None

    def _trailing(self, index: int, last: int) -> Slot | None:
        if not self.ends_line(last):
            return None
        comments = self.by_line.get(last, [])
        if comments and not STAYS_FIRST.match(comments[0].text):
            at, before, after = comments[0].offset, "", "  "
        else:
            content = self.where.content(last)
            at, before, after = self.where.offset(last, len(content.rstrip())), "  ", ""
        if self.owner(at, last, False) != index:
            return None
        return Slot(self.where.span(at, at), before, after, joins=len(self.where.content(last)))


# --- building sites -------------------------------------------------------------------------


def _site(path: Path, display: str, index: int, found: _Found, module: _Module, owners: _Owners,
          source: _Source, registry: str) -> Site:
    where = source.where
    name, topology = _strings(found.call, ("name", "topology"))
    call = where.span(*found.call_range)
    estimate = None
    if found.estimate is not None and found.estimate_range is not None:
        estimate = _estimate(found.estimate, found.estimate_range, source, module, owners, index)
    noqa_lines = {call.line}
    if estimate is not None:
        noqa_lines |= {estimate.span.line, estimate.span.end_line}
    start, end = found.func_range
    return Site(
        path=path,
        display=display,
        call=call,
        blueprint=Blueprint(name=name, topology=topology, factory=found.factory),
        estimate=estimate,
        register=source.text[start:end],
        registered_with=found.registered_with,
        noqa=owners.noqa(noqa_lines),
        registry=registry,
    )


def _strings(call: ast.Call, keywords: tuple[str, ...]) -> tuple[str | None, ...]:
    positional = [arg for arg in call.args if not isinstance(arg, ast.Starred)]
    named = {arg.arg: arg.value for arg in call.keywords if arg.arg is not None}
    values: list[str | None] = []
    for index, keyword_ in enumerate(keywords):
        node = named.get(keyword_, positional[index] if index < len(positional) else None)
        text = node.value if isinstance(node, ast.Constant) else None
        values.append(text if isinstance(text, str) else None)
    return tuple(values)


def _estimate(argument: tuple[ast.expr, bool], written: tuple[int, int], source: _Source,
              module: _Module, owners: _Owners, index: int) -> Estimate:
    node, by_keyword = argument
    code = source.text[written[0]:written[1]]
    span = source.where.span(*written)
    value, beyond = None, None
    try:
        value = _evaluated(node, code, module.constants)
    except LimitError as exc:
        beyond = str(exc)
    except FormulaError:
        pass
    kind: EstimateKind = "other"
    if value is not None or beyond:
        kind = "constant"
    elif isinstance(node, ast.Lambda) or _dotted(node) in module.functions:
        kind = "callable"
    documented = owners.formula(index, span)
    return Estimate(kind=kind, source=code, span=span, value=value, beyond=beyond,
                    formula=documented[0] if documented else None,
                    formula_span=documented[1] if documented else None,
                    slot=owners.slot(index, span), above=owners.above(index, span),
                    keyword=by_keyword)


# --- register definitions (for fix safety) --------------------------------------------------


def _register_defs(tree: ast.Module, config: Config,
                   source: _Source) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Register functions defined in this file, split by whether they take callables."""
    wanted = {name.rsplit(".", 1)[-1]: name for name in config.register_functions}
    callable_ones: list[str] = []
    plain: list[str] = []
    for qualname, function in _functions(tree.body, []):
        target = wanted.get(function.name)
        if target is None or not (qualname == target or qualname.endswith("." + target)
                                  or target.endswith("." + qualname)):
            continue
        annotation = _estimate_annotation(function, config)
        if annotation is not None:
            (callable_ones if accepts_callable(source.segment(annotation)) else plain).append(target)
    return tuple(callable_ones), tuple(plain)


def _functions(body: Sequence[ast.stmt], scope: list[str]
               ) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for statement in body:
        if isinstance(statement, _DEFINITIONS):
            yield ".".join([*scope, statement.name]), statement
        elif isinstance(statement, ast.ClassDef):
            yield from _functions(statement.body, [*scope, statement.name])


def _estimate_annotation(function: ast.FunctionDef | ast.AsyncFunctionDef, config: Config) -> ast.expr | None:
    params = list(function.args.args)
    if params and params[0].arg in ("self", "cls"):
        params = params[1:]
    candidates = [p for p in [*params, *function.args.kwonlyargs] if p.arg == config.estimate_keyword]
    if not candidates and len(params) > config.estimate_position:
        candidates = [params[config.estimate_position]]
    return candidates[0].annotation if candidates else None
