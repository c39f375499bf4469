"""Stage 2, per file: read, skip files that cannot hold a registration, parse the rest.

Three screens, cheapest first: a byte search for the keyword and the registry's name (not
even a read for a file that held neither when last read and whose status stamp is the same,
:class:`esper_lint.cache.Stamps`); a cached result for the same content
(:mod:`esper_lint.cache`); CPython's parser, whose tree tells whether the file holds a register
call (:mod:`esper_lint.screen`).  The same tree then
gives the file's sites (:mod:`esper_lint.sites`); nothing here imports LibCST.  Files are
parsed in parallel processes when there are many of them; if a parsing process dies anyway
(out of memory), the files are parsed again one per process, so it costs one file, not the run.
A file over ``MAX_PARSE_BYTES`` is not parsed: the fixer would verify it with LibCST, whose
time and memory grow steeply with size.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from esper_lint import __version__, record
from esper_lint.cache import Cache, Stamps, stamp
from esper_lint.config import Config
from esper_lint.discover import SourceFile, diagnostic
from esper_lint.model import FileFacts, Finding, Site, Span, Use
from esper_lint.screen import register_leaves, screen
from esper_lint.source import Source, SourceError, decode, read_bytes, stat_regular

# Below this many files to parse, a pool's start-up and its results' pickling cost more than it
# saves (2 cores, blueprint files: even at 150 and 400 files, 0.35 s saved at 2,000).
PARALLEL_FROM = 300
MAX_PARSE_BYTES = 1 << 20  # LibCST, which verifies fixes, takes ~7 s and ~0.7 GB per MiB


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
    files: int  # files checked: read, and parsed when they could hold a registration
    parsed: int  # files read past the byte screen
    sources: Mapping[Path, Source]  # what was read of each file with registrations
    uses: tuple[Use, ...] = ()  # reads of the estimate attribute
    skipped: int = 0  # files read but not parsed: no registration can be in them


def needles(config: Config) -> tuple[bytes, ...]:
    """Byte strings one of which any file with a registration must contain."""
    names = {name.split(".")[-2] if "." in name else name for name in config.register_functions}
    return (config.estimate_keyword.encode(), *(name.encode() for name in sorted(names)))


def scan(files: Sequence[SourceFile], config: Config, jobs: int | None = None,
         given: Mapping[Path, bytes] | None = None,
         on_parse: Callable[[], None] | None = None) -> ScanResult:
    """``given``: files' bytes already read (standard input), in place of what is on disk;
    ``on_parse``: called before parsing, when a file that may register is not cached."""
    wanted = needles(config)
    cache = Cache.of(config)
    cached = cache.folder is not None  # a key costs a digest of the file: only for a cache
    stamps = Stamps(cache, _stamps_key(wanted)) if cached else None
    problems: list[Finding] = []
    candidates: list[tuple[SourceFile, bytes]] = []
    for file in files:
        try:
            data, now = (given[file.path], None) if given and file.path in given else _read(file.path, stamps)
        except SourceError as error:
            problems.append(diagnostic(error.code, file.display, error.message))
            continue
        if data is None:
            continue  # unchanged since it was read and held nothing
        hit = any(needle in data for needle in wanted)
        if stamps is not None and now is not None:
            stamps.record(str(file.path), now, clean=not hit)
        if hit:
            candidates.append((file, data))
    if stamps is not None:
        stamps.save()
    unread = len(problems)
    keys = {file: _key(file, data, config) for file, data in candidates if cached}
    results = {file: _recalled(cache.read(keys[file]), data) if cached else None for file, data in candidates}
    todo = [(file, data) for file, data in candidates if results[file] is None]
    leaves = [leaf.encode() for leaf in register_leaves(config)]
    if on_parse is not None and any(leaf in data for _, data in todo for leaf in leaves):
        on_parse()
    with _collector_paused():
        fresh = _parse_all(todo, config, jobs)
    for (file, _), result in zip(todo, fresh, strict=True):
        results[file] = result
        if cached:
            cache.write(keys[file], _entry(result))
    parsed = [r for r in results.values() if isinstance(r, Parsed)]
    problems.extend(r for r in results.values() if isinstance(r, Finding))
    facts = [p.facts for p in parsed]
    return ScanResult(
        sites=tuple(site for f in facts for site in f.sites),
        callable_registers=frozenset(n for f in facts for n in f.callable_registers),
        plain_registers=frozenset(n for f in facts for n in f.plain_registers),
        diagnostics=tuple(problems),
        files=len(files) - len(problems),  # a file with a diagnostic was not checked
        parsed=len(candidates),
        skipped=len(files) - unread - len(candidates),
        sources={p.facts.sites[0].path: p.source for p in parsed if p.source is not None},
        uses=tuple(use for f in facts for use in f.uses),
    )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cycle collection while parsing: trees and results hold no cycles, and each pass of
    the collector walks every result kept so far (it doubled the cost of reading results back
    from the parsing processes). What the parse kept then joins the oldest generation without
    a walk (freeze, then unfreeze), or the next young collections would walk all of it."""
    paused, frozen = gc.isenabled(), gc.get_freeze_count()
    gc.disable()
    try:
        yield
    finally:
        if not frozen:  # never thaw what someone else froze
            gc.freeze()
            gc.unfreeze()
        if paused:
            gc.enable()


def _read(path: Path, stamps: Stamps | None) -> tuple[bytes | None, list[int] | None]:
    """``path``'s bytes (None when ``stamps`` say it held nothing and is unchanged), and its
    stamp when there are ``stamps`` to keep it."""
    info = stat_regular(path)
    if stamps is None:
        return read_bytes(path, info), None
    now = stamp(info)
    if stamps.unchanged(str(path), now):
        return None, now
    return read_bytes(path, info), now


def _stamps_key(wanted: Sequence[bytes]) -> str:
    return "screened-" + hashlib.sha256(repr((__version__, wanted)).encode()).hexdigest()


def _key(file: SourceFile, data: bytes, config: Config) -> str:
    """A file's static facts depend on its bytes, where it is, the configuration, esper-lint."""
    asked = repr((__version__, "static", str(file.path), file.display, config)).encode()
    return "static-" + hashlib.sha256(asked + b"\0" + data).hexdigest()


def _entry(result: Parsed | Finding) -> dict[str, Any]:
    if isinstance(result, Finding):
        return {"finding": record.dump(result)}
    return {"facts": record.dump(result.facts)}


def _recalled(entry: Any, data: bytes) -> Parsed | Finding | None:
    """A cache entry as the parse it stands for; None (a miss) unless it is well formed."""
    try:
        if isinstance(entry, dict) and set(entry) == {"finding"}:
            finding: Finding = record.load(Finding, entry["finding"])
            return finding
        if isinstance(entry, dict) and set(entry) == {"facts"}:
            return _with_source(record.load(FileFacts, entry["facts"]), data)
    except (ValueError, TypeError, SourceError):
        pass
    return None


def _with_source(facts: FileFacts, data: bytes) -> Parsed:
    return Parsed(facts, decode(data) if facts.sites else None)


def _parse_all(candidates: list[tuple[SourceFile, bytes]], config: Config,
               jobs: int | None) -> list[Parsed | Finding]:
    jobs = jobs or os.cpu_count() or 1
    if len(candidates) < PARALLEL_FROM or jobs < 2:
        return [parse_file(file.path, file.display, data, config) for file, data in candidates]
    from concurrent.futures import ProcessPoolExecutor  # 50 ms to import: only for a pool
    from concurrent.futures.process import BrokenProcessPool

    chunk = max(1, len(candidates) // (jobs * 4))
    try:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = pool.map(_parse_one, ((f, d, config) for f, d in candidates), chunksize=chunk)
            return [_received(r, data) for r, (_, data) in zip(results, candidates, strict=True)]
    except BrokenProcessPool:
        return [_parse_alone(file, data, config) for file, data in candidates]


def _parse_one(job: tuple[SourceFile, bytes, Config]) -> FileFacts | Finding:
    """In a parsing process: a file's facts, without its text (the parent has its bytes)."""
    file, data, config = job
    result = parse_file(file.path, file.display, data, config)
    return result.facts if isinstance(result, Parsed) else result


def _received(result: FileFacts | Finding, data: bytes) -> Parsed | Finding:
    return _with_source(result, data) if isinstance(result, FileFacts) else result


def _parse_alone(file: SourceFile, data: bytes, config: Config) -> Parsed | Finding:
    """``file`` parsed in a process of its own: if that dies, only this file is lost."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(max_workers=1) as pool:
            return _received(pool.submit(_parse_one, (file, data, config)).result(), data)
    except BrokenProcessPool:
        return diagnostic("ESP904", file.display, "the parser crashed on this file")


def too_hard(text: str, display: str) -> Finding | ast.Module:
    """The diagnostic for a file that cannot be read as Python, or CPython's tree of it.

    CPython's parser rejects what Python cannot import, and has limits on nesting that keep
    it alive (LibCST, which verifies fixes, can crash on what CPython rejects).
    """
    if len(text) > MAX_PARSE_BYTES:
        return diagnostic("ESP904", display, f"file too large to parse ({len(text):,} characters; "
                          f"the limit is {MAX_PARSE_BYTES:,})")
    try:
        tree = ast.parse(text, display)
    except SyntaxError as error:
        span = Span(error.lineno or 1, error.offset or 1, error.lineno or 1, error.offset or 1)
        return diagnostic("ESP999", display, f"syntax error: {_first_line(error.msg)}", span)
    except ValueError as error:  # NUL bytes before Python 3.12
        return diagnostic("ESP999", display, f"syntax error: {_first_line(str(error))}")
    except (RecursionError, MemoryError):
        return diagnostic("ESP904", display, "expression nested too deeply to parse")
    return tree


def parse_file(path: Path, display: str, data: bytes, config: Config) -> Parsed | Finding:
    """One file's sites, or the one diagnostic that says why it could not be checked."""
    try:
        source = decode(data)
    except SourceError as error:
        return diagnostic(error.code, display, error.message)
    tree = too_hard(source.text, display)
    if isinstance(tree, Finding):
        return tree
    seen = screen(tree, source.text, path, display, config)
    if not seen.registers:
        return Parsed(FileFacts(sites=(), uses=seen.uses), None)
    from esper_lint.sites import find_sites  # only for a file with a register call or definition

    facts = replace(find_sites(path, display, source.text, config, tree, seen), uses=seen.uses)
    return Parsed(facts, source if facts.sites else None)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid syntax"

