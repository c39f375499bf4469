"""The command-line habits a ruff user brings: option names, statistics, quiet, colour, noqa
baselines, standard input, honest file counts and usage errors; all through the real CLI."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import FIXTURES, ROOT, run_cli
from esper_lint.cli import main

DEMO = "fixtures/demo"
_ONE_SEED = ('from seedlib.registry import BlueprintRegistry\n\n\n'
             '@BlueprintRegistry.register("x", "cnn", param_estimate=100)\n'
             'def create_x(dim):\n    return dim\n')
ANSI = re.compile(r"\033\[[0-9;]*m")
TRACEBACK = "Traceback"


def copy(name: str, tmp_path: Path) -> Path:
    return shutil.copytree(FIXTURES / name, tmp_path / name,
                           ignore=shutil.ignore_patterns("__pycache__", ".esper-lint-cache"))


def with_stdin(data: bytes, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        return runner.invoke(main, list(args), input=data, env=env, catch_exceptions=False)


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert TRACEBACK not in result.output and "internal error" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- option names and output shapes ---------------------------------------------------------------


def test_output_format_is_rufs_name_and_format_still_works() -> None:
    new = run_cli("--no-dynamic", "--output-format", "json", DEMO)
    old = run_cli("--no-dynamic", "--format", "json", DEMO)
    assert new.exit_code == old.exit_code == 1
    assert json.loads(new.stdout) == json.loads(old.stdout) != []


def test_statistics_counts_per_rule_like_ruff() -> None:
    result = run_cli("--no-dynamic", "--statistics", DEMO)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "10\tESP001\tconstant-param-estimate"  # no fix without measuring: no [ ] column
    assert lines[-1] == "Found 10 findings."
    listed = run_cli("--no-dynamic", "--statistics", "--output-format", "json", DEMO)
    assert json.loads(listed.stdout) == [{"code": "ESP001", "name": "constant-param-estimate",
                                          "count": 10, "fixable": False}]


def test_statistics_mark_the_fixable_rules(tmp_path: Path) -> None:
    project = copy("esperlike", tmp_path)
    result = run_cli("--statistics", "src", cwd=project)
    rows = [[cell.strip() for cell in line.split("\t")]
            for line in result.stdout.splitlines() if "\t" in line]
    assert rows == [["13", "ESP001", "[*] constant-param-estimate"], ["2", "ESP004", "[ ] registry-order"]]


def test_statistics_in_an_unsupported_format_is_a_usage_error() -> None:
    line = one_error_line(run_cli("--statistics", "--output-format", "sarif", DEMO))
    assert "--statistics" in line and "text or json" in line


def test_quiet_prints_the_findings_and_nothing_else() -> None:
    loud = run_cli("--no-dynamic", DEMO)
    quiet = run_cli("--no-dynamic", "-q", DEMO)
    findings = [line for line in loud.stdout.splitlines() if ": ESP" in line]
    assert quiet.exit_code == loud.exit_code == 1
    assert quiet.stdout.splitlines() == findings
    clean = run_cli("--no-dynamic", "--quiet", "fixtures/static/no_registrations.py")
    assert (clean.exit_code, clean.stdout) == (0, "")


def _on_a_terminal(*args: str, **env: str) -> str:
    """esper-lint's stdout when it is a terminal (a real pseudo-terminal)."""
    leader, follower = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    process = subprocess.Popen([sys.executable, "-m", "esper_lint", *args], cwd=ROOT, stdout=follower,
                               stderr=subprocess.DEVNULL, env={**environ, **env})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color() -> None:
    coloured = _on_a_terminal("--no-dynamic", DEMO)
    assert ANSI.search(coloured)
    assert ANSI.sub("", coloured).replace("\r\n", "\n") == run_cli("--no-dynamic", DEMO).stdout
    assert not ANSI.search(_on_a_terminal("--no-dynamic", DEMO, NO_COLOR="1"))


def test_force_color_colours_a_pipe_and_no_pipe_is_coloured_otherwise() -> None:
    forced = with_stdin(b"", "--no-dynamic", DEMO, cwd=ROOT, env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert "\033[1;31mESP001\033[0m" in forced.stdout
    plain = with_stdin(b"", "--no-dynamic", DEMO, cwd=ROOT, env={"FORCE_COLOR": "", "NO_COLOR": ""})
    assert not ANSI.search(plain.stdout)


# --- --unsafe-fixes without --fix -----------------------------------------------------------------


def test_unsafe_fixes_count_as_available_and_show_in_the_diff(tmp_path: Path) -> None:
    project = copy("fixable_int", tmp_path)
    safe = run_cli(".", cwd=project)
    assert "unless --unsafe-fixes" in safe.stdout
    unsafe = run_cli("--unsafe-fixes", ".", cwd=project)
    summary = unsafe.stdout.splitlines()[-1]
    assert summary.endswith("fixable with --fix --unsafe-fixes).") and "unless" not in summary
    diff = run_cli("--diff", "--unsafe-fixes", ".", cwd=project)
    assert diff.exit_code == 1 and "+" in diff.stdout and "lambda dim:" in diff.stdout


# --- --add-noqa -----------------------------------------------------------------------------------


def test_add_noqa_suppresses_todays_findings_and_nothing_else(tmp_path: Path) -> None:
    project = copy("demo", tmp_path)
    files = sorted(project.rglob("*.py"))
    before = {path: path.read_bytes() for path in files}
    added = run_cli("--add-noqa", ".", cwd=project)
    assert added.exit_code == 0, added.output
    assert added.stderr.splitlines()[-1] == "Added 12 noqa directives."
    changed = 0
    for path in files:
        old, new = before[path].splitlines(keepends=True), path.read_bytes().splitlines(keepends=True)
        assert len(old) == len(new)
        for was, now in zip(old, new, strict=True):
            if was != now:  # only a comment appended at the line's end, or codes merged into one
                changed += 1
                assert re.fullmatch(rb"  # noqa: ESP\d+(, ESP\d+)*\n", now[len(was) - 1:]) or \
                    b"# noqa: ESP" in was, (was, now)
    assert changed == 10  # two lines carry two codes each
    again = run_cli(".", cwd=project)
    assert again.exit_code == 0 and again.stdout.startswith("All checks passed"), again.output
    after = {path: path.read_bytes() for path in files}
    assert run_cli("--add-noqa", ".", cwd=project).stderr.splitlines()[-1] == "Added 0 noqa directives."
    assert {path: path.read_bytes() for path in files} == after


def test_add_noqa_merges_into_an_existing_noqa(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.py"
    seeds.write_bytes(b"from seedlib.registry import BlueprintRegistry\r\n\r\n\r\n"
                      b'@BlueprintRegistry.register("x", "cnn", param_estimate=100)  # noqa: ESP005\r\n'
                      b"def create_x(dim):\r\n    return dim\r\n")
    assert run_cli("--no-dynamic", "--add-noqa", str(seeds)).exit_code == 0
    assert seeds.read_bytes().splitlines()[3].endswith(b"param_estimate=100)  # noqa: ESP001, ESP005")
    assert b"\r\n" in seeds.read_bytes() and b"\n\n" not in seeds.read_bytes()
    assert run_cli("--no-dynamic", str(seeds)).exit_code == 0


# --- standard input -------------------------------------------------------------------------------


def test_dash_lints_standard_input() -> None:
    data = (FIXTURES / "demo/seedlib/blueprints/cnn.py").read_bytes()
    result = with_stdin(data, "--no-dynamic", "-", cwd=ROOT)
    assert result.exit_code == 1
    assert result.stdout.startswith("-:63:59: ESP001 ")
    name = "fixtures/demo/seedlib/blueprints/cnn.py"
    named = with_stdin(data, "--no-dynamic", "--stdin-filename", name, cwd=ROOT)
    assert named.stdout.startswith(f"{name}:63:59: ESP001 ")
    assert named.stdout.count(": ESP001 ") == result.stdout.count(": ESP001 ") == 6


def test_stdin_fix_prints_the_fixed_source_and_writes_nothing(tmp_path: Path) -> None:
    project = copy("esperlike", tmp_path)
    target = project / "src/esperlike/blueprints/cnn_basic.py"
    name = str(target.relative_to(project))
    original = target.read_bytes()
    result = with_stdin(original, "--fix", "--stdin-filename", name, cwd=project)
    assert target.read_bytes() == original  # the file on disk is the editor's business
    fixed = result.stdout_bytes
    assert fixed != original and b"param_estimate=129" in fixed and b"# formula: 2*dim + 1" in fixed
    assert "Fixed 3 findings." in result.stderr
    assert result.exit_code == 0, result.output
    # what --fix on the file itself would write
    assert run_cli("--fix", name, cwd=project).exit_code == 0
    assert target.read_bytes() == fixed
    unchanged = with_stdin(fixed, "--fix", "--stdin-filename", name, cwd=project)
    assert unchanged.stdout_bytes == fixed and unchanged.exit_code == 0


def test_stdin_that_differs_from_disk_is_not_measured(tmp_path: Path) -> None:
    project = copy("esperlike", tmp_path)
    name = "src/esperlike/blueprints/cnn_basic.py"
    edited = (project / name).read_bytes() + b"# unsaved edit\n"
    result = with_stdin(edited, "--stdin-filename", name, cwd=project)
    assert f"standard input differs from {name} on disk; static pass only" in result.stderr
    assert "actual" not in result.stdout  # no count quoted for code that is not on disk


# --- counts and usage errors ----------------------------------------------------------------------


def test_only_checked_files_are_counted(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("param_estimate=5\n")
    result = run_cli("--no-dynamic", str(notes))
    assert result.exit_code == 0
    assert result.stdout == "No Python files checked.\n"
    assert "notes.txt: not a Python file" in result.stderr
    (tmp_path / "plain.py").write_text("x = 1\n")
    (tmp_path / "broken.py").write_text("def (:\n")  # cannot hold a registration: not parsed
    assert run_cli("--no-dynamic", str(tmp_path)).stdout == \
        "All checks passed (0 files checked; 2 files without a registration skipped).\n"
    (tmp_path / "seeds.py").write_text(_ONE_SEED.replace("100)", "100)  # noqa"))
    assert run_cli("--no-dynamic", str(tmp_path)).stdout == \
        "All checks passed (1 file checked; 2 files without a registration skipped).\n"
    (tmp_path / "broken_seeds.py").write_text(_ONE_SEED + "def (:\n")
    mixed = run_cli("--no-dynamic", "--ignore", "ALL", str(tmp_path)).stdout.splitlines()
    assert [line.split(": ")[1] for line in mixed[:-1]] == ["ESP999 syntax error"]  # never a pass
    assert mixed[-1] == "Found 1 finding."


def test_a_python_script_without_suffix_is_linted(tmp_path: Path) -> None:
    script = tmp_path / "make-seeds"
    script.write_text(f"#!/usr/bin/env python3\n{_ONE_SEED}")
    result = run_cli("--no-dynamic", str(script))
    assert result.exit_code == 1 and ": ESP001 " in result.stdout


@pytest.mark.parametrize("code", ["", " "])
def test_explain_without_a_code_is_a_usage_error(code: str) -> None:
    result = run_cli("--explain", code)
    line = one_error_line(result)
    assert "--explain" in line and "ESP001" in line
    assert result.stdout == ""  # nothing was linted


def test_output_file_in_a_missing_folder_is_a_usage_error() -> None:
    line = one_error_line(run_cli("--no-dynamic", "--output-file", "no/such/dir/out.txt", DEMO))
    assert "--output-file" in line and "no/such/dir/out.txt" in line


def test_show_fixes_lists_what_fix_fixed(tmp_path: Path) -> None:
    project = copy("fixable_int", tmp_path)
    result = run_cli("--fix", "--show-fixes", ".", cwd=project)
    lines = result.stdout.splitlines()
    start = lines.index("Fixed 9 findings:")
    listed = lines[start + 1:lines.index("", start)]
    assert listed[0].startswith("- ") and listed[0].endswith(".py:")
    assert re.fullmatch(r"    \d+ \u00d7 ESP00\d \([a-z-]+\)", listed[1])
    assert sum(int(line.split()[0]) for line in listed if not line.startswith("- ")) == 9
    assert "Fixed 9 findings:" not in run_cli("--fix", ".", cwd=project).stdout


# --- documentation --------------------------------------------------------------------------------


def test_readme_samples_are_what_the_script_writes() -> None:
    done = subprocess.run([sys.executable, "scripts/readme_samples.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    readme = (ROOT / "README.md").read_text()
    assert readme.count("<!-- sample:") == readme.count("<!-- /sample -->") >= 3


def test_help_and_the_readme_table_list_every_option() -> None:
    help_text = run_cli("--help").stdout
    table = (ROOT / "README.md").read_text().split("| option | |", 1)[1].split("\n\n", 1)[0]
    for param in main.params:
        for name in getattr(param, "opts", []):
            if name.startswith("-"):
                assert name in help_text, name
                assert f"`{name}" in table, name


def test_pre_commit_snippets_name_no_tag_that_does_not_exist() -> None:
    import yaml

    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    for doc in ("README.md", "docs/integrations.md"):
        text = (ROOT / doc).read_text()
        assert "OWNER" not in text and "rev:" not in text.replace("`rev:`", "")
        for snippet in re.findall(r"```yaml\n(repos:.*?)```", text, re.DOTALL):
            for repo in yaml.safe_load(snippet)["repos"]:
                assert repo["repo"] == "local"
                for hook in repo["hooks"]:
                    assert hook["entry"] == hooks[hook["id"]]["entry"], (doc, hook["id"])
