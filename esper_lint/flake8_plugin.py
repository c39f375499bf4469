"""``flake8 --select ESP``: esper-lint's static pass as a flake8 plugin.

flake8 hands over the file's ``lines`` (so ``flake8 -`` and editors' unsaved buffers work);
the plugin runs the same parse and rules as ``esper-lint --no-dynamic`` on them, with the
configuration the CLI would read (``[tool.esper-lint]`` in the nearest ``pyproject.toml``), so
both report the same codes at the same lines and columns. It never imports user code or torch.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from esper_lint import __version__
from esper_lint.config import Config, Nearest
from esper_lint.model import Finding

Error = tuple[int, int, str, type]


@lru_cache(maxsize=1)
def nearest() -> Nearest:
    """The CLI's configuration for each file (each pyproject.toml read once per process)."""
    return Nearest()


def source_bytes(filename: str, lines: Sequence[str]) -> bytes:
    """The bytes the CLI would read: the file's own when ``lines`` are its text, else ``lines``
    in their declared encoding (``flake8 -`` and editors' ``--stdin-display-name``)."""
    text = "".join(lines)
    disk = _disk_bytes(filename)
    if disk is not None and _normalized(_as_flake8_reads(disk)) == _normalized(text):
        return disk
    data = text.encode("utf-8", "surrogateescape")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return text.encode(encoding)
    except (SyntaxError, LookupError, UnicodeError):
        return data


def _disk_bytes(filename: str) -> bytes | None:
    try:
        return Path(filename).read_bytes()
    except OSError:
        return None


def _as_flake8_reads(data: bytes) -> str:
    """Its declared encoding, falling back to latin-1 as flake8 does for undecodable files."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeError):
        return data.decode("latin-1")


def _normalized(text: str) -> str:
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def findings(filename: str, lines: Sequence[str], config: Config) -> list[Finding]:
    from esper_lint.pipeline import lint_source
    from esper_lint.scan import needles

    data = source_bytes(filename, lines)
    if not any(needle in data for needle in needles(config)):
        return []  # cannot hold a registration: not worth parsing, as in the CLI
    return lint_source(Path(filename).absolute(), filename, data, config)


class EsperLintPlugin:
    """A flake8 tree plugin; it asks for ``tree`` only because flake8 classifies plugins by it."""

    name = "esper-lint"
    version = __version__

    def __init__(self, tree: ast.AST, filename: str, lines: Sequence[str]) -> None:
        self.filename = filename
        self.lines = lines
        # Read here, not in ``run``: flake8 reports what a plugin's constructor raises as one
        # line naming the file, and what ``run`` raises as a traceback.
        self.config = nearest()(Path(filename).absolute())

    def run(self) -> Iterator[Error]:
        for finding in findings(self.filename, self.lines, self.config):
            # flake8 columns are 0-based in the tuple and printed 1-based, like esper-lint's
            yield finding.span.line, finding.span.column - 1, f"{finding.code} {finding.message}", type(self)
