"""What every rule module uses: its context, the Rule record, and shared phrasing of numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from types import ModuleType

from esper_lint.config import Config
from esper_lint.model import Finding, Fix, Formula, Measurement, Site

REPRESENTATIVE_WIDTHS = (1, 16, 64, 128, 256, 512, 1024, 4096, 65536)
UNSAFE_REASON = (
    "the register function's estimate parameter is not annotated as callable, so code that "
    "sorts or compares estimates as ints could break"
)


@dataclass(frozen=True)
class Context:
    config: Config
    measurement: Measurement | None = None  # None: no dynamic pass for this site
    accepts_callables: bool = False  # may a fix pass a callable estimate?

    @property
    def measured(self) -> Measurement | None:
        """The measurement when it has counts to compare with."""
        m = self.measurement
        return m if m is not None and m.failure is None and m.counts else None


Check = Callable[[Site, Context], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    doc: str
    check: Check
    valid: tuple[str, ...] = field(default=(), repr=False)
    invalid: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_module(cls, module: ModuleType) -> Rule:
        return cls(code=module.CODE, name=module.NAME, summary=module.SUMMARY,
                   doc=(module.__doc__ or "").strip(), check=module.check,
                   valid=tuple(module.VALID), invalid=tuple(module.INVALID))


def finding(site: Site, code: str, message: str, ctx: Context, **extra: object) -> Finding:
    """A finding at the site's estimate (or its call), with the measured numbers attached."""
    span = site.estimate.span if site.estimate else site.call
    value = site.estimate.value if site.estimate else None
    m = ctx.measured
    base = Finding(code=code, path=site.display, span=span, message=message,
                   blueprint=site.blueprint, estimate=value, confirmed=m is not None)
    if m is not None:
        reference = reference_width(site, ctx.config, m)
        base = replace(base, counts=representative(m, reference), reference_dim=reference,
                       formula=m.formula.expr if m.formula else None)
    return replace(base, **extra)  # type: ignore[arg-type]


def reference_width(site: Site, config: Config, m: Measurement, target: int | None = None) -> int:
    """The configured width for the topology, else where ``target`` is exact or closest."""
    configured = config.reference_dim(site.blueprint.topology)
    if configured is not None and m.count_at(configured) is not None:
        return configured
    goal = target if target is not None else (site.estimate.value if site.estimate else None)
    if goal is None:
        return configured or m.counts[0][0]
    return min(m.counts, key=lambda wc: (abs(wc[1] - goal), wc[0]))[0]


def large_width(m: Measurement, reference: int) -> int:
    """A width well above the reference (8x, at least 512) where the pass measured a count."""
    goal = max(512, 8 * reference)
    above = [w for w, _ in m.counts if w >= goal]
    return min(above) if above else m.counts[-1][0]


def representative(m: Measurement, reference: int) -> tuple[tuple[int, int], ...]:
    widths = {*REPRESENTATIVE_WIDTHS, reference}
    return tuple((w, c) for w, c in m.counts if w in widths)


def error_phrase(estimate: int, actual: int) -> str:
    """``22% low`` / ``35% high`` / ``exact``, as the estimate compares with the actual count."""
    if estimate == actual:
        return "exact"
    if actual == 0:
        return f"{estimate:,} too high"
    percent = abs(estimate - actual) * 100 / actual
    shown = f"{percent:.0f}" if percent >= 1 else f"{percent:.1g}"
    return f"{shown}% {'low' if estimate < actual else 'high'}"


def ratio_phrase(actual: int, estimate: int) -> str:
    if estimate <= 0 or actual == estimate:
        return ""
    ratio = actual / estimate
    shown = f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.2g}"
    return f", {shown}x the estimate"


def actual_phrase(m: Measurement, estimate: int, reference: int) -> str:
    """``actual = 2*dim + 1 (1,025 at dim=512, 10x the estimate)``, or why there is no formula."""
    wide = large_width(m, reference)
    count = m.count_at(wide) or 0
    at = f"{count:,} at {m.variable}={wide}{ratio_phrase(count, estimate)}"
    domain = f"; defined for {m.domain}" if m.domain else ""
    if m.formula is None:
        return f"no exact formula found ({m.no_formula or 'no candidate fits'}); {at}{domain}"
    return f"actual = {m.formula.expr} ({at}){domain}"


def formula_env(m: Measurement, width: int) -> dict[str, int]:
    return {m.variable: width, **dict(m.params)}


def formula_fix(site: Site, formula: Formula, ctx: Context) -> Fix | None:
    """Replace the estimate with the verified callable; a formula comment when that is unsafe."""
    if site.estimate is None:
        return None
    comment = f"# formula: {formula.expr}"
    if ctx.accepts_callables:
        return Fix("safe", formula.as_lambda(), None, site.estimate.span)
    return Fix("unsafe", formula.as_lambda(), comment, site.estimate.span, UNSAFE_REASON)


def comment_fix(site: Site, formula: Formula) -> Fix | None:
    """Keep the argument, replace its documented formula with the verified one."""
    if site.estimate is None:
        return None
    return Fix("safe", site.estimate.source, f"# formula: {formula.expr}", site.estimate.span)
