"""What CPython's tree lacks around the register calls: comments, real line ends, parentheses.

``tokenize`` supplies them (:class:`Tokens`), run only over the lines around each call: from
the start of the top-level statement holding the line above it (where no string or bracket is
open) to the call's last line, and on while a bracket is still open.  Comments, line ends and
brackets anywhere else concern no registration.

Most such lines are plain (:func:`_plain`): no ``#``, no backslash, no triple quote, no
f-string.  They hold no comment and every line end in them is real, and between two tokens
there is only whitespace, so the text next to an expression says what ``tokenize`` would:
whether a ``(`` and a ``)`` wrap it, and whether that ``(`` opens a call's arguments instead.
Pure-Python ``tokenize`` costs ~5 µs a token; that reading costs a few character tests.  It
answers only what it can be sure of: anything else (text that is not plain, a scan that leaves
the plain lines, a number or a line break before a ``(``) tokenizes the regions after all.
"""

from __future__ import annotations

import ast
import bisect
import keyword
import re
import tokenize
from collections.abc import Sequence
from typing import Protocol

from esper_lint.lines import Lines

_NOT_PLAIN = re.compile(r"""[#\\]|'''|\"\"\"|(?<!\w)(?:[fF][rRbB]?|[rRbB][fF])['"]""")
_SPACE = " \t\f\r\n"


class Source(Protocol):
    text: str
    where: Lines

    def range(self, node: ast.expr) -> tuple[int, int]: ...


class Unsure(Exception):
    """The plain reading cannot tell: only ``tokenize`` can."""


class Tokens:
    """Comments, real line ends and the parentheses around expressions, in the lines around
    the register calls (``calls``: the first and last line of each)."""

    def __init__(self, source: Source, tree: ast.Module, calls: Sequence[tuple[int, int]],
                 *, plain: bool = True) -> None:
        self.source = source
        self.regions = _regions(source.where, tree, calls)
        starts = source.where.starts
        self.bounds = [(starts[first - 1], starts[last]) for first, last in self.regions]
        self._read: _Read | None = None
        if not (plain and all(_plain(source.text[lo:hi]) for lo, hi in self.bounds)):
            self._tokenize()

    @property
    def tokenized(self) -> bool:
        return self._read is not None

    @property
    def comments(self) -> list[tuple[int, str]]:
        """(offset, text) of every real comment read: plain lines hold none."""
        return self._read.comments if self._read else []

    def ends_line(self, line: int) -> bool:
        """Is the end of ``line`` real (not inside a string or after a backslash)?"""
        if self._read is None and any(first <= line <= last for first, last in self.regions):
            return True
        return line in self._tokenize().closed

    def written(self, node: ast.expr) -> tuple[int, int]:
        """``node``'s offsets with the parentheses around it (not a call's own)."""
        if self._read is None:
            try:
                return self._plain_written(node)
            except Unsure:
                pass
        return self._tokenize().written(node)

    def _tokenize(self) -> _Read:
        if self._read is None:
            self._read = _Read(self.source, list(self.regions))
        return self._read

    def _plain_written(self, node: ast.expr) -> tuple[int, int]:
        start, end = self.source.range(node)
        text = self.source.text
        lo, hi = next(((lo, hi) for lo, hi in self.bounds if lo <= start and end <= hi), (0, 0))
        if hi == 0:
            raise Unsure
        if isinstance(node, ast.GeneratorExp):  # ``f(x for x in y)``: its range holds f's ( )
            if text[start] != "(" or text[end - 1] != ")":
                raise Unsure
            if _opens_call(text, start, lo):
                start, end = _skip(text, start + 1, 1), _skip(text, end - 2, -1) + 1
        while True:
            before = _skip(text, start - 1, -1)
            if before < lo or text[before] != "(":  # before the region: nothing
                return start, end
            after = _skip(text, end, 1)
            if after >= hi:
                raise Unsure
            if text[after] != ")" or _opens_call(text, before, lo):
                return start, end
            start, end = before, after + 1


def _plain(text: str) -> bool:
    """No comment, backslash, triple-quoted string or f-string: each line is its tokens."""
    return _NOT_PLAIN.search(text) is None


def _skip(text: str, at: int, step: int) -> int:
    """The first offset from ``at`` on (``step`` ±1) that is no whitespace (-1 or the
    text's length when there is none)."""
    while 0 <= at < len(text) and text[at] in _SPACE:
        at += step
    return at


def _opens_call(text: str, at: int, lo: int) -> bool:
    """Does the ``(`` at ``at`` open a call's arguments? What :func:`_calls` says of the token
    before it, read from the text (raises :class:`Unsure` where only ``tokenize`` knows)."""
    before = _skip(text, at - 1, -1)
    if before < lo:
        return False  # what precedes a region is no callee
    last = text[before]
    if last == "." or not last.isascii():
        raise Unsure  # ``1.`` or ``...``; a name's combining mark
    if last not in ")]}'\"" and not _word(last):
        return False  # an operator
    if "\n" in text[before:at] or "\r" in text[before:at]:
        raise Unsure  # the end of a statement between them, or not
    if last in ")]}'\"":
        return True
    first = before
    while first > lo and _word(text[first - 1]):
        first -= 1
    if text[first].isdigit() or (first > lo and not text[first - 1].isascii()):
        raise Unsure  # a number (maybe run into a keyword: ``1if``), or more of a name
    return not keyword.iskeyword(text[first:before + 1])


def _word(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


class _Read:
    """What ``tokenize`` read of the regions."""

    def __init__(self, source: Source, regions: list[tuple[int, int]]) -> None:
        self.source = source
        self.comments: list[tuple[int, str]] = []  # (offset, text) of every real comment read
        self.closed: set[int] = set()  # lines whose line end is real
        self.marks: list[tuple[int, int, int, str]] = []  # (start, end, type, string), no comments
        self.partner: dict[int, int] = {}  # index of a "(" in marks -> its ")"
        while regions:
            self._read(regions)
        self.starts = [mark[0] for mark in self.marks]

    def _read(self, regions: list[tuple[int, int]]) -> None:
        """Tokenize from the first region on, through every region it reaches, until no
        bracket is open past a region's last line (an enclosing call's ``)`` may be below)."""
        where, opened = self.source.where, list[int]()  # indices in marks of open brackets
        first, last = regions.pop(0)
        at = where.starts[first - 1]
        self.marks.append((at, at, tokenize.NEWLINE, ""))  # what precedes a region is no callee
        lines = (where.content(number) + "\n" for number in range(first, len(where.lines) + 1))
        for token in tokenize.generate_tokens(lines.__next__):
            line = token.start[0] + first - 1
            while line > last and regions and regions[0][0] <= line:
                last = max(last, regions.pop(0)[1])
            if line > last and not opened:
                return
            self._take(token, line, opened)

    def _take(self, token: tokenize.TokenInfo, line: int, opened: list[int]) -> None:
        start = self.source.where.offset(line, token.start[1])
        if token.type == tokenize.COMMENT:
            self.comments.append((start, token.string))
        elif token.type in (tokenize.NL, tokenize.NEWLINE):
            self.closed.add(line)
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
            return
        if token.type == tokenize.OP and token.string in ("(", "[", "{"):
            opened.append(len(self.marks))
        elif token.type == tokenize.OP and token.string in (")", "]", "}") and opened:
            self.partner[opened.pop()] = len(self.marks)
        self.marks.append((start, start + len(token.string), token.type, token.string))

    def written(self, node: ast.expr) -> tuple[int, int]:
        start, end = self.source.range(node)
        if isinstance(node, ast.GeneratorExp):
            start, end = self._unwrapped(start, end)
        while True:
            before = bisect.bisect_left(self.starts, start) - 1
            after = bisect.bisect_left(self.starts, end)
            if (after >= len(self.marks) or self.partner.get(before) != after
                    or self.marks[before][3] != "(" or _calls(self.marks[before - 1])):
                return start, end
            start, end = self.marks[before][0], self.marks[after][1]

    def _unwrapped(self, start: int, end: int) -> tuple[int, int]:
        """A call's only argument ``f(x for x in y)``: ast counts the call's parentheses in."""
        opening = bisect.bisect_left(self.starts, start)
        closing = self.partner.get(opening, -1)
        if closing < 0 or self.marks[closing][1] != end or not _calls(self.marks[opening - 1]):
            return start, end
        return self.marks[opening + 1][0], self.marks[closing - 1][1]


def _calls(mark: tuple[int, int, int, str]) -> bool:
    """Does a "(" after this token open a call's arguments (rather than wrap an expression)?"""
    _, _, kind, string = mark
    if kind == tokenize.NAME:
        return not keyword.iskeyword(string)
    return kind in (tokenize.NUMBER, tokenize.STRING) or string in (")", "]", "}")


def _regions(where: Lines, tree: ast.Module, calls: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (first, last) lines to tokenize, merged, each starting where no token is open."""
    groups: list[tuple[int, int]] = []  # top-level statements' lines; a shared line joins them
    for statement in tree.body:
        first = _first_line(statement, where)
        if groups and groups[-1][1] >= first:
            groups[-1] = (groups[-1][0], statement.end_lineno or first)
        else:
            groups.append((first, statement.end_lineno or first))
    starts = [first for first, _ in groups]
    wanted = []
    for first, last in calls:
        above = max(first - 1, 1)
        index = bisect.bisect_right(starts, above) - 1
        inside = index >= 0 and groups[index][1] >= above
        wanted.append((groups[index][0] if inside else above, last))
    merged: list[tuple[int, int]] = []
    for first, last in sorted(wanted):
        if merged and first <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return merged


def _first_line(statement: ast.stmt, where: Lines) -> int:
    """A top-level statement's first line: its first decorator's ``@``."""
    decorators: list[ast.expr] = getattr(statement, "decorator_list", [])
    first = min([statement.lineno, *(d.lineno for d in decorators)])
    while decorators and first > 1 and not where.content(first).lstrip().startswith("@"):
        first -= 1  # @(\n  register(...)\n)
    return first
