"""Stage 3, the dynamic pass: build every blueprint's factory at many widths and count.

User code never runs in this process, and neither does torch: one long-lived
worker (``python -m esper_lint.worker``) imports torch once and then each
blueprint module in a fresh fork of itself.  When user code exits, crashes or
runs out of memory, the blueprint being measured gets a :class:`Failure` and the
run goes on with the next blueprint in a new fork; a hang costs the worker,
which is replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import random
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import click

from esper_lint import formula, record, trace
from esper_lint.cache import Cache, make_key
from esper_lint.config import Config
from esper_lint.model import Failure, Formula, Measurement, Site
from esper_lint.modules import import_location
from esper_lint.protocol import (
    Done,
    Ended,
    Imported,
    ImportFailed,
    Item,
    ItemResult,
    Message,
    ProtocolError,
    Request,
    Warmed,
    Warming,
    decode,
    encode,
    expect,
)
from esper_lint.worker_process import (
    TORCH_ALLOWANCE,
    Startup,
    Worker,
    WorkerGone,
    WorkerPool,
    WorkerTimeout,
    WorkerUnavailable,
    describe_exit,
    started,
)

# beyond 1..256: a spread to 65,536, and the common model widths a reference width is inferred at
LARGER_WIDTHS = (257, 300, 320, 384, 448, 500, 512, 576, 640, 768, 896, 1000, 1024, 1152, 1280, 1536,
                 2048, 2560, 3000, 3072, 4096, 8192, 10000, 16384, 32768, 65536)
GRID_VALUES = (1, 2, 3, 4, 5, 6, 8, 12, 16)  # values tried for an int keyword parameter
GRID_LARGER_WIDTHS = (96, 128, 256, 512, 1024)  # besides 1..64, for the parameter grid
RANDOM_WIDTHS = 6  # drawn per run above 256, so that no fixed list of widths is all a formula meets
FIRST_WIDTHS = 8  # 1..8 and then the powers of two are sampled first: the spread a budget cut keeps
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


def sample_widths(config: Config, drawn: Sequence[int] = ()) -> tuple[int, ...]:
    """The widths to build, in the order to build them; ``drawn`` adds this run's random ones."""
    small = range(1, min(256, config.max_width) + 1)
    larger = (w for w in (*LARGER_WIDTHS, *drawn) if w <= config.max_width)
    widths = {*small, *larger, *(w for _, widths in config.reference_dims for w in widths)}
    return tuple(sorted(widths, key=lambda w: (w > FIRST_WIDTHS, w & (w - 1) != 0, w)))


def draw_widths(config: Config) -> tuple[int, ...]:
    """Widths at random, log-uniform over 257..max-width, for one run; none is a width sampled
    anyway, so every run builds as many widths and says the same."""
    if config.max_width <= 256:
        return ()
    fixed, drawn = set(sample_widths(config)), set[int]()
    span = math.log(257), math.log(config.max_width)
    for _ in range(100 * RANDOM_WIDTHS):  # bounded: a narrow range may hold fewer new widths
        if len(drawn) == RANDOM_WIDTHS:
            break
        width = round(math.exp(random.uniform(*span)))
        if width not in fixed:
            drawn.add(width)
    return tuple(sorted(drawn))


def grid_widths(config: Config) -> tuple[int, ...]:
    return tuple(w for w in (*range(1, 65), *GRID_LARGER_WIDTHS) if w <= config.max_width)


def request_for(job: ModuleJob, sites: Sequence[Site], config: Config,
                drawn: Sequence[int] = ()) -> Request:
    return Request(
        module=job.module,
        paths=tuple(str(p) for p in job.paths),
        project_roots=tuple(str(p) for p in dict.fromkeys((config.root.resolve(), *job.paths))),
        widths=sample_widths(config, drawn),
        grid=GRID_VALUES,
        grid_widths=grid_widths(config),
        count=config.count,
        # The worker stops sampling wider modules after this, well before our deadline.
        budget=config.timeout / 2,
        cpu_limit=CPU_LIMIT,
        items=tuple(item_for(site, config) for site in sites),
    )


def item_for(site: Site, config: Config) -> Item:
    callable_source = site.estimate.source if site.estimate and site.estimate.kind == "callable" else None
    return Item(
        factory=site.blueprint.factory,
        estimate=callable_source,
        register=site.register,
        keyword=config.estimate_keyword,
        position=config.estimate_position,
    )


# --- one module --------------------------------------------------------------------------------


@dataclass
class ModuleOutcome:
    items: dict[Site, ItemResult | Failure] = field(default_factory=dict)
    files: tuple[Path, ...] = ()


@dataclass
class Queue:
    """The modules to measure, in order.  While one module's replies are read, the requests of
    the next ones are sent already (as many as the worker serves at a time), so that they are
    built in parallel forks; the worker passes each module's replies on in request order."""

    jobs: Sequence[ModuleJob]
    config: Config
    drawn: Sequence[int] = ()
    sent: dict[ModuleJob, Worker] = field(default_factory=dict)  # ahead of their turn

    def send(self, worker: Worker, job: ModuleJob, request: Request) -> None:
        if self.sent.pop(job, None) is not worker:
            worker.send(request)
            trace.event(f"module {job.module} sent")
        following = self.jobs[self.jobs.index(job) + 1:][:worker.forks - 1]
        for later in following:
            if self.sent.get(later) is not worker:
                worker.send(request_for(later, later.sites, self.config, self.drawn))
                trace.event(f"module {later.module} sent")
                self.sent[later] = worker

    def out_of_turn(self, worker: Worker, job: ModuleJob) -> bool:
        """Would ``job``'s request reach ``worker`` after others' (a retry, for the rest of its
        sites)?  Their replies would come first."""
        return self.sent.get(job) is not worker and worker in self.sent.values()


def run_job(pool: WorkerPool, job: ModuleJob, config: Config, done: Callable[[int], None],
            queue: Queue | None = None) -> ModuleOutcome:
    """Measure a module's sites; after a hang or crash, go on in a new worker with the rest."""
    queue = queue or Queue((job,), config)
    outcome = ModuleOutcome()
    pending = list(job.sites)
    while pending:
        try:
            worker = pool.get()
        except WorkerUnavailable as error:
            failure = Failure("ESP913", "the worker could not be restarted", str(error))
            fail_all(pending, failure, outcome, done)
            return outcome
        if queue.out_of_turn(worker, job):
            pool.discard(dying=False)  # rare: a module's process died with sites left to build
            continue
        request = request_for(job, pending, config, queue.drawn)
        pending = attempt(worker, pool, job, (queue, request), pending, config, outcome, done)
    return outcome


class ModuleEnded(Exception):
    """The module's process ended before it said ``done``; the worker lives on."""

    def __init__(self, code: int) -> None:
        self.code = code


def receive(worker: Worker, config: Config) -> Message:
    """The module's next message; torch's compiler stack loads under torch's allowance."""
    message = worker.receive(config.timeout)
    while isinstance(message, Warming | Warmed):
        trace.event(f"torch compiler {message.event}")
        message = worker.receive(TORCH_ALLOWANCE if isinstance(message, Warming) else config.timeout)
    if isinstance(message, Ended):
        raise ModuleEnded(message.code)
    return message


def attempt(worker: Worker, pool: WorkerPool, job: ModuleJob, sending: tuple[Queue, Request],
            pending: list[Site], config: Config, outcome: ModuleOutcome,
            done: Callable[[int], None]) -> list[Site]:
    """Send the request for the pending sites; the sites still to measure when it stopped early."""
    imported = False
    measured = 0
    try:
        queue, request = sending
        queue.send(worker, job, request)
        message = receive(worker, config)
        if isinstance(message, ImportFailed):
            expect(worker.receive(config.timeout), Ended)
            failure = Failure("ESP911", f"importing {job.module} failed", message.detail)
            return fail_all(pending, failure, outcome, done)
        outcome.files = tuple(Path(f) for f in expect(message, Imported).files)
        imported = True
        for site in pending:
            outcome.items[site] = expect(receive(worker, config), ItemResult)
            measured += 1
            done(1)
        expect(receive(worker, config), Done)
        expect(worker.receive(config.timeout), Ended)
        trace.event(f"module {job.module} ended")
        return []
    except ModuleEnded as ended:
        failure = death_failure(job, ended.code, config, imported)
    except WorkerTimeout:
        pool.discard(dying=False)
        failure = timeout_failure(job, config, imported)
    except WorkerGone:
        failure = death_failure(job, pool.discard(dying=True), config, imported)
    except ProtocolError as error:
        pool.discard(dying=False)  # out of step: its next line may answer anything
        failure = protocol_failure(job, error, imported)
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


def during(job: ModuleJob, imported: bool) -> str:
    return "building it" if imported else f"importing {job.module}"


def timeout_failure(job: ModuleJob, config: Config, imported: bool) -> Failure:
    return Failure("ESP912", f"timed out after {config.timeout:g} s while {during(job, imported)}")


def protocol_failure(job: ModuleJob, error: ProtocolError, imported: bool) -> Failure:
    return Failure("ESP913", f"the worker broke the protocol while {during(job, imported)}",
                   str(error))


def death_failure(job: ModuleJob, code: int | None, config: Config, imported: bool) -> Failure:
    if code is not None and code >= 0 and not imported:
        return Failure("ESP911", f"importing {job.module} ended its process ({describe_exit(code)})")
    if code == -signal.SIGKILL:
        return Failure("ESP913", f"the worker was killed (SIGKILL) while {during(job, imported)}",
                       f"likely out of memory (memory-limit-mb = {config.memory_limit_mb})")
    return Failure("ESP913", f"the worker crashed ({describe_exit(code)}) while {during(job, imported)}")


# --- item results → measurements ------------------------------------------------------------------


def formula_samples(result: ItemResult) -> list[tuple[Mapping[str, int], int]]:
    defaults = dict(result.params)
    at_defaults = [({**defaults, result.variable: w}, c) for w, c in result.counts]
    return [*at_defaults, *((dict(point), c) for point, c in result.samples)]


def measurement_for(result: ItemResult | Failure, config: Config, slot: Slot | None = None) -> Measurement:
    if isinstance(result, Failure):
        return Measurement(failure=result)
    # what the register function accepts, as inspected; check.py weighs the configuration
    callable_estimates = result.callable_register
    failure = item_failure(result, config)
    if failure is not None:
        return Measurement(failure=failure, callable_estimates=callable_estimates)
    if not result.counts:
        return Measurement(variable=result.variable, params=result.params,
                           outside=tuple(w for w, _ in result.outside),
                           callable_estimates=callable_estimates, failure=raised_everywhere(result))
    return counted(result, callable_estimates, slot)


def item_failure(result: ItemResult, config: Config) -> Failure | None:
    if result.fetch_error is not None:
        return Failure("ESP914", "the factory cannot be fetched", result.fetch_error)
    if result.memory_error is not None:
        return Failure("ESP913", f"ran out of memory (memory-limit-mb = {config.memory_limit_mb})",
                       result.memory_error)
    if result.internal_error is not None:
        return Failure("ESP913", "the worker failed while measuring it", result.internal_error)
    return None


def raised_everywhere(result: ItemResult) -> Failure:
    # Widths skipped on the meta device raised too; they just were not retried on CPU.
    errors = [*result.outside, *result.skipped]
    detail = errors[-1][1] if errors else ""
    return Failure("ESP915", f"the factory raised at all {len(errors)} sampled widths", detail)


def counted(result: ItemResult, callable_estimates: bool | None, slot: Slot | None = None) -> Measurement:
    found = derived(result, slot or (Cache(None), ""))
    return Measurement(
        counts=result.counts,
        variable=result.variable,
        params=result.params,
        outside=tuple(w for w, _ in result.outside),
        domain=found.domain,
        formula=found.formula,
        no_formula=found.no_formula,
        estimate_values=result.estimate_values,
        callable_estimates=callable_estimates,
    )


@dataclass(frozen=True)
class Derived:
    """What the formula search made of a result's counts: the costly part of a measurement."""

    formula: Formula | None
    no_formula: str | None  # why no formula fits, when none does
    domain: str | None


Slot = tuple[Cache, str]  # where an item's derivation is cached: next to its module's entry


def derived(result: ItemResult, slot: Slot) -> Derived:
    """The search's answer for ``result``; cached with the counts it was verified against, so a
    rerun with the module's results cached reads the verified formula back instead of searching."""
    cache, key = slot
    counts = hashlib.sha256(repr(result).encode()).hexdigest()
    entry = cache.read(key)
    if isinstance(entry, dict) and entry.get("of") == counts:
        try:
            return record.load(Derived, entry.get("derived"))  # type: ignore[no-any-return]
        except ValueError:
            pass  # damaged or foreign: search again and replace it
    samples = formula_samples(result)
    found = formula.derive(samples, result.variable, result.params)
    inside = [w for w, _ in result.counts]
    outside = [w for w, _ in result.outside]
    answer = Derived(
        formula=found,
        no_formula=None if found else formula.why_not(samples, result.variable, result.params),
        domain=formula.domain_rule(inside, outside, result.variable) if outside else None,
    )
    cache.write(key, {"of": counts, "derived": record.dump(answer)})
    return answer


def report_warnings(site: Site, result: ItemResult | Failure) -> list[str]:
    """What the user should know about a measurement that still succeeded."""
    if isinstance(result, Failure) or not result.counts:
        return []
    where = f"{site.display}:{site.call.line}: {site.blueprint.label}"
    notes = []
    if result.truncated:
        notes.append(f"{where}: sampling {result.truncated} (timeout / 2); "
                     "the widest modules were not measured")
    if result.skipped:
        notes.append(f"{where}: {len(result.skipped)} widths above {CPU_LIMIT} were not measured: "
                     f"the meta device cannot build the module ({result.skipped[-1][1]})")
    if result.estimate_error and site.estimate is not None:
        notes.append(f"{where}: param_estimate `{site.estimate.source}`: "
                     f"{result.estimate_error}")
    return notes


# --- the pass ----------------------------------------------------------------------------------


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    if not enabled or total < PROGRESS_FROM:
        yield lambda _: None
        return
    with click.progressbar(length=total, label="Measuring blueprints", file=sys.stderr) as bar:
        yield bar.update


def measure(sites: Sequence[Site], config: Config, *, progress: bool = False,
            pool: WorkerPool | None = None) -> DynamicResult:
    """Build every site's factory in the worker; one warning and nothing else without torch.

    Modules whose results are in the cache, with every file their import loaded unchanged,
    are not measured again: a rerun with nothing changed starts no worker and no torch.
    ``pool``: one the caller started early (see :func:`esper_lint.worker_process.started`);
    its worker is ended here either way, used or not.
    """
    if not sites:
        return DynamicResult()
    jobs, unplaced = plan_jobs(sites, config)
    items: dict[Site, ItemResult | Failure] = dict(unplaced)
    files: dict[Path, tuple[Path, ...]] = {}
    cache = Cache.of(config)
    # The key leaves out this run's random widths: a result is reused with the evidence it had.
    keys = {job: make_key(encode(request_for(job, job.sites, config))) for job in jobs}
    drawn = draw_widths(config)
    cached = {job: _recall(cache, keys[job]) for job in jobs}
    with contextlib.ExitStack() as stack:
        pool = pool or stack.enter_context(started(config))
        try:
            if any(hit is None for hit in cached.values()):
                pool.get()
            with progress_bar(len(sites), progress) as done:
                done(len(unplaced))
                queue = Queue([job for job in jobs if cached[job] is None], config, drawn)
                for job in jobs:
                    hit = cached[job]
                    if hit is not None:
                        items.update(zip(job.sites, hit, strict=True))
                        done(len(job.sites))
                        continue
                    outcome = run_job(pool, job, config, done, queue)
                    items.update(outcome.items)
                    files[job.file] = outcome.files
                    _remember(cache, keys[job], job, outcome)
        except WorkerUnavailable as error:
            return DynamicResult(warnings=(f"dynamic pass skipped: {error}",))
        finally:
            pool.close()
    # each item's slot is named by its module's key: measuring the module again replaces it
    slots = {s: (cache, make_key("derived", keys[job], i)) for job in jobs for i, s in enumerate(job.sites)}
    return DynamicResult(
        measurements=MappingProxyType({s: measurement_for(items[s], config, slots.get(s)) for s in sites}),
        warnings=tuple(w for s in sites for w in report_warnings(s, items[s])),
        loaded_files=MappingProxyType(files),
        startup=pool.startup,
    )


def _recall(cache: Cache, key: str) -> list[ItemResult] | None:
    """A module's cached results, kept as the worker's lines: None unless all still decode."""
    lines = cache.load(key)
    if lines is None:
        return None
    try:
        return [expect(decode(line), ItemResult) for line in lines]
    except ProtocolError:
        return None


def _remember(cache: Cache, key: str, job: ModuleJob, outcome: ModuleOutcome) -> None:
    """Cache a module's results unless something failed (a timeout may not recur)."""
    lines = [encode(result) for result in map(outcome.items.get, job.sites)
             if isinstance(result, ItemResult)]
    if len(lines) == len(job.sites):
        cache.store(key, (job.file, *outcome.files), lines)
