"""An on-disk cache of dynamic-pass results and of each file's static facts, like ``.ruff_cache``.

A file's static facts are keyed by its content, path, the configuration and esper-lint's
version (:mod:`esper_lint.scan`), so a rerun reads the sites only of files that changed; a file
that held nothing to look for is not even read again while its status stamp is unchanged
(:class:`Stamps`).

A dynamic-pass entry is keyed by what was asked (the request, the torch version, the relevant
configuration, esper-lint's version) and is valid only while every project file the
import loaded still has the content it had.  A rerun with nothing changed neither imports
torch nor starts the worker.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from esper_lint import __version__
from esper_lint.atomic import write_atomically
from esper_lint.config import Config, ConfigError

MAX_ENTRY_BYTES = 64 << 20  # an entry larger than this is damaged, not read

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by esper-lint.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@functools.cache  # once a run: every module's key asks
def torch_version() -> str:
    """The installed torch's version, read from its metadata: no import of torch.

    The name of the one ``torch-<version>.dist-info`` beside the package the worker will import
    says it; ``importlib.metadata`` (30-80 ms to import, a warm rerun's largest single cost) only
    when there is no such folder (a source checkout) or more than one.
    """
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return "none"
    infos = list(Path(spec.origin).parent.parent.glob("torch-*.dist-info"))
    if len(infos) == 1:
        return infos[0].name.removeprefix("torch-").removesuffix(".dist-info")
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "none"


def make_key(*parts: object) -> str:
    """A key for ``parts`` as measured by this esper-lint, interpreter and torch."""
    text = repr((__version__, sys.executable, torch_version(), *parts))
    return hashlib.sha256(text.encode()).hexdigest()


class Cache:
    """``folder`` of JSON entries, one per key; ``None`` turns the cache off.

    An entry is the worker's protocol lines for one module and the digests of the files its
    import loaded. Anything unreadable or malformed is a miss, never an error: the module is
    measured again and the entry replaced. (JSON, not pickle: reading a cache runs no code.)
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.prepared = False

    @classmethod
    def of(cls, config: Config) -> Cache:
        """The configured cache; ConfigError when ``cache-dir`` would put it among the user's files."""
        if not config.cache_dir:
            return cls(None)
        folder = (config.root / config.cache_dir).absolute()
        root = config.root.absolute()
        if folder == root or folder in root.parents or folder.resolve() in root.resolve().parents:
            raise ConfigError(f"cache-dir = {config.cache_dir!r} is the project's folder or above "
                              "it; name a folder of its own, such as \".esper-lint-cache\"")
        if _foreign(folder):
            raise ConfigError(f"cache-dir = {config.cache_dir!r}: {folder} holds files that are not "
                              "esper-lint's cache (no CACHEDIR.TAG); name a new folder")
        return cls(folder)

    def read(self, key: str) -> Any:
        """The JSON entry stored under ``key``, None when absent or unreadable: unchecked."""
        if self.folder is None:
            return None
        path = self.folder / key
        try:
            if path.stat().st_size > MAX_ENTRY_BYTES:
                return None
            return json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError, MemoryError):
            return None

    def write(self, key: str, entry: Any) -> None:
        if self.folder is None:
            return
        try:
            self._prepare()
            write_atomically(self.folder / key, json.dumps(entry).encode(), durable=False)
        except OSError:
            pass  # a cache that cannot be written is only a slower run

    def load(self, key: str) -> list[str] | None:
        entry = self.read(key)
        if not _well_formed(entry) or not self._fresh(entry["dependencies"]):
            return None
        lines: list[str] = entry["lines"]
        return lines

    def store(self, key: str, dependencies: Iterable[Path], lines: Iterable[bytes]) -> None:
        if self.folder is None:
            return
        digests = [[str(p), file_digest(p)] for p in sorted(set(dependencies))]
        self.write(key, {"dependencies": digests, "lines": [line.decode() for line in lines]})

    @staticmethod
    def _fresh(dependencies: Iterable[list[str | None]]) -> bool:
        return all(file_digest(Path(str(path))) == digest for path, digest in dependencies)

    def _prepare(self) -> None:
        assert self.folder is not None
        if self.prepared:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "*\n")):
            if not (self.folder / name).exists():
                write_atomically(self.folder / name, text.encode())
        self.prepared = True


class Stamps:
    """The files that held nothing to look for when last read, each by its status stamp (size,
    modification and change times in ns, inode), under ``key``: a file whose stamp is the same
    is not read again, as ruff does not read a file whose modification time is unchanged. The
    change time moves with every write, rename or chmod and cannot be set back by hand."""

    def __init__(self, cache: Cache, key: str) -> None:
        self.cache, self.key = cache, key
        entry = cache.read(key)
        self.before: dict[str, list[int]] = entry["screened"] if _stamps(entry) else {}
        self.now = dict(self.before)

    def unchanged(self, path: str, stamp: list[int]) -> bool:
        return self.before.get(path) == stamp

    def record(self, path: str, stamp: list[int], clean: bool) -> None:
        if clean:
            self.now[path] = stamp
        else:
            self.now.pop(path, None)

    def save(self) -> None:
        if self.now != self.before:
            self.cache.write(self.key, {"screened": self.now})


def stamp(info: os.stat_result) -> list[int]:
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def _stamps(entry: Any) -> bool:
    if not isinstance(entry, dict) or set(entry) != {"screened"} or not isinstance(entry["screened"], dict):
        return False
    return all(isinstance(s, list) and len(s) == 4 and all(type(n) is int for n in s)
               for s in entry["screened"].values())


def _foreign(folder: Path) -> bool:
    """Does ``folder`` exist with files in it but no cache tag?"""
    try:
        return not (folder / "CACHEDIR.TAG").exists() and any(folder.iterdir())
    except OSError:
        return False


def _well_formed(entry: Any) -> bool:
    if not isinstance(entry, dict) or set(entry) != {"dependencies", "lines"}:
        return False
    dependencies, lines = entry["dependencies"], entry["lines"]
    return (isinstance(dependencies, list) and isinstance(lines, list)
            and all(isinstance(line, str) for line in lines)
            and all(isinstance(d, list) and len(d) == 2 and isinstance(d[0], str)
                    and isinstance(d[1], str | None) for d in dependencies))
