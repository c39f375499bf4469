'''ESP003 wrong-callable-estimate: a callable `param_estimate` disagrees with the real count.

## What it does
When `param_estimate` is a callable (a lambda or a named function), the dynamic pass calls it
at every sampled width and compares the result with the real parameter count of the module the
factory builds. The finding quotes the difference at the topology's reference width (see
ESP004), or, where the callable is right there, at the first width where it is wrong.

## Why is this bad?
A callable estimate looks exact by construction, so nobody re-checks it. When the module
changes (a bias added, a reduction ratio changed) the callable silently drifts.

## Example
```python
@BlueprintRegistry.register("lora", "transformer", param_estimate=lambda dim: dim * 8)
def create_lora_seed(dim: int, rank: int = 8) -> nn.Module:
    return LoRASeed(dim, rank)  # 2*dim*rank parameters
```

Use instead:
```python
@BlueprintRegistry.register("lora", "transformer",
                            param_estimate=lambda dim, rank=8: 2*dim*rank)
```

## Fix safety
The fix replaces the callable with one built from the verified formula. The registry already
takes callables here, so the fix is safe.
'''

from __future__ import annotations

from collections.abc import Iterator

from esper_lint.catalog import Invalid, Valid
from esper_lint.model import Finding, Site
from esper_lint.rulekit import Context, callable_fix, finding, mismatch_phrase

CODE = "ESP003"
NAME = "wrong-callable-estimate"
SUMMARY = "a callable `param_estimate` disagrees with the real parameter count"

VALID = [
    Valid('''
from torch import nn
from registry import callable_registry
BlueprintRegistry = callable_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=lambda dim: 2*dim)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
]

INVALID = [
    Invalid('''
from torch import nn
from registry import callable_registry
BlueprintRegistry = callable_registry()

def norm_estimate(dim: int) -> int:
    return dim * 2 + 1

@BlueprintRegistry.register("norm", "cnn", param_estimate=norm_estimate)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
''', message="param_estimate callable `norm_estimate` for cnn:norm is 0.8% high at dim=64: "
                  "returns 129, actual 128", fixed='''
from torch import nn
from registry import callable_registry
BlueprintRegistry = callable_registry()

def norm_estimate(dim: int) -> int:
    return dim * 2 + 1

@BlueprintRegistry.register("norm", "cnn", param_estimate=lambda dim: 2*dim)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
    Invalid('''
from torch import nn
from registry import callable_registry
BlueprintRegistry = callable_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=lambda dim: 2*dim + 10)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
''', message="is 8% high at dim=64: returns 138, actual 128; actual = 2*dim", fixed='''
from torch import nn
from registry import callable_registry
BlueprintRegistry = callable_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=lambda dim: 2*dim)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
]


def check(site: Site, ctx: Context) -> Iterator[Finding]:
    m = ctx.measured
    if m is None or site.estimate is None or not m.estimate_values:
        return
    found = mismatch_phrase(dict(m.estimate_values), m, ctx, "returns")
    if found is None:
        return
    phrase, at = found
    verified = f"; actual = {m.formula.expr}" if m.formula else ""
    fixes = callable_fix(site, m.formula, safe=True) if m.formula else ()  # a callable already
    yield finding(site, CODE, f"param_estimate callable `{site.estimate.source}` for "
                  f"{site.blueprint.label} is {phrase}{at.closest_note(site)}{verified}", ctx, at,
                  fixes=fixes)
