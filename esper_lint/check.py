"""Stage 5: every enabled rule over the sites and registries → Findings, after ``noqa``,
selection and per-file ignores; plus the ESP9xx diagnostics of what could not be checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import pathspec

from esper_lint.catalog import Rule, rules
from esper_lint.config import Config, Selection
from esper_lint.model import Finding, Measurement, Site, Span
from esper_lint.registries import Registry
from esper_lint.rulekit import Context


def check(sites: Sequence[Site], measurements: Mapping[Site, Measurement], config: Config,
          registries: Sequence[Registry] = (), callable_registers: frozenset[str] = frozenset(),
          diagnostics: Iterable[Finding] = (), chosen: Sequence[Rule] | None = None) -> list[Finding]:
    """Every enabled rule over ``sites`` (per site) and ``registries``, plus the diagnostics."""
    selection = config.selection
    enabled = [rule for rule in (rules() if chosen is None else chosen) if selection.enabled(rule.code)]
    registry_of = {(r.key, r.topology): r for r in registries}
    linted = set(sites)
    findings = [*diagnostics, *(_failure(site, m) for site, m in measurements.items()
                                if m.failure and site in linted)]
    for site in sites:
        m = measurements.get(site)
        ctx = Context(config, m, _accepts_callables(site, config, m, callable_registers),
                      registry_of.get((site.registry, site.blueprint.topology or "")))
        findings.extend(f for rule in enabled if rule.kind == "site" and rule.check
                        for f in rule.check(site, ctx))
    for registry in registries:
        ctx = Context(config, registry=registry)
        findings.extend(f for rule in enabled if rule.kind == "registry" and rule.check
                        for f in rule.check(registry, ctx))
    kept = [f for f in _unsuppressed(findings, sites) if selection.enabled(f.code)]
    ignored = _per_file_ignores(config)
    return sorted((f for f in kept if not ignored(f)), key=lambda f: f.sort_key)


def _unsuppressed(findings: Iterable[Finding], sites: Sequence[Site]) -> Iterable[Finding]:
    """Drop findings a ``# noqa`` at their registration suppresses."""
    at: dict[tuple[Path, Span], Site] = {}
    for site in sites:
        at[(site.path, site.call)] = site
        if site.estimate is not None:
            at[(site.path, site.estimate.span)] = site
    for f in findings:
        found = at.get((f.file, f.span)) if f.file is not None else None
        if found is None or f.level == "warning" or not found.suppresses(f.code):
            yield f


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
    table = [(pathspec.GitIgnoreSpec.from_lines([pattern]), Selection(codes))
             for pattern, codes in config.per_file_ignores]

    def ignored(finding: Finding) -> bool:
        path = (finding.file or Path(finding.path)).absolute()
        relative = path.relative_to(config.root) if path.is_relative_to(config.root) else path
        return any(spec.match_file(relative.as_posix()) and codes.enabled(finding.code)
                   for spec, codes in table)

    return ignored
