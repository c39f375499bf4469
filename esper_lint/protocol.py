"""The dynamic pass's protocol: what the parent (:mod:`esper_lint.measure`) and the
worker (``python -m esper_lint.worker``) say to each other.

The parent starts one worker and keeps it while it behaves.  The worker loads torch
once, says so, then answers requests on its private pipe, one module per request.
Every value is one JSON line; a message names itself in ``event``::

    <- {"event": "ready", "torch": "2.13.0", "import_seconds": 1.2}
       or {"event": "fatal", "error": "torch cannot be imported: ..."}
    -> {"module": "pkg.mod", "paths": [...], "project_roots": [...], "widths": [...],
        "grid": [...], "grid_widths": [...], "count": "all", "budget": 5.0,
        "cpu_limit": 1024, "items": [{"factory": "make", "estimate": null,
        "register": "BR.register", "keyword": "param_estimate", "position": 2}]}
    <- {"event": "imported", "files": [...]}    or {"event": "import_failed", "detail": "..."}
    <- {"event": "item", "index": 0, "variable": "dim", "params": [["rank", 8]],
        "counts": [[1, 12], ...], "outside": [[3, "ValueError: ..."]], "skipped": [],
        "samples": [[{"dim": 1, "rank": 2}, 6], ...], "truncated": null,
        "estimate_values": [[1, 12], ...], "estimate_error": null,
        "callable_register": false, "fetch_error": null, "memory_error": null,
        "internal_error": null}                 one per item, in order
    <- {"event": "done"}
    <- {"event": "ended", "code": 0}          the module's process exited (negative: a signal)

Torch imports its compiler stack (``torch._dynamo``, ~1 s, as long as torch itself) only at
the first arithmetic on meta tensors, which most blueprints never do.  Whichever process
imports it first says so: ``{"event": "warming"}`` before and ``{"event": "warmed"}`` after,
anywhere among a request's replies; the parent waits for ``warmed`` under the allowance it
gives torch's own import, not under the module's timeout.

The worker imports each module in a process of its own, forked after torch is loaded,
so one module's import side effects never reach another's measurement; ``ended``
comes from the worker itself once that process and everything it started are gone.
The parent may send the next requests before the current one is answered; the worker
then builds those modules at the same time, but passes each one's replies on whole and
in the order of the requests.
When user code kills its process early, ``ended`` arrives in place of the next message.

Every line on the pipe starts with the run's token (:func:`frame`), so a line that
user code wrote into the channel by accident is told apart from the worker's.

A request streams one line per stage rather than one reply, so that when user code
hangs or kills the worker the parent knows which factory did it and keeps what was
measured before.  An item that could not be measured has one of ``fetch_error``,
``memory_error`` or ``internal_error`` set and nothing measured.

Standard library only: the worker imports this module, and it must start under any
interpreter the parent was started with.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from esper_lint import record

MAX_QUOTED = 120  # characters of an unreadable line worth quoting in the error

Sample = tuple[tuple[tuple[str, int], ...], int]  # ((name, value) sorted by name, count)


class ProtocolError(Exception):
    """A line that is not a message of this protocol, or a message out of turn."""


# --- the request -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One registration in the module: the factory to build and how to inspect its estimate."""

    factory: str | None  # qualified name inside the module
    estimate: str | None  # the source of a callable estimate, to call at every width
    register: str  # the callee as written in the module, e.g. ``BR.register``
    keyword: str  # the estimate's keyword and position in the register function
    position: int


@dataclass(frozen=True)
class Request:
    """Import ``module`` and measure its items."""

    module: str
    paths: tuple[str, ...]  # sys.path entries the import needs
    project_roots: tuple[str, ...]  # loaded files under these are reported back
    widths: tuple[int, ...]
    grid: tuple[int, ...]  # values tried for each int keyword parameter ...
    grid_widths: tuple[int, ...]  # ... at these widths
    count: Literal["all", "trainable"]
    budget: float  # seconds of sampling per factory
    cpu_limit: int  # widest module built on CPU when the meta device cannot build it
    items: tuple[Item, ...]


# --- the messages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    event: ClassVar[str] = "ready"
    torch: str  # its version
    import_seconds: float


@dataclass(frozen=True)
class Fatal:
    event: ClassVar[str] = "fatal"
    error: str


@dataclass(frozen=True)
class Imported:
    event: ClassVar[str] = "imported"
    files: tuple[str, ...]  # project files loaded so far, for the parent's cache key


@dataclass(frozen=True)
class ImportFailed:
    event: ClassVar[str] = "import_failed"
    detail: str


@dataclass(frozen=True)
class ItemResult:
    """What building one item's factory showed, or why it could not be built."""

    event: ClassVar[str] = "item"
    index: int
    variable: str = "dim"  # the factory's width parameter
    params: tuple[tuple[str, int], ...] = ()  # its int keyword parameters and their defaults
    counts: tuple[tuple[int, int], ...] = ()  # (width, count) at the defaults
    outside: tuple[tuple[int, str], ...] = ()  # (width, error) where the factory raised
    skipped: tuple[tuple[int, str], ...] = ()  # too wide for CPU after the meta device failed
    samples: tuple[Sample, ...] = ()  # other keyword values
    truncated: str | None = None  # why sampling stopped before the widest widths
    estimate_values: tuple[tuple[int, int], ...] = ()  # (width, value) of a callable estimate
    estimate_error: str | None = None  # the first width where it failed
    callable_register: bool | None = None  # does the register function take callables?
    fetch_error: str | None = None
    memory_error: str | None = None
    internal_error: str | None = None


@dataclass(frozen=True)
class Done:
    event: ClassVar[str] = "done"


@dataclass(frozen=True)
class Warming:
    """Torch's compiler stack is being imported: torch's time, not the module's."""

    event: ClassVar[str] = "warming"


@dataclass(frozen=True)
class Warmed:
    event: ClassVar[str] = "warmed"


@dataclass(frozen=True)
class Ended:
    """The module's process is gone, and so is everything it started."""

    event: ClassVar[str] = "ended"
    code: int  # its exit code; negative: the signal that ended it


Message = Ready | Fatal | Imported | ImportFailed | ItemResult | Done | Warming | Warmed | Ended
EVENTS: dict[str, type[Message]] = {
    kind.event: kind for kind in (Ready, Fatal, Imported, ImportFailed, ItemResult, Done, Warming, Warmed,
                                  Ended)
}
M = TypeVar("M", bound=Message)
T = TypeVar("T")


# --- encoding and decoding ---------------------------------------------------------------------


def encode(value: Request | Message) -> bytes:
    """``value`` as one JSON line; a message's ``event`` comes first."""
    payload = dataclasses.asdict(value)
    if isinstance(value, ItemResult):
        payload["samples"] = [[dict(point), count] for point, count in value.samples]
    head = {} if isinstance(value, Request) else {"event": value.event}
    return json.dumps({**head, **payload}).encode() + b"\n"


def frame(token: bytes, line: bytes) -> bytes:
    """``line`` as sent on the pipe: after the run's token."""
    return token + b" " + line


def unframe(token: bytes, line: bytes) -> bytes:
    """The message inside a framed line; ProtocolError for a line without the token."""
    head, _, body = line.partition(b" ")
    if head != token:
        raise ProtocolError(f"a line not from the worker (user code wrote into its channel?): "
                            f"{_quote(line)}")
    return body


def decode(line: bytes | str) -> Message:
    """The message on ``line``; ProtocolError if it is none."""
    payload = _load(line)
    event = payload.pop("event", None)
    kind = EVENTS.get(event) if isinstance(event, str) else None
    if kind is None:
        raise ProtocolError(f"no known event: {_quote(line)}")
    if kind is ItemResult and isinstance(samples := payload.get("samples"), list):
        payload["samples"] = [_sample(sample) for sample in samples]
    return _build(kind, payload)


def decode_request(line: bytes | str) -> Request:
    return _build(Request, _load(line))


def expect(message: Message, kind: type[M]) -> M:
    """``message`` if it is the ``kind`` due now; ProtocolError if the worker said another."""
    if not isinstance(message, kind):
        raise ProtocolError(f"expected {kind.event!r}, got {message.event!r}")
    return message


def _load(line: bytes | str) -> dict[str, Any]:
    try:
        payload = json.loads(line)
    except (ValueError, TypeError, RecursionError):
        raise ProtocolError(f"not JSON: {_quote(line)}") from None
    if not isinstance(payload, dict):
        raise ProtocolError(f"not a JSON object: {_quote(line)}")
    return payload


def _sample(sample: object) -> object:
    """A sample's point as sorted ``[name, value]`` pairs: the wire writes it as an object."""
    if isinstance(sample, list) and sample and isinstance(point := sample[0], dict):
        return [sorted([name, value] for name, value in point.items()), *sample[1:]]
    return sample


def _quote(line: object) -> str:
    text = repr(line)
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "..."


def _build(kind: type[T], payload: dict[str, Any]) -> T:
    """A ``kind`` from a decoded JSON object, each field checked against its type."""
    try:
        built: T = record.load(kind, payload)
    except ValueError as error:
        where = error.args[0] if error.args else payload
        raise ProtocolError(f"{kind.__name__}: malformed at {_quote(where)}") from None
    return built
