"""Stage 4: the registry's view — every registration of one topology, linted or not, at once.

A registry is what one register function fills (its absolute dotted name, e.g.
``esper.blueprints.registry.BlueprintRegistry.register``); a topology's blueprints in it are
listed and sorted together, so that is what the per-registry rules look at.  Members that
come from files the user did not name (a pre-commit run passes only the changed ones) are
there so that a registry is never judged from part of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from esper_lint.config import Config
from esper_lint.model import Measurement, Site, Use


@dataclass(frozen=True)
class Member:
    site: Site
    measurement: Measurement | None
    linted: bool  # in a file the user asked to lint (else only context for the registry)

    @property
    def measured(self) -> Measurement | None:
        m = self.measurement
        return m if m is not None and m.failure is None and m.counts else None


@dataclass(frozen=True)
class Reference:
    """The widths a topology's estimates mean: configured, or inferred from the registry."""

    widths: tuple[int, ...]
    source: Literal["configured", "inferred"]
    note: str = ""

    @property
    def width(self) -> int:
        return self.widths[0]


@dataclass(frozen=True)
class Registry:
    key: str  # the register function's absolute dotted name
    topology: str
    members: tuple[Member, ...]
    reference: Reference | None
    uses: tuple[Use, ...] = ()  # where the project reads the estimate


def build(sites: Sequence[Site], measurements: Mapping[Site, Measurement], config: Config,
          linted: Iterable[Site] = (), uses: Sequence[Use] = ()) -> tuple[Registry, ...]:
    """The registries ``sites`` fill, one per register function and topology."""
    chosen = set(linted)
    groups: dict[tuple[str, str], list[Member]] = {}
    for site in sites:
        key = (site.registry, site.blueprint.topology or "")
        groups.setdefault(key, []).append(Member(site, measurements.get(site), site in chosen))
    return tuple(Registry(key, topology, tuple(members), _configured(config, topology), tuple(uses))
                 for (key, topology), members in sorted(groups.items()))


def _configured(config: Config, topology: str) -> Reference | None:
    widths = config.reference_widths(topology)
    return Reference(widths, "configured") if widths else None
