"""``-`` and ``--stdin-filename``: lint an editor's buffer as if it were that file, as ruff does.

The static pass reads the buffer; the dynamic pass imports modules from disk, so it measures
only when the buffer is what the file on disk holds: a count is never quoted for code that is
not the code shown.  With ``--fix`` the fixed source (or the buffer unchanged) is what goes to
stdout, so an editor can always write it back.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from esper_lint.discover import Discovery, SourceFile, display_path
from esper_lint.source import Source, SourceError, encode, read_bytes


@dataclass(frozen=True)
class Buffer:
    path: Path  # absolute: where the file would be; its folder finds the configuration
    display: str  # the name in the output: the --stdin-filename as given, or "-"
    data: bytes

    def discovery(self) -> Discovery:
        return Discovery((SourceFile(self.path, self.display),), ())

    def unsaved(self) -> str | None:
        """Why the dynamic pass cannot measure this buffer, or None when it can."""
        try:
            saved = read_bytes(self.path)
        except SourceError:
            return f"{self.display} is not on disk; static pass only"
        if saved != self.data:
            return f"standard input differs from {self.display} on disk; static pass only"
        return None


def read(filename: str | None, cwd: Path | None = None) -> Buffer:
    here = (cwd or Path.cwd()).absolute()
    path = here / (filename or "stdin.py")
    display = display_path(path, here) if filename else "-"
    return Buffer(path, display, sys.stdin.buffer.read())


def wanted(paths: tuple[str, ...], filename: str | None) -> tuple[bool, str | None]:
    """Is standard input the file to lint? And the warning for a path it replaces, if any."""
    if filename is None:
        return paths == ("-",), None
    others = [p for p in paths if p != "-"]
    return True, (f"ignoring {others[0]} in favour of standard input" if others else None)


def fixed_data(buffer: Buffer, sources: Mapping[Path, Source], texts: Mapping[Path, str]) -> bytes:
    """The buffer with its fixes applied, in its own encoding; unchanged when nothing was fixed."""
    source, text = sources.get(buffer.path), texts.get(buffer.path)
    return encode(source, text) if source is not None and text is not None else buffer.data


def write_out(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
