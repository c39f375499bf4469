"""Odd files: each one is a finding or one diagnostic, never a lost run, in every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_formats import validate

from esper_lint.scan import PARALLEL_FROM

FORMATS = ("text", "json", "github", "sarif")
REGISTER = ('@BlueprintRegistry.register({name}, "cnn", param_estimate={estimate})\n'
            "def create(dim):\n    return None\n")


def registration(name: str = '"plain"', estimate: str = "100") -> str:
    return "from registry import BlueprintRegistry\n\n" + REGISTER.format(name=name, estimate=estimate)


def lint(folder: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The real CLI in a subprocess: a crash in a parser would kill the test process too."""
    return subprocess.run([sys.executable, "-m", "esper_lint", "--no-dynamic", "--no-cache", *args],
                          cwd=folder, capture_output=True, timeout=120)


def codes_by_file(folder: Path, *paths: str) -> dict[str, set[str]]:
    done = lint(folder, "--format", "json", *paths)
    assert done.returncode == 1, done.stderr
    found: dict[str, set[str]] = {}
    for finding in json.loads(done.stdout):
        found.setdefault(finding["path"], set()).add(finding["code"])
    return found


@pytest.mark.parametrize("files", [3, PARALLEL_FROM], ids=["in-process", "parallel"])
def test_nesting_that_crashes_a_parser_is_one_diagnostic(tmp_path: Path, files: int) -> None:
    for i in range(files):
        (tmp_path / f"m{i:02}.py").write_text(registration())
    (tmp_path / "deep.py").write_text("x = " + "(" * 2500 + "1" + ")" * 2500 + "\n" + registration())
    (tmp_path / "chain.py").write_text("x = a" + ".b" * 800 + "\n" + registration())
    found = codes_by_file(tmp_path, ".")
    assert found.pop("deep.py") == {"ESP999"}  # CPython rejects it too: "too many nested parentheses"
    assert found.pop("chain.py") == {"ESP001"}  # valid Python: read from CPython's tree
    assert found == {f"m{i:02}.py": {"ESP001"} for i in range(files)}


def test_a_file_too_large_to_parse_is_one_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text(registration() + "x = 1\n" * 200_000)
    (tmp_path / "small.py").write_text(registration())
    assert codes_by_file(tmp_path, ".") == {"big.py": {"ESP904"}, "small.py": {"ESP001"}}


@pytest.mark.parametrize(("estimate", "code"), [
    ("0x" + "f" * 4000, "ESP001"),
    ("((((9**64)**64)**64)**64)**64", "ESP001"),
    ("2**4097", "ESP001"),
    ("9" * 5000, "ESP999"),  # CPython refuses to compile a literal of over 4,300 digits
])
def test_huge_constants_are_findings_and_never_break_an_output(
        tmp_path: Path, estimate: str, code: str) -> None:
    (tmp_path / "huge.py").write_text(registration(estimate=estimate))
    assert codes_by_file(tmp_path, "huge.py") == {"huge.py": {code}}
    for output_format in FORMATS:
        done = lint(tmp_path, "--format", output_format, "huge.py")
        assert done.returncode in (0, 1) and not done.stderr, done.stderr
        if output_format in ("json", "sarif"):
            json.loads(done.stdout)


def test_a_constant_written_as_a_power_is_a_constant(tmp_path: Path) -> None:
    (tmp_path / "power.py").write_text(registration(estimate="2**12 + 64"))
    assert codes_by_file(tmp_path, "power.py") == {"power.py": {"ESP001"}}


def test_a_nul_byte_in_a_file_is_a_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "nul.py").write_bytes(registration().encode().replace(b'"plain"', b'"pl\x00ain"'))
    assert codes_by_file(tmp_path, "nul.py") == {"nul.py": {"ESP999"}}


@pytest.fixture
def odd_names(tmp_path: Path) -> Path:
    """A NUL and a lone surrogate in a blueprint's name; a file name that is not UTF-8."""
    (tmp_path / "escaped.py").write_text(registration(name=r'"nul\x00 and \udcff"'))
    (tmp_path / os.fsdecode(b"n\xffame.py")).write_text(registration())
    return tmp_path


@pytest.mark.parametrize("output_format", FORMATS)
def test_control_characters_and_lone_surrogates_are_escaped_in_every_output(
        odd_names: Path, output_format: str) -> None:
    done = lint(odd_names, "--format", output_format, ".")
    written = lint(odd_names, "--format", output_format, "--output-file", "out.txt", ".")
    assert done.returncode == written.returncode == 1, done.stderr + written.stderr
    assert (odd_names / "out.txt").read_bytes() == done.stdout
    text = done.stdout.decode("utf-8")  # strict: nothing unencodable was written
    assert "\x00" not in text and "\\x00" in text.replace("\\\\", "\\")
    assert "\\udcff" in text.replace("\\\\", "\\") or "%FF" in text
    if output_format == "sarif":
        validate(json.loads(text))


def test_a_symlink_loop_named_on_the_command_line_is_one_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "one").symlink_to("two")
    (tmp_path / "two").symlink_to("one")
    (tmp_path / "fine.py").write_text(registration())
    assert codes_by_file(tmp_path, "one", "fine.py") == {"one": {"ESP903"}, "fine.py": {"ESP001"}}
