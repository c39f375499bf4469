"""SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.

One run; its driver lists every rule and ESP9xx diagnostic, results point into it by index.
Columns count Unicode code points and ``endColumn`` is one past the region, as SARIF says.
A finding's fix becomes SARIF ``fixes`` holding exactly the edits ``--fix`` would make (worked
out by ``esper_lint.fix`` on the file as it is now; none when the file cannot be read). An unsafe
fix is described as unsafe and followed by its safe alternative, the ``# formula:`` comment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from esper_lint import __version__
from esper_lint.model import Finding, Fix, Span
from esper_lint.render import Report
from esper_lint.render.json import blueprint_dict, counts_dict

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/esper-lint/"
SRCROOT = "%SRCROOT%"

Json = dict[str, Any]


@dataclass(frozen=True)
class RuleInfo:
    code: str
    name: str
    summary: str
    doc: str
    level: str


@cache
def rule_infos() -> tuple[RuleInfo, ...]:
    """Every rule, then every diagnostic, by code."""
    from esper_lint.diagnostics import DIAGNOSTICS
    from esper_lint.rules import all_rules

    rules = [RuleInfo(r.code, r.name, r.summary, r.doc, "error") for r in all_rules()]
    diagnostics = [RuleInfo(d.code, d.name, d.summary, d.doc, "warning") for d in DIAGNOSTICS.values()]
    return tuple(sorted(rules + diagnostics, key=lambda info: info.code))


def rule_descriptor(info: RuleInfo) -> Json:
    return {
        "id": info.code,
        "name": info.name,
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": info.doc},
        "help": {"text": info.doc, "markdown": info.doc},
        "defaultConfiguration": {"level": info.level},
    }


def artifact_location(path: str) -> Json:
    """A relative path becomes a URI reference under ``%SRCROOT%``, an absolute one a file URI."""
    posix = Path(path)
    if posix.is_absolute():
        return {"uri": posix.as_uri()}
    return {"uri": quote(posix.as_posix(), safe="/"), "uriBaseId": SRCROOT}


def region(span: Span) -> Json:
    return {"startLine": span.line, "startColumn": span.column,
            "endLine": span.end_line, "endColumn": span.end_column}


class FileText:
    """One file's text, and the edits ``--fix`` would make in it, as line/column regions."""

    def __init__(self, text: str) -> None:
        from esper_lint.fix import SourceText

        self.text = SourceText(text)

    @staticmethod
    def read(path: str) -> FileText | None:
        from esper_lint.source import SourceError, read

        try:
            return FileText(read(Path(path)).text)
        except SourceError:
            return None

    def edits(self, fix: Fix, *, unsafe: bool) -> list[Json]:
        """SARIF replacements for what ``--fix`` (``--unsafe-fixes`` when ``unsafe``) would write."""
        from esper_lint.fix import edits_for

        edits = edits_for(self.text, fix, unsafe=unsafe)
        return [{"deletedRegion": self.region(e.start, e.end), "insertedContent": {"text": e.text}}
                for e in sorted(edits, key=lambda e: (e.start, e.end))]

    def region(self, start: int, end: int) -> Json:
        return region(self.text.span(start, end))


def sarif_fix(description: str, applicability: str, location: Json, replacements: list[Json]) -> Json | None:
    if not replacements:
        return None  # nothing to change, or no place ``--fix`` would dare to change
    return {"description": {"text": description},
            "artifactChanges": [{"artifactLocation": location, "replacements": replacements}],
            "properties": {"applicability": applicability}}


def fixes(finding: Finding, location: Json, files: dict[str, FileText | None]) -> list[Json]:
    """The finding's fix as ``--fix`` would apply it; an unsafe one, then its safe alternative."""
    fix = finding.fix
    if fix is not None and finding.path not in files:
        files[finding.path] = FileText.read(finding.path)
    text = files.get(finding.path)
    if fix is None or text is None:
        return []
    if fix.applicability == "safe":
        return _present([sarif_fix(describe(fix), "safe", location, text.edits(fix, unsafe=False))])
    reason = f" ({fix.reason})" if fix.reason else ""
    unsafe = f"Unsafe fix: replace the estimate with `{fix.replacement}`{reason}"
    alternative = f"Safe alternative: write `{fix.comment}`"
    return _present([sarif_fix(unsafe, "unsafe", location, text.edits(fix, unsafe=True)),
                     sarif_fix(alternative, "safe", location, text.edits(fix, unsafe=False))])


def describe(fix: Fix) -> str:
    if fix.comment is None:
        return f"Replace the estimate with `{fix.replacement}`"
    return f"Write `{fix.comment}`"


def _present(candidates: list[Json | None]) -> list[Json]:
    return [c for c in candidates if c is not None]


def properties(finding: Finding) -> Json:
    extra: Json = {
        "blueprint": blueprint_dict(finding),
        "estimate": finding.estimate,
        "formula": finding.formula,
        "counts": counts_dict(finding),
        "referenceDim": finding.reference_dim,
        "confirmed": finding.confirmed,
        "fixApplicability": finding.fix.applicability if finding.fix else None,
    }
    return {key: value for key, value in extra.items() if value is not None}


def result(finding: Finding, index: dict[str, int], files: dict[str, FileText | None]) -> Json:
    location = artifact_location(finding.path)
    out: Json = {
        "ruleId": finding.code,
        "level": finding.level,
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": {"artifactLocation": location,
                                            "region": region(finding.span)}}],
    }
    if finding.code in index:
        out["ruleIndex"] = index[finding.code]
    if found := fixes(finding, location, files):
        out["fixes"] = found
    if extra := properties(finding):
        out["properties"] = extra
    return out


def log(report: Report) -> Json:
    infos = rule_infos()
    index = {info.code: i for i, info in enumerate(infos)}
    files: dict[str, FileText | None] = {}  # each file with a fix is read once
    driver = {"name": "esper-lint", "version": __version__, "semanticVersion": __version__,
              "informationUri": INFORMATION_URI, "rules": [rule_descriptor(i) for i in infos]}
    run: Json = {
        "tool": {"driver": driver},
        "originalUriBaseIds": {SRCROOT: {"uri": Path.cwd().as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": [result(f, index, files) for f in report.findings],
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render(report: Report) -> str:
    return json.dumps(log(report), indent=2, ensure_ascii=False) + "\n"
