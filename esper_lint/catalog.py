"""Every code esper-lint reports, one :class:`Rule` record each.

The rules in ``rules/`` (one module per rule; a per-site or a per-registry check) and the
ESP9xx diagnostics (:mod:`esper_lint.diagnostics`: something could not be checked) share
this record, so ``--explain``, rule selection and SARIF's rule list read one catalog.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any, Literal

from esper_lint.model import Finding, Level

RuleKind = Literal["site", "registry", "diagnostic"]


@dataclass(frozen=True)
class Valid:
    """An example the rule must leave alone."""

    source: str


@dataclass(frozen=True)
class Invalid:
    """An example the rule reports, with a fragment of its message and the source after ``--fix``
    (``None``: no fix is expected); ``code`` defaults to the rule's own."""

    source: str
    message: str
    fixed: str | None
    code: str = ""


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    doc: str
    kind: RuleKind
    check: Callable[..., Iterator[Finding]] | None = field(default=None, repr=False)
    valid: tuple[Valid, ...] = field(default=(), repr=False)
    invalid: tuple[Invalid, ...] = field(default=(), repr=False)

    @property
    def level(self) -> Level:
        return "warning" if self.kind == "diagnostic" else "error"

    @classmethod
    def from_module(cls, module: ModuleType) -> Rule:
        """A rule module: ``check(site, ctx)`` or ``check_registry(registry, ctx)``, its examples."""
        registry: Any = getattr(module, "check_registry", None)
        invalid = tuple(Invalid(e.source, e.message, e.fixed, e.code or module.CODE)
                        for e in module.INVALID)
        return cls(code=module.CODE, name=module.NAME, summary=module.SUMMARY,
                   doc=(module.__doc__ or "").strip(), kind="registry" if registry else "site",
                   check=registry or module.check, valid=tuple(module.VALID), invalid=invalid)


@cache
def rules() -> tuple[Rule, ...]:
    """The rules shipped in ``esper_lint.rules``, by code."""
    from esper_lint import rules as package

    modules = pkgutil.iter_modules(package.__path__)
    names = sorted(info.name for info in modules if info.name.startswith("esp"))
    return tuple(Rule.from_module(importlib.import_module(f"{package.__name__}.{name}")) for name in names)


@cache
def catalog() -> tuple[Rule, ...]:
    """Every rule and diagnostic, by code."""
    from esper_lint.diagnostics import DIAGNOSTICS

    return tuple(sorted((*rules(), *DIAGNOSTICS), key=lambda rule: rule.code))


def lookup(code: str) -> Rule | None:
    return next((rule for rule in catalog() if rule.code == code), None)


def known_codes() -> tuple[str, ...]:
    return tuple(rule.code for rule in catalog())
