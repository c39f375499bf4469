'''ESP001 constant-param-estimate: `param_estimate` is a constant without a documented formula.

## What it does
Finds blueprint registrations whose `param_estimate` is an integer constant (`100`, `4_800`,
`64 * 64 * 9 + 64`, or a module-level name bound once to such a value) with no
`# formula: <expression>` comment belonging to the registration: on the estimate's lines, the
line above it, or after the call on the line it ends.

With the dynamic pass (the default), esper-lint builds the factory's module on PyTorch's meta
device at every width from 1 to 256 and at a spread up to 65,536, and counts its parameters.
The finding is *confirmed* when the count changes with width or differs from the constant. It
then states the error at the topology's reference width — the width its estimates mean,
configured with `reference-dims` or inferred from the registry (see ESP004) — the count at a
large width, the exact formula, verified at every sampled width, and where the project reads
the estimate (a sort key, a `== 0` test). Without a reference width it quotes the width where
the constant is closest, and says so. Errors beyond 100% read as ratios (`4.3x high`). A
constant that equals the count at every width (an identity seed's `0`) is cleared. A constant too
large for any parameter count (over 4,096 bits, or written in over 2,000 characters) is
reported as such, without a fix. Without the dynamic pass the finding is reported
unconfirmed.

## Why is this bad?
The registry sorts and compares blueprints by their estimates. A constant is right for one
width at best: a GroupNorm seed estimated at `100` has `2*dim + 1` parameters, 22% more at
dim=64 and ten times more at dim=512.

## Example
```python
@BlueprintRegistry.register("norm", "cnn", param_estimate=100)
def create_norm_seed(dim: int) -> nn.Module:
    return GroupNormSeed(dim)
```

Use instead, when the registry takes callables:
```python
@BlueprintRegistry.register("norm", "cnn", param_estimate=lambda dim: 2*dim + 1)
```
or, when it takes only integers (the exact count at the reference width, 64, and its formula):
```python
@BlueprintRegistry.register("norm", "cnn", param_estimate=129)  # formula: 2*dim + 1
```

## Fix safety
Turning the constant into `lambda dim: <formula>` is safe only when the register function
accepts callables (its estimate parameter is annotated `Callable`, or `callable-estimates =
true` in the configuration). Otherwise it is unsafe and needs `--unsafe-fixes` (code that sorts
or compares the estimates as ints would break), and it is offered only when every int estimate
of the topology converts with it, so a registry never holds a mix. Plain `--fix` then writes
the exact count at the reference width as the value and the verified formula as its
`# formula:` comment: the number is right where it is read, and ESP005 keeps it consistent.
Without a reference width the value stays and only the comment is written (the fix title says
why). Every number written was measured, every formula verified.
'''

from __future__ import annotations

from collections.abc import Iterator

from esper_lint.catalog import Invalid, Valid
from esper_lint.model import Finding, Site
from esper_lint.rulekit import (
    Context,
    actual_phrase,
    closest_at,
    error_phrase,
    estimate_fixes,
    finding,
    reference_at,
    uses_phrase,
)

CODE = "ESP001"
NAME = "constant-param-estimate"
SUMMARY = "`param_estimate` is a constant without a documented formula"

VALID = [
    Valid('''
from torch import nn
from registry import callable_registry
BlueprintRegistry = callable_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=lambda dim: 2*dim)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
    Valid('''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=128)  # formula: 2*dim
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
    Valid('''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("identity", "cnn", param_estimate=0)
def create_identity_seed(dim: int) -> nn.Module:
    return nn.Identity()
'''),
    Valid('''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=100)  # noqa: ESP001
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
]

INVALID = [
    Invalid('''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=100)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
''', message="param_estimate=100 for cnn:norm is 22% low at dim=64 (actual 128)", fixed='''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=128)  # formula: 2*dim
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
    Invalid('''
from torch import nn
from registry import callable_registry
BlueprintRegistry = callable_registry()
BR = BlueprintRegistry

DEPTHWISE_ESTIMATE = 64 * 64 + 11 * 64

def create_depthwise_seed(dim: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(dim, dim, 3, groups=dim), nn.Conv2d(dim, dim, 1))

BR.register("depthwise", "cnn", DEPTHWISE_ESTIMATE)(create_depthwise_seed)
''', message="is exact only at dim=64; actual = dim**2 + 11*dim", fixed='''
from torch import nn
from registry import callable_registry
BlueprintRegistry = callable_registry()
BR = BlueprintRegistry

DEPTHWISE_ESTIMATE = 64 * 64 + 11 * 64

def create_depthwise_seed(dim: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(dim, dim, 3, groups=dim), nn.Conv2d(dim, dim, 1))

BR.register("depthwise", "cnn", lambda dim: dim**2 + 11*dim)(create_depthwise_seed)
'''),
    Invalid('''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()
@BlueprintRegistry.register("norm", "cnn", param_estimate=(9**64)**64)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
''', message="is a constant too large to be a parameter count (a value exceeds 4,096 bits)",
            fixed=None),
]


def check(site: Site, ctx: Context) -> Iterator[Finding]:
    estimate = site.estimate
    if estimate is None or estimate.kind != "constant" or estimate.formula:
        return
    label = f"param_estimate={_shortened(estimate.source)} for {site.blueprint.label}"
    if estimate.value is None:  # too large to evaluate: no width's count comes near it
        yield finding(site, CODE, f"{label} is a constant too large to be a parameter count "
                      f"({estimate.beyond}); pass a callable of the width or write the count",
                      ctx, used_by=ctx.uses)
        return
    m = ctx.measured
    if m is None:
        yield finding(site, CODE, f"{label} is a constant without a documented formula; pass a "
                      f"callable of the width or add `# formula: <expression>`{uses_phrase(ctx)}", ctx,
                      used_by=ctx.uses)
        return
    if all(count == estimate.value for _, count in m.counts):
        return
    at = reference_at(ctx, m) or closest_at(m, estimate.value)
    actual = m.count_at(at.width) or 0
    error = error_phrase(estimate.value, actual)
    where = f"exact only at {m.variable}={at.width}" if error == "exact" else \
        f"{error} at {m.variable}={at.width} (actual {actual:,})"
    message = (f"{label} is {where}{at.closest_note(site)}; {actual_phrase(m, estimate.value, at.width)}"
               f"{uses_phrase(ctx)}")
    yield finding(site, CODE, message, ctx, at, used_by=ctx.uses,
                  fixes=estimate_fixes(site, m, ctx, prefer_callable=True))


def _shortened(source: str) -> str:
    return source if len(source) <= 40 else f"{source[:30]}...({len(source):,} characters)"
