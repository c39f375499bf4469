"""Stage 4: Sites and Measurements → Findings, after selection, ``noqa`` and per-file ignores."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from esper_lint.config import Config, ConfigError
from esper_lint.diagnostics import DIAGNOSTICS
from esper_lint.model import Finding, Measurement, Site
from esper_lint.rulekit import Context
from esper_lint.rules import all_rules


def known_codes() -> tuple[str, ...]:
    return tuple(sorted({rule.code for rule in all_rules()} | set(DIAGNOSTICS)))


def validate_selectors(selectors: Iterable[str], origin: str) -> None:
    codes = known_codes()
    for selector in selectors:
        if selector != "ALL" and not any(code.startswith(selector) for code in codes):
            raise ConfigError(f"{origin}: unknown rule selector `{selector}`")


@dataclass(frozen=True)
class Selection:
    """ruff's semantics: the longest matching prefix wins; ``ignore`` wins a tie."""

    select: tuple[str, ...]
    ignore: tuple[str, ...]

    def enabled(self, code: str) -> bool:
        chosen = _longest(self.select, code)
        return chosen >= 0 and chosen > _longest(self.ignore, code)


def _longest(selectors: Sequence[str], code: str) -> int:
    lengths = [0 if s == "ALL" else len(s) for s in selectors if s == "ALL" or code.startswith(s)]
    return max(lengths, default=-1)


def check(sites: Sequence[Site], measurements: Mapping[Site, Measurement], config: Config,
          callable_registers: frozenset[str] = frozenset(),
          diagnostics: Iterable[Finding] = ()) -> list[Finding]:
    """Every enabled rule over every site, plus the diagnostics, sorted by place."""
    selection = Selection(config.select, config.ignore)
    rules = [rule for rule in all_rules() if selection.enabled(rule.code)]
    findings = [*diagnostics, *(_failure(site, m) for site, m in measurements.items() if m.failure)]
    for site in sites:
        ctx = Context(config, measurements.get(site), _accepts_callables(site, config,
                      measurements.get(site), callable_registers))
        findings.extend(f for rule in rules for f in rule.check(site, ctx)
                        if not site.suppresses(f.code))
    ignored = _per_file_ignores(config)
    kept = [f for f in findings if selection.enabled(f.code) and not ignored(f)]
    return sorted(kept, key=lambda f: f.sort_key)


def _failure(site: Site, m: Measurement) -> Finding:
    assert m.failure is not None
    detail = f": {m.failure.detail}" if m.failure.detail else ""
    factory = site.blueprint.factory or "?"
    return Finding(code=m.failure.code, path=site.display, span=site.call, level="warning",
                   message=f"could not measure {site.blueprint.label} ({factory}): "
                   f"{m.failure.reason}{detail}", blueprint=site.blueprint)


def _accepts_callables(site: Site, config: Config, m: Measurement | None,
                       callable_registers: frozenset[str]) -> bool:
    if config.callable_estimates is not None:
        return config.callable_estimates
    if m is not None and m.callable_estimates is not None:
        return m.callable_estimates
    return site.registered_with in callable_registers


def _per_file_ignores(config: Config) -> Callable[[Finding], bool]:
    table = [(pathspec.GitIgnoreSpec.from_lines([pattern]), Selection(codes, ()))
             for pattern, codes in config.per_file_ignores]

    def ignored(finding: Finding) -> bool:
        path = Path(finding.path).absolute()
        relative = path.relative_to(config.root) if path.is_relative_to(config.root) else path
        return any(spec.match_file(relative.as_posix()) and codes.enabled(finding.code)
                   for spec, codes in table)

    return ignored
