"""Property tests of the static pass and the fixer over generated registrations.

Odd formatting (whitespace, comments and line breaks between any two tokens, redundant
parentheses, literal spellings), decorator and direct-call registrations side by side, and
four file encodings.  Counts are real: each factory's module is built with torch.

CI runs the ``ci`` profile (``conftest.py``: fixed seed, a few hundred examples); a longer run::

    HYPOTHESIS_PROFILE=long pytest tests/test_properties.py
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from libcst_oracle import find_sites as libcst_sites

from esper_lint.config import Config
from esper_lint.expression import evaluate
from esper_lint.fix import apply_fixes
from esper_lint.measure import counted, sample_widths
from esper_lint.model import Measurement, Site
from esper_lint.pipeline import Run, lint
from esper_lint.protocol import ItemResult
from esper_lint.sites import find_sites
from esper_lint.source import decode

CONFIG = Config(reference_dims=(("cnn", (64,)),), callable_estimates=False, cache_dir="")
FACTORIES = {"make_linear": True, "make_weight": False}  # name -> bias
HEADER = "import torch.nn as nn\nfrom registry import BlueprintRegistry\n\n"
FACTORY_CODE = "".join(f"def {name}(dim):\n    return nn.Linear(dim, dim, bias={bias})\n\n\n"
                       for name, bias in FACTORIES.items())
ENCODINGS = {  # name -> (first line, codec, a non-ASCII comment it can hold)
    "utf-8": ("", "utf-8", "# naïve ✓\n"),
    "utf-8-sig": ("", "utf-8-sig", "# naïve ✓\n"),
    "latin-1": ("# -*- coding: latin-1 -*-\n", "latin-1", "# naïve\n"),
    "cp1252": ("# coding: cp1252\n", "cp1252", "# naïve €\n"),
}


@dataclass(frozen=True)
class Registration:
    name: str
    text: str
    literal_offset: int  # where the estimate's literal starts, within ``text``
    literal: str
    factory: str


gaps = st.sampled_from(["", " ", "  ", "\n    ", "\n", "  # a note\n    ", " \\\n    "])
literals = st.integers(0, 10**6).flatmap(lambda n: st.sampled_from(
    [str(n), f"{n:_}", hex(n), oct(n), f"({n})", f"(({n}))", f"( {n} )"]))
names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)


@st.composite
def registrations(draw: st.DrawFn, name: str) -> Registration:
    g = [draw(gaps) for _ in range(8)]
    literal, factory = draw(literals), draw(st.sampled_from(sorted(FACTORIES)))
    quote = draw(st.sampled_from(['"', "'"]))
    keyword = draw(st.booleans())
    head = (f"BlueprintRegistry.register({g[0]}{quote}{name}{quote}{g[1]},{g[2]}"
            f"{quote}cnn{quote}{g[3]},{g[4]}" + (f"param_estimate{g[5]}={g[6]}" if keyword else ""))
    tail = f"{g[7]}{draw(st.sampled_from(['', ',']))})"
    if draw(st.booleans()):  # a decorator on a factory of its own, or a direct call
        text = f"@{head}{literal}{tail}\ndef create_{name}(dim):\n    return {factory}(dim)\n\n\n"
        return Registration(name, text, len(head) + 1, literal, factory)
    return Registration(name, f"{head}{literal}{tail}({factory})\n", len(head), literal, factory)


@st.composite
def modules(draw: st.DrawFn) -> tuple[str, list[Registration], str, str]:
    chosen = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    found = [draw(registrations(name)) for name in chosen]
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    first, _, comment = ENCODINGS[encoding]
    text = first + comment + HEADER + FACTORY_CODE + "".join(r.text for r in found)
    return text, found, encoding, newline


def write(folder: Path, text: str, encoding: str, newline: str) -> Path:
    path = folder / "blueprints.py"
    path.write_bytes(text.replace("\n", newline).encode(ENCODINGS[encoding][1]))
    return path


def literal_positions(text: str, found: list[Registration]) -> set[tuple[int, int]]:
    """(line, column) of each generated estimate literal, 1-based, as esper-lint reports them."""
    positions, offset = set(), text.index(HEADER) + len(HEADER) + len(FACTORY_CODE)
    for registration in found:
        at = offset + registration.literal_offset
        line = text.count("\n", 0, at) + 1
        positions.add((line, at - (text.rfind("\n", 0, at) + 1) + 1))
        offset += len(registration.text)
    return positions


@cache
def measured(factory: str) -> Measurement:
    """The real counts of ``factory``'s module, built with torch at every width the worker builds."""
    counts = tuple((w, count(factory, w)) for w in sample_widths(CONFIG))
    return counted(ItemResult(0, counts=counts), callable_estimates=False)


def measurements(run: Run, found: list[Registration]) -> dict[Site, Measurement]:
    factory = {r.name: r.factory for r in found}
    return {site: measured(factory[site.blueprint.name or ""]) for site in run.scanned.sites}


@given(modules())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_registration_is_found_at_its_literal(tmp_path: Path,
                                                    module: tuple[str, list[Registration], str, str]) -> None:
    text, found, encoding, newline = module
    path = write(tmp_path, text, encoding, newline)
    run = lint([str(path)], CONFIG, dynamic=False, cwd=tmp_path)
    assert {f.code for f in run.findings} == {"ESP001"}
    assert {(f.span.line, f.span.column) for f in run.findings} == literal_positions(text, found)
    written = decode(path.read_bytes()).text
    assert find_sites(path, path.name, written, CONFIG) == libcst_sites(path, path.name, written, CONFIG)


@given(modules())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_fixes_write_the_right_value_and_nothing_else(
        tmp_path: Path, module: tuple[str, list[Registration], str, str]) -> None:
    text, found, encoding, newline = module
    path = write(tmp_path, text, encoding, newline)
    before = path.read_bytes()
    static = lint([str(path)], CONFIG, dynamic=False, cwd=tmp_path)
    known = measurements(static, found)
    run = lint([str(path)], CONFIG, cwd=tmp_path, reuse=known)
    result = apply_fixes(run.findings, run.scanned.sources, run.scanned.sites, CONFIG)
    assert not result.problems
    after = path.read_bytes()
    fixed = decode(after)
    assert fixed.encoding == decode(before).encoding and after.startswith(codecs.BOM_UTF8) == (
        encoding == "utf-8-sig")
    assert after.count(b"\n") == after.count(b"\r\n") or b"\r\n" not in after
    compile(fixed.text, str(path), "exec")
    assert_only_estimates_and_comments_changed(decode(before).text, fixed.text, found)
    again = lint([str(path)], CONFIG, cwd=tmp_path, reuse=run.measurements)
    assert not again.findings, [f.message for f in again.findings]
    assert not apply_fixes(again.findings, again.scanned.sources, again.scanned.sites, CONFIG).fixed
    assert path.read_bytes() == after


FORMULA_LINE = re.compile(r"^[ \t]*# formula: [^\r\n]*\r?\n", re.MULTILINE)
# at a line's end, or before the comment that was there: "4160  # formula: dim  # a note"
FORMULA_TRAILING = re.compile(
    r"[ ]*# formula: (?P<end>[^\r\n#]*?)[ ]*$|# formula: (?P<before>[^\r\n#]*?)  (?=#)", re.MULTILINE)


def assert_only_estimates_and_comments_changed(before: str, after: str, found: list[Registration]) -> None:
    """``after`` is ``before`` with each literal now the real count at dim=64 (in the literal's own
    spelling), plus formula comments that evaluate to the real counts."""
    before, after = before.replace("\r\n", "\n"), after.replace("\r\n", "\n")
    for match in FORMULA_TRAILING.finditer(after):
        factory = {r.factory for r in found}
        expr = match["end"] or match["before"]
        assert any(all(evaluate(expr, {"dim": w}) == count(f, w) for w in (1, 64, 1000))
                   for f in factory), expr
    stripped = FORMULA_TRAILING.sub("", FORMULA_LINE.sub("", after))
    pattern, offset = "", before.index(HEADER) + len(HEADER) + len(FACTORY_CODE)
    cursor = 0
    for registration in found:
        at = offset + registration.literal_offset
        pattern += re.escape(before[cursor:at]) + r"(0[xob][0-9a-f_]+|[0-9_]+)"
        cursor = at + len(registration.literal)
        offset += len(registration.text)
    match = re.fullmatch(pattern + re.escape(before[cursor:]), stripped)
    assert match is not None, (before, after)
    assert [int(v, 0) for v in match.groups()] == [count(r.factory, 64) for r in found]


def count(factory: str, width: int) -> int:
    built = nn.Linear(width, width, bias=FACTORIES[factory], device="meta")
    return sum(p.numel() for p in built.parameters())


def test_the_ci_profile_is_fixed_and_large_enough() -> None:
    profile = settings.get_profile("ci")
    assert profile.derandomize and profile.max_examples >= 200


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
