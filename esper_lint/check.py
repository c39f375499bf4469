"""Stage 5: every enabled rule over the sites and registries → Findings, after ``noqa``,
selection and per-file ignores; plus the ESP9xx diagnostics of what could not be checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from esper_lint.catalog import Rule, rules
from esper_lint.config import Config, Selection
from esper_lint.model import Finding, Measurement, Site, Span
from esper_lint.registries import Registry
from esper_lint.rulekit import Context, alone

SYNTAX_ERROR = "ESP999"  # reported whatever is selected or ignored, as ruff reports syntax errors


def check(sites: Sequence[Site], measurements: Mapping[Site, Measurement], config: Config,
          registries: Sequence[Registry] = (), callable_registers: frozenset[str] = frozenset(),
          diagnostics: Iterable[Finding] = (), chosen: Sequence[Rule] | None = None) -> list[Finding]:
    """Every enabled rule over ``sites`` (per site) and ``registries``, plus the diagnostics."""
    selection = config.selection
    enabled = [rule for rule in (rules() if chosen is None else chosen) if selection.enabled(rule.code)]
    registry_of = {r.registry_key: r for r in registries}
    linted = set(sites)
    findings = [*diagnostics, *(_failure(site, m) for site, m in measurements.items()
                                if m.failure and site in linted)]
    for site in sites:
        m = measurements.get(site)
        ctx = Context(config, m, _accepts_callables(site, config, m, callable_registers),
                      registry_of.get(site.registry_key))
        findings.extend(f for rule in enabled if rule.kind == "site" and rule.check
                        for f in rule.check(site, ctx))
    for registry in registries:
        ctx = Context(config, registry=registry)
        findings.extend(f for rule in enabled if rule.kind == "registry" and rule.check
                        for f in rule.check(registry, ctx))
    at = located(sites)
    ignored = _per_file_ignores(config)
    kept = [f for f in findings if f.code == SYNTAX_ERROR
            or (selection.enabled(f.code) and not _suppressed(f, at) and not ignored(f))]
    kept = _one_kind_per_topology(kept, registries, at)
    return sorted(kept, key=lambda f: f.sort_key)


Located = dict[tuple[Path, Span], Site]


def located(sites: Sequence[Site]) -> Located:
    """Each registration by the places its findings stand at: its estimate, or its call."""
    at: Located = {}
    for site in sites:
        at[(site.path, site.call)] = site
        if site.estimate is not None:
            at[(site.path, site.estimate.span)] = site
    return at


def site_of(finding: Finding, at: Located) -> Site | None:
    return at.get((finding.file, finding.span)) if finding.file is not None else None


def _suppressed(finding: Finding, at: Located) -> bool:
    """Is it a rule finding that a ``# noqa`` at its registration suppresses?"""
    site = site_of(finding, at)
    return site is not None and finding.level != "warning" and site.suppresses(finding.code)


def _one_kind_per_topology(findings: list[Finding], registries: Sequence[Registry],
                           at: Located) -> list[Finding]:
    """Offer to turn a topology's int estimates into callables all together, or not at all.

    ``--unsafe-fixes`` converts what has an unsafe fix; a registry that sorts its estimates
    breaks on a mix of ints and callables, so where any of a topology's int estimates would stay
    an int (no finding, no formula, a file not linted), none is converted.
    """
    converting: dict[tuple[str, str], set[Site]] = {}
    for f in findings:
        site = site_of(f, at)
        if site is not None and any(fix.applicability == "unsafe" for fix in f.fixes):
            converting.setdefault(site.registry_key, set()).add(site)
    if not converting:
        return findings
    staying: dict[tuple[str, str], list[str]] = {}
    for registry in registries:
        key = registry.registry_key
        ints = [m for m in registry.members if m.site.estimate is None or m.site.estimate.kind != "callable"]
        left = [m.label for m in ints if m.site not in converting.get(key, set())]
        if key in converting and left:
            staying[key] = left
    kept = []
    for f in findings:
        site = site_of(f, at)
        blocked = staying.get(site.registry_key) if site is not None else None
        kept.append(_without_unsafe(f, blocked) if blocked else f)
    return kept


def _without_unsafe(finding: Finding, staying: list[str]) -> Finding:
    if not any(fix.applicability == "unsafe" for fix in finding.fixes):
        return finding
    why = (f"; not turned into a callable: {', '.join(staying)} would stay "
           f"{'an int' if len(staying) == 1 else 'ints'}, and a topology must not mix ints and callables")
    return replace(finding, fixes=tuple(alone(fix, why) for fix in finding.fixes
                                        if fix.applicability == "safe"))


def _failure(site: Site, m: Measurement) -> Finding:
    assert m.failure is not None
    detail = f": {m.failure.detail}" if m.failure.detail else ""
    factory = site.blueprint.factory or "?"
    return Finding(code=m.failure.code, path=site.display, span=site.call, level="warning",
                   file=site.path, message=f"could not measure {site.blueprint.label} ({factory}): "
                   f"{m.failure.reason}{detail}", blueprint=site.blueprint)


def _accepts_callables(site: Site, config: Config, m: Measurement | None,
                       callable_registers: frozenset[str]) -> bool:
    if config.callable_estimates is not None:
        return config.callable_estimates
    if m is not None and m.callable_estimates is not None:
        return m.callable_estimates
    return site.registered_with in callable_registers


def _per_file_ignores(config: Config) -> Callable[[Finding], bool]:
    if not config.per_file_ignores:
        return lambda _: False
    import pathspec  # only for a project that has the table: 13 ms of every run otherwise

    table = [(pathspec.GitIgnoreSpec.from_lines([pattern]), Selection(codes))
             for pattern, codes in config.per_file_ignores]

    def ignored(finding: Finding) -> bool:
        path = (finding.file or Path(finding.path)).absolute()
        relative = path.relative_to(config.root) if path.is_relative_to(config.root) else path
        return any(spec.match_file(relative.as_posix()) and codes.enabled(finding.code)
                   for spec, codes in table)

    return ignored
