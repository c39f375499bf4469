"""``[tool.esper-lint]`` in the nearest ``pyproject.toml`` → :class:`Config`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".esper-lint-cache", "__pycache__", "build", "dist", "node_modules",
    "site-packages", "*.egg-info",
)


class ConfigError(Exception):
    """A configuration the user must correct (exit code 2)."""


@dataclass(frozen=True)
class Config:
    root: Path = field(default_factory=Path.cwd)  # where the configuring pyproject.toml lives
    register_functions: tuple[str, ...] = ("BlueprintRegistry.register",)
    estimate_keyword: str = "param_estimate"
    estimate_position: int = 2  # 0-based: the third positional argument
    select: tuple[str, ...] = ("ESP",)
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    reference_dims: tuple[tuple[str, int], ...] = ()  # topology -> width the estimate is meant for
    src: tuple[str, ...] = (".", "src")  # import roots, relative to ``root``
    timeout: float = 10.0  # seconds per module, after torch is loaded
    memory_limit_mb: int = 4096
    count: Literal["all", "trainable"] = "all"
    callable_estimates: bool | None = None  # None: find out from the register function
    max_width: int = 65536
    cache_dir: str = ".esper-lint-cache"  # relative to ``root``; empty: no cache

    def reference_dim(self, topology: str | None) -> int | None:
        return dict(self.reference_dims).get(topology or "")

    def src_roots(self) -> tuple[Path, ...]:
        return tuple((self.root / s).resolve() for s in self.src)


_LISTS = {"register-functions", "select", "ignore", "exclude", "extend-exclude", "src"}
_SCALARS: dict[str, type | tuple[type, ...]] = {
    "estimate-keyword": str,
    "estimate-position": int,
    "timeout": (int, float),
    "memory-limit-mb": int,
    "callable-estimates": bool,
    "max-width": int,
    "cache-dir": str,
}
_TABLES = {"per-file-ignores", "reference-dims"}
KNOWN_KEYS = _LISTS | set(_SCALARS) | _TABLES | {"count"}


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` that has ``[tool.esper-lint]``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "esper-lint" in _read_toml(candidate).get("tool", {}):
            return candidate
    return None


def load(path: Path | None, cwd: Path | None = None) -> Config:
    """Read ``path`` (an explicit ``--config``) or the nearest configuring pyproject.toml."""
    cwd = cwd or Path.cwd()
    path = path or find_pyproject(cwd)
    if path is None:
        return Config(root=cwd.resolve())
    data = _read_toml(path)
    table = data.get("tool", {}).get("esper-lint", data if path.name != "pyproject.toml" else {})
    return from_table(table, root=path.resolve().parent, origin=str(path))


def from_table(table: dict[str, Any], root: Path, origin: str = "config") -> Config:
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) in [tool.esper-lint]: {', '.join(unknown)}")
    values: dict[str, Any] = {"root": root}
    for key, value in table.items():
        values[key.replace("-", "_")] = _convert(key, value, origin)
    return Config(**values)


def _convert(key: str, value: Any, origin: str) -> Any:
    if key in _LISTS:
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ConfigError(f"{origin}: `{key}` must be a list of strings")
        return tuple(value)
    if key in _SCALARS:
        if not isinstance(value, _SCALARS[key]) or isinstance(value, bool) != (key == "callable-estimates"):
            raise ConfigError(f"{origin}: `{key}` has the wrong type ({type(value).__name__})")
        return float(value) if key == "timeout" else value  # type: ignore[arg-type]
    if key == "count":
        if value not in ("all", "trainable"):
            raise ConfigError(f"{origin}: `count` must be \"all\" or \"trainable\"")
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: `{key}` must be a table")
    if key == "reference-dims":
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values()):
            raise ConfigError(f"{origin}: `reference-dims` values must be positive integers")
        return tuple(sorted(value.items()))
    if not all(isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()):
        raise ConfigError(f"{origin}: `per-file-ignores` values must be lists of codes")
    return tuple((pattern, tuple(codes)) for pattern, codes in value.items())


def with_cli(config: Config, **overrides: Any) -> Config:
    """Apply command-line options that were given (``None`` means not given)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot read configuration: {error}") from error
