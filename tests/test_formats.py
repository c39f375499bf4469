"""--format github and --format sarif through the real CLI, checked against the JSON output."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest

from conftest import FIXTURES, run_cli, run_json
from esper_lint.catalog import known_codes, rules
from esper_lint.config import Config
from esper_lint.diagnostics import DIAGNOSTICS
from esper_lint.fix import plan_file
from esper_lint.model import Finding, Fix, Formula, Measurement, Site
from esper_lint.render import Report
from esper_lint.render.github import escape_data, escape_property
from esper_lint.render.sarif import log
from esper_lint.rulekit import Context, callable_fix, estimate_fixes, value_fix
from esper_lint.sites import find_sites
from esper_lint.source import decode

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
TARGETS = ("fixtures/static", "fixtures/bad")
COMMAND = re.compile(r"^::(?P<level>error|warning) (?P<props>[^:]*)::(?P<message>.*)$")
ODD_NAME = "odd:name,100%.py"
ODD_SOURCE = '''from seedlib.registry import BlueprintRegistry


@BlueprintRegistry.register("50%,\\nx", "cnn", param_estimate=100)
def create(dim):
    return dim
'''


def unescape_data(value: str) -> str:
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(value: str) -> str:
    return unescape_data(value.replace("%3A", ":").replace("%2C", ","))


def parse_annotation(line: str) -> dict[str, str]:
    """One workflow command back into its level, properties and message, un-escaped."""
    match = COMMAND.match(line)
    assert match, f"not a workflow command: {line!r}"
    props = dict(item.split("=", 1) for item in match["props"].split(","))
    return {"level": match["level"], "message": unescape_data(match["message"]),
            **{key: unescape_property(value) for key, value in props.items()}}


def as_annotation(finding: dict[str, Any]) -> dict[str, str]:
    """What the annotation of a JSON finding must say."""
    return {"level": finding["level"], "message": finding["message"], "file": finding["path"],
            "line": str(finding["line"]), "col": str(finding["column"]),
            "endLine": str(finding["end_line"]), "endColumn": str(finding["end_column"]),
            "title": f"esper-lint ({finding['code']})"}


@pytest.fixture
def odd_project(tmp_path: Path) -> Path:
    (tmp_path / ODD_NAME).write_text(ODD_SOURCE)
    return tmp_path


def test_escapes_follow_the_actions_toolkit() -> None:
    assert escape_data("50%\r\nx: a, b") == "50%25%0D%0Ax: a, b"
    assert escape_property("50%\r\nx: a, b") == "50%25%0D%0Ax%3A a%2C b"
    assert escape_data("%0A") == "%250A"  # an escape in the input is not taken for one


def test_github_annotations_match_the_json_findings() -> None:
    _, findings = run_json("--no-dynamic", *TARGETS)
    result = run_cli("--no-dynamic", "--format", "github", *TARGETS)
    lines = result.stdout.splitlines()
    assert [parse_annotation(line) for line in lines] == [as_annotation(f) for f in findings]
    assert {"error", "warning"} <= {parse_annotation(line)["level"] for line in lines}
    assert result.exit_code == 1


def test_github_escapes_percent_comma_colon_and_newline(odd_project: Path) -> None:
    _, findings = run_json("--no-dynamic", ".", cwd=odd_project)
    result = run_cli("--no-dynamic", "--format", "github", ".", cwd=odd_project)
    [line] = result.stdout.splitlines()  # the newline in the name is escaped in every message
    assert "file=odd%3Aname%2C100%25.py," in line and "cnn:50%25,\\nx" in line
    [annotation] = [parse_annotation(line)]
    assert annotation == as_annotation(findings[0])
    assert annotation["file"] == ODD_NAME and "cnn:50%,\\nx " in annotation["message"]


def test_github_prints_only_annotations() -> None:
    clean = run_cli("--no-dynamic", "--format", "github", "fixtures/static/no_registrations.py")
    assert clean.stdout == "" and clean.exit_code == 0
    found = run_cli("--no-dynamic", "--format", "github", "fixtures/static/shapes.py")
    assert all(line.startswith("::error ") for line in found.stdout.splitlines())


def sarif_of(*args: str, cwd: Path | None = None) -> dict[str, Any]:
    result = run_cli("--no-dynamic", "--format", "sarif", *args, cwd=cwd)
    assert result.exit_code in (0, 1), result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def validate(document: dict[str, Any]) -> None:
    validator = jsonschema.validators.validator_for(SCHEMA)
    assert validator is jsonschema.Draft4Validator  # what the schema's "$schema" declares
    validator.check_schema(SCHEMA)
    validator(SCHEMA).validate(document)


def test_sarif_is_valid_against_the_2_1_0_schema(odd_project: Path) -> None:
    validate(sarif_of(*TARGETS))
    validate(sarif_of(".", cwd=odd_project))
    validate(sarif_of("fixtures/static/no_registrations.py"))


def test_sarif_results_match_the_json_findings_one_to_one() -> None:
    _, findings = run_json("--no-dynamic", *TARGETS)
    [run] = sarif_of(*TARGETS)["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(findings)
    for result, finding in zip(run["results"], findings, strict=True):
        location = result["locations"][0]["physicalLocation"]
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == finding["code"]
        assert result["level"] == finding["level"]
        assert result["message"]["text"] == finding["message"]
        assert location["artifactLocation"] == {"uri": finding["path"], "uriBaseId": "%SRCROOT%"}
        assert location["region"] == {"startLine": finding["line"], "startColumn": finding["column"],
                                      "endLine": finding["end_line"], "endColumn": finding["end_column"]}
        extra = result.get("properties", {})
        assert extra.get("estimate") == finding["estimate"]
        assert extra.get("blueprint") == finding["blueprint"]


def test_sarif_driver_lists_every_rule_and_diagnostic() -> None:
    [run] = sarif_of("fixtures/static/no_registrations.py")["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "esper-lint" and driver["version"] and driver["informationUri"]
    by_id = {rule["id"]: rule for rule in driver["rules"]}
    assert sorted(by_id) == list(known_codes())
    for rule in rules():
        entry = by_id[rule.code]
        assert (entry["name"], entry["shortDescription"]["text"]) == (rule.name, rule.summary)
        assert entry["fullDescription"]["text"] == entry["help"]["text"] == rule.doc
        assert entry["defaultConfiguration"]["level"] == "error"
    assert all(by_id[d.code]["defaultConfiguration"]["level"] == "warning" for d in DIAGNOSTICS)
    assert run["results"] == [] and run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")


def test_sarif_uri_is_percent_encoded(odd_project: Path) -> None:
    [result] = sarif_of(".", cwd=odd_project)["runs"][0]["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "odd%3Aname%2C100%25.py" and unquote(uri) == ODD_NAME
    assert result["message"]["text"].startswith("param_estimate=100 for cnn:50%,\\nx ")


@pytest.mark.parametrize("output_format", ["github", "sarif", "json", "text"])
def test_output_file_gets_what_stdout_would(output_format: str, tmp_path: Path) -> None:
    target = tmp_path / f"out.{output_format}"
    args = ("--no-dynamic", "--format", output_format, "fixtures/static/shapes.py")
    written = run_cli("--output-file", str(target), *args)
    assert written.stdout == "" and written.exit_code == 1
    assert target.read_text(encoding="utf-8") == run_cli(*args).stdout


# Fixes come from the dynamic pass; these build findings with fixes and render them directly.
BLUEPRINT_FILE = '''@BlueprintRegistry.register("norm", "cnn", param_estimate=100, description="GroupNorm")
def create_norm(dim):
    return nn.GroupNorm(1, dim)


@BlueprintRegistry.register("doc", "cnn", param_estimate=128)  # formula: 2*dim plus one
def create_doc(dim):
    return nn.GroupNorm(1, dim)
'''


FORMULA = Formula("2*dim")
LAMBDA = FORMULA.as_lambda()
CONFIG = Config()


def _sites(tmp_path: Path) -> dict[str, Site]:
    """The two registrations of BLUEPRINT_FILE, as the static pass reads them in tmp_path."""
    path = tmp_path / "blueprints.py"
    path.write_text(BLUEPRINT_FILE)
    facts = find_sites(path, "blueprints.py", BLUEPRINT_FILE, CONFIG)
    return {site.blueprint.name or "": site for site in facts.sites}


def _finding(code: str, site: Site, fixes: tuple[Fix, ...]) -> Finding:
    assert site.estimate is not None
    return Finding(code=code, path="blueprints.py", span=site.estimate.span, message=f"{code} message",
                   file=site.path, fixes=fixes, blueprint=site.blueprint, estimate=100,
                   formula="2*dim", counts=((64, 128), (128, 256)), reference_dim=64, confirmed=True)


PHYSICAL_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def apply(text: str, *fixes: dict[str, Any]) -> str:
    """SARIF fixes' replacements applied to one file's text, the last first."""
    starts = [0]
    for line in PHYSICAL_LINE.findall(text):
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + column - 1

    edits = {(offset(r["startLine"], r["startColumn"]), offset(r["endLine"], r["endColumn"]),
              replacement["insertedContent"]["text"])
             for fix in fixes for change in fix["artifactChanges"]
             for replacement in change["replacements"] for r in [replacement["deletedRegion"]]}
    # two findings on one registration (ESP002 and ESP005) may carry the same edit: made once
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def chosen(results: list[dict[str, Any]], unsafe: bool) -> list[dict[str, Any]]:
    """The fix ``--fix`` (``--unsafe-fixes`` when ``unsafe``) would take for each result."""
    picked = []
    for result in results:
        fixes = result.get("fixes", [])
        kinds = [f["properties"]["applicability"] for f in fixes]
        wanted = "unsafe" if unsafe and "unsafe" in kinds else "safe"
        picked += [f for f, kind in zip(fixes, kinds, strict=True) if kind == wanted][:1]
    return picked


def render_fixes(*findings: Finding) -> list[Any]:
    document = log(Report(findings=findings))
    validate(document)
    return [result.get("fixes", []) for result in document["runs"][0]["results"]]


MEASURED = Measurement(formula=FORMULA)  # no counts: fixes document the formula, values stay


def _unsafe(site: Site) -> tuple[Fix, ...]:
    return estimate_fixes(site, MEASURED, Context(CONFIG, MEASURED), prefer_callable=True)


def _comment(site: Site) -> tuple[Fix, ...]:
    return value_fix(site, MEASURED, Context(CONFIG, MEASURED))


def _findings(tmp_path: Path) -> tuple[Finding, ...]:
    sites = _sites(tmp_path)
    return (_finding("ESP001", sites["norm"], _unsafe(sites["norm"])),
            _finding("ESP002", sites["doc"], _comment(sites["doc"])))


@pytest.mark.parametrize("unsafe", [False, True], ids=["fix", "unsafe-fixes"])
def test_sarif_fixes_are_exactly_what_fix_writes(unsafe: bool, tmp_path: Path) -> None:
    findings = _findings(tmp_path)
    results = [{"fixes": fixes} for fixes in render_fixes(*findings)]
    path = tmp_path / "blueprints.py"
    source = decode(path.read_bytes())
    sites = list(_sites(tmp_path).values())
    plan = plan_file(path, findings, source, sites, CONFIG, unsafe=unsafe)
    assert plan.problem is None and plan.changed
    assert apply(BLUEPRINT_FILE, *chosen(results, unsafe)) == plan.new_text


def test_sarif_safe_callable_fix(tmp_path: Path) -> None:
    norm = _sites(tmp_path)["norm"]
    assert norm.estimate is not None
    [[fix]] = render_fixes(_finding("ESP001", norm, callable_fix(norm, FORMULA, safe=True)))
    assert fix["description"]["text"] == f"Replace the estimate with `{LAMBDA}`"
    span = norm.estimate.span
    assert fix["artifactChanges"][0]["replacements"][0]["deletedRegion"] == {
        "startLine": 1, "startColumn": span.column, "endLine": 1, "endColumn": span.end_column}
    assert apply(BLUEPRINT_FILE, fix).splitlines()[0] == (
        f'@BlueprintRegistry.register("norm", "cnn", param_estimate={LAMBDA}, description="GroupNorm")')


def test_sarif_unsafe_fix_and_its_comment_alternative(tmp_path: Path) -> None:
    norm = _sites(tmp_path)["norm"]
    [[callable_fix_, comment_fix_]] = render_fixes(_finding("ESP001", norm, _unsafe(norm)))
    assert callable_fix_["description"]["text"].startswith("Unsafe fix: replace the estimate with")
    assert "not annotated as callable" in callable_fix_["description"]["text"]
    assert f"param_estimate={LAMBDA}," in apply(BLUEPRINT_FILE, callable_fix_).splitlines()[0]
    assert comment_fix_["description"]["text"].startswith("Safe alternative: write `# formula: 2*dim`")
    assert apply(BLUEPRINT_FILE, comment_fix_).splitlines()[:2] == [  # past 88 trailing: above
        "# formula: 2*dim",
        '@BlueprintRegistry.register("norm", "cnn", param_estimate=100, description="GroupNorm")']


def test_sarif_comment_fix_rewrites_the_documented_formula(tmp_path: Path) -> None:
    doc = _sites(tmp_path)["doc"]
    [[fix]] = render_fixes(_finding("ESP002", doc, _comment(doc)))
    [change] = fix["artifactChanges"]
    assert len(change["replacements"]) == 1  # the argument stays as written
    assert apply(BLUEPRINT_FILE, fix).splitlines()[5] == (
        '@BlueprintRegistry.register("doc", "cnn", param_estimate=128)  # formula: 2*dim')


def test_sarif_fix_properties_need_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    norm = _sites(tmp_path)["norm"]
    finding = _finding("ESP001", norm, _unsafe(norm))
    (tmp_path / "blueprints.py").unlink()  # SARIF reads no file: the fixes are the finding's edits
    monkeypatch.chdir(tmp_path)
    [result] = log(Report(findings=(finding,)))["runs"][0]["results"]
    assert [f["properties"]["applicability"] for f in result["fixes"]] == ["unsafe", "safe"]
    assert result["properties"] == {
        "blueprint": {"name": "norm", "topology": "cnn", "factory": "create_norm"}, "estimate": 100,
        "formula": "2*dim", "counts": {"64": 128, "128": 256}, "referenceDim": 64, "confirmed": True,
        "fixApplicability": "unsafe"}


@pytest.mark.slow
@pytest.mark.parametrize("unsafe", [False, True], ids=["fix", "unsafe-fixes"])
def test_sarif_fixes_match_fix_on_measured_blueprints(unsafe: bool, tmp_path: Path) -> None:
    """The dynamic pass on a real project: SARIF's fixes, applied, give what ``--fix`` writes."""
    project = shutil.copytree(FIXTURES / "fixable_int", tmp_path / "project")
    seeds = project / "fixable_int" / "seeds.py"
    original = seeds.read_text()
    [run] = sarif_of_dynamic(project)["runs"]
    expected = apply(original, *chosen(run["results"], unsafe))
    flags = ("--fix", "--unsafe-fixes") if unsafe else ("--fix",)
    fixed = run_cli(*flags, "--no-cache", ".", cwd=project)
    assert fixed.exit_code == 0, fixed.output
    assert seeds.read_text() == expected != original


def sarif_of_dynamic(project: Path) -> dict[str, Any]:
    result = run_cli("--format", "sarif", "--no-cache", ".", cwd=project)
    assert result.exit_code == 1, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    validate(document)
    assert all("fixes" in r for r in document["runs"][0]["results"] if r["ruleId"] != "ESP004")
    return document
