"""[tool.esper-lint] in pyproject.toml, and --config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli, run_json

SHAPES = FIXTURES / "static" / "shapes.py"


def _project(tmp_path: Path, table: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[tool.esper-lint]\n{table}\n")
    (tmp_path / "src").mkdir()
    shutil.copy(SHAPES, tmp_path / "src" / "shapes.py")
    shutil.copy(FIXTURES / "static" / "documented.py", tmp_path / "src" / "documented.py")
    return tmp_path


def test_select_from_pyproject(tmp_path: Path) -> None:
    _, findings = run_json("--no-dynamic", ".", cwd=_project(tmp_path, 'select = ["ESP002"]'))
    assert {f["code"] for f in findings} == {"ESP002"}


def test_cli_overrides_config(tmp_path: Path) -> None:
    project = _project(tmp_path, 'select = ["ESP002"]')
    _, findings = run_json("--no-dynamic", "--select", "ESP001", ".", cwd=project)
    assert {f["code"] for f in findings} == {"ESP001"}


def test_per_file_ignores(tmp_path: Path) -> None:
    project = _project(tmp_path, '[tool.esper-lint.per-file-ignores]\n"src/shapes.py" = ["ESP001"]')
    _, findings = run_json("--no-dynamic", ".", cwd=project)
    assert {f["path"] for f in findings} == {"src/documented.py"}


def test_exclude(tmp_path: Path) -> None:
    project = _project(tmp_path, 'extend-exclude = ["src/shapes.py"]')
    _, findings = run_json("--no-dynamic", ".", cwd=project)
    assert {f["path"] for f in findings} == {"src/documented.py"}


LAYOUT = ["m.py", "build", "dist.py", "a/m.py", "a/build/m.py", "a/build.py", "b/dist/m.py", "dist/m.py",
          "c/x.egg-info/m.py", "d/__pycache__/m.py", "e/.venv/lib/m.py", "f/node_modules/m/m.py"]


@pytest.mark.parametrize("walk_from", [".", "a", "a/build"])
@pytest.mark.parametrize("patterns", [[], ["dist/"], ["m.py"], ["*.egg-info/", "b"]])
def test_name_patterns_exclude_as_gitignore_does(tmp_path: Path, patterns: list[str], walk_from: str) -> None:
    """Bare-name patterns (every default) are matched on each entry's name without pathspec; the
    files linted are the ones pathspec's gitignore matching keeps (a path pattern sends every
    pattern to pathspec, so the two runs differ only in how they match)."""
    for name in LAYOUT:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHAPES, tmp_path / name)

    def linted(extra: list[str]) -> set[str]:
        (tmp_path / "pyproject.toml").write_text(f"[tool.esper-lint]\nextend-exclude = {patterns + extra}\n")
        _, findings = run_json("--no-dynamic", walk_from, cwd=tmp_path)
        return {f["path"] for f in findings}

    by_name = linted([])
    assert by_name == linted(["no/such/path.py"])
    assert not any(part in ("build", "__pycache__", ".venv", "node_modules") or part.endswith(".egg-info")
                   for path in by_name for part in Path(path).parts[:-1])
    assert ("m.py" in by_name) == ("m.py" not in patterns and walk_from == ".")


def test_register_functions_and_estimate_keyword(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.esper-lint]\nregister-functions = ["SeedBank.add"]\nestimate-keyword = "size"\n')
    (tmp_path / "seeds.py").write_text(
        "from bank import SeedBank\n\n"
        "@SeedBank.add('norm', 'cnn', size=100)\ndef make(dim):\n    return None\n\n"
        "@BlueprintRegistry.register('norm', 'cnn', param_estimate=100)\ndef other(dim):\n"
        "    return None\n")
    _, findings = run_json("--no-dynamic", ".", cwd=tmp_path)
    assert [(f["line"], f["blueprint"]["factory"]) for f in findings] == [(3, "make")]


def test_explicit_config_file(tmp_path: Path) -> None:
    project = _project(tmp_path, "")
    other = tmp_path / "other.toml"
    other.write_text('[tool.esper-lint]\nignore = ["ESP001"]\n')
    _, findings = run_json("--no-dynamic", "--config", str(other), ".", cwd=project)
    assert {f["code"] for f in findings} == {"ESP002"}


@pytest.mark.parametrize(("table", "message"), [
    ("colour = 1", "unknown key(s) in [tool.esper-lint]: colour"),
    ('select = ["ESP7"]', "unknown rule selector `ESP7`"),
    ('count = "some"', "`count` must be"),
    ("timeout = \"slow\"", '`timeout = "slow"`: expected a finite number of seconds > 0'),
    ('[tool.esper-lint.per-file-ignores]\n"src/*" = ["ESP01"]',
     "per-file-ignores `src/*`: unknown rule selector `ESP01`"),
    ("reference-dims = { cnn = [64, 0] }", "`reference-dims` values must be positive integers"),
])
def test_bad_config_exits_2(tmp_path: Path, table: str, message: str) -> None:
    result = run_cli("--no-dynamic", ".", cwd=_project(tmp_path, table))
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(("table", "key", "accepted"), [
    ("timeout = -1", "`timeout = -1`", "a finite number of seconds > 0"),
    ("timeout = 0", "`timeout = 0`", "a finite number of seconds > 0"),
    ("timeout = nan", "`timeout = nan`", "a finite number of seconds > 0"),
    ("timeout = inf", "`timeout = inf`", "a finite number of seconds > 0"),
    ("timeout = true", "`timeout = true`", "a finite number of seconds > 0"),
    ("max-width = 0", "`max-width = 0`", "an integer >= 64"),
    ("max-width = 63", "`max-width = 63`", "an integer >= 64"),
    ("memory-limit-mb = 1", "`memory-limit-mb = 1`", "0 (no limit) or an integer >= 256"),
    ("memory-limit-mb = -5", "`memory-limit-mb = -5`", "0 (no limit) or an integer >= 256"),
    ("estimate-position = -1", "`estimate-position = -1`", "an integer >= 0"),
    ('estimate-keyword = "param estimate"', "`estimate-keyword", "a Python identifier"),
    ("callable-estimates = 1", "`callable-estimates = 1`", "true or false"),
    ("register-functions = []", "`register-functions = []`", "a non-empty list of dotted names"),
    ('register-functions = ["Blueprint Registry.register"]', "`register-functions = ",
     "a non-empty list of dotted names"),
    ('select = ["XYZ1"]', "`select`: unknown rule selector `XYZ1`", "expected ALL or a prefix of a code"),
    ('ignore = ["esp001"]', "`ignore`: unknown rule selector `esp001`", "ESP001"),
])
def test_nonsense_config_is_one_line_naming_file_key_and_what_is_accepted(
        tmp_path: Path, table: str, key: str, accepted: str) -> None:
    project = _project(tmp_path, table)
    for args in (("--no-dynamic", "."), (".",), ("src/shapes.py",)):
        result = run_cli(*args, cwd=project)
        assert result.exit_code == 2 and "Traceback" not in result.output
        [line] = result.stderr.splitlines()
        assert line.startswith(f"esper-lint: error: {project / 'pyproject.toml'}: {key}")
        assert accepted in line


@pytest.mark.parametrize(("content", "message"), [
    (b'tool = "x"\n', '`tool` must be a table ([tool.NAME] sections), not "x"'),
    (b"[tool]\nesper-lint = 3\n", "`tool.esper-lint` must be a table ([tool.esper-lint])"),
    (b"[tool.esper-lint]\n# caf\xe9\n", "cannot read configuration: not UTF-8 (byte 0xe9 at offset 23)"),
])
def test_unreadable_pyproject_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    project = _project(tmp_path, "")
    (project / "pyproject.toml").write_bytes(content)
    result = run_cli("--no-dynamic", ".", cwd=project)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr == f"esper-lint: error: {project / 'pyproject.toml'}: {message}\n"


def test_reference_dims_take_a_width_or_a_list(tmp_path: Path) -> None:
    from esper_lint.config import load

    (tmp_path / "pyproject.toml").write_text(
        '[tool.esper-lint]\nreference-dims = { cnn = 64, transformer = [384, 768] }\n')
    config = load(None, tmp_path)
    assert config.reference_widths("cnn") == (64,)
    assert config.reference_widths("transformer") == (384, 768)
    assert config.reference_widths("other") == ()


TWO_PROJECTS = FIXTURES / "two_projects"  # the same file; reference-dims cnn = 48 and cnn = 64


@pytest.mark.parametrize("paths", [("wide", "narrow"), ("narrow", "wide"), (".",),
                                   ("narrow/blueprints/norm.py", "wide/blueprints/norm.py")])
def test_each_file_uses_its_nearest_config_whatever_the_order(paths: tuple[str, ...]) -> None:
    result, findings = run_json("--no-dynamic", *paths, cwd=TWO_PROJECTS)
    assert [(f["path"], f["code"]) for f in findings] == [("wide/blueprints/norm.py", "ESP005")]
    assert "at dim=64" in findings[0]["message"] and result.exit_code == 1


@pytest.mark.parametrize(("cwd", "paths", "flagged"), [
    ("narrow", (".",), "linked/norm.py"),  # through a link: where the folder really is
    ("narrow", ("../wide", "."), "../wide/blueprints/norm.py"),  # reached twice, reported once
    ("narrow/blueprints", ("../../wide/blueprints", "."), "../../wide/blueprints/norm.py"),
])
def test_a_file_is_configured_by_the_folder_it_really_is_in(tmp_path: Path, cwd: str,
                                                           paths: tuple[str, ...], flagged: str) -> None:
    projects = tmp_path / "projects"
    shutil.copytree(TWO_PROJECTS, projects)
    (projects / "narrow" / "linked").symlink_to(projects / "wide" / "blueprints")
    _, findings = run_json("--no-dynamic", *paths, cwd=projects / cwd)
    assert [(f["path"], f["code"]) for f in findings] == [(flagged, "ESP005")]


def test_config_option_overrides_every_nearest_config() -> None:
    _, findings = run_json("--no-dynamic", "--config", "narrow/pyproject.toml", "wide", "narrow",
                           cwd=TWO_PROJECTS)
    assert findings == []
    _, findings = run_json("--no-dynamic", "--config", "wide/pyproject.toml", "narrow", "wide",
                           cwd=TWO_PROJECTS)
    assert sorted(f["path"] for f in findings) == ["narrow/blueprints/norm.py", "wide/blueprints/norm.py"]
