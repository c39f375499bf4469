"""GitHub Actions workflow commands: one ``::error``/``::warning`` annotation per finding.

Like ruff's ``--output-format github``, only the annotations are printed: no summary line.
Values are escaped as the Actions toolkit does (``escapeData``/``escapeProperty``), so a ``%``,
a newline, a ``:`` or a ``,`` in a path or a message can neither end the command early nor
start a new one.
"""

from __future__ import annotations

from esper_lint.model import Finding
from esper_lint.render import Report

_DATA = (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"))
_PROPERTY = (*_DATA, (":", "%3A"), (",", "%2C"))


def escape_data(value: str) -> str:
    for char, escaped in _DATA:  # ``%`` first, so escapes are never escaped twice
        value = value.replace(char, escaped)
    return value


def escape_property(value: str) -> str:
    for char, escaped in _PROPERTY:
        value = value.replace(char, escaped)
    return value


def annotation(finding: Finding) -> str:
    s = finding.span
    properties = {
        "file": finding.path,
        "line": str(s.line),
        "col": str(s.column),
        "endLine": str(s.end_line),
        "endColumn": str(s.end_column),
        "title": f"esper-lint ({finding.code})",
    }
    joined = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{finding.level} {joined}::{escape_data(finding.message)}"


def render(report: Report) -> str:
    return "".join(annotation(f) + "\n" for f in report.findings)
