"""The cache: a rerun with nothing changed starts no worker (and no torch) and parses nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli, run_json

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "demo", tmp_path / "demo", ignore=shutil.ignore_patterns(".esper-lint-cache"))
    return tmp_path / "demo"


def _confirmed(findings: list[dict[str, object]]) -> set[tuple[object, object]]:
    return {(f["path"], f["line"]) for f in findings if f["confirmed"]}


def test_rerun_uses_the_cache_without_a_worker(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _first, findings = run_json(".", cwd=demo)
    assert _confirmed(findings)
    assert (demo / ".esper-lint-cache" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f59")
    monkeypatch.setenv("PYTHONHOME", "/nonexistent")  # no worker can start now
    second, cached = run_json(".", cwd=demo)
    assert cached == findings
    assert "skipped" not in second.stderr


def test_a_changed_file_is_measured_again(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_json(".", cwd=demo)
    registry = demo / "seedlib" / "registry.py"
    registry.write_text(registry.read_text() + "\n# touched\n")  # loaded by every import
    monkeypatch.setenv("PYTHONHOME", "/nonexistent")
    result, findings = run_json(".", cwd=demo)
    assert "dynamic pass skipped" in result.stderr
    assert not _confirmed(findings)


def test_no_cache_writes_nothing(demo: Path) -> None:
    run_json("--no-cache", ".", cwd=demo)
    assert not (demo / ".esper-lint-cache").exists()


@pytest.mark.parametrize("garbage", [
    b"", b"\x80\x03}q\x00.", b"[1, 2]", b'{"dependencies": [], "lines": [1]}',
    b'{"dependencies": [], "lines": ["{\\"event\\": \\"done\\"}"]}'])
def test_a_damaged_entry_is_a_miss_and_is_replaced(demo: Path, garbage: bytes) -> None:
    _, findings = run_json(".", cwd=demo)
    entries = [p for p in (demo / ".esper-lint-cache").iterdir() if p.name[0] not in ".C"]
    loaded = [json.loads(p.read_bytes()) for p in entries]  # JSON, not pickle
    assert entries and all(e.get("lines") or e.get("facts") or e.get("derived") or e.get("screened")
                           for e in loaded)
    assert any((entry.get("derived") or {}).get("formula") for entry in loaded)  # damaged below too
    for entry in entries:
        entry.write_bytes(garbage)
    result, again = run_json(".", cwd=demo)
    assert (result.exit_code, again) == (1, findings)  # measured again, same numbers
    assert all(p.read_bytes() != garbage for p in entries)


def test_an_entry_replaced_by_a_folder_is_a_miss_and_leaves_nothing_behind(demo: Path) -> None:
    _, findings = run_json(".", cwd=demo)
    cache = demo / ".esper-lint-cache"
    entries = [p for p in cache.iterdir() if p.name[0] not in ".C"]
    for entry in entries:
        entry.unlink()
        entry.mkdir()
    for _ in range(2):
        _, again = run_json(".", cwd=demo)
        assert again == findings
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]


def test_an_oversized_entry_is_a_miss(demo: Path) -> None:
    _, findings = run_json(".", cwd=demo)
    [entry, *_] = [p for p in (demo / ".esper-lint-cache").iterdir() if p.name[0] not in ".C"]
    with entry.open("ab") as stream:
        stream.truncate(65 << 20)  # sparse: 65 MiB of NULs, read only if the size is not checked
    _, again = run_json(".", cwd=demo)
    assert again == findings


@pytest.mark.parametrize("folder", [".", "..", "seedlib"])
def test_the_cache_refuses_a_folder_of_the_users_own(demo: Path, folder: str) -> None:
    pyproject = demo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'cache-dir = "{folder}"\n')
    before = sorted(p.name for p in (demo / folder).iterdir())
    result = run_cli(".", cwd=demo)
    assert result.exit_code == 2 and "cache-dir" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in (demo / folder).iterdir()) == before


# Runs the real CLI and names the .py files of its folder it opened (an audit hook sees each open).
OPENS = """
import os, sys
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str | os.PathLike):
        opened.append(os.path.relpath(os.fspath(args[0])))
sys.addaudithook(hook)
from esper_lint.cli import main
try:
    main(sys.argv[1:])
finally:
    mine = (p for p in opened if p.endswith(".py") and not p.startswith(".."))  # not esper-lint's
    sys.stderr.write("opened: " + " ".join(sorted(mine)) + "\\n")
"""
REGISTERS = ("from registry import BlueprintRegistry\n\n\n"
             "@BlueprintRegistry.register('a', 'cnn', param_estimate=100)\ndef make(dim):\n    pass\n")


def opened(folder: Path) -> tuple[str, set[str]]:
    done = subprocess.run([sys.executable, "-c", OPENS, "--format", "json", "--no-dynamic", "."],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    names = next(line for line in done.stderr.splitlines() if line.startswith("opened:"))
    return done.stdout, set(names.split()[1:])


def test_a_rerun_reads_no_unchanged_file_that_held_nothing(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("x = 1\n")
    (tmp_path / "reads.py").write_text("def cost(seed):\n    return seed.param_estimate\n")
    assert opened(tmp_path)[1] == {"plain.py", "reads.py"}
    assert opened(tmp_path)[1] == {"reads.py"}  # a candidate is read: its content keys its facts
    (tmp_path / "plain.py").write_text("x = 2\n")  # the same size, a new stamp
    assert opened(tmp_path)[1] == {"plain.py", "reads.py"}
    (tmp_path / "plain.py").write_text(REGISTERS)
    findings, _ = opened(tmp_path)
    assert [(f["path"], f["code"]) for f in json.loads(findings)] == [("plain.py", "ESP001")]
