"""Stage 1: paths on the command line → the Python files to lint."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from esper_lint.config import Config
from esper_lint.model import Finding, Span

if TYPE_CHECKING:
    import pathspec

FILE_START = Span(1, 1, 1, 1)


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    display: str  # as the user would type it


@dataclass(frozen=True)
class Discovery:
    files: tuple[SourceFile, ...]
    diagnostics: tuple[Finding, ...]
    skipped: tuple[str, ...] = ()  # files named that are not Python: one warning each


def display_path(path: Path, cwd: Path) -> str:
    """``path`` relative to ``cwd`` when inside it, else absolute."""
    # on strings: both are absolute and normalised, so this is relative_to at a tenth of its cost
    text, folder = str(path), str(cwd).rstrip(os.sep)
    if text.startswith(folder + os.sep):
        return text[len(folder) + 1:]
    return "." if text == folder else text


def diagnostic(code: str, display: str, message: str, span: Span = FILE_START) -> Finding:
    return Finding(code=code, path=display, span=span, message=message, level="warning")


def discover(paths: Sequence[str], config: Config, cwd: Path | None = None,
             seen: set[str] | None = None) -> Discovery:
    """The files under ``paths``, each once however many paths or links reach it; ``seen``:
    the real paths of files an earlier call returned, left out here."""
    cwd = (cwd or Path.cwd()).absolute()
    excluded = Excluded(config.exclude + config.extend_exclude)
    seen = set() if seen is None else seen
    files: dict[str, SourceFile] = {}  # by real path
    problems: list[Finding] = []
    skipped: list[str] = []
    for given in paths:
        path = cwd / given
        if not path.exists() and not path.is_symlink():
            problems.append(diagnostic("ESP901", given, f"cannot read {given}: no such file or directory"))
        elif path.is_dir():
            for found, where, problem in _walk(path, config.root, excluded):
                if problem:
                    problems.append(diagnostic("ESP903", display_path(found, cwd), problem))
                else:
                    files.setdefault(where, SourceFile(found, display_path(found, cwd)))
        elif (real := _resolved(path)) is None:
            problems.append(diagnostic("ESP903", given, f"cannot read {given}: symlink loop"))
        elif not _python(path):
            skipped.append(f"{given}: not a Python file (.py, .pyi, or a python shebang); skipped")
        else:  # named explicitly: linted even if excluded, as ruff and flake8 do
            files.setdefault(str(real), SourceFile(path, display_path(path, cwd)))
    new = tuple(file for real, file in files.items() if real not in seen)
    seen.update(files)
    return Discovery(new, tuple(problems), tuple(skipped))


def _python(path: Path) -> bool:
    """A Python file by its name, or (as pre-commit's ``types: [python]`` passes them) a script
    whose first line runs python."""
    if path.suffix in (".py", ".pyi"):
        return True
    try:
        with path.open("rb") as stream:
            first = stream.readline(256)
    except OSError:
        return True  # scanning reports why it cannot be read
    return first.startswith(b"#!") and b"python" in first


def _resolved(path: Path) -> Path | None:
    """The real path, or None when following links goes round a loop."""
    try:
        return path.resolve(strict=False)
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError("Symlink loop ...")
        return None


class Excluded:
    """The exclude patterns, as gitignore reads them.

    A pattern that is a bare name (``build``, ``*.egg-info``, ``dist/``: every default) matches any
    one component of a path.  The walk never enters an excluded folder, so below the folder it
    starts from, testing each entry's own name is enough: one regular expression, and pathspec
    (13 ms to import) is never loaded.  Any other pattern, and any negation, goes to pathspec."""

    _BARE = re.compile(r"[\w.*?-]+/?")

    def __init__(self, patterns: Sequence[str]) -> None:
        bare = all(self._BARE.fullmatch(p) for p in patterns)
        self._spec = None if bare else _gitignore(patterns)
        self._any = _names([p for p in patterns if not p.endswith("/")])
        self._folder = _names([p.rstrip("/") for p in patterns])

    def below(self, prefix: str) -> bool:
        """Is everything in the folder at ``prefix`` (its path from the root, ``/``-terminated)
        excluded?  Only the walk's first folder needs asking: it never enters another one."""
        if self._spec is not None:
            return False  # pathspec is asked about each whole path instead
        return any(self._folder.fullmatch(part) for part in prefix.split("/") if part)

    def folder(self, relative: str, name: str) -> bool:
        if self._spec is not None:
            return self._spec.match_file(relative) or self._spec.match_file(relative + "/")
        return self._folder.fullmatch(name) is not None

    def file(self, relative: str, name: str) -> bool:
        if self._spec is not None:
            return self._spec.match_file(relative)
        return self._any.fullmatch(name) is not None


def _names(globs: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(glob) for glob in globs) or "(?!)")


def _gitignore(patterns: Sequence[str]) -> pathspec.GitIgnoreSpec:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(patterns)


def _walk(top: Path, root: Path, excluded: Excluded) -> Iterator[tuple[Path, str, str]]:
    """Python files below ``top`` (as found, their real path's text), following directory links but
    never round a loop.  Excluded folders are never entered.  A folder's real path is its parent's
    plus its name unless it is a link: resolving every folder costs a system call per component."""
    real_top = top.resolve()
    base = root if real_top.is_relative_to(root) else real_top
    seen: set[tuple[int, int]] = set()
    stack = [(top, real_top, _prefix(real_top, base))]
    while stack:
        folder, real, prefix = stack.pop()
        try:
            info = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            yield folder, str(folder), f"cannot read directory: {error.strerror}"
            continue
        if (info.st_dev, info.st_ino) in seen:
            if real in (folder.parent.resolve(), *folder.parent.resolve().parents):
                yield folder, str(folder), "directory symlink loop; skipped"
            continue
        seen.add((info.st_dev, info.st_ino))
        subfolders = []
        if folder is top and excluded.below(prefix):
            return
        real_text = str(real).rstrip("/")
        for entry in entries:
            relative = prefix + entry.name
            if _is_dir(entry):
                if not excluded.folder(relative, entry.name):
                    path = folder / entry.name  # an excluded folder is never entered
                    if entry.is_symlink():
                        linked = path.resolve()
                        subfolders.append((path, linked, _prefix(linked, base)))
                    else:
                        subfolders.append((path, real / entry.name, relative + "/"))
            elif (entry.name.endswith((".py", ".pyi")) and _is_file(entry)
                  and not excluded.file(relative, entry.name)):
                path = folder / entry.name  # a file's path is made once, and its real path not at all
                yield path, str(path.resolve()) if entry.is_symlink() else f"{real_text}/{entry.name}", ""
        stack.extend(reversed(subfolders))


def _prefix(real: Path, base: Path) -> str:
    """A folder's path from ``base``, ``/``-terminated, as exclude patterns are matched against
    (absolute outside it).  The walk works on strings until a file is kept: pathlib costs
    more than the walk itself."""
    prefix = real.relative_to(base).as_posix() + "/" if real.is_relative_to(base) else f"{real}/"
    return "" if prefix == "./" else prefix


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False
