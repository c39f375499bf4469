'''ESP002 wrong-formula-comment: a documented `# formula:` disagrees with the real count.

## What it does
Checks the `# formula: <expression>` comment documenting a `param_estimate`. Statically, the
expression must be in the formula language (integers, names, `+ - * // % **`, `max`, `min`,
`abs`). With the dynamic pass, its names must be the factory's width parameter and integer
keyword parameters, and it must equal the real parameter count at every sampled width; the
finding names the first width where it does not.

## Why is this bad?
A formula comment is what readers and reviewers trust instead of the constant. A wrong one is
worse than none: it carries the authority of a derivation that nobody checked.

## Example
```python
@BlueprintRegistry.register("norm", "cnn", param_estimate=128)  # formula: 2*dim
def create_norm_seed(dim: int) -> nn.Module:
    return GroupNormSeed(dim)  # 2*dim + 1 parameters
```

Use instead:
```python
@BlueprintRegistry.register("norm", "cnn", param_estimate=129)  # formula: 2*dim + 1
```

## Fix safety
The fix replaces the comment's expression with the formula the dynamic pass verified at every
sampled width. It only touches a comment, so it is always safe.
'''

from __future__ import annotations

from collections.abc import Iterator

from esper_lint.expression import FormulaError, evaluate, free_names
from esper_lint.model import Finding, Site
from esper_lint.rulekit import Context, Invalid, Valid, comment_fix, error_phrase, finding, formula_env

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
''', message="documented formula `2*dim + 1` for cnn:norm is wrong", fixed='''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=129)  # formula: 2*dim
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
    fixes = comment_fix(site, m.formula) if m and m.formula else ()
    try:
        free_names(documented)  # statically, only the form: the width may be `channels`, not `dim`
        if m is not None:
            evaluate(documented, formula_env(m, m.counts[0][0]))
    except FormulaError as error:
        yield finding(site, CODE, f"{label} cannot be evaluated: {error}", ctx, fixes=fixes)
        return
    if m is None:
        return
    for width, actual in m.counts:
        claimed = evaluate(documented, formula_env(m, width))
        if claimed != actual:
            verified = f"; actual = {m.formula.expr}" if m.formula else ""
            yield finding(site, CODE, f"{label} is wrong at {m.variable}={width}: gives "
                          f"{claimed:,}, actual {actual:,} ({error_phrase(claimed, actual)})"
                          f"{verified}", ctx, fixes=fixes)
            return
