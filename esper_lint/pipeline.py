"""The stages in order: discover → scan (static) → measure (dynamic) → registries → check.

``lint`` runs them over paths (the CLI's run, then ``fix`` and ``render``); ``lint_source``
runs the static stages over one buffer (the flake8 plugin's run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from esper_lint import registries
from esper_lint.check import check
from esper_lint.config import Config
from esper_lint.discover import discover
from esper_lint.model import Finding, Measurement, Site
from esper_lint.registries import Registry
from esper_lint.scan import Parsed, ScanResult, parse_file, scan


@dataclass(frozen=True)
class Run:
    findings: tuple[Finding, ...]
    scanned: ScanResult
    measurements: Mapping[Site, Measurement]
    registries: tuple[Registry, ...]
    warnings: tuple[str, ...]


def lint(paths: Sequence[str], config: Config, *, dynamic: bool = True, progress: bool = False,
         cache: bool = True, cwd: Path | None = None) -> Run:
    if not cache:
        config = replace(config, cache_dir="")  # an empty cache folder turns the cache off
    found = discover(paths, config, cwd)
    scanned = scan(found.files, config)
    measurements: Mapping[Site, Measurement] = {}
    warnings: tuple[str, ...] = ()
    if dynamic and scanned.sites:
        from esper_lint.measure import measure  # the dynamic pass, only when asked for

        result = measure(scanned.sites, config, progress=progress)
        measurements, warnings = result.measurements, result.warnings
    views = registries.build(scanned.sites, measurements, config, scanned.sites, scanned.uses)
    findings = check(scanned.sites, measurements, config, views, scanned.callable_registers,
                     [*found.diagnostics, *scanned.diagnostics])
    return Run(tuple(findings), scanned, measurements, views, warnings)


def lint_source(path: Path, display: str, data: bytes, config: Config) -> list[Finding]:
    """The static stages over one file's bytes (which need not be on disk)."""
    parsed = parse_file(path, display, data, config)
    if not isinstance(parsed, Parsed):
        return check((), {}, config, diagnostics=[parsed])
    sites = parsed.facts.sites
    views = registries.build(sites, {}, config, sites, parsed.facts.uses)
    return check(sites, {}, config, views, frozenset(parsed.facts.callable_registers))
