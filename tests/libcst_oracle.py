"""The static pass as it was built on LibCST, kept as an independent oracle for the tests.

esper-lint's own finder (:mod:`esper_lint.sites`) reads CPython's ``ast`` plus ``tokenize``;
this copy of the LibCST finder it replaced (one parse, one code-generation walk that counts
characters) must read every file the same way: ``tests/test_oracle.py`` compares the two.
Where the old finder was wrong, both now read what the new one does:

- an estimate's (and a callee's) source is the text as written, where LibCST's
  ``code_for_node`` dropped the enclosing block's indentation from an expression's inner lines;
- ``x = None`` (``True``, ``False``) makes ``x`` a constant's name, not an alias of ``None``;
- imports and assignments count in every ``elif`` branch and in one-line ``if x: import y``
  bodies, not only in the first ``elif`` and in indented blocks.

Differences left, outside this test's files: after ``except X :`` (a space before the colon) the
old offsets ran one character short for the rest of the file, where the new ones are right; and
a call inside an f-string's replacement field, which Python 3.11's ``tokenize`` sees as part of
one string token, is read without the parentheses around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import libcst as cst
from libcst.metadata import MetadataWrapper, WhitespaceInclusivePositionProvider

from esper_lint.config import Config
from esper_lint.expression import FormulaError, LimitError, evaluate
from esper_lint.lines import Lines
from esper_lint.model import Blueprint, Estimate, EstimateKind, FileFacts, Site, Slot, Span
from esper_lint.modules import qualified
from esper_lint.signature import accepts_callable

FORMULA_COMMENT = re.compile(r"#\s*[Ff]ormula:\s*(?P<expr>[^#]*?)\s*(?=#|$)")
NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
# mypy and pyright honour these only as the first comment on the line, so a formula goes after them
STAYS_FIRST = re.compile(r"#\s*(?:type|pyright)\s*:")
_CONSTANT_NODES = (cst.Integer, cst.UnaryOperation, cst.BinaryOperation, cst.Name, cst.Call)


@dataclass
class _Module:
    """Top-level names: aliases for imports and attributes, constants, functions."""

    aliases: dict[str, str] = field(default_factory=dict)
    constants: dict[str, int] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)
    rebound: set[str] = field(default_factory=set)

    def resolve(self, node: cst.BaseExpression) -> tuple[str, bool] | None:
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


def find_sites(path: Path, display: str, text: str, config: Config) -> FileFacts:
    """Parse ``text`` once and return its registration sites (raises ParserSyntaxError)."""
    tree = cst.parse_module(text)
    module = _scan_module(tree)
    collector = _Collector(module, config)
    walk(tree, collector, text)
    where = Lines(text)
    found = collector.found()
    owners = _Owners(collector, found, where, text)
    sites = tuple(_site(path, display, index, f, module, owners, where)
                  for index, f in enumerate(found))
    return FileFacts(sites, (), *_register_defs(tree, config))


# --- module scan ----------------------------------------------------------------------------


def _scan_module(tree: cst.Module) -> _Module:
    module = _Module()
    for statement in _top_level(tree.body):
        if isinstance(statement, cst.FunctionDef):
            module.functions.add(statement.name.value)
        elif isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                _scan_small(small, module)
        elif isinstance(statement, cst.BaseSmallStatement):  # if TYPE_CHECKING: import x
            _scan_small(statement, module)
    for name in module.rebound:
        module.constants.pop(name, None)
    return module


def _top_level(body: Sequence[cst.CSTNode]) -> Iterator[cst.CSTNode]:
    """Module statements, looking inside top-level ``if``/``try`` (TYPE_CHECKING, fallbacks)."""
    for statement in body:
        yield statement
        if isinstance(statement, cst.If | cst.Try):
            yield from _top_level(_block(statement.body))
            orelse = getattr(statement, "orelse", None)
            if isinstance(orelse, cst.If):
                yield from _top_level([orelse])
            elif orelse is not None:
                yield from _top_level(_block(orelse.body))
            for handler in getattr(statement, "handlers", ()):
                yield from _top_level(_block(handler.body))


def _block(node: cst.CSTNode) -> Sequence[cst.CSTNode]:
    body = getattr(node, "body", ())
    return body if isinstance(body, Sequence) else [body]


def _scan_small(small: cst.BaseSmallStatement, module: _Module) -> None:
    if isinstance(small, cst.Import):
        for alias in small.names:
            full = _dotted(alias.name) or ""
            local = alias.evaluated_alias or full.partition(".")[0]
            module.aliases[local] = full if alias.asname else local
    elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
        base = "." * len(small.relative) + (_dotted(small.module) or "" if small.module else "")
        for alias in small.names:
            name = _dotted(alias.name) or ""
            local = alias.evaluated_alias or name
            module.aliases[local] = f"{base}.{name}" if base and not base.endswith(".") else base + name
    elif isinstance(small, cst.Assign | cst.AnnAssign) and small.value is not None:
        targets = small.targets if isinstance(small, cst.Assign) else [small]
        for target in targets:
            if isinstance(target.target, cst.Name):
                _bind(target.target.value, small.value, module)


def _bind(name: str, value: cst.BaseExpression, module: _Module) -> None:
    if name in module.constants or name in module.aliases:
        module.rebound.add(name)
    constant = constant_value(value, {})
    if constant is not None:
        module.constants[name] = constant
    elif (resolved := module.resolve(value)) is not None:
        module.aliases[name] = resolved[0]


def _dotted(node: cst.CSTNode | None) -> str | None:
    if isinstance(node, cst.Name):
        return None if node.value in ("None", "True", "False") else node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr.value}" if head else None
    return None


def constant_value(node: cst.BaseExpression, constants: dict[str, int]) -> int | None:
    """The integer ``node`` evaluates to in the formula language, with ``constants`` bound."""
    try:
        return evaluated(node, constants)
    except FormulaError:
        return None


def evaluated(node: cst.BaseExpression, constants: dict[str, int]) -> int | None:
    """``node``'s integer value; None when it is no constant; LimitError when one too large."""
    if not isinstance(node, _CONSTANT_NODES):
        return None
    # parentheses, so an expression broken over lines inside the call still parses
    return evaluate(f"({_code(node)}\n)", constants)


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


# --- one walk over the tree -----------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    call: cst.Call
    call_range: tuple[int, int]  # character offsets into the text
    func_range: tuple[int, int]
    estimate: cst.Arg | None
    estimate_range: tuple[int, int] | None
    factory: str | None
    registered_with: str
    registry: tuple[str, bool]  # the callee's dotted name, and whether it came through an import


class _Collector:
    """What one walk over the tree finds: register calls, comments, line ends."""

    def __init__(self, module: _Module, config: Config) -> None:
        self.module = module
        self.config = config
        self.scope: list[str] = []
        self.factories: dict[int, str | None] = {}  # id(call) -> the factory it registers
        self.wanted: set[int] = set()  # ids of nodes whose offsets we keep
        self.starts: dict[int, int] = {}
        self.ranges: dict[int, tuple[int, int]] = {}
        self.calls: list[tuple[cst.Call, str, tuple[str, bool]]] = []
        self.comments: list[tuple[int, str]] = []  # (offset, text) of every real comment
        self.newlines: list[int] = []  # offsets of real line ends (not inside strings)

    def enter(self, node: cst.CSTNode, offset: int) -> None:
        kind = type(node)
        if kind is cst.Comment:
            self.comments.append((offset, node.value))  # type: ignore[attr-defined]
            return
        if kind is cst.Newline:
            self.newlines.append(offset)
            return
        if kind is cst.FunctionDef or kind is cst.ClassDef:
            self._scope(node)  # type: ignore[arg-type]
        elif kind is cst.Call:
            self._call(node)  # type: ignore[arg-type]
        if id(node) in self.wanted:
            self.starts[id(node)] = offset

    def leave(self, node: cst.CSTNode, offset: int) -> None:
        if id(node) in self.starts:
            self.ranges[id(node)] = (self.starts[id(node)], offset)
        if type(node) is cst.FunctionDef:
            del self.scope[-2:]
        elif type(node) is cst.ClassDef:
            self.scope.pop()

    def _scope(self, node: cst.FunctionDef | cst.ClassDef) -> None:
        qualname = ".".join([*self.scope, node.name.value])
        for decorator in node.decorators:
            if isinstance(decorator.decorator, cst.Call):
                self.factories.setdefault(id(decorator.decorator), qualname)
        self.scope.extend([node.name.value, "<locals>"] if isinstance(node, cst.FunctionDef)
                          else [node.name.value])

    def _call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Call) and len(node.args) == 1:  # register(...)(factory)
            self.factories.setdefault(id(node.func), _dotted(node.args[0].value))
        resolved = self.module.resolve(node.func)
        registered_with = resolved and next(
            (w for w in self.config.register_functions if _names_match(resolved[0], w)), None)
        if resolved is None or registered_with is None:
            return
        self.factories.setdefault(id(node), None)
        self.calls.append((node, registered_with, resolved))
        self.wanted.update((id(node), id(node.func)))
        estimate = _estimate_arg(node, self.config)
        if estimate is not None:
            self.wanted.add(id(estimate.value))

    def found(self) -> list[_Found]:
        """The register calls in the order they appear in the file."""
        results = []
        for call, registered_with, resolved in sorted(self.calls, key=lambda c: self.ranges[id(c[0])]):
            estimate = _estimate_arg(call, self.config)
            results.append(_Found(
                call=call, call_range=self.ranges[id(call)], func_range=self.ranges[id(call.func)],
                estimate=estimate,
                estimate_range=self.ranges[id(estimate.value)] if estimate else None,
                factory=self.factories.get(id(call)), registered_with=registered_with,
                registry=resolved,
            ))
        return results


def _names_match(resolved: str, wanted: str) -> bool:
    bare = resolved.lstrip(".")
    if resolved == wanted or bare.endswith("." + wanted):
        return True
    return resolved.startswith(".") and wanted.endswith("." + bare)


def _estimate_arg(call: cst.Call, config: Config) -> cst.Arg | None:
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == config.estimate_keyword:
            return arg
    if len(positional) > config.estimate_position:
        return positional[config.estimate_position]
    return None


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

    def __init__(self, collector: _Collector, found: Sequence[_Found], where: Lines, text: str) -> None:
        self.where = where
        self.text = text
        self.calls = [(f.call_range, where.position(f.call_range[0])[0],
                       where.position(f.call_range[1])[0]) for f in found]
        self.by_line: dict[int, list[_Comment]] = {}
        for offset, value in collector.comments:
            comment = self._comment(offset, value)
            self.by_line.setdefault(comment.line, []).append(comment)
        self.closed = {where.position(offset)[0] for offset in collector.newlines}
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
        if first == 1 or first - 1 in self.closed:
            at = self.where.offset(first, 0)
            inside = self.owner(at, first, own_line=True) == index
            if inside or self.calls[index][1] == first:
                line = self.where.content(first)
                newline = self.where.ending(first) or ("\r\n" if "\r\n" in self.text else "\n")
                return Slot(self.where.span(at, at), line[:len(line) - len(line.lstrip())], newline)
        return None

    def _trailing(self, index: int, last: int) -> Slot | None:
        if last not in self.closed:
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
          where: Lines) -> Site:
    name, topology = _strings(found.call, ("name", "topology"))
    call = where.span(*found.call_range)
    estimate = None
    if found.estimate is not None and found.estimate_range is not None:
        start, end = found.estimate_range
        written, span = owners.text[start:end], where.span(start, end)
        estimate = _estimate(found.estimate, written, span, module, owners, index)
    noqa_lines = {call.line}
    if estimate is not None:
        noqa_lines |= {estimate.span.line, estimate.span.end_line}
    dotted, imported = found.registry
    return Site(
        path=path,
        display=display,
        call=call,
        blueprint=Blueprint(name=name, topology=topology, factory=found.factory),
        estimate=estimate,
        register=owners.text[found.func_range[0]:found.func_range[1]],
        registered_with=found.registered_with,
        noqa=owners.noqa(noqa_lines),
        registry=qualified(dotted, imported, path),
    )


def _strings(call: cst.Call, keywords: tuple[str, ...]) -> tuple[str | None, ...]:
    positional = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
    named = {arg.keyword.value: arg.value for arg in call.args if arg.keyword is not None}
    values: list[str | None] = []
    for index, keyword in enumerate(keywords):
        node = named.get(keyword, positional[index] if index < len(positional) else None)
        text = node.evaluated_value if isinstance(node, cst.SimpleString | cst.ConcatenatedString) else None
        values.append(text if isinstance(text, str) else None)
    return tuple(values)


def _estimate(arg: cst.Arg, written: str, span: Span, module: _Module, owners: _Owners,
              index: int) -> Estimate:
    value, beyond = None, None
    try:
        value = evaluated(arg.value, module.constants)
    except LimitError as exc:
        beyond = str(exc)
    except FormulaError:
        pass
    kind: EstimateKind = "other"
    if value is not None or beyond:
        kind = "constant"
    elif isinstance(arg.value, cst.Lambda) or _dotted(arg.value) in module.functions:
        kind = "callable"
    documented = owners.formula(index, span)
    return Estimate(kind=kind, source=written, span=span, value=value, beyond=beyond,
                    formula=documented[0] if documented else None,
                    formula_span=documented[1] if documented else None,
                    slot=owners.slot(index, span), above=owners.above(index, span),
                    keyword=arg.keyword is not None)


# --- register definitions (for fix safety) --------------------------------------------------


def _register_defs(tree: cst.Module, config: Config) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Register functions defined in this file, split by whether they take callables."""
    wanted = {name.rsplit(".", 1)[-1]: name for name in config.register_functions}
    callable_ones: list[str] = []
    plain: list[str] = []
    for qualname, function in _functions(tree.body, []):
        target = wanted.get(function.name.value)
        if target is None or not (qualname == target or qualname.endswith("." + target)
                                  or target.endswith("." + qualname)):
            continue
        annotation = _estimate_annotation(function, config)
        if annotation is not None:
            (callable_ones if accepts_callable(annotation) else plain).append(target)
    return tuple(callable_ones), tuple(plain)


def _functions(body: Sequence[cst.CSTNode], scope: list[str]) -> Iterator[tuple[str, cst.FunctionDef]]:
    for statement in body:
        if isinstance(statement, cst.FunctionDef):
            yield ".".join([*scope, statement.name.value]), statement
        elif isinstance(statement, cst.ClassDef):
            yield from _functions(_block(statement.body), [*scope, statement.name.value])


def _estimate_annotation(function: cst.FunctionDef, config: Config) -> str | None:
    params = list(function.params.params)
    if params and params[0].name.value in ("self", "cls"):
        params = params[1:]
    candidates = [p for p in [*params, *function.params.kwonly_params]
                  if p.name.value == config.estimate_keyword]
    if not candidates and len(params) > config.estimate_position:
        candidates = [params[config.estimate_position]]
    if not candidates or candidates[0].annotation is None:
        return None
    return _code(candidates[0].annotation.annotation)


# --- offsets: characters counted while LibCST generates the code once ------------------


class Visitor(Protocol):
    def enter(self, node: cst.CSTNode, offset: int) -> None: ...

    def leave(self, node: cst.CSTNode, offset: int) -> None: ...


def walk(module: cst.Module, visitor: Visitor, text: str) -> None:
    """Call ``enter``/``leave`` for every node of ``module`` (parsed from ``text``) in code order."""
    if not _fast(module, visitor):
        _public(module, visitor, text)


def _fast(module: cst.Module, visitor: Visitor) -> bool:
    try:
        from libcst._nodes.internal import CodegenState
    except ImportError:  # pragma: no cover - only when LibCST reorganises its internals
        return False

    class Counting(CodegenState):
        """Counts characters instead of keeping tokens: ``tokens`` holds the last one only, as
        much as Module's code generation looks at (is the file empty; drop a final newline)."""

        offset = 0

        def add_token(self, value: str) -> None:
            self.offset += len(value)
            self.tokens[:] = [value]

        def add_indent_tokens(self) -> None:
            for token in self.indent_tokens:
                self.add_token(token)

        def pop_trailing_newline(self) -> None:
            if self.tokens:
                self.offset -= len(self.tokens.pop())

        def before_codegen(self, node: cst.CSTNode) -> None:
            visitor.enter(node, self.offset)

        def after_codegen(self, node: cst.CSTNode) -> None:
            visitor.leave(node, self.offset)

    state: Any = Counting(default_indent=module.default_indent, default_newline=module.default_newline)
    module._codegen(state)
    return True


def _public(module: cst.Module, visitor: Visitor, text: str) -> None:
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    ranges = wrapper.resolve(WhitespaceInclusivePositionProvider)
    lines = Lines(text)

    def offset(position: Any) -> int:
        return lines.offset(position.line, position.column)

    class Forward(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            visitor.enter(node, offset(ranges[node].start))
            return True

        def on_leave(self, original_node: cst.CSTNode) -> None:
            visitor.leave(original_node, offset(ranges[original_node].end))

    module.visit(Forward())
