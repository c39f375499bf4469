"""What every rule module uses: its context, findings with numbers attached, fixes, phrasing."""

from __future__ import annotations

from dataclasses import dataclass, replace

from esper_lint.catalog import Invalid, Valid
from esper_lint.config import Config
from esper_lint.model import Edit, Finding, Fix, Formula, Measurement, Site
from esper_lint.registries import Reference, Registry

__all__ = ["Context", "Invalid", "Valid"]

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
    registry: Registry | None = None  # every registration of the site's topology

    @property
    def measured(self) -> Measurement | None:
        """The measurement when it has counts to compare with."""
        m = self.measurement
        return m if m is not None and m.failure is None and m.counts else None

    @property
    def reference(self) -> Reference | None:
        return self.registry.reference if self.registry else None


def finding(site: Site, code: str, message: str, ctx: Context, **extra: object) -> Finding:
    """A finding at the site's estimate (or its call), with the measured numbers attached."""
    span = site.estimate.span if site.estimate else site.call
    value = site.estimate.value if site.estimate else None
    m = ctx.measured
    base = Finding(code=code, path=site.display, span=span, message=message, file=site.path,
                   blueprint=site.blueprint, estimate=value, confirmed=m is not None)
    if m is not None:
        reference = reference_width(site, ctx, m)
        base = replace(base, counts=representative(m, reference), reference_dim=reference,
                       formula=m.formula.expr if m.formula else None)
    return replace(base, **extra)  # type: ignore[arg-type]


def reference_width(site: Site, ctx: Context, m: Measurement, target: int | None = None) -> int:
    """The topology's reference width, else where ``target`` (the estimate) is exact or closest."""
    reference = ctx.reference
    if reference is not None and m.count_at(reference.width) is not None:
        return reference.width
    goal = target if target is not None else (site.estimate.value if site.estimate else None)
    if goal is None:
        return reference.width if reference else m.counts[0][0]
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


# --- fixes: each alternative is the exact edits it makes ---------------------------------------


def callable_fix(site: Site, formula: Formula, safe: bool) -> tuple[Fix, ...]:
    """The verified callable in place of the estimate; where that is not ``safe`` (the registry
    may not take callables), the formula comment as the safe alternative."""
    if site.estimate is None:
        return ()
    new = formula.as_lambda()
    edit = Edit(site.estimate.span, new)
    if safe:
        return (Fix("safe", f"Replace the estimate with `{new}`", (edit,), new),)
    unsafe = Fix("unsafe", f"Unsafe fix: replace the estimate with `{new}` ({UNSAFE_REASON})",
                 (edit,), new)
    return (unsafe, *comment_fix(site, formula, "Safe alternative: write"))


def comment_fix(site: Site, formula: Formula, title: str = "Write") -> tuple[Fix, ...]:
    """Document the verified formula: rewrite the ``# formula:`` comment there is, or add one."""
    estimate = site.estimate
    if estimate is None:
        return ()
    comment = f"# formula: {formula.expr}"
    if estimate.formula_span is not None:
        edit = Edit(estimate.formula_span, formula.expr)
    elif estimate.slot is not None:
        edit = estimate.slot.edit(comment)
    else:
        return ()  # the lines end inside a string or a backslash continuation
    return (Fix("safe", f"{title} `{comment}`", (edit,), estimate.source, formula.expr),)
