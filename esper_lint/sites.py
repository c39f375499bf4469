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
from libcst._nodes.internal import CodegenState  # see _Scanner: positions at a third of the cost

from esper_lint.config import Config
from esper_lint.lines import Lines
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
    scanner = _Scanner(tree, module, config)
    tree._codegen(scanner)
    where = Lines(text)
    lines = [line.rstrip("\r\n") for line in where.lines]
    sites = tuple(_site(path, display, found, module, lines, where) for found in scanner.found())
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
    call_range: tuple[int, int]  # character offsets into the text
    estimate: cst.Arg | None
    estimate_range: tuple[int, int] | None
    factory: str | None
    registered_with: str


class _Scanner(CodegenState):
    """Finds register calls and their offsets in one code-generation pass over the tree.

    LibCST's PositionProvider records a range for every node and a plain CSTVisitor walk
    costs as much as the parse; generating the code once while counting characters, and
    keeping offsets only for the calls we want, costs a third of either.
    """

    def __init__(self, tree: cst.Module, module: _Module, config: Config) -> None:
        super().__init__(default_indent=tree.default_indent, default_newline=tree.default_newline)
        self.module = module
        self.config = config
        self.offset = 0
        self.scope: list[str] = []
        self.factories: dict[int, str | None] = {}  # id(call) -> factory it registers
        self.starts: dict[int, int] = {}
        self.ranges: dict[int, tuple[int, int]] = {}
        self.calls: list[tuple[cst.Call, str]] = []

    def add_token(self, value: str) -> None:
        self.offset += len(value)

    def add_indent_tokens(self) -> None:
        self.offset += sum(len(token) for token in self.indent_tokens)

    def before_codegen(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.FunctionDef | cst.ClassDef):
            self._enter(node)
        elif isinstance(node, cst.Call):
            self._call(node)
        if id(node) in self.factories or id(node) in self.starts:
            self.starts[id(node)] = self.offset

    def after_codegen(self, node: cst.CSTNode) -> None:
        if id(node) in self.starts:
            self.ranges[id(node)] = (self.starts[id(node)], self.offset)
        if isinstance(node, cst.FunctionDef):
            del self.scope[-2:]
        elif isinstance(node, cst.ClassDef):
            self.scope.pop()

    def _enter(self, node: cst.FunctionDef | cst.ClassDef) -> None:
        qualname = ".".join([*self.scope, node.name.value])
        for decorator in node.decorators:
            if isinstance(decorator.decorator, cst.Call):
                self.factories.setdefault(id(decorator.decorator), qualname)
        self.scope.extend([node.name.value, "<locals>"] if isinstance(node, cst.FunctionDef)
                          else [node.name.value])

    def _call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Call) and len(node.args) == 1:  # register(...)(factory)
            self.factories.setdefault(id(node.func), _dotted(node.args[0].value))
        registered_with = self._register_function(node.func)
        if registered_with is None:
            return
        self.factories.setdefault(id(node), None)
        self.calls.append((node, registered_with))
        estimate = _estimate_arg(node, self.config)
        if estimate is not None:
            self.starts[id(estimate.value)] = -1  # ask for its range too

    def _register_function(self, func: cst.BaseExpression) -> str | None:
        resolved = self.module.resolve(func)
        if resolved is None:
            return None
        return next((w for w in self.config.register_functions if _names_match(resolved, w)), None)

    def found(self) -> list[_Found]:
        results = []
        for call, registered_with in self.calls:
            estimate = _estimate_arg(call, self.config)
            results.append(_Found(
                call=call, call_range=self.ranges[id(call)], estimate=estimate,
                estimate_range=self.ranges[id(estimate.value)] if estimate else None,
                factory=self.factories.get(id(call)), registered_with=registered_with,
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


# --- building sites -------------------------------------------------------------------------


def _site(path: Path, display: str, found: _Found, module: _Module, lines: list[str],
          where: Lines) -> Site:
    name, topology = _strings(found.call, ("name", "topology"))
    call = where.span(*found.call_range)
    estimate = None
    if found.estimate is not None and found.estimate_range is not None:
        estimate = _estimate(found.estimate, where.span(*found.estimate_range), module, lines)
    noqa_lines = {call.line}
    if estimate is not None:
        noqa_lines |= {estimate.span.line, estimate.span.end_line}
    return Site(
        path=path,
        display=display,
        call=call,
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


def _estimate(arg: cst.Arg, span: Span, module: _Module, lines: list[str]) -> Estimate:
    source = cst.Module([]).code_for_node(arg.value)
    value = constant_value(arg.value, module.constants)
    kind: EstimateKind = "other"
    if value is not None:
        kind = "constant"
    elif isinstance(arg.value, cst.Lambda) or _dotted(arg.value) in module.functions:
        kind = "callable"
    return Estimate(kind=kind, source=source, span=span, value=value,
                    formula=documented_formula(lines, span.line, span.end_line),
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
