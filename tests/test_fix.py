"""``--fix``: fixes land byte-exact, verified, atomically; the rewritten code is right.

The unit tests build findings the way the rules do (real sites, ``rulekit`` fixes, formulas
known to be right for the fixtures) and call ``esper_lint.fix`` directly. The slow tests run the
real command with the dynamic pass, then import the rewritten modules and compare every new
callable and every formula comment with real parameter counts.
"""

from __future__ import annotations

import codecs
import difflib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES, run_cli, run_json
from esper_lint.config import Config
from esper_lint.expression import evaluate
from esper_lint.fix import FixResult, apply_fixes, plan_file, unified_diff, write_plan
from esper_lint.model import Edit, Finding, Fix, Formula, Measurement, Site, Span
from esper_lint.render.json import as_dict
from esper_lint.rulekit import Context, callable_fix, estimate_fixes, value_fix
from esper_lint.sites import find_sites
from esper_lint.source import Source, decode, read

CONFIG = Config()
CALLABLE_PACKAGE = FIXTURES / "fixable"
INT_PACKAGE = FIXTURES / "fixable_int"

# What the dynamic pass verifies for the fixture seeds (checked against torch in the slow tests).
FORMULAS = {
    "norm": Formula("2*dim + 1"),
    "depthwise": Formula("dim**2 + 11*dim"),
    "lora": Formula("2*dim*rank", params=(("rank", 8),)),
    "mlp": Formula("4*dim**2 + 3*dim"),
    "attention": Formula("9*dim + 4"),
    "layernorm": Formula("2*dim + 1"),
    "projection": Formula("dim**2 + dim"),
    "gate": Formula("dim + 1"),
}

# How each site's lines change: blueprint name -> the (old fragment, new fragment) of each line it
# changes, or a bare string: a line it inserts.  {replacement} and {comment} are what the chosen
# fix says it writes (from esper-lint's own output); the slow tests then check that against torch.
Change = tuple[str, str] | str
Template = list[Change]
REPLACED: dict[str, Template] = {
    "norm": [("param_estimate=100,", "param_estimate={replacement},")],
    "depthwise": [('"cnn", 4800,', '"cnn", {replacement},')],
    "lora": [("param_estimate=8192,", "param_estimate={replacement},")],
    "attention": [("param_estimate=SE_ESTIMATE)", "param_estimate={replacement})")],
    "layernorm": [("# formula: 2*dim", "{comment}")],
    "projection": [("lambda dim: dim * dim", "{replacement}")],
    "gate": [("param_estimate=64,", "param_estimate={replacement},")],
}
CALLABLE_FIXED = {**REPLACED, "mlp": [("param_estimate=1000)", "param_estimate={replacement})")]}
INT_UNSAFE_FIXED = {**REPLACED, "mlp": [("param_estimate=1000,", "param_estimate={replacement},")]}
# the unit tests measure nothing: the safe fixes only document formulas
INT_SAFE_COMMENTS: dict[str, Template] = {
    "norm": ["{comment}"],  # the line ends inside the triple-quoted description
    "depthwise": ["{comment}"],  # trailing, the line would pass 88 characters: a line above
    "lora": [("param_estimate=8192,", "param_estimate=8192,  {comment}")],
    "mlp": ["{comment}"],  # the line ends in a backslash continuation
    "attention": ["{comment}"],
    "layernorm": [("# formula: 2*dim", "{comment}")],
    "projection": [("lambda dim: dim * dim", "{replacement}")],
    "gate": [("param_estimate=64,  # noqa", "param_estimate=64,  {comment}  # noqa")],
}
# measured: values wrong at the reference width (cnn 64, transformer 512) are corrected too
INT_SAFE_FIXED: dict[str, Template] = {
    **INT_SAFE_COMMENTS,
    "norm": [("param_estimate=100,", "param_estimate={replacement},"), "{comment}"],
    "mlp": [("param_estimate=1000,", "param_estimate={replacement},"), "{comment}"],
    "attention": [("param_estimate=SE_ESTIMATE)", "param_estimate={replacement})"), "{comment}"],
    "gate": [("param_estimate=64,  # noqa", "param_estimate={replacement},  {comment}  # noqa")],
}
INT_UNSAFE_MEASURED = {**INT_UNSAFE_FIXED, "layernorm": [("# formula: 2*dim", "{comment}"), (
    "param_estimate=1025", "param_estimate={replacement}")]}
REFERENCE = {"cnn": 64, "transformer": 512}  # fixable_int's reference-dims
UNSAFE_NAMES = {"norm", "depthwise", "lora", "mlp", "attention", "gate"}


# --- building findings the way the rules do -----------------------------------------------------


@dataclass(frozen=True)
class Scanned:
    """One file as the static pass read it: its registrations and its bytes."""

    path: Path
    source: Source
    sites: tuple[Site, ...]

    def by_name(self) -> dict[str, Site]:
        return {site.blueprint.name or "?": site for site in self.sites}


def scan_file(path: Path, display: str | None = None) -> Scanned:
    source = read(path)
    facts = find_sites(path, display or str(path), source.text, CONFIG)
    return Scanned(path, source, facts.sites)


def sites_of(path: Path) -> dict[str, Site]:
    return scan_file(path).by_name()


def finding_for(site: Site, callables: bool) -> Finding:
    """ESP002 for a documented formula, ESP003 for a callable, ESP001 for a constant, with the
    fixes the rules build (no counts measured: no value to correct, only formulas to write)."""
    assert site.estimate is not None and site.blueprint.name is not None
    m = Measurement(formula=FORMULAS[site.blueprint.name])
    ctx = Context(CONFIG, m, accepts_callables=callables)
    if site.estimate.formula:
        code, fixes = "ESP002", value_fix(site, m, ctx)
    elif site.estimate.kind == "callable":
        code, fixes = "ESP003", callable_fix(site, FORMULAS[site.blueprint.name], safe=True)
    else:
        code, fixes = "ESP001", estimate_fixes(site, m, ctx, prefer_callable=True)
    return Finding(code, site.display, site.estimate.span, f"{code} test finding", file=site.path,
                   blueprint=site.blueprint, fixes=fixes)


def findings_for(scanned: Scanned, *, callables: bool) -> list[Finding]:
    return [finding_for(site, callables) for site in scanned.sites if site.blueprint.name in FORMULAS]


def fix(findings: Sequence[Finding], *scanned: Scanned, unsafe: bool = False,
        write: bool = True) -> FixResult:
    """``esper_lint.fix`` over the findings of the files as ``scanned``."""
    sources = {s.path: s.source for s in scanned}
    return apply_fixes(findings, sources, [site for s in scanned for site in s.sites], CONFIG,
                       unsafe=unsafe, write=write)


def fixes_by_name(findings: Iterable[Finding], unsafe: bool = False) -> dict[str, dict[str, Any]]:
    """What the fix ``--fix`` chooses for each blueprint writes, as the JSON output says it."""
    return json_fixes([as_dict(f) for f in findings], unsafe)


# --- comparing bytes ------------------------------------------------------------------------------


def line_changes(old: bytes, new: bytes) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    """(old, new) pairs of changed lines, and lines that were only inserted; nothing else."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    pairs: list[tuple[bytes, bytes]] = []
    inserted: list[bytes] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "insert":
            inserted.extend(b[j1:j2])
        elif tag == "replace" and i2 - i1 <= j2 - j1:
            rest = list(b[j1:j2])
            for line in a[i1:i2]:  # each old line became the most similar new one; the rest are new
                match = max(rest, key=lambda n: difflib.SequenceMatcher(None, line, n).ratio())
                rest.remove(match)
                pairs.append((line, match))
            inserted.extend(rest)
        elif tag != "equal":
            raise AssertionError(f"unexpected {tag}: {a[i1:i2]!r} -> {b[j1:j2]!r}")
    return pairs, inserted


def assert_only_expected_edits(old: bytes, new: bytes, templates: Mapping[str, Template],
                               fixes: Mapping[str, Mapping[str, Any]], encoding: str) -> None:
    """Every other byte is kept; each edited line changed only by its site's expected edit."""
    newline = b"\r\n" if b"\r\n" in old else b"\n"
    encoding = "utf-8" if encoding == "utf-8-sig" else encoding  # the BOM is at the file's start only
    pairs, inserted = line_changes(old, new)
    expected_pairs: list[tuple[bytes, bytes]] = []
    expected_lines: list[bytes] = []
    for name, template in templates.items():
        summary = fixes[name]
        values = {"replacement": summary["replacement"], "comment": summary["comment"] or ""}
        for change in template:
            if isinstance(change, str):
                expected_lines.append(change.format(**values).encode(encoding) + newline)
            else:
                before, after = change
                expected_pairs.append((before.encode(encoding), after.format(**values).encode(encoding)))
    assert sorted(inserted) == sorted(expected_lines)
    used = []
    for before_line, after_line in pairs:
        [edit] = [(o, n) for o, n in expected_pairs if before_line.replace(o, n, 1) == after_line]
        used.append(edit)
    assert sorted(used) == sorted(expected_pairs)


def copy_seeds(package: Path, tmp_path: Path, name: str = "seeds.py") -> Path:
    target = tmp_path / name
    shutil.copy(package / package.name / "seeds.py", target)
    return target


# --- unit tests: esper_lint.fix on real files -------------------------------------------------------


def test_safe_callables_replace_only_the_arguments(tmp_path: Path) -> None:
    scanned = scan_file(copy_seeds(CALLABLE_PACKAGE, tmp_path))
    findings = findings_for(scanned, callables=True)
    result = fix(findings, scanned)
    assert (len(result.fixed), result.remaining, result.problems) == (8, (), ())
    assert result.unsafe_hidden == 0
    assert_only_expected_edits(scanned.source.data, scanned.path.read_bytes(), CALLABLE_FIXED,
                               fixes_by_name(findings), "utf-8")


def test_plain_fix_adds_formula_comments_where_callables_are_unsafe(tmp_path: Path) -> None:
    scanned = scan_file(copy_seeds(INT_PACKAGE, tmp_path))
    findings = findings_for(scanned, callables=False)
    result = fix(findings, scanned)
    assert (len(result.fixed), result.remaining, result.problems) == (8, (), ())
    assert result.unsafe_hidden == len(UNSAFE_NAMES)
    assert_only_expected_edits(scanned.source.data, scanned.path.read_bytes(), INT_SAFE_COMMENTS,
                               fixes_by_name(findings), "utf-8")
    assert {name for name, site in sites_of(scanned.path).items()
            if site.estimate and site.estimate.formula} == UNSAFE_NAMES | {"layernorm"}


def test_unsafe_fixes_replace_constants_without_comments(tmp_path: Path) -> None:
    scanned = scan_file(copy_seeds(INT_PACKAGE, tmp_path))
    findings = findings_for(scanned, callables=False)
    result = fix(findings, scanned, unsafe=True)
    assert (len(result.fixed), result.unsafe_hidden, result.problems) == (8, 0, ())
    before, after = scanned.source.data, scanned.path.read_bytes()
    assert_only_expected_edits(before, after, INT_UNSAFE_FIXED, fixes_by_name(findings, unsafe=True),
                               "utf-8")
    assert after.count(b"# formula:") == before.count(b"# formula:")


def encoded_variant(text: str, kind: str) -> bytes:
    """The seeds file in another encoding or line ending, with a non-ASCII character in it."""
    text = text.replace('"""Seeds for', '"""Café seeds for', 1)
    if kind == "crlf":
        return text.replace("\n", "\r\n").encode()
    if kind == "latin-1":
        return ("# -*- coding: latin-1 -*-\n" + text).encode("latin-1")
    if kind == "utf-8-bom":
        return codecs.BOM_UTF8 + text.encode()
    return text.encode()


ENCODINGS = ["lf", "crlf", "latin-1", "utf-8-bom"]


@pytest.mark.parametrize("kind", ENCODINGS)
def test_bytes_outside_the_edits_are_kept(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "seeds.py"
    path.write_bytes(encoded_variant((INT_PACKAGE / "fixable_int" / "seeds.py").read_text(), kind))
    scanned = scan_file(path)
    findings = findings_for(scanned, callables=False)
    assert len(fix(findings, scanned).fixed) == 8
    before, after = scanned.source.data, path.read_bytes()
    encoding = decode(before).encoding
    assert_only_expected_edits(before, after, INT_SAFE_COMMENTS, fixes_by_name(findings), encoding)
    assert after.startswith(codecs.BOM_UTF8) == (kind == "utf-8-bom")
    assert decode(after).encoding == encoding and "Café seeds" in decode(after).text
    if kind == "crlf":
        assert after.count(b"\n") == after.count(b"\r\n")


REGISTER = 'from registry import BlueprintRegistry\n\n\n@BlueprintRegistry.register({args})\n' \
           'def create_norm_seed(dim: int) -> object:\n    return dim\n'


def one_site_file(tmp_path: Path, args: str, *, ending: str = "\n") -> tuple[Scanned, Finding]:
    path = tmp_path / "one.py"
    path.write_bytes(REGISTER.format(args=args).replace("\n", ending).encode())
    scanned = scan_file(path)
    [site] = scanned.sites
    return scanned, finding_for(site, callables=False)


def test_hash_in_a_string_is_not_taken_for_a_comment(tmp_path: Path) -> None:
    scanned, finding = one_site_file(tmp_path, '"norm", "cnn", 100, "a # b"')
    fix([finding], scanned)
    assert '"a # b")  # formula: 2*dim + 1\n' in scanned.path.read_text()


def test_formula_too_long_to_trail_its_line_goes_on_a_line_above(tmp_path: Path) -> None:
    args = '"norm", "cnn", param_estimate=100, description="GroupNorm with a learned gate"'
    scanned, finding = one_site_file(tmp_path, args)
    fix([finding], scanned)
    text = scanned.path.read_text()
    assert "\n# formula: 2*dim + 1\n@BlueprintRegistry.register(" in text
    assert f"@BlueprintRegistry.register({args})\n" in text  # the long line grows no longer
    [site] = scan_file(scanned.path).sites  # read back as this registration's formula
    assert site.estimate is not None and site.estimate.formula == "2*dim + 1"
    assert fix([finding_for(site, callables=False)], scan_file(scanned.path)).fixed == ()


def test_formula_goes_after_a_type_ignore_which_must_stay_first(tmp_path: Path) -> None:
    args = '\n    "norm", "cnn",\n    param_estimate=100,  # type: ignore[arg-type]\n'
    scanned, finding = one_site_file(tmp_path, args)
    fix([finding], scanned)
    assert "param_estimate=100,  # type: ignore[arg-type]  # formula: 2*dim + 1\n" in scanned.path.read_text()


def test_missing_final_newline_is_kept_and_shown_in_the_diff(tmp_path: Path) -> None:
    path = tmp_path / "last.py"
    path.write_text('from registry import BlueprintRegistry\n\n'
                    'BlueprintRegistry.register("norm", "cnn", 100)(print)')
    scanned = scan_file(path)
    [finding] = [finding_for(site, callables=False) for site in scanned.sites]
    result = fix([finding], scanned)
    assert path.read_text().endswith("(print)  # formula: 2*dim + 1")
    assert result.diffs[0].endswith("(print)  # formula: 2*dim + 1\n\\ No newline at end of file\n")


def test_fixes_of_a_changed_file_are_not_applied_again(tmp_path: Path) -> None:
    scanned = scan_file(copy_seeds(CALLABLE_PACKAGE, tmp_path))
    findings = findings_for(scanned, callables=True)
    fix(findings, scanned)
    fixed = scanned.path.read_bytes()
    again = fix(findings, scanned)  # the same findings, from the bytes before the fix
    assert [p.code for p in again.problems] == ["ESP921"] and again.fixed == ()
    assert "changed since it was checked" in again.problems[0].message
    assert scanned.path.read_bytes() == fixed


def test_formula_comments_already_there_are_not_added_again(tmp_path: Path) -> None:
    first = scan_file(copy_seeds(INT_PACKAGE, tmp_path))
    fix(findings_for(first, callables=False), first)
    fixed = first.path.read_bytes()
    # every site now documents its formula: the fixes found on the fixed file change nothing
    rescanned = scan_file(first.path)
    refound = findings_for(rescanned, callables=False)
    assert {f.code for f in refound} == {"ESP002", "ESP003"}
    assert all(not f.fixes for f in refound if f.code == "ESP002")  # nothing left to write
    again = fix(refound, rescanned)
    assert (again.diffs, again.problems) == ((), ())
    assert first.path.read_bytes() == fixed


def test_findings_without_fixes_are_left_alone(tmp_path: Path) -> None:
    ghost = Finding("ESP001", str(tmp_path / "gone.py"), Span(1, 1, 1, 2), "no fix")
    result = fix([ghost])
    assert (result.fixed, result.remaining, result.problems) == ((), (ghost,), ())


def test_overlapping_fixes_apply_the_first_only(tmp_path: Path) -> None:
    scanned, finding = one_site_file(tmp_path, '"norm", "cnn", param_estimate=100')
    new = "lambda dim: 3*dim"
    rival = Finding("ESP001", finding.path, finding.span, "rival", file=finding.file,
                    fixes=(Fix("safe", "rival", (Edit(finding.span, new),), new),))
    result = fix([finding, rival], scanned, unsafe=True)
    assert (result.fixed, result.remaining) == ((finding,), (rival,))
    assert "param_estimate=lambda dim: 2*dim + 1)" in scanned.path.read_text()


def test_diff_only_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pkg").mkdir()
    path = copy_seeds(INT_PACKAGE, tmp_path / "pkg")
    monkeypatch.chdir(tmp_path)
    scanned = scan_file(path, "pkg/seeds.py")
    result = fix(findings_for(scanned, callables=False), scanned, write=False)
    assert path.read_bytes() == scanned.source.data and len(result.fixed) == 8
    [diff] = result.diffs
    assert diff.startswith("--- a/pkg/seeds.py\n+++ b/pkg/seeds.py\n@@ ")
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert "# formula: 4*dim**2 + 3*dim" in added


def test_read_only_file_is_reported_and_the_others_are_fixed(tmp_path: Path) -> None:
    locked = scan_file(copy_seeds(INT_PACKAGE, tmp_path, "locked.py"))
    free = scan_file(copy_seeds(INT_PACKAGE, tmp_path, "free.py"))
    locked.path.chmod(0o444)
    findings = [*findings_for(locked, callables=False), *findings_for(free, callables=False)]
    result = fix(findings, locked, free)
    [problem] = result.problems
    assert (problem.code, problem.path) == ("ESP921", str(locked.path)) and "read-only" in problem.message
    assert locked.path.read_bytes() == locked.source.data
    assert b"# formula: 9*dim + 4" in free.path.read_bytes()
    assert {f.path for f in result.remaining} == {str(locked.path)}
    assert {f.path for f in result.fixed} == {str(free.path)}


def test_file_changed_between_read_and_write_is_not_overwritten(tmp_path: Path) -> None:
    scanned = scan_file(copy_seeds(INT_PACKAGE, tmp_path))
    plan = plan_file(scanned.path, findings_for(scanned, callables=False), scanned.source,
                     scanned.sites, CONFIG)
    assert plan.changed
    path = scanned.path
    path.write_bytes(path.read_bytes() + b"# edited meanwhile\n")
    written = write_plan(plan)
    assert written.problem is not None and written.problem.code == "ESP921"
    assert "changed on disk since it was read" in written.problem.message
    assert path.read_bytes().endswith(b"# edited meanwhile\n") and b"9*dim + 4" not in path.read_bytes()
    assert len(written.remaining) == 8 and written.fixed == ()


def test_findings_from_before_an_edit_are_not_applied(tmp_path: Path) -> None:
    scanned = scan_file(copy_seeds(CALLABLE_PACKAGE, tmp_path))
    findings = findings_for(scanned, callables=True)
    edited = b"import os\n" + scanned.source.data
    scanned.path.write_bytes(edited)
    result = fix(findings, scanned)
    [problem] = result.problems
    assert problem.code == "ESP921" and "changed since it was checked" in problem.message
    assert scanned.path.read_bytes() == edited and len(result.remaining) == 8


def test_fix_that_would_break_the_file_is_not_written(tmp_path: Path) -> None:
    scanned, finding = one_site_file(tmp_path, '"norm", "cnn", param_estimate=100')
    bad = "lambda dim: ("
    broken = Finding("ESP001", finding.path, finding.span, "bad", file=finding.file,
                     fixes=(Fix("safe", "bad", (Edit(finding.span, bad),), bad),))
    result = fix([broken], scanned)
    [problem] = result.problems
    assert problem.code == "ESP922" and scanned.path.read_bytes() == scanned.source.data
    assert result.remaining == (broken,)


def test_symlink_stays_a_link_and_mode_and_line_endings_are_kept(tmp_path: Path) -> None:
    real, _ = one_site_file(tmp_path, '"norm", "cnn", param_estimate=100', ending="\r\n")
    real.path.chmod(0o640)
    link = tmp_path / "link.py"
    link.symlink_to(real.path.name)
    via_link = scan_file(link)
    assert fix([finding_for(site, callables=True) for site in via_link.sites], via_link).problems == ()
    assert link.is_symlink() and os.readlink(link) == real.path.name
    assert stat.S_IMODE(real.path.stat().st_mode) == 0o640
    assert b"param_estimate=lambda dim: 2*dim + 1)\r\n" in real.path.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_unified_diff_headers() -> None:
    diff = unified_diff("a.py", "x = 1\n", "x = 2\n")
    assert diff == "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"


# --- end to end: the real command, then the rewritten code against torch ------------------------

MEASURE = r"""
import inspect, json, sys
from importlib import import_module
import torch

root, package = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)
import_module(package)
registry = import_module(package + ".registry").BlueprintRegistry
out = {}
for key, spec in registry._blueprints.items():
    params = {name: p.default for name, p in inspect.signature(spec.factory).parameters.items()
              if type(p.default) is int}
    estimate = spec.param_estimate
    counts, claimed = {}, {}
    for width in range(1, 513):
        try:
            with torch.device("meta"):
                module = spec.factory(width)
        except Exception:
            continue
        counts[width] = sum(p.numel() for p in module.parameters())
        if callable(estimate):
            claimed[width] = estimate(width)
    out[key] = {"params": params, "counts": counts, "claimed": claimed if callable(estimate) else None}
print(json.dumps(out))
"""


def measured(root: Path, package: str) -> dict[str, dict[str, Any]]:
    """Per ``topology:name``: real counts at widths 1..512, and a callable estimate's values."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(root), package], capture_output=True,
                          text=True, check=True, env=env, cwd=root)
    result: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return result


def copy_package(package: Path, tmp_path: Path) -> Path:
    root = tmp_path / package.name
    shutil.copytree(package, root, ignore=shutil.ignore_patterns("__pycache__", ".esper-lint-cache"))
    return root


def lint_json(root: Path) -> list[dict[str, Any]]:
    _, findings = run_json(".", "--no-cache", cwd=root)
    return findings


def json_fixes(findings: Iterable[dict[str, Any]], unsafe: bool = False) -> dict[str, dict[str, Any]]:
    """Per blueprint, the alternative ``--fix`` (``--unsafe-fixes``) takes, from JSON findings."""
    chosen = {}
    for f in findings:
        allowed = [fix for fix in f["fixes"] if unsafe or fix["applicability"] == "safe"]
        if allowed:
            chosen[f["blueprint"]["name"]] = allowed[0]
    return chosen


def assert_callables_match(counts: Mapping[str, dict[str, Any]], expected: set[str]) -> None:
    callables = {key for key, m in counts.items() if m["claimed"] is not None}
    assert {key.split(":")[1] for key in callables} == expected
    for key in callables:
        assert counts[key]["counts"], key
        assert counts[key]["claimed"] == counts[key]["counts"], key


def assert_comments_match(seeds: Path, counts: Mapping[str, dict[str, Any]], expected: set[str]) -> None:
    documented = {site.blueprint.label: site.estimate.formula for site in sites_of(seeds).values()
                  if site.estimate and site.estimate.formula}
    assert {label.split(":")[1] for label in documented} == expected
    for label, expr in documented.items():
        m = counts[label]
        for width, count in m["counts"].items():
            assert evaluate(expr, {"dim": int(width), **m["params"]}) == count, (label, width)


def assert_values_match(seeds: Path, counts: Mapping[str, dict[str, Any]]) -> None:
    """Every documented constant is the real count at its topology's reference width."""
    for site in sites_of(seeds).values():
        if site.estimate and site.estimate.kind == "constant" and site.estimate.formula:
            width = str(REFERENCE[site.blueprint.topology or ""])
            assert site.estimate.value == counts[site.blueprint.label]["counts"][width], site.blueprint


@pytest.mark.slow
def test_fix_writes_callables_equal_to_the_real_counts(tmp_path: Path) -> None:
    root = copy_package(CALLABLE_PACKAGE, tmp_path)
    seeds = root / "fixable" / "seeds.py"
    before = seeds.read_bytes()
    findings = lint_json(root)
    assert all(set(f["fix"]) == {"applicability", "replacement", "comment"}
               for f in findings if f["code"] != "ESP004")  # the order is put right by the others
    assert {fix["applicability"] for f in findings for fix in f["fixes"]} == {"safe"}
    result = run_cli(".", "--no-cache", "--fix", cwd=root)
    assert result.exit_code == 0 and "Fixed 9 findings." in result.stdout
    assert_only_expected_edits(before, seeds.read_bytes(), CALLABLE_FIXED, json_fixes(findings), "utf-8")
    counts = measured(root, "fixable")
    assert_callables_match(counts, set(FORMULAS) - {"layernorm"})
    assert_comments_match(seeds, counts, {"layernorm"})


@pytest.mark.slow
def test_plain_fix_comments_evaluate_to_the_real_counts(tmp_path: Path) -> None:
    root = copy_package(INT_PACKAGE, tmp_path)
    seeds = root / "fixable_int" / "seeds.py"
    result = run_cli(".", "--no-cache", "--fix", cwd=root)
    assert result.exit_code == 0, result.output
    counts = measured(root, "fixable_int")
    assert_comments_match(seeds, counts, UNSAFE_NAMES | {"layernorm"})
    assert_values_match(seeds, counts)
    assert_callables_match(counts, {"projection"})


@pytest.mark.slow
def test_unsafe_fixes_write_callables_equal_to_the_real_counts(tmp_path: Path) -> None:
    root = copy_package(INT_PACKAGE, tmp_path)
    seeds = root / "fixable_int" / "seeds.py"
    before = seeds.read_bytes()
    findings = lint_json(root)
    unsafe = {f["blueprint"]["name"] for f in findings if f["fix"] and f["fix"]["applicability"] == "unsafe"}
    assert unsafe == UNSAFE_NAMES | {"layernorm"}
    result = run_cli(".", "--no-cache", "--fix", "--unsafe-fixes", cwd=root)
    assert result.exit_code == 0, result.output
    assert_only_expected_edits(before, seeds.read_bytes(), INT_UNSAFE_MEASURED,
                               json_fixes(findings, unsafe=True), "utf-8")
    counts = measured(root, "fixable_int")
    assert_callables_match(counts, UNSAFE_NAMES | {"projection", "layernorm"})
    assert_comments_match(seeds, counts, {"layernorm"})


@pytest.mark.slow
def test_fix_keeps_every_other_byte_in_each_encoding(tmp_path: Path) -> None:
    root = copy_package(INT_PACKAGE, tmp_path)
    package = root / "fixable_int"
    text = (package / "seeds.py").read_text()
    (package / "seeds.py").unlink()
    (package / "__init__.py").write_text("")
    variants = {kind: package / f"seeds_{kind.replace('-', '_')}.py" for kind in ENCODINGS}
    for kind, path in variants.items():
        path.write_bytes(encoded_variant(text, kind))
    before = {kind: path.read_bytes() for kind, path in variants.items()}
    findings = lint_json(root)
    result = run_cli(".", "--no-cache", "--fix", cwd=root)
    assert result.exit_code == 0, result.output
    for kind, path in variants.items():
        mine = [f for f in findings if f["path"].endswith(path.name) and f["fixes"]]
        assert len(mine) == 9, kind
        assert_only_expected_edits(before[kind], path.read_bytes(), INT_SAFE_FIXED, json_fixes(mine),
                                   decode(before[kind]).encoding)


@pytest.mark.slow
def test_second_fix_changes_nothing(tmp_path: Path) -> None:
    root = copy_package(INT_PACKAGE, tmp_path)
    seeds = root / "fixable_int" / "seeds.py"
    assert run_cli(".", "--no-cache", "--fix", cwd=root).exit_code == 0
    fixed = seeds.read_bytes()
    again = run_cli(".", "--no-cache", "--fix", cwd=root)
    assert again.exit_code == 0 and "Fixed" not in again.stdout
    assert seeds.read_bytes() == fixed
    assert lint_json(root) == []


@pytest.mark.slow
def test_diff_prints_and_writes_nothing(tmp_path: Path) -> None:
    root = copy_package(CALLABLE_PACKAGE, tmp_path)
    seeds = root / "fixable" / "seeds.py"
    before = seeds.read_bytes()
    result = run_cli(".", "--no-cache", "--diff", cwd=root)
    assert result.exit_code == 1
    assert result.stdout.startswith("--- a/fixable/seeds.py\n+++ b/fixable/seeds.py\n")
    assert "+@BlueprintRegistry.register(\"depthwise\", \"cnn\", lambda dim:" in result.stdout
    assert seeds.read_bytes() == before
    assert run_cli(".", "--no-cache", "--fix", cwd=root).exit_code == 0
    clean = run_cli(".", "--no-cache", "--diff", cwd=root)
    assert (clean.exit_code, clean.stdout) == (0, "")


ODD_SEED = '''import torch
from torch import nn

from fixable.registry import BlueprintRegistry


class Odd(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(dim.bit_length()))


@BlueprintRegistry.register("odd", "cnn", param_estimate=7)
def create_odd_seed(dim: int) -> nn.Module:
    return Odd(dim)
'''


@pytest.mark.slow
def test_read_only_file_and_unfixable_findings_keep_exit_code_one(tmp_path: Path) -> None:
    root = copy_package(CALLABLE_PACKAGE, tmp_path)
    package = root / "fixable"
    shutil.copy(package / "seeds.py", package / "more_seeds.py")
    (package / "odd.py").write_text(ODD_SEED)
    locked = package / "seeds.py"
    locked.chmod(0o444)
    before = locked.read_bytes()
    result, remaining = run_json(".", "--no-cache", "--fix", cwd=root)
    assert result.exit_code == 1
    assert locked.read_bytes() == before
    assert b"lambda dim: 2*dim + 1" in (package / "more_seeds.py").read_bytes()
    by_file = {(f["path"], f["code"]) for f in remaining}
    assert ("fixable/seeds.py", "ESP921") in by_file and ("fixable/odd.py", "ESP001") in by_file
    assert not any(path == "fixable/more_seeds.py" for path, _ in by_file)
