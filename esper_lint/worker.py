"""The child side of the dynamic pass: ``python -m esper_lint.worker``.

The parent (:mod:`esper_lint.measure`) starts one worker and keeps it while it
behaves.  The worker loads torch once, then answers requests on the protocol
channel, one module per request, each in a process forked for it: one module's
import side effects (a patched ``nn.Linear``, a filled registry) never reach
another's measurement, and the cost stays near one torch import.  Up to one fork
per core (``--forks``) builds at a time; their replies are passed on in request
order.  Each fork, and the worker above them, is the subreaper of everything user
code starts, so it can end it all, even processes that left its session.
:mod:`esper_lint.protocol` defines the messages.  Only the standard library, torch,
that module and the two it shares with the static pass (``record``, ``signature``) are
imported here: the worker must start under any interpreter the parent was started with.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import importlib
import importlib.abc
import importlib.util
import inspect
import mmap
import operator
import os
import resource
import select
import signal
import sys
import threading
import time
import traceback
import typing
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from esper_lint.protocol import (
    Done,
    Ended,
    Fatal,
    Imported,
    ImportFailed,
    Item,
    ItemResult,
    Message,
    Ready,
    Request,
    Sample,
    Warmed,
    Warming,
    decode_request,
    encode,
    frame,
)
from esper_lint.signature import accepts_callable

DOMAIN_ERRORS = (ValueError, AssertionError)  # how factories and torch modules reject a width
MAX_DETAIL = 300  # characters of an error's last line worth sending
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36  # prctl(2)
MAX_REAP_ROUNDS = 64  # of killing what user code left behind; a fork bomb cannot keep us busy
COMPILER = "torch._dynamo"  # imported by torch at the first arithmetic on meta tensors


@dataclass(frozen=True)
class Channel:
    """The private protocol pipe, out of reach of anything user code prints."""

    reader: BinaryIO
    writer: BinaryIO
    token: bytes
    # a thread of user code may import torch's compiler stack while the main thread sends
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: Message) -> None:
        with self.lock:
            self.writer.write(frame(self.token, encode(message)))
            self.writer.flush()


class FetchError(Exception):
    """The factory cannot be fetched by name from its module."""


class OutOfMemory(Exception):
    """Building the module hit the memory cap."""


# --- process setup ---------------------------------------------------------------------------


def claim_protocol_channel(token: bytes) -> Channel:
    """Move the pipes to private fds and point fds 0, 1, 2 at /dev/null.

    Done with ``os.dup2`` rather than by swapping ``sys.stdout`` so that C-level
    writes and subprocesses started by user code are silenced too, and user code
    reading stdin cannot eat a request.  The private fds sit at the top of the
    fd range, far from the 3, 4, 5 ... that code writing to an fd it believes
    inherited would pick, and are not inherited by user code's subprocesses.
    """
    reply_fd, request_fd = high_fd(1), high_fd(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    return Channel(os.fdopen(request_fd, "rb"), os.fdopen(reply_fd, "wb"), token)


def high_fd(fd: int) -> int:
    """A close-on-exec copy of ``fd`` near the top of the process's fd range."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = soft if 0 < soft < 1 << 16 else 1 << 16
    for lowest in (ceiling - 16, 64, 3):
        with contextlib.suppress(OSError):
            return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, max(lowest, 3))
    return os.dup(fd)


def limit_memory(megabytes: int) -> None:
    """Cap the heap the worker (torch plus user code) may allocate.

    RLIMIT_DATA rather than RLIMIT_AS: the address-space limit also counts the
    ~0.5 GB of libtorch that is mapped but never allocated, and the stacks and
    malloc arenas reserved per thread (which grow with the core count), so torch
    fails to import under modest RLIMIT_AS caps.  RLIMIT_DATA (Linux >= 4.7
    counts private anonymous mmaps in it) limits what building tensors really
    allocates; torch then raises "can't allocate memory" and Python MemoryError.
    """
    if megabytes <= 0:
        return
    limit = megabytes * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, min(limit, hard) if hard >= 0 else limit))


def prctl(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(option, value)


def die_with_parent() -> None:
    """Ask Linux to kill this process if its parent dies while user code hangs."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def child_pids() -> list[int]:
    """This process's children, from /proc (those it forked and those reparented to it)."""
    me, found = os.getpid(), []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError), \
                    open(f"/proc/{entry.name}/stat", "rb") as stat:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses
                if int(stat.read().rpartition(b")")[2].split()[1]) == me:
                    found.append(int(entry.name))
    return found


def end_descendants(keep: Collection[int] = ()) -> None:
    """Kill and reap everything user code started, even in sessions of its own, but ``keep``.

    This process is their subreaper: an orphan comes back here instead of going to
    init, so killing the children round by round reaches the whole tree.
    """
    for _ in range(MAX_REAP_ROUNDS):
        children = [pid for pid in child_pids() if pid not in keep]
        if not children:
            return
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


def stop(signum: int, frame: object) -> None:
    """SIGTERM from the parent: end the module's process tree, then the worker."""
    end_descendants()
    os._exit(128 + signum)


def load_torch() -> tuple[str, float]:
    """Import torch once; its version and the import's seconds."""
    started = time.perf_counter()
    import torch

    # Sampling builds tiny modules; extra intra-op threads only add memory and contention.
    torch.set_num_threads(1)
    return torch.__version__, time.perf_counter() - started


class Announcer(importlib.abc.MetaPathFinder):
    """Says ``warming`` and ``warmed`` around the import of torch's compiler stack.

    The first arithmetic on meta tensors (``torch.randn(d, r) / r`` in an ``__init__``)
    lazily imports ``torch._dynamo``: about as long as torch's own import, which most
    blueprint modules never pay.  So it is not paid up front but by the process that needs
    it, under the parent's torch allowance rather than the module's timeout.  ``needed`` is
    shared with the forks: once one module needed it, the worker loads it before the next
    fork, and the later forks inherit it.
    """

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.needed = mmap.mmap(-1, 1)

    def find_spec(self, name: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name != COMPILER:
            return None
        sys.meta_path.remove(self)  # once per process; the other finders find it
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = Announced(spec.loader, self)
        return spec


@dataclass(frozen=True)
class Announced(importlib.abc.Loader):
    loader: importlib.abc.Loader
    announcer: Announcer

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.announcer.needed[0] = 1
        self.announcer.channel.send(Warming())
        try:
            self.loader.exec_module(module)
        finally:
            self.announcer.channel.send(Warmed())


def warm_up() -> None:
    """Import torch's compiler stack the way blueprints do: by arithmetic on the meta device."""
    import torch

    with contextlib.suppress(Exception), torch.device("meta"):  # a fork that needs it retries
        (torch.ones(2, 2) / 2 + 1).sum()


# --- small helpers ---------------------------------------------------------------------------


def last_line(error: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(error), error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:MAX_DETAIL]


def raise_if_out_of_memory(error: BaseException) -> None:
    """Hitting the memory cap ends the factory's sampling; it is not an answer about a width."""
    if isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
    ):
        raise OutOfMemory(last_line(error)) from None


def under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


# --- import --------------------------------------------------------------------------------


def import_module(name: str, paths: Sequence[str]) -> ModuleType:
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def project_files(roots: Sequence[Path]) -> list[str]:
    """Files of loaded modules under the project's roots, for the parent's cache key.

    Exactly what importing the requested module loaded: each request runs in a
    fresh fork of a worker that has loaded torch and nothing of the project.
    """
    installed = [Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}]
    prefixes = tuple(str(root) for root in roots)
    files: set[str] = set()
    for module in list(sys.modules.values()):
        location = getattr(module, "__file__", None)
        # The prefix test first: thousands of torch modules need no resolve().
        if not isinstance(location, str) or not location.startswith(prefixes):
            continue
        path = Path(location).resolve()
        third_party = {"site-packages", "dist-packages"} & set(path.parts)
        if any(under(path, root) for root in roots) and not third_party and not any(
            under(path, prefix) for prefix in installed
        ):
            files.add(str(path))
    return sorted(files)


# --- the factory ------------------------------------------------------------------------------


def fetch_factory(module: ModuleType, qualname: str | None) -> Callable[..., Any]:
    if not qualname:
        raise FetchError("the registration does not name a factory the worker can fetch")
    if "<locals>" in qualname:
        raise FetchError(f"`{qualname}` is defined inside a function, so it cannot be fetched "
                         "by name; move the factory to module level")
    target: Any = module
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise FetchError(f"module {module.__name__} has no `{qualname}`") from None
    if not callable(target):
        raise FetchError(f"`{qualname}` in {module.__name__} is {type(target).__name__}, "
                         "not a callable (does the register decorator return the factory?)")
    return typing.cast(Callable[..., Any], target)


@dataclass(frozen=True)
class Shape:
    """What the factory's signature says: the width variable and the int keyword params."""

    variable: str
    params: tuple[tuple[str, int], ...]


def factory_shape(factory: Callable[..., Any]) -> Shape:
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return Shape("dim", ())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    first = next((p for p in parameters if p.kind in positional), None)
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = tuple(
        (p.name, p.default) for p in parameters
        if p is not first and p.kind in keyword and type(p.default) is int
    )
    return Shape(first.name if first else "dim", params)


@dataclass(frozen=True)
class Build:
    """Building at one width: a count, an error (outside the domain), or skipped."""

    count: int | None = None
    error: str | None = None
    skipped: str | None = None


@dataclass(frozen=True)
class Builder:
    factory: Callable[..., Any]
    trainable_only: bool
    cpu_limit: int

    def build(self, width: int, kwargs: Mapping[str, int]) -> Build:
        """Build on the meta device; on CPU when meta fails for a reason not about the width."""
        try:
            return Build(count=self._count(width, kwargs, "meta"))
        except DOMAIN_ERRORS as error:
            return Build(error=last_line(error))
        except BaseException as error:  # SystemExit from a factory is its answer too
            raise_if_out_of_memory(error)
            if width > self.cpu_limit:
                return Build(skipped=last_line(error))
        try:
            return Build(count=self._count(width, kwargs, "cpu"))
        except BaseException as error:
            raise_if_out_of_memory(error)
            return Build(error=last_line(error))

    def _count(self, width: int, kwargs: Mapping[str, int], device: str) -> int:
        import torch

        with torch.device(device):
            module = self.factory(width, **kwargs)
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"the factory returned {type(module).__name__}, not an nn.Module")
        # parameters() yields a tied (shared) parameter once.
        return sum(p.numel() for p in module.parameters()
                   if not self.trainable_only or p.requires_grad)


@dataclass(frozen=True)
class Clock:
    """The soft time budget of one factory: stop sampling before the parent's deadline."""

    budget: float
    started: float = field(default_factory=time.perf_counter)

    def spent(self) -> bool:
        return time.perf_counter() - self.started > self.budget


@dataclass(frozen=True)
class Widths:
    """Building at every width, params at their defaults, until the budget ran out."""

    counts: tuple[tuple[int, int], ...]
    outside: tuple[tuple[int, str], ...]
    skipped: tuple[tuple[int, str], ...]
    truncated: str | None


def count_widths(builder: Builder, widths: Sequence[int], clock: Clock) -> Widths:
    counts: list[tuple[int, int]] = []
    outside: list[tuple[int, str]] = []
    skipped: list[tuple[int, str]] = []
    truncated = None
    for width in widths:  # in the parent's order: spread first, so a budget cut keeps the spread
        if clock.spent():
            truncated = f"stopped before width {width} after {clock.budget:g} s"
            break
        build = builder.build(width, {})
        if build.count is not None:
            counts.append((width, build.count))
        elif build.error is not None:
            outside.append((width, build.error))
        elif build.skipped is not None:
            skipped.append((width, build.skipped))
    return Widths(tuple(sorted(counts)), tuple(sorted(outside)), tuple(sorted(skipped)), truncated)


def sample_params(builder: Builder, shape: Shape, request: Request, clock: Clock) -> tuple[Sample, ...]:
    """Vary one int keyword parameter at a time; values the factory rejects are skipped."""
    samples: list[Sample] = []
    defaults = dict(shape.params)
    for name, default in shape.params:
        for value in request.grid:
            if value == default:
                continue  # the default is sampled at every width already
            for width in request.grid_widths:
                if clock.spent():
                    return tuple(samples)
                build = builder.build(width, {name: value})
                if build.count is not None:
                    point = {**defaults, name: value, shape.variable: width}
                    samples.append((tuple(sorted(point.items())), build.count))
    return tuple(samples)


def measure_factory(module: ModuleType, qualname: str | None, request: Request,
                    index: int) -> ItemResult:
    try:
        factory = fetch_factory(module, qualname)
    except FetchError as error:
        return ItemResult(index, fetch_error=str(error))
    shape = factory_shape(factory)
    builder = Builder(factory, request.count == "trainable", request.cpu_limit)
    clock = Clock(request.budget)
    try:
        widths = count_widths(builder, request.widths, clock)
        samples = sample_params(builder, shape, request, clock) if widths.counts else ()
    except OutOfMemory as error:
        return ItemResult(index, memory_error=str(error))
    return ItemResult(index, variable=shape.variable, params=shape.params, counts=widths.counts,
                      outside=widths.outside, skipped=widths.skipped, samples=samples,
                      truncated=widths.truncated)


# --- the estimate and the register function ----------------------------------------------------


class NotACount(TypeError):
    """A callable estimate returned something that is not a whole number."""


def as_count(value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise NotACount(f"returned {type(value).__name__} {value!r}, not an int")
    return operator.index(value)


def evaluate_estimate(module: ModuleType, source: str, result: ItemResult,
                      widths: Sequence[int]) -> ItemResult:
    """Call a callable ``param_estimate`` at every width, as the module itself would see it."""
    try:
        # Evaluated where it was written: the module is imported (its code ran) already.
        estimate = eval(source, vars(module))
    except Exception as error:
        return replace(result, estimate_error=f"evaluating it raised {last_line(error)}")
    if not callable(estimate):
        return replace(result, estimate_error=f"it is a {type(estimate).__name__}")
    values: list[tuple[int, int]] = []
    first_error = None
    for width in widths:
        try:
            values.append((width, as_count(estimate(width))))
        except NotACount as error:
            first_error = first_error or f"at width {width} it {error}"
        except Exception as error:
            first_error = first_error or f"at width {width} it raised {last_line(error)}"
    return replace(result, estimate_values=tuple(values), estimate_error=first_error)


def resolve_dotted(namespace: Mapping[str, Any], dotted: str) -> Any:
    head, *rest = dotted.split(".")
    if head not in namespace:
        return None
    target = namespace[head]
    for part in rest:
        target = getattr(target, part, None)
        if target is None:
            return None
    return target


def takes_callable_estimate(module: ModuleType, item: Item) -> bool | None:
    """Is the register function's estimate parameter annotated with a callable type?"""
    register = resolve_dotted(vars(module), item.register)
    if register is None:
        return None
    try:
        parameters = inspect.signature(register).parameters
    except (TypeError, ValueError):
        return None
    param = parameters.get(item.keyword) or _positional(parameters, item.position)
    if param is None or param.annotation is inspect.Parameter.empty:
        return None
    written = param.annotation if isinstance(param.annotation, str) else repr(param.annotation)
    if accepts_callable(written):
        return True
    try:
        hint = typing.get_type_hints(register).get(param.name)
    except Exception:
        return None if isinstance(param.annotation, str) else False
    return accepts_callable(repr(hint))


def _positional(parameters: Mapping[str, inspect.Parameter],
                position: int) -> inspect.Parameter | None:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in parameters.values() if p.kind in kinds]
    return positional[position] if 0 <= position < len(positional) else None


# --- serving ---------------------------------------------------------------------------------


def measure_item(module: ModuleType, index: int, item: Item, request: Request,
                 memo: dict[str, ItemResult]) -> ItemResult:
    qualname = item.factory or ""
    if qualname not in memo:
        memo[qualname] = measure_factory(module, qualname, request, index)
    result = replace(memo[qualname], index=index,
                     callable_register=takes_callable_estimate(module, item))
    if item.estimate and result.fetch_error is None and result.memory_error is None:
        result = evaluate_estimate(module, item.estimate, result, request.widths)
    return result


def serve(request: Request, channel: Channel) -> None:
    try:
        module = import_module(request.module, request.paths)
    except BaseException as error:  # SystemExit and KeyboardInterrupt from user code too
        channel.send(ImportFailed(last_line(error)))
        return
    channel.send(Imported(tuple(project_files([Path(r) for r in request.project_roots]))))
    memo: dict[str, ItemResult] = {}
    for index, item in enumerate(request.items):
        try:
            result = measure_item(module, index, item, request, memo)
        except Exception as error:  # a bug here must not cost the other items
            result = ItemResult(index, internal_error=last_line(error))
        channel.send(result)
    channel.send(Done())


@dataclass
class Fork:
    """A module's process, serving one request; its replies wait here until their turn."""

    pid: int
    fd: int  # the reading end of its private pipe
    replies: bytearray = field(default_factory=bytearray)
    open: bool = True


def start_fork(request: Request, announcer: Announcer, others: Sequence[Fork]) -> Fork:
    """Serve ``request`` in a fresh fork that answers on a pipe of its own.

    The fork is the subreaper of what its module starts, and ends it all before it exits; what
    is orphaned when the fork itself dies comes back to the worker (:func:`reap`).
    """
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 70  # EX_SOFTWARE: serve() itself failed
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            die_with_parent()
            prctl(PR_SET_CHILD_SUBREAPER, 1)
            for fd in (reader, *(other.fd for other in others if other.open)):
                os.close(fd)
            private = os.fdopen(high_fd(writer), "wb")
            os.close(writer)  # out of reach of user code writing into low fds
            announcer.channel = replace(announcer.channel, writer=private, lock=threading.Lock())
            serve(request, announcer.channel)
            code = 0
        finally:
            end_descendants()
            os._exit(code)
    os.close(writer)
    return Fork(pid, reader)


def reap(fork: Fork, live: Sequence[Fork]) -> int:
    """Wait for ``fork``; end what it left behind (but not the other live forks); its exit code."""
    _, status = os.waitpid(fork.pid, 0)
    end_descendants(keep={other.pid for other in live})
    return os.waitstatus_to_exitcode(status)


def relay(live: deque[Fork], channel: Channel) -> None:
    """Pass on the first fork's whole reply lines; once it is gone, ``ended``, and the next's."""
    while live:
        first = live[0]
        whole = first.replies.rfind(b"\n") + 1
        if whole:
            with channel.lock:
                channel.writer.write(first.replies[:whole])
                channel.writer.flush()
            del first.replies[:whole]
        if first.open:
            return
        live.popleft()
        channel.send(Ended(reap(first, live)))


def readable(fds: Sequence[int]) -> list[int]:
    """Those of ``fds`` with something to read (or at their end); poll(), as the channel's fds
    sit near the top of the fd range, past what select() takes."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll()]


def serve_all(channel: Channel, announcer: Announcer, forks: int) -> None:
    """Serve the requests, each in a fork of its own, up to ``forks`` at a time; each module's
    replies are passed on whole and in the order of the requests."""
    live: deque[Fork] = deque()
    pending = bytearray()
    source = channel.reader.fileno()
    reading = True
    while reading or live or b"\n" in pending:
        while len(live) < forks and b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending = bytearray(rest)
            if line.strip():
                request = decode_request(line)
                if announcer.needed[0] and COMPILER not in sys.modules:
                    warm_up()
                live.append(start_fork(request, announcer, live))
        watched = [fork.fd for fork in live if fork.open]
        if reading and len(live) < forks:
            watched.append(source)
        if not watched:
            break
        for fd in readable(watched):
            chunk = os.read(fd, 1 << 16)
            if fd == source:
                pending += chunk
                reading = bool(chunk)
                continue
            fork = next(fork for fork in live if fork.fd == fd)
            fork.replies += chunk
            if not chunk:
                fork.open = False
                os.close(fd)
        relay(live, channel)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m esper_lint.worker")
    parser.add_argument("--memory-limit-mb", type=int, default=0)
    parser.add_argument("--token", default="")
    parser.add_argument("--forks", type=int, default=1, help="modules served at a time")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    channel = claim_protocol_channel(args.token.encode())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    signal.signal(signal.SIGTERM, stop)
    die_with_parent()
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    limit_memory(args.memory_limit_mb)
    try:
        version, imported = load_torch()
    except BaseException as error:
        limit = f" under memory-limit-mb = {args.memory_limit_mb}" if args.memory_limit_mb > 0 else ""
        channel.send(Fatal(f"torch cannot be imported{limit}: {last_line(error)}"))
        return 1
    channel.send(Ready(version, round(imported, 3)))
    announcer = Announcer(channel)
    sys.meta_path.insert(0, announcer)
    serve_all(channel, announcer, max(1, args.forks))
    return 0


if __name__ == "__main__":
    code = main()
    # Skip interpreter shutdown: threads user code started must not keep the worker alive.
    os._exit(code)
