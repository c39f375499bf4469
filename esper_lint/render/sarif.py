"""SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.

One run; its driver lists every rule and ESP9xx diagnostic from the catalog, results point
into it by index.  Columns count Unicode code points and ``endColumn`` is one past the region,
as SARIF says.  A finding's fix alternatives become SARIF ``fixes``, each exactly the edits
``--fix`` writes for it; an unsafe one says so, and comes before its safe alternative.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from esper_lint import __version__
from esper_lint.catalog import Rule, catalog
from esper_lint.model import Finding, Fix, Span
from esper_lint.render import Report
from esper_lint.render.json import blueprint_dict, counts_dict

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/esper-lint/"
SRCROOT = "%SRCROOT%"

Json = dict[str, Any]


def rule_descriptor(rule: Rule) -> Json:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.doc},
        "help": {"text": rule.doc, "markdown": rule.doc},
        "defaultConfiguration": {"level": rule.level},
    }


def artifact_location(path: str) -> Json:
    """A relative path becomes a URI reference under ``%SRCROOT%``, an absolute one a file URI."""
    posix = Path(path)
    if posix.is_absolute():
        return {"uri": file_uri(posix)}
    return {"uri": _quoted(posix), "uriBaseId": SRCROOT}


def file_uri(path: Path) -> str:
    return "file://" + _quoted(path)


def _quoted(path: Path) -> str:
    # The name's own bytes, percent-encoded: a name that is not UTF-8 (b"\xff") stays exact.
    return quote(os.fsencode(path.as_posix()), safe="/")


def region(span: Span) -> Json:
    return {"startLine": span.line, "startColumn": span.column,
            "endLine": span.end_line, "endColumn": span.end_column}


def sarif_fix(fix: Fix, location: Json) -> Json:
    replacements = [{"deletedRegion": region(e.span), "insertedContent": {"text": e.new_text}}
                    for e in sorted(fix.edits, key=lambda e: e.span)]
    return {"description": {"text": fix.title},
            "artifactChanges": [{"artifactLocation": location, "replacements": replacements}],
            "properties": {"applicability": fix.applicability}}


def properties(finding: Finding) -> Json:
    extra: Json = {
        "blueprint": blueprint_dict(finding),
        "estimate": finding.estimate,
        "formula": finding.formula,
        "counts": counts_dict(finding),
        "referenceDim": finding.reference_dim,
        "referenceSource": finding.reference_source,
        "confirmed": finding.confirmed,
        "fixApplicability": finding.fixes[0].applicability if finding.fixes else None,
    }
    return {key: value for key, value in extra.items() if value is not None}


def result(finding: Finding, index: dict[str, int]) -> Json:
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
    if finding.fixes:
        out["fixes"] = [sarif_fix(fix, location) for fix in finding.fixes]
    if extra := properties(finding):
        out["properties"] = extra
    return out


def log(report: Report) -> Json:
    rules = catalog()
    index = {rule.code: i for i, rule in enumerate(rules)}
    driver = {"name": "esper-lint", "version": __version__, "semanticVersion": __version__,
              "informationUri": INFORMATION_URI, "rules": [rule_descriptor(r) for r in rules]}
    run: Json = {
        "tool": {"driver": driver},
        "originalUriBaseIds": {SRCROOT: {"uri": file_uri(Path.cwd()).rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": [result(f, index) for f in report.findings],
    }
    if report.reference_dims or report.notes:
        run["properties"] = {
            "referenceDims": {topology: {"widths": list(widths), "source": source}
                              for topology, widths, source in report.reference_dims},
            "notes": list(report.notes)}
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render(report: Report) -> str:
    return json.dumps(log(report), indent=2, ensure_ascii=False) + "\n"
