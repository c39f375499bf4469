"""Reading a Python file's text the way Python would (PEP 263 cookies, BOMs)."""

from __future__ import annotations

import codecs
import io
import os
import stat
import tokenize
from dataclasses import dataclass
from pathlib import Path


class SourceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Source:
    data: bytes  # the file as read, to detect changes before writing
    text: str  # decoded, line endings untouched
    encoding: str  # as declared (``utf-8-sig`` when a BOM is present)


def stat_regular(path: Path) -> os.stat_result:
    """``path``'s status; SourceError unless it is a regular file (a FIFO or device would block
    or never end)."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise SourceError("ESP901", f"cannot read file: {error.strerror or error}") from error
    if not stat.S_ISREG(info.st_mode):
        raise SourceError("ESP901", "cannot read file: not a regular file")
    return info


def read_bytes(path: Path, info: os.stat_result | None = None) -> bytes:
    """The bytes of the regular file at ``path`` (``info``: its status, if already asked)."""
    info = info or stat_regular(path)
    try:
        return _read(path, info.st_size)
    except OSError as error:
        raise SourceError("ESP901", f"cannot read file: {error.strerror or error}") from error


def _read(path: Path, size: int) -> bytes:
    """All of the file, read to its end (it may have changed since it was measured).
    ``Path.read_bytes`` builds two file objects per file: a third of the reading over torch."""
    handle = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = [os.read(handle, size + 1)]
        while parts[-1]:
            parts.append(os.read(handle, 1 << 20))
        return parts[0] if len(parts) == 2 else b"".join(parts)
    finally:
        os.close(handle)


def decode(data: bytes) -> Source:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        codecs.lookup(encoding)
        text = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as error:
        raise SourceError("ESP902", f"cannot decode file: {_reason(error)}") from error
    if text.startswith("\ufeff"):
        text = text[1:]
    return Source(data=data, text=text, encoding=encoding)


def read(path: Path) -> Source:
    return decode(read_bytes(path))


def encode(source: Source, text: str) -> bytes:
    """``text`` in the file's own encoding (a BOM stays a BOM)."""
    return text.encode(source.encoding)


def _reason(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"invalid {error.encoding} byte at offset {error.start}"
    return str(error).splitlines()[0]
