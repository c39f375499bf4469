"""``path:line:col: CODE message`` lines and a summary, like ruff and flake8."""

from __future__ import annotations

from esper_lint.model import Finding
from esper_lint.render import Report


def line(finding: Finding) -> str:
    marker = " [*]" if fixable(finding) else ""
    s = finding.span
    return f"{finding.path}:{s.line}:{s.column}: {finding.code}{marker} {finding.message}"


def fixable(finding: Finding) -> bool:
    """Does plain ``--fix`` change something for it? (An unsafe fix may have a safe alternative.)"""
    return finding.fix_for(unsafe=False) is not None


def summary(report: Report) -> str:
    parts = []
    if report.fixed:
        parts.append(f"Fixed {_plural(report.fixed, 'finding')}.")
    if report.unsafe_hidden:
        parts.append(f"{_plural(report.unsafe_hidden, 'estimate')} stayed ints, documented with a "
                     "`# formula:` comment; --unsafe-fixes would turn them into callables, which the "
                     "register function is not known to accept.")
    if report.findings:
        parts.append(f"Found {_plural(len(report.findings), 'finding')}{_fix_note(report)}.")
    elif not report.fixed:
        parts.append(f"All checks passed ({_plural(report.files, 'file')} checked).")
    return "\n".join(parts)


def _fix_note(report: Report) -> str:
    if report.fix_mode:
        return ""
    count = sum(1 for f in report.findings if fixable(f))
    unsafe = sum(1 for f in report.findings if f.fixes and f.fixes[0].applicability == "unsafe")
    notes = [f"{count} fixable with --fix"] if count else []
    if unsafe:
        notes.append(f"{unsafe} of them as ints with a `# formula:` comment unless --unsafe-fixes "
                     "turns them into callables")
    return f" ({'; '.join(notes)})" if notes else ""


def render(report: Report) -> str:
    lines = [line(f) for f in report.findings]
    return "\n".join([*lines, *report.notes, summary(report)]) + "\n"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
