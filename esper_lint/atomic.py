"""The one writer of files: a sibling temporary file, then a rename, so a reader never sees half.

Used for fixed source files, the cache, ``--output-file`` and ``--report``.  With ``expected``, the target
must still hold exactly those bytes when it is about to be replaced: checked as late as it
can be, just before the rename, so an editor's save in the meantime is never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


class Changed(Exception):
    """The target no longer holds the bytes it was expected to."""


def write_atomically(target: Path, data: bytes, *, expected: bytes | None = None,
                     durable: bool = True) -> None:
    """Replace ``target`` with ``data``, keeping its mode (and owner, where allowed).

    Raises :class:`Changed` (writing nothing) when ``expected`` is given and the target's
    content differs from it; OSError when the folder cannot be written.  ``durable=False``
    (a cache's entries) skips the flush to disk: a lost entry is only a miss.
    """
    info = _stat(target)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        os.chmod(temporary, stat.S_IMODE(info.st_mode) if info else _default_mode())
        if info is not None:
            _keep_owner(temporary, info)
        if expected is not None and _content(target) != expected:
            raise Changed(str(target))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _stat(target: Path) -> os.stat_result | None:
    try:
        return target.stat()
    except FileNotFoundError:
        return None


def _content(target: Path) -> bytes | None:
    try:
        return target.read_bytes()
    except OSError:
        return None


def _default_mode() -> int:
    """What ``open(path, "w")`` would give a new file: 0o666 less the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _keep_owner(path: Path, info: os.stat_result) -> None:
    after = path.stat()
    if (after.st_uid, after.st_gid) != (info.st_uid, info.st_gid):
        with contextlib.suppress(OSError):  # only root may give a file away; content matters more
            os.chown(path, info.st_uid, info.st_gid)
