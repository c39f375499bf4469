"""The stages in order: discover → scan (static) → measure (dynamic) → registries → check.

``lint`` runs them over paths (the CLI's run, then ``fix`` and ``render``); ``lint_source``
runs the static stages over one buffer (the flake8 plugin's run).  The benchmarks time single
stages and call them directly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from esper_lint import registries, trace
from esper_lint.check import check
from esper_lint.config import Config, ConfigFor, per_file
from esper_lint.discover import Discovery, SourceFile, discover
from esper_lint.model import Finding, Measurement, Site, Use
from esper_lint.registries import Registry
from esper_lint.scan import Parsed, ScanResult, parse_file, scan
from esper_lint.stdin import Buffer

if TYPE_CHECKING:
    from esper_lint.worker_process import WorkerPool


@dataclass(frozen=True)
class Run:
    findings: tuple[Finding, ...]
    scanned: ScanResult
    measurements: Mapping[Site, Measurement]
    registries: tuple[Registry, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...] = ()  # once per run: reference widths inferred, checks skipped


def lint(paths: Sequence[str], config: Config | ConfigFor, *, dynamic: bool = True,
         progress: bool = False, cache: bool = True, cwd: Path | None = None,
         reuse: Mapping[Site, Measurement] | None = None, buffer: Buffer | None = None) -> Run:
    """The findings for ``paths`` (or for the standard input ``buffer``), each file under its
    own configuration, so the order of ``paths`` changes nothing; ``reuse``: measurements of an
    earlier run (before ``--fix`` wrote its fixes), for the registrations whose factories they
    measured."""
    config_for = per_file(config)
    groups = _grouped(paths, config_for, cwd) if buffer is None else \
        {config_for(buffer.path): buffer.discovery()}
    runs = [_lint_one(found, replace(group, cache_dir=group.cache_dir if cache else ""), dynamic=dynamic,
                      progress=progress, cwd=cwd, reuse=reuse or {}, buffer=buffer,
                      walked=paths if buffer is None else ())
            for group, found in groups.items()]
    return runs[0] if len(runs) == 1 else _merged(runs)


def _grouped(paths: Sequence[str], config_for: ConfigFor, cwd: Path | None) -> dict[Config, Discovery]:
    """The files to lint, by the configuration each uses. A path is walked with its own
    configuration's excludes; what it holds is then linted by each file's own."""
    given: dict[Config, list[str]] = {}
    for path in paths:
        given.setdefault(config_for(Path(path)), []).append(path)
    files: dict[Config, list[SourceFile]] = {}
    diagnostics: dict[Config, list[Finding]] = {}
    skipped: dict[Config, list[str]] = {}
    by_folder: dict[str, Config] = {}  # a file's configuration is its folder's
    seen: set[str] = set()  # two paths with configurations of their own may reach one file
    for config, chosen in given.items():
        found = discover(chosen, config, cwd, seen)
        for file in found.files:
            folder = os.path.dirname(file.path)
            if folder not in by_folder:
                by_folder[folder] = config_for(Path(folder))
            files.setdefault(by_folder[folder], []).append(file)
        diagnostics.setdefault(config, []).extend(found.diagnostics)
        skipped.setdefault(config, []).extend(found.skipped)
    return {config: Discovery(tuple(files.get(config, ())), tuple(diagnostics.get(config, ())),
                              tuple(skipped.get(config, ())))
            for config in {**files, **diagnostics}}


def _lint_one(found: Discovery, config: Config, *, dynamic: bool, progress: bool, cwd: Path | None,
              reuse: Mapping[Site, Measurement], buffer: Buffer | None,
              walked: Sequence[str]) -> Run:
    with contextlib.ExitStack() as stack:
        early = _Early(config, stack) if dynamic and buffer is None and not reuse else None
        trace.event("static pass started")
        scanned = scan(found.files, config, given={buffer.path: buffer.data} if buffer else None,
                       on_parse=early.start if early else None)
        context, uses = _context(scanned, found, config, walked, cwd)
        trace.event("static pass ended")
        every = (*scanned.sites, *context)
        measurements: Mapping[Site, Measurement] = {}
        warnings: tuple[str, ...] = found.skipped
        # a buffer --fix changed keeps the measurements of the buffer it came from
        unsaved = buffer.unsaved() if buffer is not None and dynamic and scanned.sites and not reuse else None
        if unsaved:
            warnings, dynamic = (*warnings, unsaved), False
        if dynamic and scanned.sites:
            measurements, more = _measure(every, config, progress, reuse, early.pool if early else None)
            warnings = (*warnings, *more)
    views = registries.build(every, measurements, config, scanned.sites, (*scanned.uses, *uses))
    findings = check(scanned.sites, measurements, config, views, scanned.callable_registers,
                     [*found.diagnostics, *scanned.diagnostics])
    notes = registries.notes(views, config, measured=bool(measurements))
    return Run(tuple(findings), scanned, measurements, views, warnings, notes)


def _measure(sites: Sequence[Site], config: Config, progress: bool, reuse: Mapping[Site, Measurement],
             pool: WorkerPool | None) -> tuple[Mapping[Site, Measurement], tuple[str, ...]]:
    """An earlier run's measurements where they still hold, the dynamic pass's for the rest."""
    measurements = reused(sites, reuse)
    if len(measurements) == len(sites):
        return measurements, ()
    from esper_lint.measure import measure  # the dynamic pass, only when asked for

    todo = [site for site in sites if site not in measurements]
    result = measure(todo, config, progress=progress, pool=pool)
    return {**measurements, **result.measurements}, result.warnings


@dataclass
class _Early:
    """The dynamic pass's worker, started as soon as the static pass has a file to parse, so
    that torch imports on another core meanwhile; ended with ``stack`` if it was not needed.
    A run the static cache answers whole starts nothing here (nor, with the dynamic cache
    answering too, in the dynamic pass)."""

    config: Config
    stack: contextlib.ExitStack[bool | None]
    pool: WorkerPool | None = None

    def start(self) -> None:
        from esper_lint.worker_process import started

        if self.pool is None:
            self.pool = self.stack.enter_context(started(self.config))
            self.pool.prepare()


def _merged(runs: Sequence[Run]) -> Run:
    """One report of the runs of several configurations."""
    scans = [run.scanned for run in runs]
    scanned = ScanResult(
        sites=tuple(site for s in scans for site in s.sites),
        callable_registers=frozenset().union(*(s.callable_registers for s in scans)),
        plain_registers=frozenset().union(*(s.plain_registers for s in scans)),
        diagnostics=tuple(d for s in scans for d in s.diagnostics),
        files=sum(s.files for s in scans), parsed=sum(s.parsed for s in scans),
        sources={path: source for s in scans for path, source in s.sources.items()},
        uses=tuple(use for s in scans for use in s.uses), skipped=sum(s.skipped for s in scans))
    return Run(findings=tuple(sorted((f for run in runs for f in run.findings), key=lambda f: f.sort_key)),
               scanned=scanned,
               measurements={site: m for run in runs for site, m in run.measurements.items()},
               registries=tuple(r for run in runs for r in run.registries),
               warnings=tuple(dict.fromkeys(w for run in runs for w in run.warnings)),
               notes=tuple(dict.fromkeys(n for run in runs for n in run.notes)))


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
