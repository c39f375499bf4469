"""The stages in order: discover → scan (static) → measure (dynamic) → check → report.

The CLI, the flake8 plugin and the benchmarks all run this one function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from esper_lint.check import check
from esper_lint.config import Config
from esper_lint.discover import discover
from esper_lint.model import Finding, Measurement, Site
from esper_lint.scan import ScanResult, scan


@dataclass(frozen=True)
class Outcome:
    findings: tuple[Finding, ...]
    scanned: ScanResult
    measurements: Mapping[Site, Measurement]
    warnings: tuple[str, ...]


def lint(paths: Sequence[str], config: Config, *, dynamic: bool = True, progress: bool = False,
         cache: bool = True, cwd: Path | None = None) -> Outcome:
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
    findings = check(scanned.sites, measurements, config, scanned.callable_registers,
                     [*found.diagnostics, *scanned.diagnostics])
    return Outcome(tuple(findings), scanned, measurements, warnings)
