"""``[tool.esper-lint]`` in the nearest ``pyproject.toml`` → :class:`Config`."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from esper_lint.formula import MIN_SPARE, SPREAD

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".esper-lint-cache", "__pycache__", "build", "dist", "node_modules",
    "site-packages", "*.egg-info",
)


class ConfigError(Exception):
    """A configuration the user must correct (exit code 2)."""


@dataclass(frozen=True)
class Selection:
    """ruff's semantics: the longest matching prefix wins; ``ignore`` wins a tie."""

    select: tuple[str, ...]
    ignore: tuple[str, ...] = ()

    def enabled(self, code: str) -> bool:
        chosen = _longest(self.select, code)
        return chosen >= 0 and chosen > _longest(self.ignore, code)


def _longest(selectors: Sequence[str], code: str) -> int:
    lengths = [0 if s == "ALL" else len(s) for s in selectors if s == "ALL" or code.startswith(s)]
    return max(lengths, default=-1)


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
    # topology -> the widths its estimates are meant for, the first the one a value is written for
    reference_dims: tuple[tuple[str, tuple[int, ...]], ...] = ()
    src: tuple[str, ...] = (".", "src")  # import roots, relative to ``root``
    timeout: float = 10.0  # seconds per module, after torch is loaded
    memory_limit_mb: int = 4096
    count: Literal["all", "trainable"] = "all"
    callable_estimates: bool | None = None  # None: find out from the register function
    max_width: int = 65536
    cache_dir: str = ".esper-lint-cache"  # relative to ``root``; empty: no cache
    line_length: int = 88  # the project's, from [tool.ruff] or [tool.black]: where comments fit

    @property
    def selection(self) -> Selection:
        return Selection(self.select, self.ignore)

    def reference_widths(self, topology: str | None) -> tuple[int, ...]:
        return dict(self.reference_dims).get(topology or "", ())

    def src_roots(self) -> tuple[Path, ...]:
        return tuple((self.root / s).resolve() for s in self.src)


MIN_MEMORY_MB = 256  # torch 2.13 (CPU) fails to import under a 192 MB data limit, loads under 256
MIN_MAX_WIDTH = SPREAD * MIN_SPARE  # a formula set by widths 1..8 still gets its evidence to spare

_LISTS = {"register-functions", "select", "ignore", "exclude", "extend-exclude", "src"}


@dataclass(frozen=True)
class _Scalar:
    kind: type | tuple[type, ...]
    accepted: str  # what the error message says is accepted
    valid: Callable[[Any], bool] = lambda value: True


_SCALARS = {
    "estimate-keyword": _Scalar(str, "a Python identifier", str.isidentifier),
    "estimate-position": _Scalar(int, "an integer >= 0", lambda v: v >= 0),
    "timeout": _Scalar((int, float), "a finite number of seconds > 0",
                       lambda v: math.isfinite(v) and v > 0),
    "memory-limit-mb": _Scalar(int, f"0 (no limit) or an integer >= {MIN_MEMORY_MB}",
                               lambda v: v == 0 or v >= MIN_MEMORY_MB),
    "callable-estimates": _Scalar(bool, "true or false"),
    "max-width": _Scalar(int, f"an integer >= {MIN_MAX_WIDTH}", lambda v: v >= MIN_MAX_WIDTH),
    "cache-dir": _Scalar(str, "a folder, relative to the pyproject.toml, or \"\" for no cache"),
}
_TABLES = {"per-file-ignores", "reference-dims"}
KNOWN_KEYS = _LISTS | set(_SCALARS) | _TABLES | {"count"}


Found = dict[Path, tuple[Path, Path | None]]


def find_pyproject(start: Path, found: Found | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` that has ``[tool.esper-lint]``;
    ``found`` remembers each folder looked at (as given and resolved): its real path and answer."""
    return _nearest(start, {} if found is None else found)[1]


def _nearest(start: Path, found: Found) -> tuple[Path, Path | None]:
    if start in found:
        return found[start]
    above = found.get(start.parent)
    if above is not None and start.name != ".." and not start.is_symlink():
        folder = above[0] / start.name  # resolving costs a system call per path component
    else:
        folder = start.resolve()
    if folder not in found:
        candidate = folder / "pyproject.toml"
        if _configures(candidate):
            found[folder] = (folder, candidate)
        else:
            found[folder] = (folder, None if folder.parent == folder else _nearest(folder.parent, found)[1])
    found[start] = found[folder]
    return found[start]


def _configures(pyproject: Path) -> bool:
    return pyproject.is_file() and "esper-lint" in _tool(_read_toml(pyproject), pyproject)


def load(path: Path | None, cwd: Path | None = None) -> Config:
    """Read ``path`` (an explicit ``--config``) or the nearest configuring pyproject.toml."""
    cwd = cwd or Path.cwd()
    path = path or find_pyproject(cwd)
    if path is None:
        return Config(root=cwd.resolve())
    data = _read_toml(path)
    table = _tool(data, path).get("esper-lint", data if path.name != "pyproject.toml" else {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: `tool.esper-lint` must be a table ([tool.esper-lint])")
    config = from_table(table, root=path.resolve().parent, origin=str(path))
    return replace(config, line_length=line_length(data, path.resolve().parent))


def line_length(data: dict[str, Any], folder: Path) -> int:
    """The project's line length, as ruff finds it (a .ruff.toml or ruff.toml in ``folder``,
    then ``[tool.ruff]``), else ``[tool.black]``'s, else their default, 88."""
    tools = data.get("tool", {})
    tables = [_ruff_file(folder / name) for name in (".ruff.toml", "ruff.toml")]
    tables += [tools.get("ruff"), tools.get("black")]
    for table in tables:
        value = table.get("line-length") if isinstance(table, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 88


def _ruff_file(path: Path) -> dict[str, Any] | None:
    try:
        return _read_toml(path) if path.is_file() else None
    except ConfigError:
        return None  # ruff's to complain about


def _tool(data: dict[str, Any], path: Path) -> dict[str, Any]:
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table ([tool.NAME] sections), not {_toml(tool)}")
    return tool


def from_table(table: dict[str, Any], root: Path, origin: str = "config") -> Config:
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) in [tool.esper-lint]: {', '.join(unknown)}")
    values: dict[str, Any] = {"root": root}
    for key, value in table.items():
        values[key.replace("-", "_")] = _convert(key, value, origin)
    config = Config(**values)
    validate_selectors(config.select, f"{origin}: `select`")
    validate_selectors(config.ignore, f"{origin}: `ignore`")
    for pattern, codes in config.per_file_ignores:
        validate_selectors(codes, f"{origin}: per-file-ignores `{pattern}`")
    return config


def validate_selectors(selectors: Iterable[str], origin: str) -> None:
    """Every selector is ``ALL`` or a prefix of a code in the catalog."""
    from esper_lint.catalog import known_codes

    codes = known_codes()
    for selector in selectors:
        if selector != "ALL" and not any(code.startswith(selector) for code in codes):
            raise ConfigError(f"{origin}: unknown rule selector `{selector}`; expected ALL or "
                              f"a prefix of a code ({', '.join(codes)})")


def _convert(key: str, value: Any, origin: str) -> Any:
    if key in _LISTS:
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ConfigError(f"{origin}: `{key}` must be a list of strings")
        if key == "register-functions" and not (value and all(map(_dotted, value))):
            raise ConfigError(f"{origin}: `register-functions = {value}`: expected a non-empty list of "
                              f"dotted names, such as \"BlueprintRegistry.register\"")
        return tuple(value)
    if key in _SCALARS:
        scalar = _SCALARS[key]
        if (not isinstance(value, scalar.kind) or isinstance(value, bool) != (scalar.kind is bool)
                or not scalar.valid(value)):
            raise ConfigError(f"{origin}: `{key} = {_toml(value)}`: expected {scalar.accepted}")
        return float(value) if key == "timeout" else value  # type: ignore[arg-type]
    if key == "count":
        if value not in ("all", "trainable"):
            raise ConfigError(f"{origin}: `count` must be \"all\" or \"trainable\"")
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: `{key}` must be a table")
    if key == "reference-dims":
        return tuple(sorted((topology, _widths(v, origin)) for topology, v in value.items()))
    if not all(isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()):
        raise ConfigError(f"{origin}: `per-file-ignores` values must be lists of codes")
    return tuple((pattern, tuple(codes)) for pattern, codes in value.items())


def _dotted(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


def _toml(value: Any) -> str:
    """``value`` roughly as it was written in TOML, for an error message."""
    if isinstance(value, bool):
        return str(value).lower()
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _widths(value: Any, origin: str) -> tuple[int, ...]:
    widths = value if isinstance(value, list) else [value]
    if not widths or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in widths):
        raise ConfigError(f"{origin}: `reference-dims` values must be positive integers or lists of them")
    return tuple(dict.fromkeys(widths))


ConfigFor = Callable[[Path], "Config"]  # a file's configuration: Nearest, or one for every file


def per_file(config: Config | ConfigFor) -> ConfigFor:
    """``config`` as a function of the file: itself for every file when it is one Config."""
    return config if callable(config) else lambda _: config


class Nearest:
    """Each file's configuration, found as ruff finds it: the file given with ``--config`` for
    every file, else the nearest ``pyproject.toml`` with ``[tool.esper-lint]`` at or above the
    file (defaults rooted at ``cwd`` when there is none); the command line's selection on top."""

    def __init__(self, explicit: Path | None = None, cwd: Path | None = None, *,
                 select: tuple[str, ...] | None = None, ignore: tuple[str, ...] | None = None) -> None:
        self._cwd = (cwd or Path.cwd()).absolute()
        self._select, self._ignore = select, ignore
        self._fixed = self._with_cli(load(explicit, self._cwd)) if explicit is not None else None
        self._found: Found = {}  # folder -> its real path and configuring pyproject.toml
        self._configs: dict[Path | None, Config] = {}
        self._given: dict[Path, Config] = {}  # each path asked about (a run asks per folder)

    def __call__(self, path: Path) -> Config:
        """The configuration for ``path``, a file or a folder (absolute or relative to cwd)."""
        if self._fixed is not None:
            return self._fixed
        if path in self._given:
            return self._given[path]
        where = self._cwd / path
        pyproject = find_pyproject(where if where.is_dir() else where.parent, self._found)
        if pyproject not in self._configs:
            loaded = Config(root=self._cwd.resolve()) if pyproject is None else load(pyproject)
            self._configs[pyproject] = self._with_cli(loaded)
        self._given[path] = self._configs[pyproject]
        return self._given[path]

    def _with_cli(self, config: Config) -> Config:
        return with_cli(config, select=self._select, ignore=self._ignore)


def with_cli(config: Config, select: tuple[str, ...] | None = None,
             ignore: tuple[str, ...] | None = None) -> Config:
    """Apply the command line's ``--select``/``--ignore`` when given, validated."""
    validate_selectors((*(select or ()), *(ignore or ())), "selection")
    return replace(config, select=config.select if select is None else select,
                   ignore=config.ignore if ignore is None else ignore)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: cannot read configuration: not UTF-8 "
                          f"(byte {error.object[error.start]:#04x} at offset {error.start})") from error
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot read configuration: {error}") from error
