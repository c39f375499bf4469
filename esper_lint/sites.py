"""Stage 2: one LibCST parse of a file → its registration :class:`Site`s.

Names are resolved through a small alias table built from the module's imports
and top-level assignments (``from .registry import BlueprintRegistry as BR``,
``register = BR.register``).  That is what LibCST's QualifiedNameProvider would
tell us here, at a tenth of its cost.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from esper_lint.config import Config
from esper_lint.model import Blueprint, Estimate, EstimateKind, Site, Span

FORMULA_COMMENT = re.compile(r"#\s*[Ff]ormula:\s*(?P<expr>[^#]*?)\s*(?=#|$)")
NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
              "%": operator.mod, "**": operator.pow}
_CONST_OPS = {cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.FloorDivide: "//",
              cst.Power: "**", cst.Modulo: "%"}


@dataclass(frozen=True)
class FileFacts:
    """What the static pass learned from one file."""

    sites: tuple[Site, ...]
    # register functions defined here whose estimate parameter is annotated as callable
    callable_registers: tuple[str, ...] = ()
    plain_registers: tuple[str, ...] = ()


@dataclass
class _Module:
    """Top-level names: aliases for imports and attributes, constants, functions."""

    aliases: dict[str, str] = field(default_factory=dict)
    constants: dict[str, cst.BaseExpression] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)
    rebound: set[str] = field(default_factory=set)

    def resolve(self, node: cst.BaseExpression) -> str | None:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        seen: set[str] = set()
        while head in self.aliases and head not in seen:
            seen.add(head)
            dotted = self.aliases[head] + ("." + rest if rest else "")
            head, _, rest = dotted.partition(".")
        return dotted


def find_sites(path: Path, display: str, text: str, config: Config) -> FileFacts:
    """Parse ``text`` once and return its registration sites (raises ParserSyntaxError)."""
    tree = cst.parse_module(text)
    module = _scan_module(tree)
    finder = _CallFinder(module, config)
    wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
    wrapper.visit(finder)
    if not finder.found:
        return FileFacts(sites=(), **_register_defs(tree, config))
    lines = text.splitlines()
    sites = tuple(_site(path, display, found, module, lines, config) for found in finder.found)
    return FileFacts(sites=sites, **_register_defs(tree, config))


# --- module scan ----------------------------------------------------------------------------


def _scan_module(tree: cst.Module) -> _Module:
    module = _Module()
    for statement in _top_level(tree.body):
        if isinstance(statement, cst.FunctionDef):
            module.functions.add(statement.name.value)
        elif isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                _scan_small(small, module)
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
            if orelse is not None:
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
    if constant_value(value, {}) is not None:
        module.constants[name] = value
    elif _dotted(value) is not None:
        module.aliases[name] = module.resolve(value) or ""


def _dotted(node: cst.CSTNode | None) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr.value}" if head else None
    return None


def constant_value(node: cst.BaseExpression, constants: dict[str, cst.BaseExpression]) -> int | None:
    """The integer a literal arithmetic expression (or a name bound to one) evaluates to."""
    if isinstance(node, cst.Integer):
        return int(node.value.replace("_", ""), 0)
    if isinstance(node, cst.Name) and node.value in constants:
        return constant_value(constants[node.value], {})
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus | cst.Plus):
        inner = constant_value(node.expression, constants)
        return None if inner is None else (-inner if isinstance(node.operator, cst.Minus) else inner)
    if isinstance(node, cst.BinaryOperation) and type(node.operator) in _CONST_OPS:
        left = constant_value(node.left, constants)
        right = constant_value(node.right, constants)
        if left is None or right is None:
            return None
        return _apply(_CONST_OPS[type(node.operator)], left, right)
    return None


def _apply(op: str, left: int, right: int) -> int | None:
    if (op in ("//", "%") and right == 0) or (op == "**" and not 0 <= right <= 64):
        return None
    result: int = _OPERATORS[op](left, right)
    return result


# --- finding register calls -----------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    call: cst.Call
    call_range: CodeRange
    estimate: cst.Arg | None
    estimate_range: CodeRange | None
    factory: str | None
    registered_with: str


class _CallFinder(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, module: _Module, config: Config) -> None:
        super().__init__()
        self.module = module
        self.config = config
        self.scope: list[str] = []
        self.found: list[_Found] = []
        self.claimed: set[int] = set()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._record_decorators(node)
        self.scope.append(node.name.value)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.scope.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._record_decorators(node)
        self.scope.extend([node.name.value, "<locals>"])

    def _record_decorators(self, node: cst.FunctionDef | cst.ClassDef) -> None:
        qualname = ".".join([*self.scope, node.name.value])
        for decorator in node.decorators:
            if isinstance(decorator.decorator, cst.Call):
                self._record(decorator.decorator, qualname)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        del self.scope[-2:]

    def visit_Call(self, node: cst.Call) -> None:
        # register(...)(factory): the direct-call form
        if isinstance(node.func, cst.Call) and len(node.args) == 1:
            self._record(node.func, _dotted(node.args[0].value))
        self._record(node, None)

    def _record(self, call: cst.Call, factory: str | None) -> None:
        registered_with = self._register_function(call.func)
        if id(call) in self.claimed or registered_with is None:
            return
        self.claimed.add(id(call))
        estimate = _estimate_arg(call, self.config)
        self.found.append(_Found(
            call=call,
            call_range=self.get_metadata(PositionProvider, call),
            estimate=estimate,
            estimate_range=self.get_metadata(PositionProvider, estimate.value) if estimate else None,
            factory=factory,
            registered_with=registered_with,
        ))

    def _register_function(self, func: cst.BaseExpression) -> str | None:
        resolved = self.module.resolve(func)
        if resolved is None:
            return None
        matches = (w for w in self.config.register_functions if _names_match(resolved, w))
        return next(matches, None)


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


# --- building sites -------------------------------------------------------------------------


def _site(path: Path, display: str, found: _Found, module: _Module, lines: list[str],
          config: Config) -> Site:
    name, topology = _strings(found.call, ("name", "topology"))
    estimate = None
    if found.estimate is not None and found.estimate_range is not None:
        estimate = _estimate(found.estimate, found.estimate_range, module, lines)
    noqa_lines = {found.call_range.start.line}
    if found.estimate_range is not None:
        noqa_lines |= {found.estimate_range.start.line, found.estimate_range.end.line}
    return Site(
        path=path,
        display=display,
        call=_span(found.call_range),
        blueprint=Blueprint(name=name, topology=topology, factory=found.factory),
        estimate=estimate,
        register=cst.Module([]).code_for_node(found.call.func),
        registered_with=found.registered_with,
        noqa=_noqa(lines, noqa_lines),
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


def _estimate(arg: cst.Arg, where: CodeRange, module: _Module, lines: list[str]) -> Estimate:
    source = cst.Module([]).code_for_node(arg.value)
    value = constant_value(arg.value, module.constants)
    kind: EstimateKind = "other"
    if value is not None:
        kind = "constant"
    elif isinstance(arg.value, cst.Lambda) or _dotted(arg.value) in module.functions:
        kind = "callable"
    return Estimate(kind=kind, source=source, span=_span(where), value=value,
                    formula=documented_formula(lines, where.start.line, where.end.line),
                    keyword=arg.keyword is not None)


def documented_formula(lines: Sequence[str], first: int, last: int) -> str | None:
    """The ``# formula:`` comment on the argument's lines or the line directly above."""
    for number in (last, first, first - 1):
        if 1 <= number <= len(lines):
            match = FORMULA_COMMENT.search(lines[number - 1])
            if match and match.group("expr"):
                return match.group("expr")
    return None


def _noqa(lines: Sequence[str], numbers: set[int]) -> frozenset[str]:
    codes: set[str] = set()
    for number in numbers:
        for match in NOQA.finditer(lines[number - 1] if number <= len(lines) else ""):
            listed = match.group("codes")
            codes |= set(re.split(r"[,\s]+", listed.upper())) if listed else {"ALL"}
    return frozenset(codes)


def _span(where: CodeRange) -> Span:
    return Span(where.start.line, where.start.column + 1, where.end.line, where.end.column + 1)


# --- register definitions (for fix safety) --------------------------------------------------


def _register_defs(tree: cst.Module, config: Config) -> dict[str, tuple[str, ...]]:
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
            (callable_ones if "Callable" in annotation else plain).append(target)
    return {"callable_registers": tuple(callable_ones), "plain_registers": tuple(plain)}


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
    return cst.Module([]).code_for_node(candidates[0].annotation.annotation)
