"""Every rule's own VALID and INVALID examples, linted for real with the dynamic pass."""

from __future__ import annotations

import pytest

from conftest import run_json
from esper_lint.rules import all_rules

REGISTRY = '''
from typing import Callable

class BlueprintRegistry:
    blueprints: dict[str, object] = {}

    @classmethod
    def register(cls, name: str, topology: str, param_estimate: int | Callable[[int], int],
                 description: str = ""):
        def decorate(factory):
            cls.blueprints[f"{topology}:{name}"] = (factory, param_estimate)
            return factory
        return decorate
'''

EXAMPLES = [(rule.code, kind, index, code)
            for rule in all_rules()
            for kind, examples in (("valid", rule.valid), ("invalid", rule.invalid))
            for index, code in enumerate(examples)]


@pytest.fixture(scope="module")
def example_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Lint all examples in one run (one worker, torch loaded once), codes by file name."""
    folder = tmp_path_factory.mktemp("examples")
    (folder / "registry.py").write_text(REGISTRY)
    for code, kind, index, source in EXAMPLES:
        (folder / f"{code.lower()}_{kind}_{index}.py").write_text(source)
    (folder / "pyproject.toml").write_text('[tool.esper-lint]\nsrc = ["."]\n')
    _, findings = run_json(".", cwd=folder)
    codes: dict[str, set[str]] = {}
    for finding in findings:
        codes.setdefault(finding["path"], set()).add(finding["code"])
    return codes


def test_every_rule_has_examples_and_documentation() -> None:
    for rule in all_rules():
        assert rule.valid and rule.invalid, rule.code
        for heading in ("## What it does", "## Why is this bad?", "## Example", "## Fix safety"):
            assert heading in rule.doc, (rule.code, heading)


@pytest.mark.slow
@pytest.mark.parametrize(("code", "kind", "index", "source"), EXAMPLES,
                         ids=[f"{c}-{k}-{i}" for c, k, i, _ in EXAMPLES])
def test_example(example_findings: dict[str, set[str]], code: str, kind: str, index: int,
                 source: str) -> None:
    found = example_findings.get(f"{code.lower()}_{kind}_{index}.py", set())
    if kind == "invalid":
        assert code in found
    else:
        assert code not in found
        assert not {c for c in found if c.startswith("ESP9")}, found
