"""Stage 3, the dynamic pass: build every blueprint's factory at many widths and count.

User code never runs in this process, and neither does torch: one long-lived
worker (``python -m esper_lint.worker``) imports torch once and then each
blueprint module in turn.  When user code hangs, exits, crashes or runs out of
memory, the blueprint being measured gets a :class:`Failure`, the worker is
replaced, and the run goes on with the next blueprint.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import click

from esper_lint import formula
from esper_lint.cache import Cache, make_key
from esper_lint.config import Config
from esper_lint.model import Failure, Measurement, Site
from esper_lint.worker_process import (
    Startup,
    Worker,
    WorkerGone,
    WorkerPool,
    WorkerTimeout,
    WorkerUnavailable,
    describe_exit,
)

Json = dict[str, Any]
LARGER_WIDTHS = (257, 300, 384, 500, 512, 640, 768, 1000, 1024, 1536, 2048, 3000, 4096, 8192,
                 10000, 16384, 32768, 65536)
GRID_VALUES = (1, 2, 3, 4, 5, 6, 8, 12, 16)  # values tried for an int keyword parameter
GRID_LARGER_WIDTHS = (96, 128, 256, 512, 1024)  # besides 1..64, for the parameter grid
CPU_LIMIT = 1024  # widest module built on CPU when the meta device cannot build it
PROGRESS_FROM = 6  # blueprints; fewer finish before a progress bar would be worth drawing


@dataclass(frozen=True)
class DynamicResult:
    measurements: Mapping[Site, Measurement] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    # For the cache key: each measured file → the project files loaded while importing it.
    # A superset (the worker keeps earlier modules loaded); empty when the import failed.
    loaded_files: Mapping[Path, tuple[Path, ...]] = field(default_factory=dict)
    startup: Startup | None = None


# --- which module each file is ---------------------------------------------------------------


@dataclass(frozen=True)
class ModuleJob:
    """One request: a module to import and the registrations found in it."""

    module: str
    paths: tuple[Path, ...]  # sys.path entries the import needs
    file: Path
    sites: tuple[Site, ...]


def package_root(path: Path) -> Path:
    """The folder above the outermost package (``__init__.py``) holding ``path``."""
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def import_location(path: Path, src_roots: Sequence[Path]) -> tuple[str, tuple[Path, ...]] | None:
    """The module name of ``path`` and the sys.path entries to import it; None if not a name.

    Like ruff's ``src``: a file under a configured source root is named from it
    (that also covers namespace packages).  The package root found by walking
    ``__init__.py`` files goes on sys.path as well, for a package's absolute
    imports of itself when the source root is further up.
    """
    path = path.resolve()
    packages = package_root(path)
    containing = [root for root in src_roots if root == path.parent or root in path.parents]
    root = max(containing, key=lambda r: len(r.parts)) if containing else packages
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts), tuple(dict.fromkeys((root, packages)))


def plan_jobs(sites: Sequence[Site], config: Config) -> tuple[list[ModuleJob], dict[Site, Failure]]:
    grouped: dict[tuple[str, tuple[Path, ...], Path], list[Site]] = {}
    unplaced: dict[Site, Failure] = {}
    roots = config.src_roots()
    for site in sites:
        location = import_location(site.path, roots)
        if location is None:
            unplaced[site] = Failure("ESP911", "the file's path is not an importable module name",
                                     str(site.path))
            continue
        grouped.setdefault((*location, site.path.resolve()), []).append(site)
    jobs = [ModuleJob(module, paths, file, tuple(found))
            for (module, paths, file), found in sorted(grouped.items(), key=lambda kv: kv[0][0])]
    return jobs, unplaced


# --- the requests ----------------------------------------------------------------------------


def sample_widths(config: Config) -> tuple[int, ...]:
    small = range(1, min(256, config.max_width) + 1)
    larger = (w for w in LARGER_WIDTHS if w <= config.max_width)
    return tuple(sorted({*small, *larger, *(w for _, widths in config.reference_dims for w in widths)}))


def grid_widths(config: Config) -> tuple[int, ...]:
    return tuple(w for w in (*range(1, 65), *GRID_LARGER_WIDTHS) if w <= config.max_width)


def request_for(job: ModuleJob, sites: Sequence[Site], config: Config) -> Json:
    return {
        "module": job.module,
        "paths": [str(p) for p in job.paths],
        "project_roots": [str(p) for p in dict.fromkeys((config.root.resolve(), *job.paths))],
        "widths": list(sample_widths(config)),
        "grid": list(GRID_VALUES),
        "grid_widths": list(grid_widths(config)),
        "count": config.count,
        # The worker stops sampling wider modules after this, well before our deadline.
        "budget": config.timeout / 2,
        "cpu_limit": CPU_LIMIT,
        "items": [item_for(site, config) for site in sites],
    }


def item_for(site: Site, config: Config) -> Json:
    callable_source = site.estimate.source if site.estimate and site.estimate.kind == "callable" else None
    return {
        "factory": site.blueprint.factory,
        "estimate": callable_source,
        "register": site.register,
        "keyword": config.estimate_keyword,
        "position": config.estimate_position,
    }


# --- one module --------------------------------------------------------------------------------


@dataclass
class ModuleOutcome:
    items: dict[Site, Json | Failure] = field(default_factory=dict)
    files: tuple[Path, ...] = ()


def run_job(pool: WorkerPool, job: ModuleJob, config: Config,
            done: Callable[[int], None]) -> ModuleOutcome:
    """Measure a module's sites; after a hang or crash, go on in a new worker with the rest."""
    outcome = ModuleOutcome()
    pending = list(job.sites)
    while pending:
        try:
            worker = pool.get()
        except WorkerUnavailable as error:
            failure = Failure("ESP913", "the worker could not be restarted", str(error))
            fail_all(pending, failure, outcome, done)
            return outcome
        pending = attempt(worker, pool, job, pending, config, outcome, done)
    return outcome


def attempt(worker: Worker, pool: WorkerPool, job: ModuleJob, pending: list[Site],
            config: Config, outcome: ModuleOutcome, done: Callable[[int], None]) -> list[Site]:
    """Send one request; the sites still to measure when it stopped early."""
    imported = False
    measured = 0
    try:
        worker.send(request_for(job, pending, config))
        message = worker.receive(config.timeout)
        if message["event"] == "import_failed":
            failure = Failure("ESP911", f"importing {job.module} failed", message["detail"])
            return fail_all(pending, failure, outcome, done)
        imported = True
        outcome.files = tuple(Path(f) for f in message["files"])
        for site in pending:
            outcome.items[site] = worker.receive(config.timeout)
            measured += 1
            done(1)
        worker.receive(config.timeout)  # "done"
        return []
    except WorkerTimeout:
        pool.discard(dying=False)
        failure = timeout_failure(job, config, imported)
    except WorkerGone:
        failure = death_failure(job, pool.discard(dying=True), config, imported)
    if not imported:
        return fail_all(pending, failure, outcome, done)
    if measured == len(pending):
        return []  # it failed after the last item; nothing was lost
    outcome.items[pending[measured]] = failure
    done(1)
    return pending[measured + 1:]


def fail_all(sites: list[Site], failure: Failure, outcome: ModuleOutcome,
             done: Callable[[int], None]) -> list[Site]:
    outcome.items.update(dict.fromkeys(sites, failure))
    done(len(sites))
    return []


def timeout_failure(job: ModuleJob, config: Config, imported: bool) -> Failure:
    during = "building it" if imported else f"importing {job.module}"
    return Failure("ESP912", f"timed out after {config.timeout:g} s while {during}")


def death_failure(job: ModuleJob, code: int | None, config: Config, imported: bool) -> Failure:
    during = "building it" if imported else f"importing {job.module}"
    if code is not None and code >= 0 and not imported:
        return Failure("ESP911", f"importing {job.module} ended the worker ({describe_exit(code)})")
    if code == -signal.SIGKILL:
        return Failure("ESP913", f"the worker was killed (SIGKILL) while {during}",
                       f"likely out of memory (memory-limit-mb = {config.memory_limit_mb})")
    return Failure("ESP913", f"the worker crashed ({describe_exit(code)}) while {during}")


# --- reports → measurements --------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """A worker's item message, typed."""

    variable: str
    params: tuple[tuple[str, int], ...]
    counts: tuple[tuple[int, int], ...]
    outside: tuple[tuple[int, str], ...]
    skipped: tuple[tuple[int, str], ...]
    samples: tuple[tuple[tuple[tuple[str, int], ...], int], ...]
    truncated: str | None
    estimate_values: tuple[tuple[int, int], ...]
    estimate_error: str | None

    @classmethod
    def parse(cls, message: Json) -> Report:
        return cls(
            variable=message["variable"],
            params=tuple((name, value) for name, value in message["params"]),
            counts=tuple((w, c) for w, c in message["counts"]),
            outside=tuple((w, e) for w, e in message["outside"]),
            skipped=tuple((w, e) for w, e in message["skipped"]),
            samples=tuple((tuple(sorted(point.items())), c) for point, c in message["samples"]),
            truncated=message["truncated"],
            estimate_values=tuple((w, v) for w, v in message.get("estimate_values", ())),
            estimate_error=message.get("estimate_error"),
        )

    def formula_samples(self) -> list[tuple[Mapping[str, int], int]]:
        defaults = dict(self.params)
        at_defaults = [({**defaults, self.variable: w}, c) for w, c in self.counts]
        return [*at_defaults, *((dict(point), c) for point, c in self.samples)]


def measurement_for(message: Json | Failure, config: Config) -> Measurement:
    if isinstance(message, Failure):
        return Measurement(failure=message)
    # what the register function accepts, as inspected; check.py weighs the configuration
    callable_estimates = message.get("callable_register")
    failure = item_failure(message, config)
    if failure is not None:
        return Measurement(failure=failure, callable_estimates=callable_estimates)
    report = Report.parse(message)
    if not report.counts:
        return Measurement(variable=report.variable, params=report.params,
                           outside=tuple(w for w, _ in report.outside),
                           callable_estimates=callable_estimates, failure=raised_everywhere(report))
    return counted(report, callable_estimates)


def item_failure(message: Json, config: Config) -> Failure | None:
    if "fetch_error" in message:
        return Failure("ESP914", "the factory cannot be fetched", message["fetch_error"])
    if "memory_error" in message:
        return Failure("ESP913", f"ran out of memory (memory-limit-mb = {config.memory_limit_mb})",
                       message["memory_error"])
    if "internal_error" in message:
        return Failure("ESP913", "the worker failed while measuring it", message["internal_error"])
    return None


def raised_everywhere(report: Report) -> Failure:
    # Widths skipped on the meta device raised too; they just were not retried on CPU.
    errors = [*report.outside, *report.skipped]
    detail = errors[-1][1] if errors else ""
    return Failure("ESP915", f"the factory raised at all {len(errors)} sampled widths", detail)


def counted(report: Report, callable_estimates: bool | None) -> Measurement:
    samples = report.formula_samples()
    found = formula.derive(samples, report.variable, report.params)
    inside = [w for w, _ in report.counts]
    outside = [w for w, _ in report.outside]
    return Measurement(
        counts=report.counts,
        variable=report.variable,
        params=report.params,
        outside=tuple(outside),
        domain=formula.domain_rule(inside, outside, report.variable) if outside else None,
        formula=found,
        no_formula=None if found else formula.why_not(samples, report.variable, report.params),
        estimate_values=report.estimate_values,
        callable_estimates=callable_estimates,
    )


def report_warnings(site: Site, message: Json | Failure) -> list[str]:
    """What the user should know about a measurement that still succeeded."""
    if isinstance(message, Failure) or not message.get("counts"):
        return []
    report = Report.parse(message)
    where = f"{site.display}:{site.call.line}: {site.blueprint.label}"
    notes = []
    if report.truncated:
        notes.append(f"{where}: sampling {report.truncated} (timeout / 2); "
                     "the widest modules were not measured")
    if report.skipped:
        notes.append(f"{where}: {len(report.skipped)} widths above {CPU_LIMIT} were not measured: "
                     f"the meta device cannot build the module ({report.skipped[-1][1]})")
    if report.estimate_error and site.estimate is not None:
        notes.append(f"{where}: param_estimate `{site.estimate.source}`: "
                     f"{report.estimate_error}")
    return notes


# --- the pass ----------------------------------------------------------------------------------


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    if not enabled or total < PROGRESS_FROM:
        yield lambda _: None
        return
    with click.progressbar(length=total, label="Measuring blueprints", file=sys.stderr) as bar:
        yield bar.update


def measure(sites: Sequence[Site], config: Config, *, progress: bool = False) -> DynamicResult:
    """Build every site's factory in the worker; one warning and nothing else without torch.

    Modules whose results are in the cache, with every file their import loaded unchanged,
    are not measured again: a rerun with nothing changed starts no worker and no torch.
    """
    if not sites:
        return DynamicResult()
    jobs, unplaced = plan_jobs(sites, config)
    items: dict[Site, Json | Failure] = dict(unplaced)
    files: dict[Path, tuple[Path, ...]] = {}
    cache = Cache(config.root / config.cache_dir if config.cache_dir else None)
    keys = {job: make_key(json.dumps(request_for(job, job.sites, config), sort_keys=True))
            for job in jobs}
    cached = {job: cache.load(keys[job]) for job in jobs}
    pool = WorkerPool(config)
    try:
        if any(hit is None for hit in cached.values()):
            pool.get()
        with progress_bar(len(sites), progress) as done:
            done(len(unplaced))
            for job in jobs:
                hit = cached[job]
                if hit is not None:
                    items.update(zip(job.sites, hit, strict=True))
                    done(len(job.sites))
                    continue
                outcome = run_job(pool, job, config, done)
                items.update(outcome.items)
                files[job.file] = outcome.files
                _remember(cache, keys[job], job, outcome)
    except WorkerUnavailable as error:
        return DynamicResult(warnings=(f"dynamic pass skipped: {error}",))
    finally:
        pool.close()
    return DynamicResult(
        measurements=MappingProxyType({s: measurement_for(items[s], config) for s in sites}),
        warnings=tuple(w for s in sites for w in report_warnings(s, items[s])),
        loaded_files=MappingProxyType(files),
        startup=pool.startup,
    )


def _remember(cache: Cache, key: str, job: ModuleJob, outcome: ModuleOutcome) -> None:
    """Cache a module's results unless something failed (a timeout may not recur)."""
    results = [outcome.items.get(site) for site in job.sites]
    if all(isinstance(result, dict) for result in results):
        cache.store(key, (job.file, *outcome.files), results)
