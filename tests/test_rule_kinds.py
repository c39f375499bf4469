"""The two kinds of rule: one registration at a time, or every registration of a registry at once."""

from __future__ import annotations

import types
from collections.abc import Iterator

from conftest import FIXTURES
from esper_lint import registries
from esper_lint.catalog import Invalid, Rule, Valid
from esper_lint.check import check
from esper_lint.config import Config
from esper_lint.model import Finding
from esper_lint.registries import Registry
from esper_lint.rulekit import Context, finding
from esper_lint.sites import find_sites


def _module(name: str, **members: object) -> types.ModuleType:
    module = types.ModuleType(name, "ESP0T1 test-rule: a rule that only tests the kinds.\n")
    for key, value in {"CODE": "ESP001", "NAME": "test-rule", "SUMMARY": "tests the kinds",
                       "VALID": [Valid("")], "INVALID": [Invalid("", "", None)], **members}.items():
        setattr(module, key, value)
    return module


def count_members(registry: Registry, ctx: Context) -> Iterator[Finding]:
    """One finding per registry, at its first registration, counting what the rule saw."""
    first = registry.members[0].site
    yield finding(first, "ESP001", f"{registry.topology}: {len(registry.members)} registrations", ctx)


BLUEPRINTS = FIXTURES / "esperlike" / "src" / "esperlike" / "blueprints"


def test_a_registry_rule_sees_every_registration_of_a_topology_across_files() -> None:
    sites = [site for path in sorted(BLUEPRINTS.glob("*.py"))
             for site in find_sites(path, path.name, path.read_text(), Config()).sites]
    rule = Rule.from_module(_module("registry_rule", check_registry=count_members))
    assert rule.kind == "registry" and rule.check is count_members
    views = registries.build(sites, {}, Config(), sites)
    found = check(sites, {}, Config(), views, chosen=[rule])
    assert sorted(f.message for f in found) == ["cnn: 8 registrations", "transformer: 7 registrations"]
    assert {f.path for f in found} == {"cnn_basic.py", "transformer.py"}


def test_a_site_rule_sees_one_registration_at_a_time() -> None:
    def each(site: object, ctx: Context) -> Iterator[Finding]:
        assert ctx.registry is not None  # and the registry it belongs to
        yield finding(site, "ESP001", f"{len(ctx.registry.members)}", ctx)  # type: ignore[arg-type]

    path = BLUEPRINTS / "transformer.py"
    sites = list(find_sites(path, path.name, path.read_text(), Config()).sites)
    rule = Rule.from_module(_module("site_rule", check=each))
    assert rule.kind == "site"
    found = check(sites, {}, Config(), registries.build(sites, {}, Config(), sites), chosen=[rule])
    assert [f.message for f in found] == ["7"] * 7
