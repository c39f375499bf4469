"""Plain dataclasses as JSON and back, checked against their annotations: the one reader of
both caches and of the worker's messages.

``load`` rebuilds a value only when every field has exactly the type its dataclass declares
(``ValueError`` otherwise), so a damaged or foreign cache entry is a miss and a stray line on
the worker's pipe a protocol error, never a wrong finding.  Reading runs no code, unlike
pickle.  Standard library only: the worker imports it too.

Each type's annotations are turned into a checking function once (``_loader``): asking
``typing`` about a hint costs more than checking the value, and a cached measurement holds
thousands of values.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PLAIN = (str, int, bool)
Loader = Callable[[Any], Any]


def dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, frozenset):
        return sorted(dump(item) for item in value)
    if isinstance(value, tuple | list):
        return [dump(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or type(value) in (*_PLAIN, float):
        return value
    raise TypeError(f"cannot record a {type(value).__name__}")


def load(kind: Any, data: Any) -> Any:
    """``data`` as a value of type ``kind``; ValueError when it is not one."""
    return _loader(kind)(data)


@functools.cache
def _loader(kind: Any) -> Loader:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is type(None) or kind is None:
        return _exactly(type(None))
    if origin is typing.Union or origin is types.UnionType:
        return _first(tuple(map(_loader, args)))
    if origin is typing.Literal:
        return _among(args)
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return _fixed(tuple(map(_loader, args)))
    if origin is tuple or origin is frozenset:
        return _each(_loader(args[0]), origin)
    if kind is Path:
        return lambda data: Path(_exactly(str)(data))
    if kind is float:
        return _number
    if kind in _PLAIN:
        return _exactly(kind)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass(kind)
    raise TypeError(f"cannot load a {kind!r}")


def _exactly(kind: type) -> Loader:
    def check(data: Any) -> Any:
        if type(data) is not kind:  # JSON true is no count: bool is not int here
            raise ValueError(data)
        return data
    return check


def _number(data: Any) -> Any:
    if type(data) not in (int, float):
        raise ValueError(data)
    return data


def _among(values: tuple[Any, ...]) -> Loader:
    def check(data: Any) -> Any:
        if type(data) not in _PLAIN or data not in values:
            raise ValueError(data)
        return data
    return check


def _first(loaders: tuple[Loader, ...]) -> Loader:
    def check(data: Any) -> Any:
        for loader in loaders:
            try:
                return loader(data)
            except ValueError:
                continue
        raise ValueError(data)
    return check


def _fixed(loaders: tuple[Loader, ...]) -> Loader:
    def check(data: Any) -> Any:
        if type(data) is not list or len(data) != len(loaders):
            raise ValueError(data)
        return tuple(loader(item) for loader, item in zip(loaders, data, strict=True))
    return check


def _each(loader: Loader, into: Callable[[Any], Any]) -> Loader:
    def check(data: Any) -> Any:
        if type(data) is not list:
            raise ValueError(data)
        return into(map(loader, data))
    return check


def _dataclass(kind: type) -> Loader:
    names = {f.name for f in dataclasses.fields(kind) if f.init}
    fields = {name: _loader(hint) for name, hint in typing.get_type_hints(kind).items() if name in names}

    def check(data: Any) -> Any:
        if type(data) is not dict or data.keys() != fields.keys():
            raise ValueError(data)
        return kind(**{name: loader(data[name]) for name, loader in fields.items()})
    return check
