"""The static pass through the real CLI: every registration shape and estimate form."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIXTURES, expected_markers, run_cli, run_json

STATIC = sorted((FIXTURES / "static").glob("*.py"))
KEYS = {"code", "path", "line", "column", "end_line", "end_column", "message", "blueprint",
        "estimate", "formula", "fix"}


@pytest.mark.parametrize("fixture", STATIC + [FIXTURES / "bad" / n for n in
                                              ("latin1_cookie.py", "utf8_bom.py", "crlf.py")],
                         ids=lambda p: p.name)
def test_findings_are_exactly_the_expect_markers(fixture: Path) -> None:
    result, findings = run_json("--no-dynamic", str(fixture.relative_to(FIXTURES.parent)))
    assert {(f["line"], f["code"]) for f in findings} == expected_markers(fixture)
    assert result.exit_code == (1 if findings else 0)


def test_json_keys_positions_and_blueprint() -> None:
    _, findings = run_json("--no-dynamic", "fixtures/static/shapes.py")
    first = findings[0]
    assert set(first) >= KEYS
    assert first["path"] == "fixtures/static/shapes.py"
    source_line = (FIXTURES / "static" / "shapes.py").read_text().splitlines()[first["line"] - 1]
    assert source_line[first["column"] - 1:first["end_column"] - 1] == "100"
    assert first["blueprint"] == {"name": "norm", "topology": "cnn", "factory": "create_norm_seed"}
    assert first["estimate"] == 100 and first["formula"] is None and first["fix"] is None
    assert "cnn:norm" in first["message"] and "formula" in first["message"]


def test_constant_forms_are_evaluated() -> None:
    _, findings = run_json("--no-dynamic", "fixtures/static/constants.py")
    by_name = {f["blueprint"]["name"]: f["estimate"] for f in findings}
    assert by_name == {"underscored": 4800, "arithmetic": 64 * 64 * 9 + 64,
                       "named": 64 * 64 * 9 + 64, "annotated": 300, "hex": 256}


def test_direct_call_and_method_name_their_factories() -> None:
    _, findings = run_json("--no-dynamic", "fixtures/static/shapes.py")
    factories = {f["blueprint"]["name"]: f["blueprint"]["factory"] for f in findings}
    assert factories["direct"] == "create_direct_seed"
    assert factories["method"] == "Seeds.create_method_seed"


def test_text_output_and_exit_codes() -> None:
    result = run_cli("--no-dynamic", "fixtures/static/shapes.py")
    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert lines[0].startswith("fixtures/static/shapes.py:14:59: ESP001 ")
    assert lines[-1].startswith("Found 9 findings")
    clean = run_cli("--no-dynamic", "fixtures/static/no_registrations.py")
    assert clean.exit_code == 0 and "All checks passed" in clean.stdout
    assert run_cli("--no-dynamic", "--exit-zero", "fixtures/static/shapes.py").exit_code == 0


def test_folder_walk_finds_every_fixture() -> None:
    _, findings = run_json("--no-dynamic", "fixtures/static")
    expected = {(str(p.relative_to(FIXTURES.parent)), line, code)
                for p in STATIC for line, code in expected_markers(p)}
    assert {(f["path"], f["line"], f["code"]) for f in findings} == expected


@pytest.mark.parametrize(("option", "codes"), [
    (("--select", "ESP002"), {"ESP002"}),
    (("--ignore", "ESP001"), {"ESP002"}),
    (("--select", "ESP00", "--ignore", "ESP002"), {"ESP001"}),
])
def test_select_and_ignore(option: tuple[str, ...], codes: set[str]) -> None:
    _, findings = run_json("--no-dynamic", *option, "fixtures/static/documented.py")
    assert {f["code"] for f in findings} == codes


def test_unknown_selector_is_a_usage_error() -> None:
    result = run_cli("--no-dynamic", "--select", "XYZ9", "fixtures/static")
    assert result.exit_code == 2
    assert "unknown rule selector `XYZ9`" in result.stderr


def test_paths_are_relative_to_cwd_when_inside(tmp_path: Path) -> None:
    _result, findings = run_json("--no-dynamic", "shapes.py", cwd=FIXTURES / "static")
    assert findings and all(f["path"] == "shapes.py" for f in findings)
    _outside, findings = run_json("--no-dynamic", str(FIXTURES / "static" / "shapes.py"),
                                 cwd=tmp_path)
    assert findings[0]["path"] == str(FIXTURES / "static" / "shapes.py")


def test_explain_prints_the_rule_documentation() -> None:
    result = run_cli("--explain", "ESP001")
    assert result.exit_code == 0
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## Fix safety"):
        assert heading in result.stdout
    assert run_cli("--explain", "ESP999").exit_code == 0
    assert run_cli("--explain", "NOPE1").exit_code == 2


def test_version() -> None:
    result = run_cli("--version")
    assert result.exit_code == 0 and "esper-lint" in result.stdout


@pytest.mark.parametrize("fixture", STATIC, ids=lambda p: p.name)
def test_every_span_covers_the_estimate_as_written(fixture: Path) -> None:
    from esper_lint.config import Config
    from esper_lint.sites import find_sites

    text = fixture.read_text()
    lines = text.splitlines(keepends=True)
    offsets = [sum(len(line) for line in lines[:i]) for i in range(len(lines) + 1)]
    for site in find_sites(fixture, fixture.name, text, Config()).sites:
        if site.estimate is None:
            continue
        s = site.estimate.span
        start = offsets[s.line - 1] + s.column - 1
        end = offsets[s.end_line - 1] + s.end_column - 1
        assert text[start:end] == site.estimate.source
        call = site.call
        assert text[offsets[call.line - 1] + call.column - 1:].startswith(site.register + "(")


def test_formula_text_inside_a_string_is_not_a_comment(tmp_path: Path) -> None:
    (tmp_path / "seeds.py").write_text(
        "from registry import BlueprintRegistry\n\n"
        '@BlueprintRegistry.register("norm", "cnn", param_estimate=100, description="""\n'
        '# formula: 2*dim\n"""\n)\ndef create(dim):\n    return dim\n')
    _, findings = run_json("--no-dynamic", ".", cwd=tmp_path)
    assert [(f["code"], f["line"]) for f in findings] == [("ESP001", 3)]
