"""The registry's view, on registries shaped like esper's: reference widths inferred, every
message at the width the estimates mean, the order the registry sorts by (ESP004), constants
against their own formulas (ESP005), and fixes that leave every value right."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES, ROOT, run_cli, run_json
from esper_lint.config import Config
from esper_lint.expression import evaluate
from esper_lint.rulekit import error_phrase
from esper_lint.sites import find_sites

ESPERLIKE = FIXTURES / "esperlike"
REFERENCE = {"cnn": 64, "transformer": 384}  # what esper's estimates mean; nothing configures it
BLUEPRINTS = "src/esperlike/blueprints"

COUNTS = r"""
import inspect, json, sys
import torch
sys.path.insert(0, sys.argv[1])
import esperlike.blueprints
from esperlike.registry import BlueprintRegistry

out = {}
for key, spec in BlueprintRegistry._blueprints.items():
    params = {n: p.default for n, p in inspect.signature(spec.factory).parameters.items()
              if type(p.default) is int}
    counts = {}
    for width in (*range(1, 257), 384, 512, 1024):
        with torch.device("meta"):
            counts[width] = sum(p.numel() for p in spec.factory(width).parameters())
    estimate = None if callable(spec.param_estimate) else spec.param_estimate
    out[key] = {"estimate": estimate, "params": params, "counts": counts}
print(json.dumps(out))
"""


def real_counts(project: Path) -> dict[str, dict[str, Any]]:
    """Per ``topology:name``: the estimate the registry holds and real counts, built by torch here."""
    done = subprocess.run([sys.executable, "-c", COUNTS, str(project / "src")], capture_output=True,
                          text=True, check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    found: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return found


def copy(tmp_path: Path, source: Path = ESPERLIKE) -> Path:
    return shutil.copytree(source, tmp_path / source.name,
                           ignore=shutil.ignore_patterns("__pycache__", ".esper-lint-cache"))


def sites(project: Path) -> dict[str, Any]:
    """The registrations as the static pass reads them now, by ``topology:name``."""
    found = {}
    for path in sorted((project / BLUEPRINTS).glob("*.py")):
        for site in find_sites(path, str(path), path.read_text(), Config()).sites:
            found[site.blueprint.label] = site
    return found


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]], str]:
    project = copy(tmp_path_factory.mktemp("esper"))
    _, findings = run_json(".", "--no-cache", cwd=project)
    text = run_cli(".", cwd=project).stdout  # the cache of the run above
    return project, findings, text


pytestmark = pytest.mark.slow


def test_reference_widths_are_inferred_from_the_registry(linted: tuple[Path, list[Any], str]) -> None:
    _, findings, text = linted
    widths = {(f["blueprint"]["topology"], f["reference_dim"], f["reference_source"]) for f in findings}
    assert widths == {("cnn", 64, "inferred"), ("transformer", 384, "inferred")}
    assert "cnn: reference width 64, inferred: 3 of 7 estimates within 1%; pin it with reference-dims" in text
    assert "transformer: reference width 384, inferred: 6 of 6 estimates within 1%" in text


def test_messages_quote_the_reference_width(linted: tuple[Path, list[Any], str]) -> None:
    _, findings, _ = linted
    norm = next(f for f in findings if f["blueprint"]["name"] == "norm" and f["code"] == "ESP001"
                and f["blueprint"]["topology"] == "cnn")
    assert "is 22% low at dim=64 (actual 129); actual = 2*dim + 1" in norm["message"]
    small = next(f for f in findings if f["blueprint"]["name"] == "conv_small")
    assert "is 4.3x high at dim=64 (actual 4,224)" in small["message"]  # a ratio, beyond 100%


def test_where_the_estimate_is_read_is_cited(linted: tuple[Path, list[Any], str]) -> None:
    _, findings, text = linted
    used = {(u["path"], u["how"]) for f in findings for u in f["used_by"]}
    assert used == {("src/esperlike/registry.py", "sort key"), ("src/esperlike/calibrate.py", "zero test")}
    assert "; read as a sort key at src/esperlike/registry.py:43 (and 1 more place)" in text


def _orders(message: str) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[str]]:
    found = re.search(r"blueprints (?P<estimates>.*) at dim=\d+, the real counts (?P<counts>.*?); "
                      r"\d+ estimates? must change: (?P<moved>[\w, ]+)", message)
    assert found, message

    def pairs(text: str) -> list[tuple[str, int]]:
        return [(name, int(n.replace(",", ""))) for name, n in re.findall(r"(\w+) \(([\d,]+)\)", text)]

    return pairs(found["estimates"]), pairs(found["counts"]), found["moved"].split(", ")


def test_registry_order_against_real_counts(linted: tuple[Path, list[Any], str]) -> None:
    project, findings, _ = linted
    truth = real_counts(project)
    orders = {f["blueprint"]["topology"]: (f, *_orders(f["message"]))
              for f in findings if f["code"] == "ESP004"}
    assert set(orders) == {"cnn", "transformer"}
    for topology, (finding, estimates, counts, moved) in orders.items():
        width = REFERENCE[topology]
        mine = {key.split(":")[1]: m for key, m in truth.items() if key.startswith(f"{topology}:")}
        assert estimates == sorted(((n, m["estimate"]) for n, m in mine.items()), key=lambda p: (p[1], p[0]))
        assert counts == sorted(((n, m["counts"][str(width)]) for n, m in mine.items()),
                                key=lambda p: (p[1], p[0]))
        assert finding["blueprint"]["name"] == moved[0]
    assert orders["cnn"][3] == ["bottleneck", "conv_small"]  # 4,800 / 4,480 / 4,224, reversed
    assert orders["transformer"][3] == ["mlp_small"]  # 590,976 belongs before the 591,360 ties


def test_fix_writes_every_value_right_and_the_order_follows(tmp_path: Path) -> None:
    project = copy(tmp_path)
    before = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                            cwd=project, capture_output=True, text=True)
    assert before.returncode == 1 and "2 failed" in before.stdout  # bottleneck and conv_small
    fixed = run_cli(".", "--no-cache", "--fix", cwd=project)
    assert fixed.exit_code == 0 and "Fixed 13 findings." in fixed.stdout, fixed.output
    assert "7 of 7 estimates exact" in fixed.stdout
    assert run_json(".", "--no-cache", cwd=project)[1] == []  # ESP004 too: right by construction
    truth = real_counts(project)
    for label, site in sites(project).items():
        width = REFERENCE[site.blueprint.topology]
        assert site.estimate.value == truth[label]["counts"][str(width)] == truth[label]["estimate"]
        if site.estimate.formula:
            for w, count in truth[label]["counts"].items():
                assert evaluate(site.estimate.formula, {"dim": int(w), **truth[label]["params"]}) == count
    after = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                           cwd=project, capture_output=True, text=True)
    assert after.returncode == 0, after.stdout  # the registry's own tests: within 25%, all created


def test_an_exact_callable_registry_is_quiet() -> None:
    result, findings = run_json(".", "--no-cache", cwd=FIXTURES / "esperlike_callable")
    assert (result.exit_code, findings) == (0, [])


def test_unsafe_fixes_never_mix_ints_and_callables(tmp_path: Path) -> None:
    project = copy(tmp_path)
    _, findings = run_json(".", "--no-cache", cwd=project)
    assert {fix["applicability"] for f in findings for fix in f["fixes"]} == {"safe"}
    assert all("cnn:noop would stay an int" in f["fixes"][0]["title"] for f in findings
               if f["fixes"] and f["blueprint"]["topology"] == "cnn")
    assert run_cli(".", "--no-cache", "--fix", "--unsafe-fixes", cwd=project).exit_code == 0
    assert {site.estimate.kind for site in sites(project).values()} == {"constant"}


def test_unsafe_fixes_convert_a_whole_topology(tmp_path: Path) -> None:
    project = copy(tmp_path)
    for name in ("cnn_basic.py", "transformer.py"):  # without the no-op seeds, every estimate converts
        path = project / BLUEPRINTS / name
        text = path.read_text()
        path.write_text(re.sub(r'@BlueprintRegistry.register\("noop".*\n', "@(lambda f: f)\n", text))
    result = run_cli(".", "--no-cache", "--fix", "--unsafe-fixes", cwd=project)
    assert result.exit_code == 0, result.output
    found = sites(project)
    assert len(found) == 13 and {site.estimate.kind for site in found.values()} == {"callable"}
    truth = real_counts(project)
    for label, site in found.items():
        estimate = eval(site.estimate.source)  # a lambda of the verified formula: call it
        assert all(estimate(int(w)) == count for w, count in truth[label]["counts"].items()), label


def test_a_constant_that_contradicts_its_formula_statically(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.esper-lint]\nreference-dims = { cnn = 64 }\n")
    (tmp_path / "seeds.py").write_text(
        "from registry import BlueprintRegistry\n\n"
        '@BlueprintRegistry.register("norm", "cnn", param_estimate=7)  # formula: 2*channels\n'
        "def create(channels):\n    return channels\n")
    _, findings = run_json("--no-dynamic", ".", cwd=tmp_path)
    [finding] = findings
    assert finding["code"] == "ESP005" and finding["fix"] is None  # nothing verified: no fix
    assert "contradicts its formula `2*channels` at channels=64: the formula gives 128" in finding["message"]
    assert (finding["reference_dim"], finding["reference_source"]) == (64, "configured")


@pytest.mark.parametrize(("estimate", "actual", "phrase"), [
    (100, 129, "22% low"), (2000, 580, "3.4x high"), (10, 4160, "416x low"), (4800, 4800, "exact"),
    (591000, 590976, "0.004% high"), (0, 129, "129 too low"), (5, 0, "5 too high")])
def test_error_beyond_100_percent_is_a_ratio(estimate: int, actual: int, phrase: str) -> None:
    assert error_phrase(estimate, actual) == phrase


def _git(*args: str, cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c",
                    "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args], cwd=cwd,
                   check=True, capture_output=True, env=env)


def test_a_partial_run_through_pre_commit_judges_the_whole_registry(tmp_path: Path) -> None:
    """pre-commit passes only the changed file; the registry is still judged whole."""
    pytest.importorskip("pre_commit")
    from test_integrations import _clean_env, snapshot

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of esper-lint")
    repo = snapshot(tmp_path / "esper-lint")
    project = copy(tmp_path)
    env = _clean_env(PRE_COMMIT_HOME=str(tmp_path / "home"),
                     PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    _git("init", "-q", cwd=project, env=env)
    _git("add", "-A", cwd=project, env=env)
    changed = f"{BLUEPRINTS}/cnn_conv.py"
    done = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(repo), "esper-lint-dynamic",
                           "--files", changed], cwd=project, capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    reported = {line.split(":")[0] for line in done.stdout.splitlines() if ": ESP" in line}
    assert reported == {changed}  # only the file pre-commit passed ...
    assert "cnn: reference width 64, inferred: 3 of 7 estimates within 1%" in done.stdout
    [order] = [line for line in done.stdout.splitlines() if "ESP004" in line]
    assert "noop (0) < norm (100) < conv_light (770) < attention (2,000) < depthwise" in order  # ... whole
    assert "2 estimates must change: bottleneck, conv_small" in order
