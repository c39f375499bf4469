'''ESP004 registry-order: the estimates order a topology's blueprints unlike their real sizes.

## What it does
Looks at every blueprint of one topology in one registry at once, at each of the topology's
reference widths (configured with `reference-dims`, or inferred: the model width, a multiple of
16, at which most of the topology's constants are within 5% of their real counts). It sorts the
blueprints as the registry does, by `(param_estimate, name)` — constants as written, callables
and documented formulas evaluated at that width — and compares that order with the order of
their real parameter counts there. Real ties may come in either order.

One finding per topology and width where the orders differ, at the first registration out of
place, with both orders spelled out, the fewest blueprints whose estimates must change to put it
right, and where the project reads the estimate. Blueprints in files you did not name (a
pre-commit run passes only the changed ones) are found under the same packages and measured
too, so the order is always judged on the whole registry; when one of them cannot be measured,
the check is skipped for that topology and the run says so in one line.

## Why is this bad?
The registry exists to compare blueprints: esper's `list_for_topology` returns a topology's
blueprints sorted by `(param_estimate, name)`, and whatever picks the cheapest seed, or grows
the host by the smallest step, trusts that order. Estimates that are each "roughly right" can
still put the biggest blueprint first: depthwise 4,800, bottleneck 12,000, conv_small 18,000 sort
in exactly the reverse of their real sizes at 64 channels (4,800 / 4,480 / 4,224).

## Example
```python
# reference-dims = { cnn = 64 }
@BlueprintRegistry.register("wide", "cnn", param_estimate=100)  # 4,160 parameters at 64
def create_wide_seed(dim: int) -> nn.Module:
    return nn.Linear(dim, dim)

@BlueprintRegistry.register("norm", "cnn", param_estimate=4000)  # 128 parameters at 64
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
```

Use instead:
```python
@BlueprintRegistry.register("wide", "cnn", param_estimate=4160)  # formula: dim**2 + dim
...
@BlueprintRegistry.register("norm", "cnn", param_estimate=128)  # formula: 2*dim
```

## Fix safety
ESP004 has no fix of its own: the out-of-place estimates are wrong at the reference width, so
ESP001, ESP002, ESP003 or ESP005 reports each of them, and their safe fixes write the exact count
at the reference width (or an exact callable). After those fixes the order is right by
construction.
'''

from __future__ import annotations

from collections.abc import Iterator, Sequence

from esper_lint.catalog import Invalid, Valid
from esper_lint.model import Finding
from esper_lint.registries import Registry, Row
from esper_lint.rulekit import At, Context, finding, uses_phrase

CODE = "ESP004"
NAME = "registry-order"
SUMMARY = "the estimates order a topology's blueprints unlike their real parameter counts"

_WIDE_AND_NORM = '''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("wide", "cnn", param_estimate={wide}
def create_wide_seed(dim: int) -> nn.Module:
    return nn.Linear(dim, dim)

@BlueprintRegistry.register("norm", "cnn", param_estimate={norm}
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''

VALID = [
    Valid(_WIDE_AND_NORM.format(wide="4160)  # formula: dim**2 + dim", norm="128)  # formula: 2*dim")),
]

INVALID = [
    Invalid(_WIDE_AND_NORM.format(wide="100)", norm="4000)"),
            message="the estimates order cnn's blueprints wide (100) < norm (4,000) at dim=64, the "
                    "real counts norm (128) < wide (4,160); 1 estimate must change: norm",
            fixed=_WIDE_AND_NORM.format(wide="4160)  # formula: dim**2 + dim",
                                        norm="128)  # formula: 2*dim")),
]


def check_registry(registry: Registry, ctx: Context) -> Iterator[Finding]:
    reference = registry.reference
    if reference is None or registry.unmeasured or not any(m.linted for m in registry.members):
        return  # no width to judge at; or a partial registry, which the run's notes mention
    for width in reference.widths:
        order = registry.order(width)
        if order is None or len(order.by_estimate) < 2:
            continue
        here = [r for r in order.moved if r.member.linted]
        if not here:
            continue  # every blueprint out of place is in a file this run was not asked to lint
        first = min(here, key=lambda r: (r.member.site.display, r.member.site.call))
        variable = next(m.measured.variable for m in registry.members if m.measured)
        moved = order.moved
        message = (f"the estimates order {registry.topology}'s blueprints "
                   f"{_order(order.by_estimate, 'estimate')} at {variable}={width}, the real counts "
                   f"{_order(order.by_count, 'count')}; {len(moved)} estimate{'s' if len(moved) > 1 else ''}"
                   f" must change: {', '.join(r.member.name for r in moved)}")
        site_ctx = Context(ctx.config, first.member.measurement, registry=registry)
        yield finding(first.member.site, CODE, message + uses_phrase(site_ctx), site_ctx,
                      At(width, reference.source), used_by=registry.uses)


def _order(rows: Sequence[Row], field: str) -> str:
    return " < ".join(f"{r.member.name} ({getattr(r, field):,})" for r in rows)
