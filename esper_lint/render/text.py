"""``path:line:col: CODE message`` lines and a summary, like ruff and flake8."""

from __future__ import annotations

from esper_lint.model import Finding
from esper_lint.render import Report


def line(finding: Finding) -> str:
    marker = " [*]" if finding.fix and finding.fix.applicability == "safe" else ""
    s = finding.span
    return f"{finding.path}:{s.line}:{s.column}: {finding.code}{marker} {finding.message}"


def summary(report: Report) -> str:
    parts = []
    if report.fixed:
        parts.append(f"Fixed {_plural(report.fixed, 'finding')}.")
    if report.findings:
        safe = sum(1 for f in report.findings if f.fix and f.fix.applicability == "safe")
        unsafe = sum(1 for f in report.findings if f.fix and f.fix.applicability == "unsafe")
        text = f"Found {_plural(len(report.findings), 'finding')}"
        notes = []
        if safe and not report.fix_mode:
            notes.append(f"{safe} fixable with --fix")
        if unsafe:
            notes.append(f"{unsafe} more with --unsafe-fixes: it turns constants into callables, "
                         "which the register function is not known to accept")
        parts.append(text + (f" ({'; '.join(notes)})." if notes else "."))
    elif not report.fixed:
        parts.append(f"All checks passed ({_plural(report.files, 'file')} checked).")
    return "\n".join(parts)


def render(report: Report) -> str:
    lines = [line(f) for f in report.findings]
    return "\n".join([*lines, summary(report)]) + "\n"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
