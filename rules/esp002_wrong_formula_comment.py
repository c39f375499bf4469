'''ESP002 wrong-formula-comment: a documented `# formula:` disagrees with the real count.

## What it does
Checks the `# formula: <expression>` comment documenting a `param_estimate`. Statically, the
expression must be in the formula language (integers, names, `+ - * // % **`, `max`, `min`,
`abs`). With the dynamic pass, its names must be the factory's width parameter and integer
keyword parameters, and it must equal the real parameter count at every sampled width. The
finding quotes the error at the topology's reference width (configured with `reference-dims`
or inferred, see ESP004); where the formula is right there but wrong elsewhere, it names the
first such width.

## Why is this bad?
A formula comment is what readers and reviewers trust instead of the constant. A wrong one is
worse than none: it carries the authority of a derivation that nobody checked.

## Example
```python
@BlueprintRegistry.register("norm", "cnn", param_estimate=128)  # formula: 2*dim
def create_norm_seed(dim: int) -> nn.Module:
    return GroupNormSeed(dim)  # 2*dim + 1 parameters
```

Use instead (the reference width is 64):
```python
@BlueprintRegistry.register("norm", "cnn", param_estimate=129)  # formula: 2*dim + 1
```

## Fix safety
The fix writes the formula the dynamic pass verified at every sampled width into the comment,
and the exact count at the reference width as the value when it differs: both stay ints, so
it is safe. Where the registry may not take callables, `--unsafe-fixes` instead turns the
estimate into the verified callable, together with every other int estimate of the topology.
'''

from __future__ import annotations

from collections.abc import Iterator

from esper_lint.catalog import Invalid, Valid
from esper_lint.expression import FormulaError, evaluate, free_names
from esper_lint.model import Finding, Site
from esper_lint.rulekit import (
    Context,
    estimate_fixes,
    finding,
    formula_env,
    mismatch_phrase,
)

CODE = "ESP002"
NAME = "wrong-formula-comment"
SUMMARY = "a documented `# formula:` disagrees with the real parameter count"

VALID = [
    Valid('''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=128)  # formula: 2*dim
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
]

INVALID = [
    Invalid('''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=129)  # formula: 2*dim + 1
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
''', message="documented formula `2*dim + 1` for cnn:norm is 0.8% high at dim=64: gives 129, actual 128",
            fixed='''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=128)  # formula: 2*dim
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
    Invalid('''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

# formula: 2*dim plus some
@BlueprintRegistry.register("norm", "cnn", param_estimate=128)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
''', message="cannot be evaluated: not a Python expression", fixed='''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

# formula: 2*dim
@BlueprintRegistry.register("norm", "cnn", param_estimate=128)
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
]


def check(site: Site, ctx: Context) -> Iterator[Finding]:
    documented = site.estimate.formula if site.estimate else None
    if documented is None:
        return
    m = ctx.measured
    label = f"documented formula `{documented}` for {site.blueprint.label}"
    fixes = estimate_fixes(site, m, ctx, prefer_callable=False) if m and m.formula else ()
    try:
        free_names(documented)  # statically, only the form: the width may be `channels`, not `dim`
        claims = {w: evaluate(documented, formula_env(m, w)) for w, _ in m.counts} if m else {}
    except FormulaError as error:
        yield finding(site, CODE, f"{label} cannot be evaluated: {error}", ctx, fixes=fixes)
        return
    if m is None:
        return
    found = mismatch_phrase(claims, m, ctx, "gives")
    if found is not None:
        phrase, at = found
        verified = f"; actual = {m.formula.expr}" if m.formula else ""
        yield finding(site, CODE, f"{label} is {phrase}{at.closest_note(site)}{verified}", ctx, at,
                      fixes=fixes)
