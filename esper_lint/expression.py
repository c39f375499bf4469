"""The formula language: evaluate and print integer count expressions.

Standard library only, so the static pass can check ``# formula:`` comments
without torch.  Expressions are a small subset of Python: integers, names,
``+ - * // % ** /`` (``/`` only when exact) and ``max``, ``min``, ``abs``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import product

Env = Mapping[str, int]
Evaluator = Callable[[Env], int]

MAX_EXPONENT = 8
MAX_BITS = 4096  # about 1,200 digits: far beyond any parameter count
MAX_LENGTH = 2000
MAX_DEPTH = 100  # keeps compiling, evaluating and printing well inside the recursion limit
MAX_TERMS = 1000  # ``render`` refuses expansions larger than this


class FormulaError(ValueError):
    """An expression outside the formula language, or one that cannot be evaluated."""


class LimitError(FormulaError):
    """An expression or value beyond the language's bounds: no parameter count is that large."""


# --------------------------------------------------------------------------- evaluate


def evaluate(expr: str, env: Mapping[str, int]) -> int:
    """The integer value of ``expr`` with the names in ``env``; FormulaError otherwise."""
    return compiled(expr)(env)


def free_names(expr: str) -> frozenset[str]:
    """The names ``expr`` reads (not counting ``max``, ``min``, ``abs`` calls)."""
    compiled(expr)
    calls = {id(n.func) for n in ast.walk(_parse(expr)) if isinstance(n, ast.Call)}
    return frozenset(
        n.id for n in ast.walk(_parse(expr)) if isinstance(n, ast.Name) and id(n) not in calls
    )


@lru_cache(maxsize=512)
def _parse(expr: str) -> ast.expr:
    if len(expr) > MAX_LENGTH:
        raise LimitError(f"longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"not a Python expression: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise LimitError("nested too deeply") from None
    if _depth(tree) > MAX_DEPTH:
        raise LimitError(f"nested more than {MAX_DEPTH} deep")
    return tree


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(child, depth + 1) for child in ast.iter_child_nodes(node)]
    return deepest


@lru_cache(maxsize=512)
def compiled(expr: str) -> Evaluator:
    """``expr`` checked once and made a function of its names, for evaluating it many times."""
    return _node(_parse(expr))


def _checked(value: int) -> int:
    if value.bit_length() > MAX_BITS:
        raise LimitError(f"a value exceeds {MAX_BITS:,} bits")
    return value


def _nonzero(b: int) -> int:
    if b == 0:
        raise FormulaError("division by zero")
    return b


def _power(a: int, b: int) -> int:
    if b < 0:
        raise FormulaError(f"negative exponent {b}")
    if a.bit_length() * b > MAX_BITS:  # checked before computing: 9**64**64 never runs
        raise LimitError(f"a value exceeds {MAX_BITS:,} bits")
    result: int = a**b  # typeshed cannot tell the exponent is non-negative
    return result


def _true_divide(a: int, b: int) -> int:
    quotient, remainder = divmod(a, _nonzero(b))
    if remainder:
        raise FormulaError(f"{a}/{b} is not an integer")
    return quotient


_BINARY: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: lambda a, b: a // _nonzero(b),
    ast.Mod: lambda a, b: a % _nonzero(b),
    ast.Pow: _power,
    ast.Div: _true_divide,
}
_CALLS: dict[str, tuple[Callable[[list[int]], int], int, int]] = {
    # name: (function, fewest arguments, most arguments)
    "max": (max, 2, 64),
    "min": (min, 2, 64),
    "abs": (lambda args: abs(args[0]), 1, 1),
}


def _node(node: ast.expr) -> Evaluator:
    """A closure computing ``node``; raises FormulaError for anything unsupported."""
    match node:
        case ast.Constant(value=bool()):
            pass
        case ast.Constant(value=int() as value):
            literal = _checked(value)
            return lambda env: literal
        case ast.Name(id=name):
            return lambda env: _lookup(env, name)
        case ast.UnaryOp(op=ast.USub() | ast.UAdd() as op, operand=operand):
            inner = _node(operand)
            sign = -1 if isinstance(op, ast.USub) else 1
            return lambda env: sign * inner(env)
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
            return _binary(_BINARY[type(op)], _node(left), _node(right))
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in _CALLS:
            return _call(name, [_node(arg) for arg in args])
    raise FormulaError(f"{_describe(node)} is not allowed in a formula")


def _lookup(env: Env, name: str) -> int:
    if name not in env:
        raise FormulaError(f"unknown name {name!r}")
    value = env[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormulaError(f"{name!r} is not an integer")
    return value


def _binary(op: Callable[[int, int], int], left: Evaluator, right: Evaluator) -> Evaluator:
    return lambda env: _checked(op(left(env), right(env)))


def _call(name: str, args: list[Evaluator]) -> Evaluator:
    function, fewest, most = _CALLS[name]
    if not fewest <= len(args) <= most:
        raise FormulaError(f"{name}() takes {fewest}..{most} positional arguments here")
    return lambda env: function([arg(env) for arg in args])


def _describe(node: ast.AST) -> str:
    match node:
        case ast.Constant(value=bool() | None as value):
            return f"the constant {value!r}"
        case ast.Constant(value=value):
            return f"the {type(value).__name__} constant {value!r}"
        case ast.Attribute(attr=attr) | ast.Call(func=ast.Attribute(attr=attr)):
            return f"attribute access (.{attr})"
        case ast.Call(func=ast.Name(id=name), keywords=[]) if name in _CALLS:
            return f"starred arguments to {name}()"
        case ast.Call(func=ast.Name(id=name)) if name in _CALLS:
            return f"keyword arguments to {name}()"
        case ast.Call(func=ast.Name(id=name)):
            return f"calling {name}()"
        case ast.BinOp(op=op) | ast.UnaryOp(op=op):
            return f"the operator {type(op).__name__}"
    return f"{type(node).__name__.lower()} syntax"


# --------------------------------------------------------------------------- render

Monomial = tuple[tuple[str, int], ...]  # (factor text, power), sorted by text
Poly = dict[Monomial, int]


@dataclass(frozen=True)
class _Factor:
    rank: int  # 0 the variable, 1 another name, 2 a compound such as ``dim//4``
    degree: int
    bare: bool  # can stand in a product without parentheses


def render(expr: str, variable: str = "dim") -> str:
    """``expr`` in canonical form, e.g. ``dim*dim + 11*dim`` → ``dim**2 + 11*dim``.

    Terms by degree, highest first, the constant last; coefficients first;
    ``variable`` before other names.  The result evaluates exactly as ``expr``.
    """
    compiled(expr)
    printer = _Printer(variable)
    return printer.text(printer.poly(_parse(expr)))


class _Printer:
    def __init__(self, variable: str) -> None:
        self.variable = variable
        self.factors: dict[str, _Factor] = {}

    def poly(self, node: ast.expr) -> Poly:
        match node:
            case ast.Constant(value=int() as value):
                return _constant(value)
            case ast.Name(id=name):
                self.factors[name] = _Factor(0 if name == self.variable else 1, 1, True)
                return {((name, 1),): 1}
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return _scale(self.poly(operand), -1)
            case ast.UnaryOp(operand=operand):
                return self.poly(operand)
            case ast.BinOp(left=left, op=ast.Add() | ast.Sub() as op, right=right):
                sign = 1 if isinstance(op, ast.Add) else -1
                return _add(self.poly(left), _scale(self.poly(right), sign))
            case ast.BinOp(left=left, op=ast.Mult(), right=right):
                return _multiply(self.poly(left), self.poly(right))
            case ast.BinOp(left=left, op=ast.Pow(), right=right):
                return self.power(self.poly(left), self.poly(right))
            case ast.BinOp(left=left, op=op, right=right):
                return self.division(self.poly(left), op, self.poly(right))
            case ast.Call(func=ast.Name(id=name), args=args):
                return self.call(name, [self.poly(arg) for arg in args])
        raise FormulaError(f"{_describe(node)} is not allowed in a formula")  # pragma: no cover

    def power(self, base: Poly, exponent: Poly) -> Poly:
        e = _as_constant(exponent)
        if e is None:
            return self.compound(f"{self.operand(base)}**{self.operand(exponent)}", base, False)
        b = _as_constant(base)
        if b is not None:
            return _constant(_power(b, e))
        if not 0 <= e <= MAX_EXPONENT:  # a constant's power may be larger: 2**20 is a count
            raise FormulaError(f"exponent {e} outside 0..{MAX_EXPONENT}")
        result = _constant(1)
        for _ in range(e):
            result = _multiply(result, base)
        return result

    def division(self, left: Poly, op: ast.operator, right: Poly) -> Poly:
        a, b = _as_constant(left), _as_constant(right)
        if a is not None and b is not None:
            return _constant(_checked(_BINARY[type(op)](a, b)))
        if b == 1 and not isinstance(op, ast.Mod):
            return left
        symbol = {ast.FloorDiv: "//", ast.Mod: " % ", ast.Div: "/"}[type(op)]
        return self.compound(f"{self.dividend(left)}{symbol}{self.operand(right)}", left, False)

    def dividend(self, p: Poly) -> str:
        """``p`` left of ``//``, ``%`` or ``/``: a product needs no parentheses (``8*dim//3``)."""
        if len(p) == 1:
            [(monomial, coefficient)] = p.items()
            if coefficient > 0 and monomial and all(self.factors[t].bare for t, _ in monomial):
                return self.term(monomial, coefficient, after_unary_minus=False)
        return self.operand(p)

    def call(self, name: str, args: list[Poly]) -> Poly:
        values = [_as_constant(arg) for arg in args]
        known = [v for v in values if v is not None]
        function = _CALLS[name][0]
        if len(known) == len(args):
            return _constant(function(known))
        texts = sorted({self.text(arg) for arg, v in zip(args, values, strict=True) if v is None})
        if name != "abs" and len(texts) == 1 and not known:
            return next(arg for arg in args if self.text(arg) == texts[0])
        shown = [str(function(known))] if known else []
        degree = max(self.degree(arg) for arg in args)
        return self.compound(f"{name}({', '.join(shown + texts)})", _constant(0), True, degree)

    def compound(self, text: str, inner: Poly, bare: bool, degree: int | None = None) -> Poly:
        self.factors[text] = _Factor(2, self.degree(inner) if degree is None else degree, bare)
        return {((text, 1),): 1}

    def operand(self, p: Poly) -> str:
        """``p`` as an operand of ``//``, ``%``, ``/`` or ``**``."""
        c = _as_constant(p)
        if c is not None and c >= 0:
            return str(c)
        if len(p) == 1:
            [(monomial, coefficient)] = p.items()
            if coefficient == 1 and len(monomial) == 1 and monomial[0][1] == 1:
                text = monomial[0][0]
                if self.factors[text].bare:
                    return text
        return f"({self.text(p)})"

    def degree(self, p: Poly) -> int:
        return max((self.monomial_degree(m) for m in p), default=0)

    def monomial_degree(self, m: Monomial) -> int:
        return sum(self.factors[text].degree * power for text, power in m)

    def text(self, p: Poly) -> str:
        terms = sorted(((m, c) for m, c in p.items() if c), key=lambda mc: self.order(mc[0]))
        if not terms:
            return "0"
        (first, c0), *rest = terms
        out = ("-" if c0 < 0 else "") + self.term(first, abs(c0), after_unary_minus=c0 < 0)
        for monomial, coefficient in rest:
            sign = "-" if coefficient < 0 else "+"
            out += f" {sign} {self.term(monomial, abs(coefficient), after_unary_minus=False)}"
        return out

    def order(self, m: Monomial) -> tuple[bool, int, int, tuple[tuple[int, str, int], ...]]:
        variable_power = dict(m).get(self.variable, 0)
        key = tuple((self.factors[t].rank, t, -power) for t, power in self.sorted_factors(m))
        return (not m, -self.monomial_degree(m), -variable_power, key)

    def sorted_factors(self, m: Monomial) -> list[tuple[str, int]]:
        return sorted(m, key=lambda tp: (self.factors[tp[0]].rank, tp[0]))

    def term(self, m: Monomial, magnitude: int, after_unary_minus: bool) -> str:
        if not m:
            return str(magnitude)
        # ``dim**2 - dim//4`` needs no parentheses, but ``-dim//4`` would mean ``(-dim)//4``
        alone = len(m) == 1 and m[0][1] == 1 and magnitude == 1 and not after_unary_minus
        parts = []
        for text, power in self.sorted_factors(m):
            shown = text if alone or self.factors[text].bare else f"({text})"
            parts.append(shown if power == 1 else f"{shown}**{power}")
        body = "*".join(parts)
        return body if magnitude == 1 else f"{magnitude}*{body}"


def _constant(value: int) -> Poly:
    return {(): value} if value else {}


def _as_constant(p: Poly) -> int | None:
    if not p:
        return 0
    return p[()] if len(p) == 1 and () in p else None


def _scale(p: Poly, factor: int) -> Poly:
    return {m: c * factor for m, c in p.items()}


def _add(a: Poly, b: Poly) -> Poly:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, 0) + c
    return {m: c for m, c in out.items() if c}


def _multiply(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for (ma, ca), (mb, cb) in product(a.items(), b.items()):
        powers = dict(ma)
        for text, power in mb:
            powers[text] = powers.get(text, 0) + power
        m = tuple(sorted(powers.items()))
        out[m] = _checked(out.get(m, 0) + ca * cb)
    if len(out) > MAX_TERMS or any(p > MAX_EXPONENT**2 for m in out for _, p in m):
        raise FormulaError("formula too large to print")
    return {m: c for m, c in out.items() if c}
