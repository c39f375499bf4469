"""``--add-noqa``: suppress today's findings where they stand, so only new ones fail a run.

How a large codebase adopts the linter, as with ruff: each rule finding gets its code in a
``# noqa:`` comment at the end of a line the static pass reads for its registration (the
estimate's, else the call's first), merged into a ``# noqa:`` already there.  Only line ends
are touched, every file goes through the one writer, and a file is written only when reading
it back shows each registration suppressing exactly what was added: a second run adds nothing.
"""

from __future__ import annotations

import io
import os
import tokenize
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from esper_lint.atomic import Changed, write_atomically
from esper_lint.check import located, site_of
from esper_lint.config import Config, ConfigFor, per_file
from esper_lint.fix import breakage
from esper_lint.lines import Lines
from esper_lint.model import Finding, Site
from esper_lint.scan import Parsed, parse_file
from esper_lint.sites import NOQA
from esper_lint.source import Source, encode


@dataclass(frozen=True)
class Added:
    directives: int  # codes added, one per suppressed finding's code and place
    problems: tuple[str, ...]  # files left alone, and why


def add_noqa(findings: Sequence[Finding], sources: Mapping[Path, Source], sites: Sequence[Site],
             config: Config | ConfigFor) -> Added:
    """Suppress each finding with a ``# noqa`` comment, each file under its configuration."""
    config_for = per_file(config)
    wanted: dict[Path, dict[Site, set[str]]] = {}
    at = located(sites)
    for finding in findings:
        site = site_of(finding, at)
        if site is not None and finding.level != "warning" and site.path in sources:
            wanted.setdefault(site.path, {}).setdefault(site, set()).add(finding.code)
    count, problems = 0, []
    for path, codes in wanted.items():
        problem = _add_to_file(path, sources[path], codes, config_for(path))
        if problem is None:
            count += sum(len(c) for c in codes.values())
        else:
            problems.append(f"{next(iter(codes)).display}: no noqa added: {problem}")
    return Added(count, tuple(problems))


def _add_to_file(path: Path, source: Source, codes: Mapping[Site, set[str]], config: Config) -> str | None:
    lines = Lines(source.text)
    ends = _line_ends(source.text)
    per_line: dict[int, set[str]] = {}
    for site, more in codes.items():
        line = _line_for(site, ends)
        if line is None:
            return f"{site.blueprint.label}'s lines end inside a string or a continuation"
        per_line.setdefault(line, set()).update(more)
    text = "".join(_marked(lines, number, per_line.get(number), ends.get(number))
                   for number in range(1, len(lines.lines) + 1))
    problem = breakage(source.text, text, str(path)) or _misread(path, text, source, codes, config)
    if problem:
        return problem
    try:
        write_atomically(Path(os.path.realpath(path)), encode(source, text), expected=source.data)
    except Changed:
        return "it changed on disk since it was read"
    except (OSError, UnicodeEncodeError) as error:
        return f"it could not be written ({getattr(error, 'strerror', None) or error})"
    return None


def _line_ends(text: str) -> dict[int, int | None]:
    """Lines that end outside any string or continuation → the column of their comment, if any."""
    ends: dict[int, int | None] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                ends[token.start[0]] = token.start[1]
            elif token.type in (tokenize.NEWLINE, tokenize.NL):
                ends.setdefault(token.start[0], None)
    except (tokenize.TokenError, SyntaxError):
        return {}
    return ends


def _line_for(site: Site, ends: Mapping[int, int | None]) -> int | None:
    """The first line, nearest the estimate, whose ``# noqa`` the static pass reads for ``site``."""
    estimate = site.estimate
    candidates = [estimate.span.end_line, estimate.span.line] if estimate else []
    return next((line for line in (*candidates, site.call.line) if line in ends), None)


def _marked(lines: Lines, number: int, codes: set[str] | None, comment: int | None) -> str:
    whole = lines.lines[number - 1]
    if not codes:
        return whole
    content, ending = lines.content(number), lines.ending(number)
    existing = NOQA.search(content, comment) if comment is not None else None
    if existing is None or existing.group("codes") is None:
        stripped = content.rstrip()
        return f"{stripped}  # noqa: {_joined(codes)}{content[len(stripped):]}{ending}"
    listed = set(existing.group("codes").upper().replace(",", " ").split())
    start, end = existing.span("codes")
    return f"{content[:start]}{_joined(listed | codes)}{content[end:]}{ending}"


def _joined(codes: Iterable[str]) -> str:
    return ", ".join(sorted(codes))


def _misread(path: Path, text: str, source: Source, codes: Mapping[Site, set[str]],
             config: Config) -> str | None:
    """Does the new text read back with the same registrations, each suppressing its codes?"""
    display = next(iter(codes)).display
    parsed = parse_file(path, display, encode(source, text), config)
    if not isinstance(parsed, Parsed):
        return "the result does not parse"
    after = {site.call: site for site in parsed.facts.sites}
    for site, more in codes.items():
        new = after.get(site.call)
        if new is None or not all(new.suppresses(code) for code in more):
            return f"{site.blueprint.label} would not read the comment; please report this bug"
    return None
