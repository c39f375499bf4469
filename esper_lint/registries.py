"""Stage 4: the registry's view — every registration of one topology, linted or not, at once.

A registry is what one register function fills (its absolute dotted name, e.g.
``esper.blueprints.registry.BlueprintRegistry.register``); the blueprints of one topology in it
are listed and sorted together, and their estimates all mean one width: the reference width,
configured (``reference-dims``) or inferred here from the registry itself.  Members from files
the user did not name (pre-commit passes only the changed ones) are there so that a registry is
never judged, and a width never inferred, from part of it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from esper_lint.config import Config
from esper_lint.expression import FormulaError, evaluate
from esper_lint.model import Measurement, Site, Use
from esper_lint.modules import package_dir

MODEL_WIDTH = 16  # an inferred reference width is a multiple of this, as model widths are
TOLERANCE = 0.05  # an estimate within 5% of the real count counts as meant for that width
FEWEST = 2  # estimates that must agree on a width before it is inferred
USE_RANK = ("sort key", "zero test", "comparison", "read")  # how much a read matters, most first


@dataclass(frozen=True)
class Member:
    site: Site
    measurement: Measurement | None
    linted: bool  # in a file the user asked to lint (else only context for the registry)

    @property
    def measured(self) -> Measurement | None:
        m = self.measurement
        return m if m is not None and m.usable else None

    @property
    def label(self) -> str:
        return self.site.blueprint.label

    @property
    def name(self) -> str:
        return self.site.blueprint.name or "?"

    def read_at(self, width: int) -> int | None:
        """What the registry reads as this blueprint's estimate at ``width``, when known."""
        estimate, m = self.site.estimate, self.measured
        if estimate is None:
            return None
        if estimate.kind == "constant":
            return estimate.value
        if m is not None and estimate.kind == "callable":
            return dict(m.estimate_values).get(width)
        if m is not None and estimate.formula is not None:
            try:
                return evaluate(estimate.formula, {m.variable: width, **dict(m.params)})
            except FormulaError:
                return None
        return None


@dataclass(frozen=True)
class Reference:
    """The widths a topology's estimates mean: configured, or inferred from the registry."""

    widths: tuple[int, ...]
    source: Literal["configured", "inferred"]
    note: str = ""  # how it was inferred, e.g. "3 of 7 estimates within 1%"

    @property
    def width(self) -> int:
        """The width a corrected value is written for (the first configured one)."""
        return self.widths[0]


@dataclass(frozen=True)
class Row:
    """One blueprint's place: what the registry reads as its estimate, and its real count."""

    member: Member
    estimate: int
    count: int


@dataclass(frozen=True)
class Order:
    """A topology's blueprints at one width, sorted as the registry sorts them (``(estimate,
    name)``) and by real count, and the fewest whose estimates must change to agree."""

    width: int
    by_estimate: tuple[Row, ...]
    by_count: tuple[Row, ...]
    moved: tuple[Row, ...]


@dataclass(frozen=True)
class Registry:
    key: str  # the register function's absolute dotted name
    topology: str
    members: tuple[Member, ...]
    reference: Reference | None
    why_no_reference: str = ""  # when there is none
    uses: tuple[Use, ...] = ()  # where the project reads the estimate, most telling first

    @property
    def registry_key(self) -> tuple[str, str]:
        """What its members' ``Site.registry_key`` is."""
        return (self.key, self.topology)

    @property
    def unmeasured(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.measured is None)

    def order(self, width: int) -> Order | None:
        """The registry's order at ``width`` beside the real one, when every member's place is known."""
        rows = []
        for member in self.members:
            estimate = member.read_at(width)
            count = member.measured.count_at(width) if member.measured else None
            if estimate is None or count is None:
                return None  # a blueprint whose place cannot be known at this width
            rows.append(Row(member, estimate, count))
        by_estimate = tuple(sorted(rows, key=lambda r: (r.estimate, r.member.name)))
        kept = _longest_in_order(by_estimate)
        return Order(width, by_estimate, tuple(sorted(rows, key=lambda r: (r.count, r.member.name))),
                     tuple(r for i, r in enumerate(by_estimate) if i not in kept))

    def note(self) -> str | None:
        """The run's one line about this topology's reference width, when it was not configured."""
        if self.reference is not None and self.reference.source == "inferred":
            return (f"{self.topology}: reference width {self.reference.width}, inferred: "
                    f"{self.reference.note}; pin it with reference-dims")
        if self.reference is None and self.why_no_reference:
            return (f"{self.topology}: no reference width ({self.why_no_reference}); messages "
                    "quote the closest width and fixes keep the values; set reference-dims")
        return None


def build(sites: Sequence[Site], measurements: Mapping[Site, Measurement], config: Config,
          linted: Iterable[Site] = (), uses: Sequence[Use] = ()) -> tuple[Registry, ...]:
    """The registries ``sites`` fill, one per register function and topology."""
    chosen = set(linted)
    groups: dict[tuple[str, str], list[Member]] = {}
    for site in sites:
        member = Member(site, measurements.get(site), site in chosen)
        groups.setdefault(site.registry_key, []).append(member)
    return tuple(_registry(key, topology, tuple(members), config, uses)
                 for (key, topology), members in sorted(groups.items()))


def _registry(key: str, topology: str, members: tuple[Member, ...], config: Config,
              uses: Sequence[Use]) -> Registry:
    folders = homes(m.site for m in members)
    mine = sorted((u for u in uses if any(u.path.is_relative_to(home) for home in folders)),
                  key=lambda u: (USE_RANK.index(u.how) if u.how in USE_RANK else len(USE_RANK),
                                 u.display, u.line))
    configured = config.reference_widths(topology)
    if configured:
        return Registry(key, topology, members, Reference(configured, "configured"), uses=tuple(mine))
    inferred = infer(members)
    if isinstance(inferred, Reference):
        return Registry(key, topology, members, inferred, uses=tuple(mine))
    return Registry(key, topology, members, None, inferred, tuple(mine))


def _longest_in_order(rows: Sequence[Row]) -> set[int]:
    """Indices of the rows to keep: a longest run of non-decreasing real counts (ties in either
    order are right), and of those the one keeping the most accurate estimates, so the ones to
    change are the wrong ones."""
    worth = [(1, -abs(r.estimate - r.count) / max(r.count, 1)) for r in rows]
    best: list[tuple[int, float]] = list(worth)
    before = [-1] * len(rows)
    for i, row in enumerate(rows):
        for j in range(i):
            if rows[j].count <= row.count:
                through = (best[j][0] + 1, best[j][1] + worth[i][1])
                if through > best[i]:
                    best[i], before[i] = through, j
    i = max(range(len(rows)), key=lambda k: (best[k], -k))
    kept = set()
    while i >= 0:
        kept.add(i)
        i = before[i]
    return kept


# --- inferring the reference width -------------------------------------------------------------


@dataclass(frozen=True)
class _Score:
    width: int
    within: int  # estimates within TOLERANCE of the real count there
    errors: tuple[float, ...]  # relative error of every estimate measured there

    @property
    def order(self) -> tuple[int, float, int]:
        return (-self.within, statistics.median(self.errors), self.width)


def infer(members: Sequence[Member]) -> Reference | str:
    """The model width most of the constants are right at, with a clear margin; else why not.

    Candidates are the measured multiples of 16; the one where the most constant estimates are
    within 5% of their real counts wins, ties broken by the smaller median error.  It is taken
    only when at least two estimates agree there and no other width has as many.
    """
    constants = [(m.site.estimate.value, m.measured) for m in members
                 if m.site.estimate is not None and m.site.estimate.kind == "constant"
                 and m.site.estimate.value is not None and m.measured is not None
                 and len({count for _, count in m.measured.counts}) > 1]
    if len(constants) < FEWEST:
        return "" if not constants else "only one of its estimates is a constant that depends on the width"
    widths = sorted({w for _, m in constants for w, _ in m.counts if w % MODEL_WIDTH == 0})
    scores = sorted((s for w in widths if (s := _score(w, constants)) is not None), key=lambda s: s.order)
    if not scores or scores[0].within < FEWEST:
        return f"no multiple of {MODEL_WIDTH} where {FEWEST} or more estimates are within 5%"
    best, rival = scores[0], scores[1] if len(scores) > 1 else None
    if rival is not None and rival.within == best.within:
        return (f"{best.width} and {rival.width} both have {best.within} estimates within 5%")
    worst = max(e for e in best.errors if e <= TOLERANCE)
    within = "exact" if worst == 0 else f"within {next(p for p in (0.1, 1, 5) if worst * 100 <= p):g}%"
    return Reference((best.width,), "inferred", f"{best.within} of {len(constants)} estimates {within}")


def _score(width: int, constants: Sequence[tuple[int | None, Measurement]]) -> _Score | None:
    errors = []
    for value, m in constants:
        count = m.count_at(width)
        if count and value is not None:
            errors.append(abs(value - count) / count)
    if not errors:
        return None
    return _Score(width, sum(e <= TOLERANCE for e in errors), tuple(errors))


def notes(registries: Sequence[Registry], config: Config, *, measured: bool) -> tuple[str, ...]:
    """The run's lines about the linted topologies: inferred or missing reference widths, and
    registry orders (ESP004) that could not be judged because a blueprint was not measured."""
    lines = []
    for registry in registries:
        if not any(m.linted for m in registry.members):
            continue
        if measured and (line := registry.note()):
            lines.append(line)
        judged = registry.reference is not None and len(registry.members) > 1
        if measured and judged and registry.unmeasured and config.selection.enabled("ESP004"):
            labels = ", ".join(m.label for m in registry.unmeasured)
            lines.append(f"{registry.topology}: registry order (ESP004) not checked: {labels} "
                         "could not be measured")
    return tuple(lines)


def homes(sites: Iterable[Site]) -> tuple[Path, ...]:
    """The package folders holding ``sites``: where the rest of their registries would be."""
    # one file per folder: the answer is the folder's
    files = {path.parent: path for path in {site.path for site in sites}}
    return tuple(sorted({package_dir(path) for path in files.values()}))
