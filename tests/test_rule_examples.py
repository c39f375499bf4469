"""Every rule's own VALID and INVALID examples, linted, fixed and linted again for real.

One project holds all examples (one worker, torch loaded once). Each example builds its own
registry (``int_registry()`` or ``callable_registry()``), so no two examples share a topology.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli, run_json
from esper_lint.catalog import Invalid, Valid, rules

REGISTRIES = '''
from collections.abc import Callable


def _registry(annotation: object) -> type:
    class BlueprintRegistry:
        blueprints: dict[str, object] = {}

        @classmethod
        def register(cls, name: str, topology: str, param_estimate: int, description: str = ""):
            def decorate(factory):
                cls.blueprints[f"{topology}:{name}"] = (factory, param_estimate)
                return factory
            return decorate

    BlueprintRegistry.register.__func__.__annotations__["param_estimate"] = annotation
    return BlueprintRegistry


def int_registry() -> type:
    """A registry whose estimates are ints: it sorts and compares them."""
    return _registry(int)


def callable_registry() -> type:
    """A registry that also takes a callable of the width."""
    return _registry(int | Callable[[int], int])
'''
CONFIG = '[tool.esper-lint]\nsrc = ["."]\nreference-dims = { cnn = 64, transformer = 384 }\n'

EXAMPLES = [(rule.code, example, f"{rule.code.lower()}_{kind}_{index}")
            for rule in rules()
            for kind, examples in (("valid", rule.valid), ("invalid", rule.invalid))
            for index, example in enumerate(examples)]


@dataclass(frozen=True)
class Outcome:
    before: dict[str, list[dict[str, Any]]]  # findings by module name
    fixed: dict[str, str]  # each file after ``--fix``
    after: dict[str, list[dict[str, Any]]]  # findings after ``--fix``


def _by_module(findings: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        grouped.setdefault(Path(finding["path"]).stem, []).append(finding)
    return grouped


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    folder = tmp_path_factory.mktemp("examples")
    (folder / "registry.py").write_text(REGISTRIES)
    (folder / "pyproject.toml").write_text(CONFIG)
    for _, example, name in EXAMPLES:
        (folder / f"{name}.py").write_text(example.source)
    _, before = run_json(".", "--no-cache", cwd=folder)
    run_cli(".", "--no-cache", "--fix", cwd=folder)
    fixed = {name: (folder / f"{name}.py").read_text() for _, _, name in EXAMPLES}
    _, after = run_json(".", "--no-cache", cwd=folder)
    return Outcome(_by_module(before), fixed, _by_module(after))


def test_every_rule_has_examples_and_documentation() -> None:
    for rule in rules():
        assert rule.valid and rule.invalid, rule.code
        for heading in ("## What it does", "## Why is this bad?", "## Example", "## Fix safety"):
            assert heading in rule.doc, (rule.code, heading)


@pytest.mark.slow
@pytest.mark.parametrize(("code", "example", "name"), EXAMPLES, ids=[n for _, _, n in EXAMPLES])
def test_example(outcome: Outcome, code: str, example: Valid | Invalid, name: str) -> None:
    found = outcome.before.get(name, [])
    assert not [f for f in found if f["code"].startswith("ESP9")], found
    if isinstance(example, Valid):
        assert code not in {f["code"] for f in found}
        assert outcome.fixed[name] == example.source
        return
    [reported] = [f for f in found if f["code"] == example.code]
    assert example.message in reported["message"]
    if example.fixed is None:
        assert reported["fix"] is None and outcome.fixed[name] == example.source
        return
    assert outcome.fixed[name] == example.fixed
    assert outcome.after.get(name, []) == []  # fixed, then linted again: clean
