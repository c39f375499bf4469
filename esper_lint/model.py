"""The plain data that crosses the pipeline's stages.

Every stage takes and returns these frozen dataclasses, so each stage can be
tested alone and its results cached.  Positions are 1-based; ``end_column``
points one past the last character, as in ruff's JSON output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Level = Literal["error", "warning"]
Applicability = Literal["safe", "unsafe"]
EstimateKind = Literal["constant", "callable", "other"]


@dataclass(frozen=True, order=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Blueprint:
    """What a registration names: ``topology:name`` and the factory it wraps."""

    name: str | None
    topology: str | None
    factory: str | None  # qualified name inside its module, e.g. ``make.<locals>.inner``

    @property
    def label(self) -> str:
        return f"{self.topology or '?'}:{self.name or '?'}"


@dataclass(frozen=True)
class Estimate:
    """The ``param_estimate`` argument as written."""

    kind: EstimateKind
    source: str  # the argument value's code, byte for byte
    span: Span
    value: int | None = None  # for constants: the evaluated integer
    formula: str | None = None  # the documented ``# formula:`` expression, if any
    keyword: bool = True  # given as ``param_estimate=`` rather than positionally


@dataclass(frozen=True)
class Site:
    """One registration call found by the static pass."""

    path: Path  # absolute path of the file
    display: str  # the path as the user would type it
    call: Span
    blueprint: Blueprint
    estimate: Estimate | None
    register: str  # the callee as written in the module, e.g. ``BR.register``
    registered_with: str = ""  # the configured register function it resolved to
    noqa: frozenset[str] = frozenset()  # suppressed codes; ALL for a bare noqa comment

    def suppresses(self, code: str) -> bool:
        return "ALL" in self.noqa or code in self.noqa


@dataclass(frozen=True)
class Formula:
    """A parameter count formula, verified at every sampled width."""

    expr: str  # Python expression in ``variable`` and ``params``
    variable: str = "dim"
    params: tuple[tuple[str, int], ...] = ()  # keyword parameters with the factory's defaults

    def as_lambda(self) -> str:
        extra = "".join(f", {name}={default}" for name, default in self.params)
        return f"lambda {self.variable}{extra}: {self.expr}"


@dataclass(frozen=True)
class Failure:
    """Why a blueprint could not be measured."""

    code: str  # an ESP9xx diagnostic code
    reason: str  # e.g. ``timed out after 10 s``
    detail: str = ""  # the last line of the error


@dataclass(frozen=True)
class Measurement:
    """What building a factory at many widths showed."""

    counts: tuple[tuple[int, int], ...] = ()  # (width, count), params at their defaults
    variable: str = "dim"  # the factory's width parameter
    params: tuple[tuple[str, int], ...] = ()  # the factory's int keyword parameters, defaults
    outside: tuple[int, ...] = ()  # sampled widths where the factory raised
    domain: str | None = None  # e.g. ``dim % 8 == 0`` when the domain is a modulus rule
    formula: Formula | None = None
    no_formula: str | None = None  # why no formula fits, when none does
    estimate_values: tuple[tuple[int, int], ...] = ()  # a callable estimate at the widths
    callable_estimates: bool | None = None  # does the register function take callables?
    failure: Failure | None = None

    def count_at(self, width: int) -> int | None:
        return dict(self.counts).get(width)


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    replacement: str  # new source of the argument value
    comment: str | None  # a ``# formula: ...`` comment to add, if any
    span: Span  # the source range ``replacement`` replaces
    reason: str | None = None  # why the fix is unsafe


@dataclass(frozen=True)
class Finding:
    code: str
    path: str  # as the user would type it
    span: Span
    message: str
    level: Level = "error"
    blueprint: Blueprint | None = None
    estimate: int | None = None
    formula: str | None = None
    fix: Fix | None = None
    counts: tuple[tuple[int, int], ...] = ()
    reference_dim: int | None = None
    confirmed: bool | None = None  # None: no dynamic pass ran for it

    @property
    def sort_key(self) -> tuple[str, Span, str]:
        return (self.path, self.span, self.code)
