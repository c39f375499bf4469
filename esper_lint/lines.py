"""Offsets ↔ line and column in a text, splitting lines as Python does (``\\r\\n``, ``\\r``, ``\\n``).

``str.splitlines`` also splits at form feeds and other separators, which would shift every
later line number against CPython's (``ast``, ``tokenize``) and LibCST's.
"""

from __future__ import annotations

import bisect
import re

from esper_lint.model import Span

PHYSICAL_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


class Lines:
    def __init__(self, text: str) -> None:
        self.lines: list[str] = PHYSICAL_LINE.findall(text)  # each with its own line ending
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, column: int) -> int:
        """The text offset of a 1-based line and a 0-based column."""
        return self.starts[line - 1] + column

    def content(self, line: int) -> str:
        """A 1-based line without its line ending."""
        return self.lines[line - 1].rstrip("\r\n")

    def ending(self, line: int) -> str:
        whole = self.lines[line - 1]
        return whole[len(whole.rstrip("\r\n")):]

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column of a text offset."""
        line = min(bisect.bisect_right(self.starts, offset), max(len(self.starts) - 1, 1))
        return line, offset - self.starts[line - 1] + 1

    def span(self, start: int, end: int) -> Span:
        (line, column), (end_line, end_column) = self.position(start), self.position(end)
        return Span(line, column, end_line, end_column)
