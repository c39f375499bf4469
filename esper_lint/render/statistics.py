"""``--statistics``: one line per rule with findings, as ruff (and flake8) print it:
count, code, ``[*]`` when ``--fix`` would fix one of them, the rule's name; then the summary."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from esper_lint.render import Report
from esper_lint.render.colour import PLAIN, Style
from esper_lint.render.text import fixable, name, summary

FORMATS = ("text", "json")


@dataclass(frozen=True)
class Statistic:
    code: str
    name: str
    count: int
    fixable: bool


def statistics(report: Report) -> list[Statistic]:
    """Most frequent first, then by code."""
    counts = Counter(f.code for f in report.findings)
    can_fix = {f.code for f in report.findings if fixable(f, report.unsafe_fixes)}
    rows = [Statistic(code, name(code), count, code in can_fix) for code, count in counts.items()]
    return sorted(rows, key=lambda s: (-s.count, s.code))


def render_text(report: Report, style: Style = PLAIN, quiet: bool = False) -> str:
    rows = statistics(report)
    count_width = max((len(str(s.count)) for s in rows), default=0)
    code_width = max((len(s.code) for s in rows), default=0)
    any_fixable = any(s.fixable for s in rows)
    lines = [f"{s.count:>{count_width}}\t{style('code', s.code.ljust(code_width))}\t"
             f"{_marker(s.fixable, style) if any_fixable else ''}{s.name}" for s in rows]
    if not quiet:
        lines.append(summary(report, style))
    return "".join(f"{text}\n" for text in lines)


def _marker(fixable: bool, style: Style) -> str:
    return f"[{style('fix', '*')}] " if fixable else "[ ] "


def render_json(report: Report) -> str:
    rows = [{"code": s.code, "name": s.name, "count": s.count, "fixable": s.fixable}
            for s in statistics(report)]
    return json.dumps(rows, indent=2) + "\n"
