"""Stage 7: a :class:`Report` → text in one of the output formats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from esper_lint.model import Finding


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    files: int = 0  # files checked: read, and parsed when they could hold a registration
    skipped: int = 0  # of those, files not parsed: no registration can be in them
    fixed: int = 0  # fixes applied by --fix
    unsafe_hidden: int = 0  # fixes that need --unsafe-fixes
    warnings: tuple[str, ...] = ()  # run-level warnings, e.g. why the dynamic pass was skipped
    notes: tuple[str, ...] = ()  # once per run: reference widths inferred, checks skipped
    reference_dims: tuple[tuple[str, tuple[int, ...], str], ...] = ()  # (topology, widths, source)
    fix_mode: bool = False  # --fix or --diff was given
    unsafe_fixes: bool = False  # --unsafe-fixes: unsafe fixes count as available
    fix_summary: tuple[str, ...] = ()  # --show-fixes: what was fixed (text output only)


Renderer = Callable[[Report], str]


class ReportError(Exception):
    """The HTML report cannot be written: one line for the user (exit 2)."""


def renderers() -> dict[str, Renderer]:
    from esper_lint.render import github, json, sarif, text

    return {"text": text.render, "json": json.render, "github": github.render, "sarif": sarif.render}
