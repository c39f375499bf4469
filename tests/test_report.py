"""--report: the HTML page a reviewer opens, checked against the JSON of the same run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES, run_cli
from esper_lint.config import load
from esper_lint.pipeline import lint
from esper_lint.render.blueprints import entries

URL = re.compile(r"""(?:\b(?:src|href|action|poster)\s*=\s*["']?\s*(?!#)[^"'\s>]*|url\(\s*["']?(?!#)[^)]*)""")
TINY_REGISTRY = '''
class BlueprintRegistry:
    @classmethod
    def register(cls, name, topology, param_estimate, description=""):
        return lambda factory: factory
'''
TINY_GOOD = '''from torch import nn

from tinypkg.registry import BlueprintRegistry


@BlueprintRegistry.register("linear", "cnn", param_estimate=4160)
def create_linear_seed(dim: int) -> nn.Module:
    return nn.Linear(dim, dim)


@BlueprintRegistry.register("norm", "cnn", param_estimate=100)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''
TINY_BROKEN = '''import esper_lint_no_such_module  # noqa: F401
from torch import nn

from tinypkg.registry import BlueprintRegistry


@BlueprintRegistry.register("missing", "cnn", param_estimate=64)
def create_missing_seed(dim: int) -> nn.Module:
    return nn.Linear(dim, 1)
'''


def _esper_lint(*args: str, cwd: Path, python: tuple[str, ...] = ("-m", "esper_lint")
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *python, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _document(path: Path) -> ET.Element:
    """The page, parsed as XML: it must be well-formed (its only non-XML part is the doctype)."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(text.removeprefix("<!DOCTYPE html>\n"))


def _rows(page: ET.Element) -> dict[str, ET.Element]:
    body = page.find(".//table[@class='summary']/tbody")
    assert body is not None
    return {row.attrib["data-blueprint"]: row for row in body.findall("tr")}


def _plots(page: ET.Element) -> dict[str, ET.Element]:
    """The plot figures by id: each holds exactly one inline <svg>."""
    figures = {f.attrib["id"]: f for f in page.iter("figure")}
    return {fid: f for fid, f in figures.items() if f.find("svg") is not None}


def _text(element: ET.Element) -> str:
    return " ".join(" ".join(element.itertext()).split())


def _assert_offline(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "http:" not in text and "https:" not in text
    for reference in URL.findall(text):  # every src/href/url( points inside the page
        value = re.sub(r"""^(?:\w+\s*=\s*["']?|url\(\s*["']?)""", "", reference)
        assert value == "" or value.startswith("#"), reference
    assert "<script" not in text and "<link" not in text and "<img" not in text and "@import" not in text


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One run on a copy of the demo: JSON on stdout and the report, from the same findings."""
    root = tmp_path_factory.mktemp("report") / "demo"
    shutil.copytree(FIXTURES / "demo", root, ignore=shutil.ignore_patterns(".esper-lint-cache"))
    done = _esper_lint("--format", "json", "--report", "report.html", ".", cwd=root)
    return root, done


@pytest.mark.slow
def test_report_beside_json_changes_neither_output_nor_exit_code(
        demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, done = demo_run
    assert done.returncode == 1 and "Traceback" not in done.stderr and "warning" not in done.stderr.lower()
    plain = _esper_lint("--format", "json", ".", cwd=root)  # the cache answers: same findings
    assert plain.returncode == 1 and json.loads(plain.stdout) == json.loads(done.stdout)


@pytest.mark.slow
def test_demo_report_is_well_formed_offline_with_one_plot_per_blueprint(
        demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, _ = demo_run
    page = _document(root / "report.html")
    _assert_offline(root / "report.html")
    rows, plots = _rows(page), _plots(page)
    registrations = sum(source.read_text().count("@BlueprintRegistry.register(")
                        for source in (root / "seedlib" / "blueprints").glob("*.py"))
    assert len(rows) == len(plots) == registrations == 14
    for label, row in rows.items():  # each blueprint's name links to its own plot
        link = row.find("td/a")
        assert link is not None and _text(link) == label
        assert link.attrib["href"].removeprefix("#") in plots
        plot = plots[link.attrib["href"].removeprefix("#")]
        assert label in _text(plot.find("svg/title"))  # type: ignore[arg-type]
    ids = [e.attrib["id"] for e in page.iter() if "id" in e.attrib]
    assert len(ids) == len(set(ids))  # many inline SVGs, no id shared between them


@pytest.mark.slow
def test_table_numbers_are_the_json_numbers_of_the_same_run(
        demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, done = demo_run
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    rows = _rows(_document(root / "report.html"))
    checked = 0
    for finding in findings:
        bp = finding["blueprint"]
        row = rows[f"{bp['topology']}:{bp['name']}"]
        data = {key.removeprefix("data-"): value for key, value in row.attrib.items()}
        cells = [_text(td) for td in row.findall("td")]
        assert data["path"] == finding["path"]
        assert finding["code"] in data["codes"].split() and finding["code"] in cells[-1]
        if finding["estimate"] is not None:
            assert int(data["estimate"]) == finding["estimate"]
        assert data.get("formula") == finding["formula"]
        if finding["formula"]:
            assert finding["formula"] in cells[3]
        counts = finding["counts"]
        reference = int(data["reference"])
        assert reference == finding["reference_dim"]
        assert int(data["count-reference"]) == counts[str(reference)]
        assert cells[4:6] == [f"{reference:,}", f"{counts[str(reference)]:,}"]
        largest = data["largest"]
        assert int(data["count-largest"]) == counts[largest]
        assert cells[7:9] == [f"{int(largest):,}", f"{counts[largest]:,}"]
        if finding["code"] == "ESP001":  # the error at the reference width, as the message says it
            assert f"{cells[6]} at dim={reference}" in finding["message"] or cells[6] == "exact"
        checked += 1
    assert checked == len(findings) >= 10
    assert _text(rows["cnn:identity"].findall("td")[-1]) == "exact"


@pytest.mark.slow
def test_order_section_marks_what_esp004_names(
        demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, done = demo_run
    page = _document(root / "report.html")
    for finding in json.loads(done.stdout):
        if finding["code"] != "ESP004":
            continue
        topology, width = finding["blueprint"]["topology"], finding["reference_dim"]
        block = next(d for d in page.iter("div") if d.attrib.get("id") == f"order-{topology}-{width}")
        by_estimate, by_count = block.findall(".//ol")
        named = finding["message"].split("must change: ")[1].split(";")[0].split(", ")
        for listing in (by_estimate, by_count):
            moved = [_text(li.find("span")) for li in listing if li.attrib.get("class") == "moved"]  # type: ignore[arg-type]
            assert sorted(moved) == sorted(named)
        estimates = finding["message"].split(" at dim=")[0].split("blueprints ")[1]
        assert [_text(li.find("span")) for li in by_estimate] == [  # type: ignore[arg-type]
            part.split(" (")[0] for part in estimates.split(" < ")]


@pytest.mark.slow
def test_plotted_points_are_the_measured_counts_and_the_estimates_as_written() -> None:
    run = lint([str(FIXTURES / "demo")], load(None, FIXTURES / "demo"), cache=False)
    items = {e.site.blueprint.label: e for e in entries(run)}
    for entry in items.values():
        assert entry.measured is not None
        assert [(w, c) for w, c, _ in entry.points] == list(entry.measured.counts)
    flat = {est for _, _, est in items["cnn:attention"].points}
    assert flat == {2000}  # a constant is drawn flat, at its value
    projection = items["cnn:projection"].points  # the module's own `projection_estimate`: dim*dim
    assert all(est == w * w for w, _, est in projection)
    layernorm = items["cnn:layernorm"].points  # `lambda dim: 2 * dim`, as the worker called it
    assert all(est == eval(items["cnn:layernorm"].site.estimate.source)(w)  # type: ignore[union-attr]
               for w, _, est in layernorm)
    documented = items["transformer:layerscale"]  # `1024  # formula: 2*dim`: drawn as written
    assert {est for _, _, est in documented.points} == {1024}
    assert all(documented.documented_at(w) == 2 * w for w, _, _ in documented.points)


@pytest.mark.slow
def test_report_is_written_when_some_blueprints_cannot_be_measured(tmp_path: Path) -> None:
    package = tmp_path / "tinypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "registry.py").write_text(TINY_REGISTRY)
    (package / "good.py").write_text(TINY_GOOD)
    (package / "broken.py").write_text(TINY_BROKEN)
    (tmp_path / "pyproject.toml").write_text('[tool.esper-lint]\nreference-dims = { cnn = 64 }\n')
    done = _esper_lint("--no-cache", "--report", "out.html", ".", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    page = _document(tmp_path / "out.html")
    _assert_offline(tmp_path / "out.html")
    rows, plots = _rows(page), _plots(page)
    assert set(rows) == {"cnn:linear", "cnn:norm", "cnn:missing"} and len(plots) == 2
    missing = _text(rows["cnn:missing"])
    assert "ESP911" in missing and "esper_lint_no_such_module" in missing
    assert "data-count-reference" not in rows["cnn:missing"].attrib
    assert "not judged" in _text(page.find(".//section[@id='orders']"))  # type: ignore[arg-type]


@pytest.mark.slow
def test_fix_reports_the_code_as_fixed(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    shutil.copytree(FIXTURES / "demo", root, ignore=shutil.ignore_patterns(".esper-lint-cache"))
    done = _esper_lint("--fix", "--report", "fixed.html", ".", cwd=root)
    assert (done.returncode, done.stdout) == (0, "Fixed 10 findings.\n")
    norm = _rows(_document(root / "fixed.html"))["cnn:norm"]
    cells = [_text(td) for td in norm.findall("td")]
    assert norm.attrib["data-estimate"] == "129" and cells[6] == "exact"  # what --fix wrote, read back
    assert norm.attrib["data-codes"] == "" and cells[-1] == "no findings"  # exact at 64 only


def test_static_run_report_lists_blueprints_unmeasured(tmp_path: Path) -> None:
    target = tmp_path / "static.html"
    result = run_cli("--no-dynamic", "--report", str(target), "fixtures/demo")
    assert result.exit_code == 1 and "ESP001" in result.stdout
    page = _document(target)
    rows = _rows(page)
    assert len(rows) == 14 and not _plots(page)
    assert all("not measured" in _text(row) for row in rows.values())
    assert "not used" in _text(page.find(".//section[@id='run']"))  # type: ignore[arg-type]


@pytest.mark.parametrize("where", ["no/such/folder/report.html", "."])
def test_bad_report_path_is_one_line_usage_error(tmp_path: Path, where: str) -> None:
    done = _esper_lint("--no-dynamic", "--report", where, str(FIXTURES / "demo"), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("esper-lint: error: --report")
    assert not list(tmp_path.iterdir())


def test_missing_matplotlib_is_one_clear_line(tmp_path: Path) -> None:
    blocked = ("-c", "import sys; sys.modules['matplotlib'] = None; "
                     "from esper_lint.cli import main; main()")
    done = _esper_lint("--no-dynamic", "--report", "r.html", str(FIXTURES / "demo"), cwd=tmp_path,
                       python=blocked)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "esper-lint: error: --report needs matplotlib: pip install 'esper-lint[report]'\n"
    assert not (tmp_path / "r.html").exists()
