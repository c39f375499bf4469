'''ESP005 estimate-contradicts-formula: a constant differs from its own `# formula:` at the reference width.

## What it does
Checks a constant `param_estimate` that documents its formula (`param_estimate=7  # formula:
2*dim`) against that formula at the topology's reference width: the width its estimates mean,
configured with `reference-dims` or inferred from the registry (see ESP004). The two must agree
there: the formula is the derivation, the constant is its value where the registry reads it.

It runs without the dynamic pass when the reference width is configured and the formula names
only the width; otherwise the dynamic pass supplies the factory's parameters and the inferred
width, and the message adds the real count.

## Why is this bad?
Reviewers read the formula and trust the number next to it. In esper, `list_for_topology`
sorts blueprints by `(param_estimate, name)` and a calibration script treats an estimate of `0`
as a no-op: the registry uses the constant, never the comment. A constant that contradicts its
documented formula is a wrong number with a right-looking justification.

## Example
```python
# reference-dims = { cnn = 64 }
@BlueprintRegistry.register("norm", "cnn", param_estimate=7)  # formula: 2*dim
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
```

Use instead:
```python
@BlueprintRegistry.register("norm", "cnn", param_estimate=128)  # formula: 2*dim
```

## Fix safety
With the dynamic pass, the fix writes the real parameter count at the reference width as the
value and the formula verified at every sampled width as the comment: safe, the value stays an
int. Where the registry may not take callables, `--unsafe-fixes` turns the constant into the
verified callable instead, together with every other int estimate of the topology or not at
all. Without the dynamic pass there is no fix: nothing verified which of the two is right.
'''

from __future__ import annotations

from collections.abc import Iterator

from esper_lint.catalog import Invalid, Valid
from esper_lint.expression import FormulaError, evaluate, free_names
from esper_lint.model import Finding, Site
from esper_lint.rulekit import At, Context, estimate_fixes, finding, formula_env

CODE = "ESP005"
NAME = "estimate-contradicts-formula"
SUMMARY = "a constant `param_estimate` differs from its documented formula at the reference width"

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

@BlueprintRegistry.register("norm", "cnn", param_estimate=7)  # formula: 2*dim
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
''', message="param_estimate=7 for cnn:norm contradicts its formula `2*dim` at dim=64: the formula "
             "gives 128, the real count is 128", fixed='''
from torch import nn
from registry import int_registry
BlueprintRegistry = int_registry()

@BlueprintRegistry.register("norm", "cnn", param_estimate=128)  # formula: 2*dim
def create_norm_seed(dim: int) -> nn.Module:
    return nn.GroupNorm(1, dim)
'''),
]


def check(site: Site, ctx: Context) -> Iterator[Finding]:
    estimate, reference, m = site.estimate, ctx.reference, ctx.measured
    if estimate is None or estimate.value is None or estimate.formula is None or reference is None:
        return
    width = reference.width
    try:
        names = free_names(estimate.formula)
        if m is not None:
            env = formula_env(m, width)
        elif len(names) == 1:  # statically: the one name is the width, whatever it is called
            env = dict.fromkeys(names, width)
        else:
            return
        claimed = evaluate(estimate.formula, env)
    except FormulaError:
        return  # ESP002 says why the formula cannot be evaluated
    if claimed == estimate.value:
        return
    variable = m.variable if m is not None else next(iter(env))
    actual = m.count_at(width) if m is not None else None
    real = f", the real count is {actual:,}" if actual is not None else ""
    yield finding(site, CODE, f"param_estimate={estimate.source} for {site.blueprint.label} contradicts "
                  f"its formula `{estimate.formula}` at {variable}={width}: the formula gives "
                  f"{claimed:,}{real}", ctx, At(width, reference.source),
                  fixes=estimate_fixes(site, m, ctx, prefer_callable=False) if m else ())
