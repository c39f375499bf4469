'''ESP001 constant-param-estimate: `param_estimate` is a constant without a documented formula.

## What it does
Finds blueprint registrations whose `param_estimate` is an integer constant (`100`, `4_800`,
`64 * 64 * 9 + 64`, or a module-level name bound once to such a value) with no
`# formula: <expression>` comment on the argument's line or the line above it.

With the dynamic pass (the default), esper-lint builds the factory's module at every width from
1 to 256 and at a spread up to 65,536, and counts its parameters. The finding is *confirmed*
when the count changes with width or differs from the constant, and it then states the error at
the reference width, the count at a large width and the exact formula, verified at every
sampled width. A constant that equals the count at every width (an identity seed's `0`) is
cleared. Without the dynamic pass the finding is reported unconfirmed.

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

Use instead:
```python
@BlueprintRegistry.register("norm", "cnn", param_estimate=lambda dim: 2*dim + 1)
```
or, when the registry only takes integers:
```python
@BlueprintRegistry.register("norm", "cnn", param_estimate=129)  # formula: 2*dim + 1
```

## Fix safety
Turning the constant into `lambda dim: <formula>` is safe only when the register function
accepts callables (its estimate parameter is annotated `Callable`, or `callable-estimates =
true` in the configuration); otherwise it is unsafe and needs `--unsafe-fixes`, and plain
`--fix` adds the verified formula as a `# formula:` comment instead. Both use only formulas
verified against real parameter counts.
'''

from __future__ import annotations

from collections.abc import Iterator

from esper_lint.model import Finding, Site
from esper_lint.rulekit import (
    Context,
    Invalid,
    Valid,
    actual_phrase,
    callable_fix,
    error_phrase,
    finding,
    reference_width,
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

@BlueprintRegistry.register("norm", "cnn", param_estimate=100)  # formula: 2*dim
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
]


def check(site: Site, ctx: Context) -> Iterator[Finding]:
    estimate = site.estimate
    if estimate is None or estimate.kind != "constant" or estimate.formula or estimate.value is None:
        return
    m = ctx.measured
    label = f"param_estimate={estimate.source} for {site.blueprint.label}"
    if m is None:
        yield finding(site, CODE, f"{label} is a constant without a documented formula; pass a "
                      "callable of the width or add `# formula: <expression>`", ctx)
        return
    if all(count == estimate.value for _, count in m.counts):
        return
    ref = reference_width(site, ctx, m)
    actual = m.count_at(ref) or 0
    error = error_phrase(estimate.value, actual)
    where = f"exact only at {m.variable}={ref}" if error == "exact" else \
        f"{error} at {m.variable}={ref} (actual {actual:,})"
    message = f"{label} is {where}; {actual_phrase(m, estimate.value, ref)}"
    yield finding(site, CODE, message, ctx,
                  fixes=callable_fix(site, m.formula, ctx.accepts_callables) if m.formula else ())
