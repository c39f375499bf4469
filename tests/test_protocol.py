"""The worker protocol: every message survives a round trip; anything else is one ProtocolError."""

from __future__ import annotations

import subprocess
import sys

import pytest

from esper_lint.protocol import (
    Done,
    Fatal,
    Imported,
    ImportFailed,
    Item,
    ItemResult,
    Message,
    ProtocolError,
    Ready,
    Request,
    Warmed,
    Warming,
    decode,
    decode_request,
    encode,
    expect,
)
from esper_lint.signature import accepts_callable

MEASURED = ItemResult(
    index=2, variable="dim", params=(("rank", 8),), counts=((1, 17), (2, 34)),
    outside=((3, "ValueError: dim must be even"),), skipped=((4096, "RuntimeError: meta"),),
    samples=(((("dim", 1), ("rank", 2)), 5),), truncated="stopped before width 8192 after 5 s",
    estimate_values=((1, 17), (2, 30)), estimate_error="at width 3 it raised ZeroDivisionError",
    callable_register=False,
)
MESSAGES: list[Message] = [
    Ready("2.13.0+cpu", 1.25),
    Fatal("torch cannot be imported: ModuleNotFoundError: No module named 'torch'"),
    Imported(("/p/pkg/__init__.py", "/p/pkg/mod.py")),
    ImportFailed("SystemExit: 3"),
    MEASURED,
    ItemResult(0, fetch_error="module pkg.mod has no `make`", callable_register=True),
    ItemResult(1, memory_error="MemoryError"),
    ItemResult(5, internal_error="KeyError: 'x'"),
    Done(),
    Warming(),
    Warmed(),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: Message) -> None:
    line = encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line) == message
    assert decode(line.decode()) == message


def test_the_request_round_trips() -> None:
    request = Request(
        module="pkg.mod", paths=("/p",), project_roots=("/p", "/p/src"), widths=(1, 2, 4096),
        grid=(1, 2), grid_widths=(1, 64), count="trainable", budget=2.5, cpu_limit=1024,
        items=(Item("make", None, "BR.register", "param_estimate", 2),
               Item(None, "lambda dim: dim", "register", "estimate", 0)))
    assert decode_request(encode(request)) == request


def test_the_wire_keeps_its_shape() -> None:
    assert encode(Ready("2.13.0", 1.0)) == b'{"event": "ready", "torch": "2.13.0", "import_seconds": 1.0}\n'
    assert b'"samples": [[{"dim": 1, "rank": 2}, 5]]' in encode(MEASURED)


@pytest.mark.parametrize("line", [
    b"Traceback (most recent call last):\n",
    b"\xff\xfe\n",
    b"[1, 2]\n",
    b'{"torch": "2.13.0"}\n',
    b'{"event": "surprise"}\n',
    b'{"event": ["item"]}\n',
    b'{"event": "ready", "torch": "2.13.0"}\n',
    b'{"event": "done", "extra": 1}\n',
    b'{"event": "imported", "files": "/p/mod.py"}\n',
    b'{"event": "item", "index": true}\n',
    b'{"event": "item", "index": 0, "counts": [[1, "many"]]}\n',
    b"[" * 100_000,
])
def test_a_malformed_line_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(line)


def test_a_malformed_request_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_request(b'{"module": "pkg.mod", "items": [{"factory": "make"}]}\n')


def test_a_message_out_of_turn_is_a_protocol_error() -> None:
    assert expect(MEASURED, ItemResult) is MEASURED
    with pytest.raises(ProtocolError, match="expected 'item', got 'done'"):
        expect(Done(), ItemResult)


@pytest.mark.parametrize(("annotation", "accepts"), [
    ("int", False),
    ("int | None", False),
    ("Callable[[int], int]", True),
    ("typing.Callable[[int], int]", True),
    ("int | Callable[..., int]", True),
    ("collections.abc.Callable[[int], int] | None", True),
])
def test_accepts_callable(annotation: str, accepts: bool) -> None:
    assert accepts_callable(annotation) is accepts


def test_the_worker_side_loads_nothing_else_of_esper_lint() -> None:
    probe = ("import sys, esper_lint.worker\n"
             "print(*sorted(m for m in sys.modules if m.partition('.')[0] == 'esper_lint'))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = done.stdout.split()
    assert loaded == ["esper_lint", "esper_lint.protocol", "esper_lint.record", "esper_lint.signature",
                      "esper_lint.worker"]
