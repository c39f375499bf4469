"""Stage 6: apply each finding's chosen fix — pick, splice, verify, write — or nothing at all.

The rules computed every fix as edits against the text the static pass read; this stage only
chooses among them and writes.  Per file: the file must still hold exactly the bytes that were
scanned; each finding gets at most one alternative (the first allowed one whose edits overlap no
edit already chosen); the result must parse, compile and read back as intended (each fixed
registration's estimate and formula as its fix says, every other one unchanged); and it is
written atomically, checked once more just before the rename.
"""

from __future__ import annotations

import difflib
import os
import stat
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from esper_lint.atomic import Changed, write_atomically
from esper_lint.config import Config, ConfigFor, per_file
from esper_lint.discover import diagnostic
from esper_lint.lines import PHYSICAL_LINE, Lines
from esper_lint.model import Edit, Finding, Fix, Site
from esper_lint.sites import find_sites
from esper_lint.source import Source, SourceError, encode, read_bytes

_ANY_WRITE_BIT = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


@dataclass(frozen=True)
class FixResult:
    fixed: tuple[Finding, ...]  # findings whose fix was written (or would be, under --diff)
    remaining: tuple[Finding, ...]  # findings not fixed (no fix, overlapping edit, file problem)
    unsafe_hidden: int  # findings whose unsafe fix was left for their safe alternative
    diffs: tuple[str, ...]  # one unified diff per changed file (``--- a/path`` / ``+++ b/path``)
    problems: tuple[Finding, ...]  # ESP921/ESP922 diagnostics, one per file that was not written
    texts: Mapping[Path, str] = field(default_factory=dict)  # each changed file's new text


@dataclass(frozen=True)
class _Splice:
    start: int  # offsets into the scanned text
    end: int
    text: str

    def overlaps(self, other: _Splice) -> bool:
        if self.start == self.end == other.start == other.end:
            return True  # two insertions at one point: their order would be a guess
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class FilePlan:
    """One file's chosen fixes, worked out but not yet written."""

    file: Path
    display: str
    source: Source
    new_text: str
    fixed: tuple[Finding, ...]
    remaining: tuple[Finding, ...]
    unsafe_hidden: int = 0
    problem: Finding | None = None

    @property
    def changed(self) -> bool:
        return self.problem is None and self.new_text != self.source.text

    def refused(self, problem: Finding) -> FilePlan:
        """The same file, written not at all: every finding remains."""
        return FilePlan(self.file, self.display, self.source, self.source.text, (),
                        (*self.fixed, *self.remaining), problem=problem)


def apply_fixes(findings: Sequence[Finding], sources: Mapping[Path, Source], sites: Sequence[Site],
                config: Config | ConfigFor, *, unsafe: bool = False, write: bool = True,
                on_disk: bool = True) -> FixResult:
    """Apply every applicable fix (each file under its configuration); with ``write=False``
    only work out the diffs and texts; ``on_disk=False``: the sources are not files (standard
    input), so none is read again."""
    config_for = per_file(config)
    remaining: list[Finding] = []
    groups: dict[Path, list[Finding]] = {}
    for f in findings:
        if f.fix_for(unsafe) is None or f.file is None or f.file not in sources:
            remaining.append(f)
        else:
            groups.setdefault(f.file, []).append(f)
    fixed: list[Finding] = []
    outcome = _Outcome()
    for file, group in groups.items():
        file_sites = [s for s in sites if s.path == file]
        plan = plan_file(file, group, sources[file], file_sites, config_for(file), unsafe=unsafe,
                         on_disk=on_disk)
        if write:
            plan = write_plan(plan)
        fixed.extend(plan.fixed)
        remaining.extend(plan.remaining)
        outcome.add(plan)
    return FixResult(tuple(fixed), tuple(remaining), outcome.hidden, tuple(outcome.diffs),
                     tuple(outcome.problems), outcome.texts)


@dataclass
class _Outcome:
    hidden: int = 0
    diffs: list[str] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    texts: dict[Path, str] = field(default_factory=dict)

    def add(self, plan: FilePlan) -> None:
        self.hidden += plan.unsafe_hidden
        if plan.problem is not None:
            self.problems.append(plan.problem)
        elif plan.changed:
            self.diffs.append(unified_diff(plan.display, plan.source.text, plan.new_text))
            self.texts[plan.file] = plan.new_text


# --- planning one file ----------------------------------------------------------------------


def plan_file(file: Path, findings: Sequence[Finding], source: Source, sites: Sequence[Site],
              config: Config, *, unsafe: bool = False, on_disk: bool = True) -> FilePlan:
    """Choose the fixes for one file and verify the result; nothing is written."""
    display = findings[0].path
    plan = FilePlan(file, display, source, source.text, (), tuple(findings))
    try:
        if on_disk and read_bytes(file) != source.data:
            return plan.refused(_not_written(display, "it changed since it was checked; "
                                             "run esper-lint again"))
    except SourceError as error:
        return plan.refused(_not_written(display, f"it could not be read again ({error.message})"))
    lines = Lines(source.text)
    chosen: list[_Splice] = []
    picked: dict[Finding, Fix] = {}
    for finding in findings:
        fix = _pick(finding, unsafe, lines, chosen)
        if fix is not None:
            picked[finding] = fix
    new_text = spliced(source.text, chosen)
    hidden = sum(1 for f, fix in picked.items() if fix is not f.fixes[0])
    plan = FilePlan(file, display, source, new_text, tuple(picked),
                    tuple(f for f in findings if f not in picked), hidden)
    if not plan.changed:
        return plan
    broken = breakage(source.text, new_text, display) or _misread(plan, sites, picked, config)
    return plan.refused(_would_break(display, broken)) if broken else plan


def _pick(finding: Finding, unsafe: bool, lines: Lines, chosen: list[_Splice]) -> Fix | None:
    """The first allowed alternative whose edits fit with those chosen so far; it joins them."""
    for fix in finding.fixes:
        if fix.applicability == "unsafe" and not unsafe:
            continue
        splices = [_splice(edit, lines) for edit in fix.edits]
        others = [c for c in chosen if c not in splices]  # an identical edit is shared, not a clash
        if not any(s.overlaps(o) for s in splices for o in others):
            chosen.extend(s for s in splices if s not in chosen)
            return fix
    return None


def _splice(edit: Edit, lines: Lines) -> _Splice:
    s = edit.span
    return _Splice(lines.offset(s.line, s.column - 1), lines.offset(s.end_line, s.end_column - 1),
                   edit.new_text)


def spliced(text: str, edits: Iterable[_Splice]) -> str:
    """``text`` with the (non-overlapping) edits applied, the last first so offsets hold."""
    pieces: list[str] = []
    end = len(text)
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        pieces += [text[edit.end:end], edit.text]
        end = edit.start
    pieces.append(text[:end])
    return "".join(reversed(pieces))


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


def _misread(plan: FilePlan, sites: Sequence[Site], picked: Mapping[Finding, Fix],
             config: Config) -> str | None:
    """Why the fixed text does not read back as the fixes say, else None.

    The static pass runs again on it: each fixed registration must show the fix's estimate and
    formula, every other registration what it showed before (a comment read as a neighbour's
    would be caught here).
    """
    after = find_sites(plan.file, plan.display, plan.new_text, config).sites
    if len(after) != len(sites):
        return f"the result holds {len(after)} registrations instead of {len(sites)}"
    wanted = {f.span: fix for f, fix in picked.items()}
    for old, new in zip(sites, after, strict=True):
        if old.estimate is None or new.estimate is None:
            continue
        fix = wanted.get(old.estimate.span)
        source = fix.estimate if fix else old.estimate.source
        formula = fix.formula if fix and fix.formula is not None else old.estimate.formula
        if (new.estimate.source, new.estimate.formula) != (source, formula):
            return (f"{old.blueprint.label} would read `{new.estimate.source}` documented as "
                    f"`{new.estimate.formula}`, not `{source}` documented as `{formula}`")
    return None


# --- writing --------------------------------------------------------------------------------


def write_plan(plan: FilePlan) -> FilePlan:
    """Write the plan's new text, unless the file is read-only or changed since it was read."""
    if not plan.changed:
        return plan
    target = Path(os.path.realpath(plan.file))  # a symlink stays a link
    problem = _read_only(target)
    if problem is None:
        try:
            write_atomically(target, encode(plan.source, plan.new_text), expected=plan.source.data)
        except Changed:
            problem = "it changed on disk since it was read"
        except (OSError, UnicodeEncodeError) as error:
            problem = f"it could not be written ({_reason(error)})"
    return plan if problem is None else plan.refused(_not_written(plan.display, problem))


def _read_only(target: Path) -> str | None:
    try:
        mode = target.stat().st_mode
    except OSError as error:
        return f"it could not be read again ({_reason(error)})"
    # the mode bits, not os.access alone: root may write anything, but a read-only file says "don't"
    if not mode & _ANY_WRITE_BIT or not os.access(target, os.W_OK):
        return "it is read-only"
    return None


def _reason(error: Exception) -> str:
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
