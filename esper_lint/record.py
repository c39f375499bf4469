"""The pipeline's plain dataclasses as JSON and back, checked against their annotations.

``load`` rebuilds a value only when every field has exactly the type its dataclass declares
(``ValueError`` otherwise), so a damaged or foreign cache entry is a miss, never a wrong
finding.  Reading runs no code, unlike pickle.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any

_PLAIN = (str, int, bool)


def dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, frozenset):
        return sorted(dump(item) for item in value)
    if isinstance(value, tuple | list):
        return [dump(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or type(value) in _PLAIN:
        return value
    raise TypeError(f"cannot record a {type(value).__name__}")


def load(kind: Any, data: Any) -> Any:
    """``data`` as a value of type ``kind``; ValueError when it is not one."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is type(None) or kind is None:
        return _check(data is None, data)
    if origin is typing.Union or origin is types.UnionType:
        return _first(args, data)
    if origin is typing.Literal:
        return _check(data in args and type(data) in _PLAIN, data)
    if origin is tuple or origin is frozenset:
        if not isinstance(data, list):
            raise ValueError(data)
        if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis):
            if len(args) != len(data):
                raise ValueError(data)
            return tuple(load(a, d) for a, d in zip(args, data, strict=True))
        return origin(load(args[0], d) for d in data)
    if kind is Path:
        return Path(_check(isinstance(data, str), data))
    if kind in _PLAIN:
        return _check(type(data) is kind, data)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind) and isinstance(data, dict):
        hints = _hints(kind)
        if set(data) != set(hints):
            raise ValueError(data)
        return kind(**{name: load(hint, data[name]) for name, hint in hints.items()})
    raise ValueError(data)


def _check(ok: bool, data: Any) -> Any:
    if not ok:
        raise ValueError(data)
    return data


def _first(kinds: tuple[Any, ...], data: Any) -> Any:
    for kind in kinds:
        try:
            return load(kind, data)
        except ValueError:
            continue
    raise ValueError(data)


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(kind) if f.init}
    return {name: hint for name, hint in typing.get_type_hints(kind).items() if name in names}
