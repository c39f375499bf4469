"""Which module a file is: its dotted name and the ``sys.path`` entries that import it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def package_root(path: Path) -> Path:
    """The folder above the outermost package (``__init__.py``) holding ``path``."""
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def package_dir(path: Path) -> Path:
    """The outermost package folder holding ``path``; its own folder outside any package."""
    folder = path.parent
    if not (folder / "__init__.py").is_file():
        return folder
    while (folder.parent / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def import_location(path: Path, src_roots: Sequence[Path]) -> tuple[str, tuple[Path, ...]] | None:
    """The module name of ``path`` and the sys.path entries to import it; None if not a name.

    Like ruff's ``src``: a file under a configured source root is named from it
    (that also covers namespace packages).  The package root found by walking
    ``__init__.py`` files goes on sys.path as well, for a package's absolute
    imports of itself when the source root is further up.
    """
    path = path.resolve()
    packages = package_root(path)
    containing = [root for root in src_roots if root == path.parent or root in path.parents]
    root = max(containing, key=lambda r: len(r.parts)) if containing else packages
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts), tuple(dict.fromkeys((root, packages)))


def module_of(path: Path) -> str:
    """The dotted module name of ``path`` from its packages (its stem outside any package)."""
    location = import_location(path, ())
    return location[0] if location else path.stem


def qualified(dotted: str, imported: bool, path: Path) -> str:
    """An absolute dotted name for ``dotted`` as written in the file at ``path``.

    ``imported``: it came through an import, so it is absolute already unless it starts with
    dots (relative to the module's package); otherwise it is defined in the module itself.
    Only those two need the module's name, which costs path lookups.
    """
    if imported and not dotted.startswith("."):
        return dotted
    module = module_of(path)
    if not imported:
        return f"{module}.{dotted}"
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    level = len(dotted) - len(dotted.lstrip("."))
    parts = package.split(".") if package else []
    return ".".join([*parts[: max(0, len(parts) - level + 1)], dotted.lstrip(".")])
