"""``path:line:col: CODE message`` lines and a summary, like ruff and flake8."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from esper_lint.model import Finding
from esper_lint.render import Report
from esper_lint.render.colour import PLAIN, Style


def line(finding: Finding, unsafe: bool = False, style: Style = PLAIN) -> str:
    marker = f" {style('fix', '[*]')}" if fixable(finding, unsafe) else ""
    s = finding.span
    return (f"{style('path', finding.path)}:{s.line}:{s.column}: {style('code', finding.code)}{marker} "
            f"{finding.message}")


def fixable(finding: Finding, unsafe: bool = False) -> bool:
    """Does ``--fix`` change something for it? (An unsafe fix may have a safe alternative;
    ``--unsafe-fixes`` counts the unsafe ones too, as ruff does.)"""
    return finding.fix_for(unsafe) is not None


def summary(report: Report, style: Style = PLAIN) -> str:
    parts = []
    if report.fixed:
        parts.append(f"Fixed {plural(report.fixed, 'finding')}.")
    if report.unsafe_hidden:
        parts.append(f"{plural(report.unsafe_hidden, 'estimate')} stayed ints, documented with a "
                     "`# formula:` comment; --unsafe-fixes would turn them into callables, which the "
                     "register function is not known to accept.")
    if report.findings:
        parts.append(f"Found {plural(len(report.findings), 'finding')}{_fix_note(report)}.")
    elif not report.fixed:
        parts.append(_passed(report, style))
    return "\n".join(parts)


def _passed(report: Report, style: Style) -> str:
    """A file counts as checked only when it was read and, if it could hold a registration,
    parsed: never a pass for a file that could not be read or parsed."""
    parsed = report.files - report.skipped
    if not report.files:
        return "No Python files checked."
    more = f"; {plural(report.skipped, 'file')} without a registration skipped" if report.skipped else ""
    return style("passed", f"All checks passed ({plural(parsed, 'file')} checked{more}).")


def _fix_note(report: Report) -> str:
    if report.fix_mode:
        return ""
    count = sum(1 for f in report.findings if fixable(f, report.unsafe_fixes))
    unsafe = sum(1 for f in report.findings if f.fixes and f.fixes[0].applicability == "unsafe")
    notes = [f"{count} fixable with --fix{' --unsafe-fixes' if report.unsafe_fixes else ''}"] if count else []
    if unsafe and not report.unsafe_fixes:
        notes.append(f"{unsafe} of them as ints with a `# formula:` comment unless --unsafe-fixes "
                     "turns them into callables")
    return f" ({'; '.join(notes)})" if notes else ""


def render(report: Report, style: Style = PLAIN, quiet: bool = False) -> str:
    """The findings, then (unless ``quiet``: ruff's ``-q``, findings and nothing else) the notes
    and the summary."""
    lines = [line(f, report.unsafe_fixes, style) for f in report.findings]
    if quiet:
        return "".join(f"{text}\n" for text in lines)
    return "\n".join([*lines, *report.notes, *report.fix_summary, summary(report, style)]) + "\n"


def fix_summary(fixed: Sequence[Finding]) -> tuple[str, ...]:
    """``--show-fixes``: what ``--fix`` fixed, per file and rule, as ruff lists it."""
    if not fixed:
        return ()
    per_file: dict[str, Counter[str]] = {}
    for finding in fixed:
        per_file.setdefault(finding.path, Counter())[finding.code] += 1
    lines = ["", f"Fixed {plural(len(fixed), 'finding')}:"]
    for path, counts in sorted(per_file.items()):
        width = len(str(max(counts.values())))
        lines.append(f"- {path}:")
        lines.extend(f"    {count:>{width}} \u00d7 {code} ({name(code)})"  # ruff's multiplication sign
                     for code, count in sorted(counts.items()))
    return (*lines, "")


def name(code: str) -> str:
    from esper_lint.catalog import lookup

    rule = lookup(code)
    return rule.name if rule is not None else "?"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
