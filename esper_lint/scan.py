"""Stage 2, per file: read, skip files that cannot hold a registration, parse the rest.

LibCST is imported only when some file needs parsing, and files are parsed in
parallel processes when there are many of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from esper_lint.config import Config
from esper_lint.discover import SourceFile, diagnostic
from esper_lint.model import Finding, Site, Span, Use
from esper_lint.source import Source, SourceError, decode, read_bytes

if TYPE_CHECKING:
    from esper_lint.sites import FileFacts

PARALLEL_FROM = 48  # below this many files to parse, process start-up costs more than it saves


@dataclass(frozen=True)
class Parsed:
    facts: FileFacts
    source: Source | None  # kept for the fixer when the file has registrations


@dataclass(frozen=True)
class ScanResult:
    sites: tuple[Site, ...]
    callable_registers: frozenset[str]
    plain_registers: frozenset[str]
    diagnostics: tuple[Finding, ...]
    files: int  # files looked at
    parsed: int  # files parsed with LibCST
    sources: Mapping[Path, Source]  # what was read of each file with registrations
    uses: tuple[Use, ...] = ()  # reads of the estimate attribute


def needles(config: Config) -> tuple[bytes, ...]:
    """Byte strings one of which any file with a registration must contain."""
    names = {name.split(".")[-2] if "." in name else name for name in config.register_functions}
    return (config.estimate_keyword.encode(), *(name.encode() for name in sorted(names)))


def scan(files: Sequence[SourceFile], config: Config, jobs: int | None = None) -> ScanResult:
    wanted = needles(config)
    problems: list[Finding] = []
    candidates: list[tuple[SourceFile, bytes]] = []
    for file in files:
        try:
            data = read_bytes(file.path)
        except SourceError as error:
            problems.append(diagnostic(error.code, file.display, error.message))
            continue
        if any(needle in data for needle in wanted):
            candidates.append((file, data))
    results = _parse_all(candidates, config, jobs)
    parsed = [r for r in results if isinstance(r, Parsed)]
    problems.extend(r for r in results if isinstance(r, Finding))
    facts = [p.facts for p in parsed]
    return ScanResult(
        sites=tuple(site for f in facts for site in f.sites),
        callable_registers=frozenset(n for f in facts for n in f.callable_registers),
        plain_registers=frozenset(n for f in facts for n in f.plain_registers),
        diagnostics=tuple(problems),
        files=len(files),
        parsed=len(candidates),
        sources={p.facts.sites[0].path: p.source for p in parsed if p.source is not None},
        uses=tuple(use for f in facts for use in f.uses),
    )


def _parse_all(candidates: list[tuple[SourceFile, bytes]], config: Config,
               jobs: int | None) -> list[Parsed | Finding]:
    jobs = jobs or os.cpu_count() or 1
    if len(candidates) < PARALLEL_FROM or jobs < 2:
        return [parse_file(file.path, file.display, data, config) for file, data in candidates]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        chunk = max(1, len(candidates) // (jobs * 4))
        return list(pool.map(_parse_one, ((f, d, config) for f, d in candidates), chunksize=chunk))


def _parse_one(job: tuple[SourceFile, bytes, Config]) -> Parsed | Finding:
    file, data, config = job
    return parse_file(file.path, file.display, data, config)


def parse_file(path: Path, display: str, data: bytes, config: Config) -> Parsed | Finding:
    """One file's sites, or the one diagnostic that says why it could not be checked."""
    import libcst

    from esper_lint.sites import find_sites

    try:
        source = decode(data)
        facts = find_sites(path, display, source.text, config)
        return Parsed(facts, source if facts.sites else None)
    except SourceError as error:
        return diagnostic(error.code, display, error.message)
    except libcst.ParserSyntaxError as error:
        line, column, message = error.raw_line, error.raw_column + 1, error.message
        try:  # CPython names the real cause ("'(' was never closed") where LibCST cannot
            compile(source.text, display, "exec", dont_inherit=True)
        except SyntaxError as better:
            line, column, message = better.lineno or line, better.offset or column, better.msg
        except (ValueError, RecursionError, MemoryError):
            pass
        span = Span(line, column, line, column)
        return diagnostic("ESP999", display, f"syntax error: {_first_line(message)}", span)
    except RecursionError:
        return diagnostic("ESP999", display, "syntax error: expression nested too deeply to parse")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid syntax"

