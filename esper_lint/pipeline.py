"""The stages in order: discover → scan (static) → measure (dynamic) → registries → check.

``lint`` runs them over paths (the CLI's run, then ``fix`` and ``render``); ``lint_source``
runs the static stages over one buffer (the flake8 plugin's run).  The benchmarks time single
stages and call them directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from esper_lint import registries
from esper_lint.check import check
from esper_lint.config import Config
from esper_lint.discover import Discovery, discover
from esper_lint.model import Finding, Measurement, Site, Use
from esper_lint.registries import Registry
from esper_lint.scan import Parsed, ScanResult, parse_file, scan


@dataclass(frozen=True)
class Run:
    findings: tuple[Finding, ...]
    scanned: ScanResult
    measurements: Mapping[Site, Measurement]
    registries: tuple[Registry, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...] = ()  # once per run: reference widths inferred, checks skipped


def lint(paths: Sequence[str], config: Config, *, dynamic: bool = True, progress: bool = False,
         cache: bool = True, cwd: Path | None = None,
         reuse: Mapping[Site, Measurement] | None = None) -> Run:
    """The findings for ``paths``; ``reuse``: measurements of an earlier run (before ``--fix``
    wrote its fixes), for the registrations whose factories they measured."""
    if not cache:
        config = replace(config, cache_dir="")  # an empty cache folder turns the cache off
    found = discover(paths, config, cwd)
    scanned = scan(found.files, config)
    context, uses = _context(scanned, found, config, paths, cwd)
    every = (*scanned.sites, *context)
    measurements: Mapping[Site, Measurement] = {}
    warnings: tuple[str, ...] = ()
    if dynamic and scanned.sites:
        measurements = reused(every, reuse or {})
        if len(measurements) < len(every):
            from esper_lint.measure import measure  # the dynamic pass, only when asked for

            todo = [site for site in every if site not in measurements]
            result = measure(todo, config, progress=progress)
            measurements, warnings = {**measurements, **result.measurements}, result.warnings
    views = registries.build(every, measurements, config, scanned.sites, (*scanned.uses, *uses))
    findings = check(scanned.sites, measurements, config, views, scanned.callable_registers,
                     [*found.diagnostics, *scanned.diagnostics])
    notes = registries.notes(views, config, measured=bool(measurements))
    return Run(tuple(findings), scanned, measurements, views, warnings, notes)


def reused(sites: Sequence[Site], earlier: Mapping[Site, Measurement]) -> dict[Site, Measurement]:
    """Earlier measurements that still hold for ``sites``: same file, blueprint and factory.

    A fix rewrites only estimates and comments, never a factory, so the counts stand; a callable
    estimate's values stand while its source does, or are the counts when the fix wrote the
    verified formula's callable.
    """
    index = {(site.path, site.blueprint): (site, m) for site, m in earlier.items()}
    found: dict[Site, Measurement] = {}
    for site in sites:
        old_site, m = index.get((site.path, site.blueprint), (None, None))
        if old_site is None or m is None:
            continue
        before = old_site.estimate.source if old_site.estimate else None
        now = site.estimate.source if site.estimate else None
        if site.estimate is None or site.estimate.kind != "callable" or now == before:
            found[site] = m
        elif m.formula is not None and now == m.formula.as_lambda():
            found[site] = replace(m, estimate_values=m.counts)
    return found


def _context(scanned: ScanResult, found: Discovery, config: Config, paths: Sequence[str],
             cwd: Path | None) -> tuple[tuple[Site, ...], tuple[Use, ...]]:
    """The rest of the linted registries: their registrations in the same packages (or, outside
    any package, the same folder), in files not named on the command line, and where those
    packages read the estimate.  A package inside a folder on the command line was walked
    already, with the same exclusions: it is not walked again."""
    if not scanned.sites:
        return (), ()
    walked = [path.resolve() for given in paths if (path := (cwd or Path.cwd()) / given).is_dir()]
    homes = [home for home in registries.homes(scanned.sites)
             if not any(home.resolve().is_relative_to(folder) for folder in walked)]
    if not homes:
        return (), ()
    named = {file.path.resolve() for file in found.files}
    packages = [str(home) for home in homes if (home / "__init__.py").is_file()]
    folders = [str(path) for home in homes if not (home / "__init__.py").is_file()
               for path in sorted(home.glob("*.py"))]
    rest = [file for file in discover([*packages, *folders], config, cwd).files
            if file.path.resolve() not in named]
    if not rest:
        return (), ()
    more = scan(rest, config)
    wanted = {site.registry_key for site in scanned.sites}
    return tuple(s for s in more.sites if s.registry_key in wanted), more.uses


def lint_source(path: Path, display: str, data: bytes, config: Config) -> list[Finding]:
    """The static stages over one file's bytes (which need not be on disk)."""
    parsed = parse_file(path, display, data, config)
    if not isinstance(parsed, Parsed):
        return check((), {}, config, diagnostics=[parsed])
    sites = parsed.facts.sites
    views = registries.build(sites, {}, config, sites, parsed.facts.uses)
    return check(sites, {}, config, views, frozenset(parsed.facts.callable_registers))
