"""An on-disk cache of dynamic-pass results, like ``.ruff_cache``.

An entry is keyed by what was asked (the request, the torch version, the relevant
configuration, esper-lint's version) and is valid only while every project file the
import loaded still has the content it had.  A rerun with nothing changed neither imports
torch nor starts the worker.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from esper_lint import __version__

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


def torch_version() -> str:
    """The installed torch's version, read from its metadata: no import."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "none"


def make_key(*parts: object) -> str:
    """A key for ``parts`` as measured by this esper-lint, interpreter and torch."""
    text = repr((__version__, sys.executable, torch_version(), *parts))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class _Entry:
    dependencies: tuple[tuple[str, str | None], ...]  # (path, sha256 of its content)
    value: Any


class Cache:
    """``folder`` of pickled entries; ``None`` turns the cache off."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def load(self, key: str) -> Any | None:
        if self.folder is None:
            return None
        try:
            entry = pickle.loads((self.folder / key).read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            return None
        if not isinstance(entry, _Entry) or not self._fresh(entry.dependencies):
            return None
        return entry.value

    def store(self, key: str, dependencies: Iterable[Path], value: Any) -> None:
        if self.folder is None:
            return
        digests = tuple((str(p), file_digest(p)) for p in sorted(set(dependencies)))
        try:
            self._prepare()
            self._write(self.folder / key, pickle.dumps(_Entry(digests, value)))
        except OSError:
            pass  # a cache that cannot be written is only a slower run

    @staticmethod
    def _fresh(dependencies: Iterable[tuple[str, str | None]]) -> bool:
        return all(file_digest(Path(path)) == digest for path, digest in dependencies)

    def _prepare(self) -> None:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "*\n")):
            if not (self.folder / name).exists():
                (self.folder / name).write_text(text)

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)

