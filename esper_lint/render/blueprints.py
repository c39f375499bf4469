"""The HTML report's facts about each blueprint, read off a run: nothing here is measured anew.

Counts are the Measurement's; the estimate at a width is what the registry reads there
(``Member.read_at``: a constant as written, a callable as the worker called it, a documented
formula through the one evaluator); errors are phrased as the findings phrase them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from esper_lint.expression import FormulaError, evaluate
from esper_lint.model import Finding, Measurement, Site
from esper_lint.registries import Member, Registry
from esper_lint.rulekit import error_phrase, formula_env

if TYPE_CHECKING:
    from esper_lint.pipeline import Run


@dataclass(frozen=True)
class Entry:
    """One linted registration: its registry's view of it, and the findings about it."""

    member: Member
    registry: Registry
    findings: tuple[Finding, ...]
    moved_at: tuple[int, ...] = ()  # reference widths where the registry's order misplaces it
    anchor: str = ""  # the id of its plot in the page

    @property
    def site(self) -> Site:
        return self.member.site

    @property
    def measured(self) -> Measurement | None:
        return self.member.measured

    @property
    def reference(self) -> int | None:
        """The topology's reference width, when this blueprint was measured there."""
        ref, m = self.registry.reference, self.measured
        return ref.width if ref is not None and m is not None and m.count_at(ref.width) is not None else None

    @property
    def largest(self) -> int | None:
        m = self.measured
        return max(w for w, _ in m.counts) if m is not None else None

    def count_at(self, width: int | None) -> int | None:
        m = self.measured
        return m.count_at(width) if m is not None and width is not None else None

    def estimate_at(self, width: int | None) -> int | None:
        return self.member.read_at(width) if width is not None else None

    def documented_at(self, width: int) -> int | None:
        """A constant's ``# formula:`` at ``width`` (the registry reads the constant, not this)."""
        estimate, m = self.site.estimate, self.measured
        if estimate is None or estimate.kind != "constant" or estimate.formula is None or m is None:
            return None
        try:
            return evaluate(estimate.formula, formula_env(m, width))
        except FormulaError:
            return None

    def error_at(self, width: int | None) -> str | None:
        estimate, count = self.estimate_at(width), self.count_at(width)
        return error_phrase(estimate, count) if estimate is not None and count is not None else None

    @property
    def points(self) -> tuple[tuple[int, int, int | None], ...]:
        """(width, real count, estimate read there) over the measured domain."""
        m = self.measured
        return tuple((w, c, self.estimate_at(w)) for w, c in m.counts) if m is not None else ()

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(sorted({f.code for f in self.findings}))

    @property
    def diagnostic(self) -> str | None:
        """Why it has no counts: its failure's finding, or that the dynamic pass did not run."""
        if self.measured is not None:
            return None
        failed = next((f for f in self.findings if f.code.startswith("ESP9")), None)
        if failed is not None:
            return f"{failed.code} {failed.message}"
        m = self.member.measurement
        if m is not None and m.failure is not None:
            return f"{m.failure.code} {m.failure.reason}"
        return "not measured (no dynamic pass ran)"

    @property
    def exact(self) -> bool:
        """The estimate is what the registry reads and equals the real count at every width."""
        m = self.measured
        return m is not None and all(self.estimate_at(w) == c for w, c in m.counts)

    @property
    def severity(self) -> float:
        """How far off the estimate is, at the reference or the largest width (worst first)."""
        if self.measured is None:
            return -1.0
        worst = 0.0
        for width in (self.reference, self.largest):
            estimate, count = self.estimate_at(width), self.count_at(width)
            if estimate is not None and count is not None:
                worst = max(worst, abs(math.log((abs(estimate) + 1) / (count + 1))))
        return worst


def entries(run: Run) -> tuple[Entry, ...]:
    """Every registration in the files the user named, worst estimate first."""
    found: list[Entry] = []
    for registry in run.registries:
        moved = _moved(registry)
        for member in registry.members:
            if not member.linted:
                continue
            mine = tuple(f for f in run.findings if f.blueprint == member.site.blueprint
                         and f.path == member.site.display)
            found.append(Entry(member, registry, mine, tuple(sorted(moved.get(member, ())))))
    found.sort(key=lambda e: (-e.severity, e.site.blueprint.label, e.site.display, e.site.call))
    return tuple(_with_anchor(entry, index) for index, entry in enumerate(found))


def _moved(registry: Registry) -> dict[Member, set[int]]:
    """The members ESP004's view moves, at each reference width."""
    moved: dict[Member, set[int]] = {}
    for width in registry.reference.widths if registry.reference else ():
        order = registry.order(width)
        for row in order.moved if order else ():
            moved.setdefault(row.member, set()).add(width)
    return moved


def _with_anchor(entry: Entry, index: int) -> Entry:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", entry.site.blueprint.label).strip("-")
    return replace(entry, anchor=f"plot-{index + 1}-{slug}")


def crossings(points: Sequence[tuple[int, int, int | None]]) -> tuple[tuple[int, int], ...]:
    """Where the estimate meets the real count: ``(width, width)`` where they are equal, or the two
    neighbouring measured widths between which the estimate crosses from one side to the other."""
    found: list[tuple[int, int]] = []
    before: tuple[int, int] | None = None  # (width, sign of estimate - count)
    for width, count, estimate in points:
        if estimate is None:
            before = None
            continue
        sign = (estimate > count) - (estimate < count)
        if sign == 0 and (before is None or before[1] != 0):
            found.append((width, width))
        elif before is not None and before[1] != 0 and sign == -before[1]:
            found.append((before[0], width))
        before = (width, sign)
    return tuple(found)
