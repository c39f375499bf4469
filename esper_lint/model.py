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
ReferenceSource = Literal["configured", "inferred", "closest"]


@dataclass(frozen=True, order=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, line: int, column: int) -> Span:
        return cls(line, column, line, column)


@dataclass(frozen=True)
class Edit:
    """Replace the text at ``span`` (empty: insert there) with ``new_text``."""

    span: Span
    new_text: str


@dataclass(frozen=True)
class Fix:
    """One way to fix a finding: edits in the finding's file, applied together or not at all.

    ``estimate`` and ``formula`` say what the estimate argument and its ``# formula:`` comment
    read once the edits are applied; the fixer checks exactly that before writing.
    """

    applicability: Applicability
    title: str
    edits: tuple[Edit, ...]
    estimate: str  # the argument's source afterwards (unchanged or new)
    formula: str | None = None  # the documented formula afterwards, when the fix writes one

    @property
    def comment(self) -> str | None:
        return formula_comment(self.formula) if self.formula is not None else None


def formula_comment(expr: str) -> str:
    """The comment that documents ``expr`` (what the static pass reads back as the formula)."""
    return f"# formula: {expr}"


@dataclass(frozen=True)
class Slot:
    """Where a new ``# formula:`` comment can go: inserted at ``span`` between ``before``/``after``."""

    span: Span
    before: str
    after: str
    joins: int | None = None  # a trailing slot: the length of the line it joins

    def edit(self, comment: str) -> Edit:
        return Edit(self.span, f"{self.before}{comment}{self.after}")


@dataclass(frozen=True)
class Blueprint:
    """What a registration names: ``topology:name`` and the factory it wraps."""

    name: str | None
    topology: str | None
    factory: str | None  # qualified name inside its module, e.g. ``make.<locals>.inner``

    @property
    def label(self) -> str:
        return f"{printable(self.topology or '?')}:{printable(self.name or '?')}"


def printable(text: str) -> str:
    """``text`` with control characters, NULs and lone surrogates escaped as Python would."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Estimate:
    """The ``param_estimate`` argument as written, and its ``# formula:`` comment."""

    kind: EstimateKind
    source: str  # the argument value's code, byte for byte
    span: Span
    value: int | None = None  # for constants: the evaluated integer
    beyond: str | None = None  # for constants too large to evaluate: which bound they exceed
    formula: str | None = None  # the documented ``# formula:`` expression, if any
    formula_span: Span | None = None  # where that expression stands inside its comment
    slot: Slot | None = None  # where a new comment would go; None when no place is safe
    above: Slot | None = None  # a line of its own, for when ``slot`` would make its line too long
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
    registry: str = ""  # the register function's absolute dotted name: which registry it fills

    def __hash__(self) -> int:
        # equal sites stand at the same place; hashing every nested field made sets and dicts
        # of 6,000 sites a third of the rules' and registries' time
        return hash((self.path, self.call))

    def suppresses(self, code: str) -> bool:
        return "ALL" in self.noqa or code in self.noqa

    @property
    def registry_key(self) -> tuple[str, str]:
        """Which registry and topology it is listed with: (register function, topology)."""
        return (self.registry, self.blueprint.topology or "")


@dataclass(frozen=True)
class Use:
    """A place that reads the estimate attribute, e.g. a sort key (``s.param_estimate``)."""

    path: Path
    display: str
    line: int
    how: str  # "sort key", "zero test", "comparison" or "read"


@dataclass(frozen=True)
class FileFacts:
    """What the static pass learned from one file."""

    sites: tuple[Site, ...]
    uses: tuple[Use, ...] = ()  # reads of the estimate attribute
    # register functions defined here whose estimate parameter is annotated as callable
    callable_registers: tuple[str, ...] = ()
    plain_registers: tuple[str, ...] = ()


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

    @property
    def usable(self) -> bool:
        """Did the pass count something to compare with (no failure, some widths)?"""
        return self.failure is None and bool(self.counts)


@dataclass(frozen=True)
class Finding:
    code: str
    path: str  # as the user would type it
    span: Span
    message: str
    level: Level = "error"
    file: Path | None = None  # the real file, for the fixer (None: not about one file)
    blueprint: Blueprint | None = None
    estimate: int | None = None
    formula: str | None = None
    fixes: tuple[Fix, ...] = ()  # alternatives, preferred first; at most one is applied
    counts: tuple[tuple[int, int], ...] = ()
    reference_dim: int | None = None
    reference_source: ReferenceSource | None = None
    confirmed: bool | None = None  # None: no dynamic pass ran for it
    used_by: tuple[Use, ...] = ()

    @property
    def sort_key(self) -> tuple[str, Span, str]:
        return (self.path, self.span, self.code)

    def fix_for(self, unsafe: bool) -> Fix | None:
        """The alternative ``--fix`` (``--unsafe-fixes`` when ``unsafe``) prefers."""
        return next((f for f in self.fixes if unsafe or f.applicability == "safe"), None)
