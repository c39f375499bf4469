"""The parent's handle on the worker process: start it, talk to it, kill and replace it.

The protocol (:mod:`esper_lint.protocol`) runs over the worker's stdin and its private
copy of stdout (the worker points its own fds 1 and 2 at /dev/null, so user prints never
arrive here); every line carries this run's token.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from esper_lint import trace
from esper_lint.config import Config
from esper_lint.protocol import Fatal, Message, ProtocolError, Ready, Request, decode, encode, unframe

TORCH_ALLOWANCE = 120.0  # seconds for the worker to import torch, apart from the timeout
GRACE = 2.0  # seconds for the worker to end what user code started before it is killed
PR_SET_PDEATHSIG = 1  # prctl(2)


@dataclass(frozen=True)
class Startup:
    """How the first worker started: what ``--statistics`` and the benchmarks report."""

    torch_version: str
    import_seconds: float  # ``import torch``


class WorkerUnavailable(Exception):
    """The worker could not be started (no torch, a broken interpreter, ...)."""


class WorkerTimeout(Exception):
    pass


class WorkerGone(Exception):
    """The worker's pipe closed: it exited or was killed."""


class Worker:
    """One worker process and the reading end of its protocol pipe."""

    def __init__(self, process: subprocess.Popen[bytes], token: bytes, *, ready: bool = True,
                 forks: int = 1) -> None:
        self.process = process
        self.forks = forks  # requests it serves at a time
        self.token = token
        self._buffer = bytearray()
        self.ready = ready  # it said ``ready`` (a spawned worker is not, until wait_until_ready)
        self.startup: Startup | None = None

    @classmethod
    def spawn(cls, config: Config) -> Worker:
        """The worker's process, started; it is ready once :meth:`wait_until_ready` returns."""
        token = secrets.token_hex(8)
        forks = fork_count(config)
        command = [sys.executable, "-P", "-m", "esper_lint.worker", "--forks", str(forks),
                   "--memory-limit-mb", str(config.memory_limit_mb), "--token", token]
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=config.root, env=worker_environment(), start_new_session=True,
                preexec_fn=dying_with_us())
        except OSError as error:
            raise WorkerUnavailable(f"cannot start {sys.executable}: {error}") from error
        return cls(process, token.encode(), ready=False, forks=forks)

    def wait_until_ready(self) -> Startup:
        try:
            message = self.receive(TORCH_ALLOWANCE)
        except WorkerTimeout:
            self.kill()
            raise WorkerUnavailable(f"importing torch took over {TORCH_ALLOWANCE:g} s") from None
        except WorkerGone:
            raise WorkerUnavailable(self.startup_error()) from None
        except ProtocolError as error:
            self.kill()
            raise WorkerUnavailable(f"the worker did not start: {error}") from None
        if not isinstance(message, Ready):
            self.kill()
            raise WorkerUnavailable(message.error if isinstance(message, Fatal)
                                    else "the worker did not start")
        trace.event("worker ready")
        return Startup(message.torch, message.import_seconds)

    def startup_error(self) -> str:
        """Why the worker died before it was ready (its stderr holds Python's own error)."""
        code = self.exit_code()
        assert self.process.stderr is not None
        lines = self.process.stderr.read().decode(errors="replace").strip().splitlines()
        self.kill()
        return f"the worker exited ({describe_exit(code)}): {lines[-1] if lines else 'no output'}"

    def send(self, request: Request) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(encode(request))
            self.process.stdin.flush()
        except OSError:
            raise WorkerGone from None

    def receive(self, seconds: float) -> Message:
        """The next message; WorkerTimeout after ``seconds``, WorkerGone at end of pipe.

        ProtocolError when the line is no message: the worker is then out of step.
        """
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + seconds
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise WorkerTimeout
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise WorkerGone
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return decode(unframe(self.token, line))

    def exit_code(self) -> int | None:
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Stop the worker and everything user code started, in its session or not.

        SIGTERM first: the worker, their subreaper, then kills the whole tree.  A
        worker that does not exit within the grace period is killed with its session.
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(GRACE)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        trace.event("worker ended")
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def fork_count(config: Config) -> int:
    """Modules the worker builds at a time: one per core, while each fork may use the memory
    limit without the forks together passing the machine's memory."""
    cores = os.cpu_count() or 1
    if config.memory_limit_mb <= 0:
        return cores
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1 << 20)
        return max(1, min(cores, memory_mb // config.memory_limit_mb))
    return 1


def dying_with_us() -> Callable[[], None] | None:
    """What the worker runs before its interpreter starts: ask Linux to kill it when we die.

    The worker asks again itself, but only once its imports are done; until then a signal that
    ends this process between starting the worker and keeping its handle (Ctrl-C during the
    static pass) would leave it importing torch with nobody to end it.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child only makes the call

    def ask() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    return ask


def worker_environment() -> dict[str, str]:
    here = str(Path(__file__).resolve().parent.parent)  # so any interpreter finds esper_lint
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": here + (os.pathsep + path if path else ""),
        "PYTHONDONTWRITEBYTECODE": "1",  # a linter must not leave __pycache__ in the user's tree
    }


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
        return f"signal {-code}"
    return f"exit code {code}"


class WorkerPool:
    """The one long-lived worker, replaced after it hangs, crashes or exits."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._worker: Worker | None = None
        self.startup: Startup | None = None

    def prepare(self) -> None:
        """Start the worker without waiting for it: torch imports while this process works on."""
        with contextlib.suppress(WorkerUnavailable):  # get() says so, if it is needed
            self._spawned()

    def _spawned(self) -> Worker:
        if self._worker is None:
            self._worker = Worker.spawn(self.config)
            # once the handle is kept: from here on every way out ends the worker (close())
            trace.event(f"worker started: pid {self._worker.process.pid}, {self._worker.forks} at a time")
        return self._worker

    def get(self) -> Worker:
        worker = self._spawned()
        if not worker.ready:
            try:
                worker.startup = worker.wait_until_ready()
            except WorkerUnavailable:  # it is ended already
                self._worker = None
                raise
            worker.ready = True
            self.startup = self.startup or worker.startup
        return worker

    def discard(self, *, dying: bool) -> int | None:
        """Kill the current worker; its exit code (negative: the signal that ended it).

        ``dying``: its pipe closed, so wait a moment for the exit code; a hung
        worker is killed at once.
        """
        if self._worker is None:
            return None
        worker, self._worker = self._worker, None
        code = worker.exit_code() if dying else None
        worker.kill()
        return code

    def close(self) -> None:
        # Killed rather than asked to exit: it holds no state worth keeping, and after
        # Ctrl-C it may still be inside user code.
        if self._worker is not None:
            self._worker.kill()
            self._worker = None


@contextlib.contextmanager
def started(config: Config) -> Iterator[WorkerPool]:
    """A pool whose worker is ended on every way out: an error, Ctrl-C, SIGTERM."""
    with unwinding_on_sigterm():
        pool = WorkerPool(config)
        try:
            yield pool
        finally:
            pool.close()


class Terminated(SystemExit):
    """SIGTERM arrived: unwind, so that the worker and all user code started are ended."""


@contextlib.contextmanager
def unwinding_on_sigterm() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def unwind(signum: int, frame: object) -> None:
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
