"""Stage 7: write the findings' fixes into the files, verified and atomically, or not at all.

Each file is read once; all of its edits are exact text splices at the positions LibCST gave the
static pass, applied bottom-up. The result must parse and compile before anything is written,
and the file must still hold the bytes that were read.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import stat
import tempfile
import tokenize
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from esper_lint.discover import diagnostic
from esper_lint.lines import PHYSICAL_LINE, Lines
from esper_lint.model import Finding, Fix, Span
from esper_lint.sites import FORMULA_COMMENT
from esper_lint.source import Source, SourceError, encode, read, read_bytes

_ANY_WRITE_BIT = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
# mypy and pyright honour these only as the first comment on the line, so a formula goes after them
_STAYS_FIRST = re.compile(r"#\s*(?:type|pyright)\s*:")


@dataclass(frozen=True)
class FixResult:
    fixed: tuple[Finding, ...]  # findings whose fix was applied (or would be, under --diff)
    remaining: tuple[Finding, ...]  # findings not fixed (no fix, overlapping edit, file problem)
    unsafe_hidden: int  # unsafe callable conversions applied only as their safe comment
    diffs: tuple[str, ...]  # one unified diff per changed file (``--- a/path`` / ``+++ b/path``)
    problems: tuple[Finding, ...]  # ESP921/ESP922 diagnostics, one per file that was not written


@dataclass(frozen=True)
class Edit:
    start: int  # offsets into the decoded text
    end: int
    text: str

    def overlaps(self, other: Edit) -> bool:
        if self.start == self.end == other.start == other.end:
            return True  # two insertions at one point: their order would be a guess
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class FilePlan:
    """One file's fixes, worked out but not yet written."""

    display: str  # the path as the user typed it
    target: Path  # the file to write: symlinks resolved, so a link stays a link
    source: Source | None  # None when the file could not be read again
    new_text: str
    fixed: tuple[Finding, ...]
    remaining: tuple[Finding, ...]
    unsafe_hidden: int = 0
    problem: Finding | None = None

    @property
    def changed(self) -> bool:
        return self.source is not None and self.problem is None and self.new_text != self.source.text

    def refused(self, problem: Finding) -> FilePlan:
        """The same file, written not at all: every finding remains."""
        return FilePlan(self.display, self.target, self.source, self.source.text if self.source else "",
                        (), (*self.fixed, *self.remaining), problem=problem)


def apply_fixes(findings: Sequence[Finding], *, unsafe: bool = False, write: bool = True) -> FixResult:
    """Apply every applicable fix; with ``write=False`` only work out the diffs."""
    fixable, unfixable = _split_fixable(findings, unsafe)
    fixed: list[Finding] = []
    remaining = list(unfixable)
    hidden = 0
    diffs: list[str] = []
    problems: list[Finding] = []
    for display, group in _by_file(fixable).items():
        plan = plan_file(display, group, unsafe=unsafe)
        if write:
            plan = write_plan(plan)
        fixed.extend(plan.fixed)
        remaining.extend(plan.remaining)
        hidden += plan.unsafe_hidden
        if plan.problem is not None:
            problems.append(plan.problem)
        elif plan.changed and plan.source is not None:
            diffs.append(unified_diff(display, plan.source.text, plan.new_text))
    return FixResult(tuple(fixed), tuple(remaining), hidden, tuple(diffs), tuple(problems))


def _split_fixable(findings: Iterable[Finding], unsafe: bool) -> tuple[list[Finding], list[Finding]]:
    fixable: list[Finding] = []
    unfixable: list[Finding] = []
    for finding in findings:
        (fixable if _wanted(finding.fix, unsafe) is not None else unfixable).append(finding)
    return fixable, unfixable


def _by_file(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """Findings per file, keyed by the first path that named it (two names, one file: one group)."""
    displays: dict[str, str] = {}
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        display = displays.setdefault(os.path.realpath(finding.path), finding.path)
        groups.setdefault(display, []).append(finding)
    return groups


@dataclass(frozen=True)
class _Wanted:
    """What to do for one fix under the chosen safety level."""

    replacement: str | None
    comment: str | None
    hidden: bool  # an unsafe fix reduced to its safe comment


def _wanted(fix: Fix | None, unsafe: bool) -> _Wanted | None:
    if fix is None:
        return None
    if fix.applicability == "safe":
        return _Wanted(fix.replacement, fix.comment, hidden=False)
    if unsafe:
        return _Wanted(fix.replacement, None, hidden=False)
    return _Wanted(None, fix.comment, hidden=True) if fix.comment else None


def edits_for(text: SourceText, fix: Fix, *, unsafe: bool) -> list[Edit]:
    """The edits ``--fix`` (``--unsafe-fixes`` when ``unsafe``) makes in ``text`` for one fix."""
    wanted = _wanted(fix, unsafe)
    edits = text.edits_for(fix.span, wanted) if wanted is not None else None
    return [] if edits is None or isinstance(edits, _Stale) else edits


# --- planning one file ----------------------------------------------------------------------


def plan_file(display: str, findings: Sequence[Finding], *, unsafe: bool = False) -> FilePlan:
    """Read the file once and work out its new text; nothing is written."""
    target = Path(os.path.realpath(display))
    unread = FilePlan(display, target, None, "", (), tuple(findings))
    try:
        source = read(target)
    except SourceError as error:
        return unread.refused(_not_written(display, f"it could not be read again ({error.message})"))
    text = SourceText(source.text)
    chosen: list[Edit] = []
    fixed: list[Finding] = []
    remaining: list[Finding] = []
    hidden = 0
    for finding in findings:
        wanted = _wanted(finding.fix, unsafe)
        edits = text.edits_for(finding.fix.span, wanted) if finding.fix and wanted else None
        if isinstance(edits, _Stale):
            stale = _not_written(display, "it changed since it was checked; run esper-lint again")
            return replace(unread, source=source).refused(stale)
        if edits is None or not _fits(edits, chosen):
            remaining.append(finding)
            continue
        chosen.extend(e for e in edits if e not in chosen)
        fixed.append(finding)
        hidden += bool(wanted and wanted.hidden)
    plan = FilePlan(display, target, source, spliced(source.text, chosen), tuple(fixed),
                    tuple(remaining), hidden)
    broken = breakage(source.text, plan.new_text, display) if plan.changed else None
    return plan.refused(_would_break(display, broken)) if broken else plan


def _fits(edits: Sequence[Edit], chosen: Sequence[Edit]) -> bool:
    """No edit overlaps an edit already chosen (an identical edit is shared, not a clash)."""
    others = [c for c in chosen if c not in edits]
    return not any(e.overlaps(o) for e in edits for o in others)


def spliced(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with the (non-overlapping) edits applied, the last first so offsets hold."""
    pieces: list[str] = []
    end = len(text)
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        pieces += [text[edit.end:end], edit.text]
        end = edit.start
    pieces.append(text[:end])
    return "".join(reversed(pieces))


class _Stale:
    """The finding's span no longer holds the argument it named."""


_STALE = _Stale()


class SourceText(Lines):
    """The decoded file, with line offsets, its comments (via tokenize) and its argument spans."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text
        self._tokens: _Tokens | None = None
        self._arguments: frozenset[Span] | None = None

    def edits_for(self, span: Span, wanted: _Wanted) -> list[Edit] | _Stale | None:
        """The edits one fix needs: [] when already applied, None when no place is safe."""
        if not (1 <= span.line <= span.end_line <= len(self.lines)):
            return _STALE
        edits: list[Edit] = []
        if wanted.replacement is not None:
            edits.extend(self.replacement(span, wanted.replacement))
        if wanted.comment is not None:
            commented = self.comment(span, wanted.comment)
            if commented is None:
                return None
            edits.extend(commented)
        if edits and span not in self.arguments():
            return _STALE  # an edit is only ever made at an argument the static pass would report
        return edits

    @property
    def newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    # replacing the argument

    def replacement(self, span: Span, new: str) -> list[Edit]:
        start = self.offset(span.line, span.column - 1)
        end = self.offset(span.end_line, span.end_column - 1)
        if self.text[start:end] == new or self.text.startswith(new, start):
            return []  # already fixed
        return [Edit(start, end, new)]

    def arguments(self) -> frozenset[Span]:
        if self._arguments is None:
            self._arguments = _argument_spans(self.text)
        return self._arguments

    # formula comments

    def tokens(self) -> _Tokens:
        if self._tokens is None:
            self._tokens = _Tokens.of(self.text)
        return self._tokens

    def comment(self, span: Span, comment: str) -> list[Edit] | None:
        """Set the documented formula: rewrite the one that is there, else add ``comment``."""
        match = FORMULA_COMMENT.search(comment)
        if match is None or not match.group("expr"):
            return None
        expr = match.group("expr")
        existing = self.documented(span)
        if existing is not None:
            return [] if existing.text == expr else [Edit(existing.start, existing.end, expr)]
        return self.added_comment(span, comment)

    def documented(self, span: Span) -> Edit | None:
        """Where the ``# formula:`` expression is, looking where ``sites.documented_formula`` does."""
        for number in (span.end_line, span.line, span.line - 1):
            for column, comment in self.tokens().comments.get(number, ()):
                match = FORMULA_COMMENT.search(comment)
                if match and match.group("expr"):
                    start = self.offset(number, column + match.start("expr"))
                    return Edit(start, start + len(match.group("expr")), match.group("expr"))
        return None

    def added_comment(self, span: Span, comment: str) -> list[Edit] | None:
        """At the end of the argument's last line, before any comment there; else a line above."""
        tokens = self.tokens()
        last = span.end_line
        if last in tokens.closed:
            comments = tokens.comments.get(last)
            if comments and not _STAYS_FIRST.match(comments[0][1]):
                at = self.offset(last, comments[0][0])
                return [Edit(at, at, f"{comment}  ")]
            at = self.offset(last, len(self.content(last).rstrip()))
            return [Edit(at, at, f"  {comment}")]
        first = span.line
        if first == 1 or first - 1 in tokens.closed:
            line = self.content(first)
            indent = line[:len(line) - len(line.lstrip())]
            at = self.offset(first, 0)
            return [Edit(at, at, f"{indent}{comment}{self.ending(first) or self.newline}")]
        return None  # the line above ends inside a string or a backslash continuation


@dataclass(frozen=True)
class _Tokens:
    comments: dict[int, list[tuple[int, str]]]  # line -> (column, text) of its comments
    closed: frozenset[int]  # lines that end outside any string or backslash continuation

    @classmethod
    def of(cls, text: str) -> _Tokens:
        comments: dict[int, list[tuple[int, str]]] = {}
        closed: set[int] = set()
        # universal newlines: a lone CR ends a line for tokenize as it does for LibCST
        readline = io.StringIO(text, newline=None).readline
        try:
            for token in tokenize.generate_tokens(readline):
                if token.type == tokenize.COMMENT:
                    comments.setdefault(token.start[0], []).append((token.start[1], token.string))
                elif token.type in (tokenize.NL, tokenize.NEWLINE):
                    closed.add(token.start[0])
        except (tokenize.TokenError, SyntaxError):
            return cls({}, frozenset())
        return cls(comments, frozenset(closed))


def _argument_spans(text: str) -> frozenset[Span]:
    """The span of every call argument's value, as the static pass reports them."""
    try:
        wrapper = MetadataWrapper(cst.parse_module(text), unsafe_skip_copy=True)
    except cst.ParserSyntaxError:
        return frozenset()
    collector = _ArgumentSpans()
    wrapper.visit(collector)
    return frozenset(collector.spans)


class _ArgumentSpans(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self) -> None:
        super().__init__()
        self.spans: set[Span] = set()

    def visit_Arg(self, node: cst.Arg) -> None:
        where = self.get_metadata(PositionProvider, node.value)
        self.spans.add(Span(where.start.line, where.start.column + 1, where.end.line,
                            where.end.column + 1))


# --- verifying ------------------------------------------------------------------------------


def breakage(old: str, new: str, filename: str) -> str | None:
    """Why ``new`` is broken (LibCST cannot parse it, or it no longer compiles), else None."""
    try:
        cst.parse_module(new)
    except cst.ParserSyntaxError as error:
        return f"LibCST cannot parse the result: {str(error).splitlines()[0]}"
    problem = _compile_error(new, filename)
    if problem is not None and _compile_error(old, filename) is None:
        return f"the result does not compile: {problem}"
    return None  # when the original does not compile here either, LibCST's parse is the check


def _compile_error(text: str, filename: str) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings belong to the code, not to the fix
            compile(text, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        return str(error)
    return None


# --- writing --------------------------------------------------------------------------------


def write_plan(plan: FilePlan) -> FilePlan:
    """Write the plan's new text, unless the file is read-only or changed since it was read."""
    if not plan.changed or plan.source is None:
        return plan
    problem = _unwritable(plan.target, plan.source)
    if problem is None:
        try:
            _replace_atomically(plan.target, encode(plan.source, plan.new_text))
        except (OSError, UnicodeEncodeError) as error:
            problem = f"it could not be written ({_reason(error)})"
    return plan if problem is None else plan.refused(_not_written(plan.display, problem))


def _unwritable(target: Path, source: Source) -> str | None:
    try:
        mode = target.stat().st_mode
        current = read_bytes(target)
    except (OSError, SourceError) as error:
        return f"it could not be read again ({_reason(error)})"
    # the mode bits, not os.access alone: root may write anything, but a read-only file says "don't"
    if not mode & _ANY_WRITE_BIT or not os.access(target, os.W_OK):
        return "it is read-only"
    if current != source.data:
        return "it changed on disk since it was read"
    return None


def _replace_atomically(target: Path, data: bytes) -> None:
    """Write a sibling temporary file with the original's mode (and owner), then rename it over."""
    info = target.stat()
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp",
                                     delete=False) as handle:
        temporary = Path(handle.name)
        try:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
    try:
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        _keep_owner(temporary, info)
        os.replace(temporary, target)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def _keep_owner(path: Path, info: os.stat_result) -> None:
    after = path.stat()
    if (after.st_uid, after.st_gid) != (info.st_uid, info.st_gid):
        with contextlib.suppress(OSError):  # only root may give a file away; content matters more
            os.chown(path, info.st_uid, info.st_gid)


def _reason(error: Exception) -> str:
    if isinstance(error, SourceError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _not_written(display: str, why: str) -> Finding:
    return diagnostic("ESP921", display, f"fixes not written: {why}")


def _would_break(display: str, why: str) -> Finding:
    return diagnostic("ESP922", display, f"fixes not written: {why}; please report this bug")


# --- diffs ----------------------------------------------------------------------------------


def unified_diff(display: str, old: str, new: str) -> str:
    """A ``--- a/path`` / ``+++ b/path`` unified diff; each line keeps its own line ending."""
    name = display.replace(os.sep, "/").lstrip("/")
    lines = difflib.unified_diff(PHYSICAL_LINE.findall(old), PHYSICAL_LINE.findall(new),
                                 f"a/{name}", f"b/{name}")
    return "".join(_terminated(lines))


def _terminated(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        if line.endswith(("\n", "\r")):
            yield line
        else:
            yield f"{line}\n\\ No newline at end of file\n"
