"""A JSON array, one object per finding. Keys are stable: later versions add, never rename."""

from __future__ import annotations

import json
from typing import Any

from esper_lint.model import Finding
from esper_lint.render import Report


def blueprint_dict(finding: Finding) -> dict[str, str | None] | None:
    bp = finding.blueprint
    return {"name": bp.name, "topology": bp.topology, "factory": bp.factory} if bp else None


def counts_dict(finding: Finding) -> dict[str, int] | None:
    return {str(width): count for width, count in finding.counts} or None


def fix_dict(finding: Finding) -> dict[str, str | None] | None:
    """The preferred alternative: what the argument becomes, and the ``# formula:`` comment
    written (for an unsafe fix, by its safe alternative)."""
    if not finding.fixes:
        return None
    first = finding.fixes[0]
    return {"applicability": first.applicability, "replacement": first.estimate,
            "comment": next((fix.comment for fix in finding.fixes if fix.comment), None)}


def fixes_list(finding: Finding) -> list[dict[str, Any]]:
    """Every alternative, preferred first, with its exact edits (ruff's ``fix.edits``)."""
    return [{"applicability": fix.applicability, "title": fix.title, "replacement": fix.estimate,
             "comment": fix.comment,
             "edits": [{"line": e.span.line, "column": e.span.column, "end_line": e.span.end_line,
                        "end_column": e.span.end_column, "content": e.new_text} for e in fix.edits]}
            for fix in finding.fixes]


def as_dict(finding: Finding) -> dict[str, Any]:
    s = finding.span
    return {
        "code": finding.code,
        "path": finding.path,
        "line": s.line,
        "column": s.column,
        "end_line": s.end_line,
        "end_column": s.end_column,
        "message": finding.message,
        "blueprint": blueprint_dict(finding),
        "estimate": finding.estimate,
        "formula": finding.formula,
        "fix": fix_dict(finding),
        "level": finding.level,
        "confirmed": finding.confirmed,
        "counts": counts_dict(finding),
        "reference_dim": finding.reference_dim,
        "reference_source": finding.reference_source,
        "used_by": [{"path": u.display, "line": u.line, "how": u.how} for u in finding.used_by],
        "fixes": fixes_list(finding),
    }


def render(report: Report) -> str:
    return json.dumps([as_dict(f) for f in report.findings], indent=2) + "\n"
