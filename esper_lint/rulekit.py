"""What every rule module uses: its context, findings with numbers attached, fixes, phrasing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from esper_lint.config import Config
from esper_lint.model import (
    Edit,
    Estimate,
    Finding,
    Fix,
    Formula,
    Measurement,
    ReferenceSource,
    Site,
    Use,
    formula_comment,
)
from esper_lint.registries import Reference, Registry

REPRESENTATIVE_WIDTHS = (1, 16, 64, 128, 256, 512, 1024, 4096, 65536)
ALTERNATIVE = "Safe alternative: "  # how a safe fix's title reads after its unsafe one
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
        return m if m is not None and m.usable else None

    @property
    def reference(self) -> Reference | None:
        return self.registry.reference if self.registry else None

    @property
    def uses(self) -> tuple[Use, ...]:
        return self.registry.uses if self.registry else ()


@dataclass(frozen=True)
class At:
    """The width a message quotes, and why that one."""

    width: int
    source: ReferenceSource

    def closest_note(self, site: Site) -> str:
        topology = site.blueprint.topology or "?"
        return f", the closest width (no reference width for {topology})" if self.source == "closest" else ""


def finding(site: Site, code: str, message: str, ctx: Context, at: At | None = None,
            **extra: object) -> Finding:
    """A finding at the site's estimate (or its call), with the measured numbers attached."""
    span = site.estimate.span if site.estimate else site.call
    value = site.estimate.value if site.estimate else None
    m = ctx.measured  # the fields first, then one Finding: not a copy per step for each of thousands
    fields = {"code": code, "path": site.display, "span": span, "message": message, "file": site.path,
              "blueprint": site.blueprint, "estimate": value, "confirmed": m is not None}
    if m is not None:
        at = at or reference_at(ctx, m) or At(m.counts[0][0], "closest")
        fields |= {"counts": representative(m, at.width), "formula": m.formula.expr if m.formula else None}
    if at is not None:
        fields |= {"reference_dim": at.width, "reference_source": at.source}
    return Finding(**(fields | extra))  # type: ignore[arg-type]


def reference_at(ctx: Context, m: Measurement) -> At | None:
    """The topology's reference width (configured or inferred) when it was measured there."""
    reference = ctx.reference
    if reference is not None and m.count_at(reference.width) is not None:
        return At(reference.width, reference.source)
    return None


def closest_at(m: Measurement, goal: int) -> At:
    """Where the count is nearest ``goal`` (the narrowest such width)."""
    return At(min(m.counts, key=lambda wc: (abs(wc[1] - goal), wc[0]))[0], "closest")


def large_width(m: Measurement, reference: int) -> int:
    """A width well above the reference (8x, at least 512) where the pass measured a count."""
    goal = max(512, 8 * reference)
    above = [w for w, _ in m.counts if w >= goal]
    return min(above) if above else m.counts[-1][0]


def representative(m: Measurement, reference: int) -> tuple[tuple[int, int], ...]:
    widths = {*REPRESENTATIVE_WIDTHS, reference}
    return tuple((w, c) for w, c in m.counts if w in widths)


def error_phrase(estimate: int, actual: int) -> str:
    """``22% low``, ``35% high``, ``32x low`` (beyond 100%) or ``exact``, against the actual count."""
    if estimate == actual:
        return "exact"
    side = "low" if estimate < actual else "high"
    if min(estimate, actual) <= 0:
        return f"{abs(actual - estimate):,} too {side}"
    ratio = max(estimate, actual) / min(estimate, actual)
    if ratio >= 2:
        return f"{ratio:,.0f}x {side}" if ratio >= 10 else f"{ratio:.2g}x {side}"
    percent = abs(estimate - actual) * 100 / actual
    shown = f"{percent:.0f}" if percent >= 1 else f"{percent:.1g}"
    return f"{shown}% {side}"


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


def mismatch_phrase(claims: Mapping[int, int], m: Measurement, ctx: Context,
                    verb: str) -> tuple[str, At] | None:
    """How claimed counts (a formula's, a callable's) differ from the real ones, at the reference
    width first; None when they never do."""
    wrong = [(w, c) for w, c in m.counts if w in claims and claims[w] != c]
    if not wrong:
        return None
    at = reference_at(ctx, m)
    if at is not None and claims.get(at.width, m.count_at(at.width)) != m.count_at(at.width):
        actual, claimed = m.count_at(at.width) or 0, claims[at.width]
        where = f"{error_phrase(claimed, actual)} at {m.variable}={at.width}"
    else:
        width, actual = wrong[0]
        claimed = claims[width]
        exact = f"exact at {m.variable}={at.width} but " if at is not None else ""
        at = at or At(width, "closest")
        where = f"{exact}wrong at {m.variable}={width} ({error_phrase(claimed, actual)})"
    return f"{where}: {verb} {claimed:,}, actual {actual:,}", at


def uses_phrase(ctx: Context) -> str:
    """``; read as a sort key at registry.py:43 (and 2 more places)``: why the value matters."""
    uses = ctx.uses
    if not uses:
        return ""
    first = uses[0]
    how = "read" if first.how == "read" else f"read as a {first.how}"
    more = f" (and {len(uses) - 1} more place{'s' if len(uses) > 2 else ''})" if len(uses) > 1 else ""
    return f"; {how} at {first.display}:{first.line}{more}"


def formula_env(m: Measurement, width: int) -> dict[str, int]:
    return {m.variable: width, **dict(m.params)}


# --- fixes: each alternative is the exact edits it makes ---------------------------------------


def estimate_fixes(site: Site, m: Measurement, ctx: Context, *, prefer_callable: bool) -> tuple[Fix, ...]:
    """The fixes of a constant estimate, preferred first.

    Where the registry takes callables and ``prefer_callable``: the verified callable (safe).
    Where it may not: the callable (unsafe), then the safe alternative, the exact count at the
    reference width and the verified formula as its ``# formula:`` comment.
    """
    written = value_fix(site, m, ctx)
    if m.formula is None or site.estimate is None:
        return written
    if ctx.accepts_callables:
        return callable_fix(site, m.formula, safe=True) if prefer_callable else written
    unsafe = callable_fix(site, m.formula, safe=False)
    return (*unsafe, *(replace(fix, title=f"{ALTERNATIVE}{fix.title[:1].lower()}{fix.title[1:]}")
                       for fix in written))


def alone(fix: Fix, note: str) -> Fix:
    """A safe alternative that is no longer one (its unsafe fix was withdrawn), with why."""
    title = fix.title.removeprefix(ALTERNATIVE)
    return replace(fix, title=f"{title[:1].upper()}{title[1:]}{note}")


def callable_fix(site: Site, formula: Formula, safe: bool) -> tuple[Fix, ...]:
    """The verified callable in place of the estimate (and in its ``# formula:`` comment, if any).

    Not ``safe`` where the registry may not take callables: code that sorts or compares the
    estimates as ints would break.
    """
    if site.estimate is None:
        return ()
    new = formula.as_lambda()
    edits = [Edit(site.estimate.span, new)]
    documented = site.estimate.formula is not None
    if documented and (comment := _comment_edit(site.estimate, formula.expr)) is not None:
        edits.append(comment)  # a documented formula is kept right next to the callable
    after = formula.expr if documented else None
    if safe:
        return (Fix("safe", f"Replace the estimate with `{new}`", tuple(edits), new, after),)
    return (Fix("unsafe", f"Unsafe fix: replace the estimate with `{new}` ({UNSAFE_REASON})",
                tuple(edits), new, after),)


def value_fix(site: Site, m: Measurement, ctx: Context) -> tuple[Fix, ...]:
    """The exact count at the reference width as the value, the verified formula as its comment.

    Without a reference width the value stays (the title says why); without a formula only the
    value is corrected.  Empty when there is nothing to write.
    """
    estimate = site.estimate
    if estimate is None:
        return ()
    at = reference_at(ctx, m)
    count = m.count_at(at.width) if at is not None else None
    value = None if count is None or count == estimate.value else _int_text(count, estimate.source)
    comment = _comment_edit(estimate, m.formula.expr, ctx.config.line_length, value) if m.formula else None
    expr = m.formula.expr if m.formula and comment is not None else None
    edits = [*([Edit(estimate.span, value)] if value else []), *([comment] if comment else [])]
    if not edits:
        return ()
    return (Fix("safe", _value_title(site, m, at, value, expr), tuple(edits),
                value or estimate.source, expr),)


def _value_title(site: Site, m: Measurement, at: At | None, value: str | None, expr: str | None) -> str:
    written = [f"`{value}` (the count at {m.variable}={at.width})" if value and at else "",
               f"`{formula_comment(expr)}`" if expr else ""]
    title = "Write " + " and ".join(part for part in written if part)
    if at is None:
        topology = site.blueprint.topology or "?"
        return f"{title}; the value stays as it is: no reference width for {topology} " \
               "(set reference-dims to correct it too)"
    return title if m.formula else f"{title}; no exact formula was found to document"


def _comment_edit(estimate: Estimate, expr: str, line_length: int | None = None,
                  value: str | None = None) -> Edit | None:
    """Document ``expr``: rewrite the ``# formula:`` comment there is, or add one where it fits.

    A new comment trails its line unless the line, with ``value`` written, would grow past
    ``line_length``: then it takes a line of its own above.
    """
    if estimate.formula_span is not None:
        return Edit(estimate.formula_span, expr) if estimate.formula != expr else None
    slot = estimate.slot
    if slot is None:
        return None  # the lines end inside a string or a backslash continuation
    edit = slot.edit(formula_comment(expr))
    if slot.joins is not None and line_length is not None and estimate.above is not None:
        grown = len(value) - len(estimate.source) if value and estimate.span.line == slot.span.line else 0
        if slot.joins + grown + len(edit.new_text) > line_length:
            return estimate.above.edit(formula_comment(expr))
    return edit


def _int_text(count: int, written: str) -> str:
    """``count`` as an int literal, grouped with underscores where the original was."""
    return f"{count:_}" if "_" in written else str(count)
