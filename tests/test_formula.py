"""esper_lint.formula: counts come from layer shapes; formulas are checked by evaluating them."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from esper_lint.expression import FormulaError, evaluate, free_names, render
from esper_lint.formula import derive, domain_rule, why_not

# --------------------------------------------------------------------------- layer shapes


def linear(i: int, o: int, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


def conv2d(i: int, o: int, k: int, groups: int = 1, bias: bool = True) -> int:
    return (i // groups) * o * k * k + (o if bias else 0)


def norm(c: int) -> int:
    return 2 * c  # GroupNorm / LayerNorm affine weight and bias


def is_prime(n: int) -> bool:
    return n > 1 and all(n % p for p in range(2, int(n**0.5) + 1))


def groupnorm_scale(dim: int, groups: int = 8) -> int:
    return norm(dim) + 1  # ``groups`` does not change the count


def depthwise_separable(dim: int) -> int:
    return conv2d(dim, dim, 3, groups=dim) + conv2d(dim, dim, 1)


def squeeze_excite(dim: int, reduction: int = 16) -> int:
    hidden = max(1, dim // reduction)
    return linear(dim, hidden) + linear(hidden, dim)


def squeeze_excite_4(dim: int, reduction: int = 4) -> int:
    return squeeze_excite(dim, reduction)


def bottleneck(dim: int) -> int:
    h = max(8, dim // 4)
    return conv2d(dim, h, 1) + conv2d(h, h, 3) + conv2d(h, dim, 1)


def lora(dim: int, rank: int = 8) -> int:
    return linear(dim, rank, bias=False) + linear(rank, dim, bias=False)


def lora_scaled(dim: int, rank: int = 8, alpha: int = 16) -> int:
    return lora(dim, rank) + 1  # a learnable scale; ``alpha`` only sets its initial value


def mlp(dim: int, expansion: int = 4) -> int:
    return linear(dim, dim * expansion) + linear(dim * expansion, dim)


def attention(dim: int) -> int:
    return 4 * linear(dim, dim)  # q, k, v, out; needs dim % heads == 0


def identity(dim: int) -> int:
    return 0


def fixed(dim: int) -> int:
    return 1000


def pyramid(dim: int) -> int:
    return linear(dim, dim // 2) + linear(dim // 2, dim // 8)


def half_bottleneck(dim: int) -> int:
    h = dim // 2  # (dim//2)**2 is linearly dependent on dim**2, dim*(dim//2), ...
    return conv2d(dim, h, 1) + conv2d(h, h, 3) + conv2d(h, dim, 1)


def prime_trick(dim: int) -> int:
    return dim**2 if is_prime(dim) else dim


@dataclass(frozen=True)
class Case:
    count: Callable[..., int]
    params: tuple[tuple[str, int], ...] = ()
    relevant: frozenset[str] = frozenset()  # parameters the formula must keep
    off_grid: dict[str, tuple[int, ...]] = field(default_factory=dict)
    step: int = 1  # the factory only builds at multiples of this

    @property
    def name(self) -> str:
        return self.count.__name__


CASES = [
    Case(groupnorm_scale, (("groups", 8),)),
    Case(depthwise_separable),
    Case(squeeze_excite),
    Case(bottleneck),
    Case(lora, (("rank", 8),), frozenset({"rank"}), {"rank": (7, 12, 64)}),
    Case(lora_scaled, (("rank", 8), ("alpha", 16)), frozenset({"rank"}), {"rank": (7, 12)}),
    Case(mlp, (("expansion", 4),), frozenset({"expansion"}), {"expansion": (6, 7, 12)}),
    Case(squeeze_excite_4, (("reduction", 4),), frozenset({"reduction"}),
         {"reduction": (6, 7, 12, 32)}),
    Case(attention, step=4),
    Case(identity),
    Case(fixed),
    Case(pyramid),
    Case(half_bottleneck),
]

WIDTHS = [*range(1, 257), *sorted({int(257 * 1.09**i) for i in range(64)})]
GRID_VALUES = (1, 2, 3, 4, 5, 8, 16)
GRID_WIDTHS = [*range(1, 65), 96, 128, 200, 256, 1000, 4096]


def samples_for(case: Case) -> list[tuple[dict[str, int], int]]:
    """Defaults at every width, then each parameter over a grid, the others at defaults."""
    defaults = dict(case.params)
    out = [({"dim": w, **defaults}, case.count(w)) for w in WIDTHS if w % case.step == 0]
    for name, default in case.params:
        for value in GRID_VALUES:
            if value != default:
                env = {**defaults, name: value}
                out += [({"dim": w, **env}, case.count(w, **{name: value})) for w in GRID_WIDTHS]
    return out


def unsampled_widths(case: Case) -> list[int]:
    rng = random.Random(case.name)
    fresh = [w for w in range(257, 2001) if w not in set(WIDTHS) and w % case.step == 0]
    return [*rng.sample(fresh, 40), 100_000, 123_456 - 123_456 % case.step]


def param_settings(case: Case) -> list[dict[str, int]]:
    """Defaults, then each parameter at values the grid never sampled."""
    defaults = dict(case.params)
    settings = [defaults]
    for name, values in case.off_grid.items():
        settings += [{**defaults, name: v} for v in values]
    return settings


# --------------------------------------------------------------------------- derive


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_derived_formula_holds_where_nothing_was_sampled(case: Case) -> None:
    formula = derive(samples_for(case), "dim", case.params)
    assert formula is not None, why_not(samples_for(case), "dim", case.params)
    for setting in param_settings(case):
        kwargs = {k: v for k, v in setting.items() if k in case.relevant}
        for width in unsampled_widths(case):
            env = {"dim": width, **setting}
            assert evaluate(formula.expr, env) == case.count(width, **kwargs), (formula, env)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_formula_keeps_exactly_the_parameters_that_matter(case: Case) -> None:
    formula = derive(samples_for(case), "dim", case.params)
    assert formula is not None
    defaults = dict(case.params)
    assert formula.params == tuple((name, defaults[name]) for name in defaults
                                   if name in case.relevant)
    assert free_names(formula.expr) <= {"dim", *case.relevant}


@pytest.mark.parametrize("case", [c for c in CASES if c.relevant], ids=lambda c: c.name)
def test_lambda_defaults_match_the_factory(case: Case) -> None:
    formula = derive(samples_for(case), "dim", case.params)
    assert formula is not None
    estimate = eval(formula.as_lambda())  # our own verified output, not user input
    assert estimate(4096) == case.count(4096)
    for name, values in case.off_grid.items():
        assert estimate(4096, **{name: values[0]}) == case.count(4096, **{name: values[0]})


def test_simple_formulas_read_as_a_person_would_write_them() -> None:
    def at_defaults(count: Callable[[int], int]) -> str | None:
        formula = derive([({"dim": w}, count(w)) for w in WIDTHS])
        return formula.expr if formula else None

    assert at_defaults(lambda d: groupnorm_scale(d)) == "2*dim + 1"
    assert at_defaults(depthwise_separable) == "dim**2 + 11*dim"
    assert at_defaults(identity) == "0"
    assert at_defaults(fixed) == "1000"


def test_missing_parameters_mean_their_defaults() -> None:
    samples = [({"dim": w}, lora(w)) for w in WIDTHS]
    samples += [({"dim": w, "rank": r}, lora(w, r)) for r in GRID_VALUES for w in GRID_WIDTHS]
    formula = derive(samples, "dim", (("rank", 8),))
    assert formula is not None and formula.params == (("rank", 8),)
    assert evaluate(formula.expr, {"dim": 777, "rank": 9}) == lora(777, 9)


def test_unused_parameter_dropped_even_without_default_builds_at_the_same_widths() -> None:
    samples = [({"dim": w, "groups": 8}, groupnorm_scale(w)) for w in range(1, 257)]
    samples += [({"dim": w, "groups": g}, groupnorm_scale(w, g)) for g in (1, 2, 4, 16)
                for w in range(300, 340)]
    formula = derive(samples, "dim", (("groups", 8),))
    assert formula is not None and formula.params == ()


def test_other_variable_names() -> None:
    samples = [({"width": w}, squeeze_excite(w)) for w in WIDTHS]
    formula = derive(samples, "width")
    assert formula is not None and formula.variable == "width"
    assert evaluate(formula.expr, {"width": 5000}) == squeeze_excite(5000)


def test_no_formula_for_a_count_with_no_integer_structure() -> None:
    samples = [({"dim": w}, prime_trick(w)) for w in WIDTHS]
    assert derive(samples) is None
    reason = why_not(samples)
    assert f"{len(WIDTHS)} sampled widths" in reason and "integer coefficients" in reason


def test_disagreeing_builds_give_no_formula() -> None:
    samples = [({"dim": w}, 2 * w) for w in WIDTHS] + [({"dim": 10}, 21)]
    assert derive(samples) is None
    assert "dim=10" in why_not(samples)


def test_repeated_builds_at_one_width_are_fine() -> None:
    samples = [({"dim": w}, bottleneck(w)) for w in WIDTHS for _ in range(2)]
    formula = derive(samples)
    assert formula is not None and evaluate(formula.expr, {"dim": 9999}) == bottleneck(9999)


def test_no_samples_gives_no_formula() -> None:
    assert derive([]) is None
    assert "no width" in why_not([])


def test_non_integer_parameter_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="not an int"):
        derive([({"dim": 4, "alpha": 0.5}, 8)], "dim", (("alpha", 1),))  # type: ignore[dict-item]



# --------------------------------------------------------------------------- evaluate


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("2*dim + 1", 129),
        ("max(1, dim//16)*dim*2 + dim", 576),
        ("min(dim, 3, 7) - abs(-dim)", -61),
        ("dim**2 % 7", 64**2 % 7),
        ("-dim + +2", -62),
        ("dim / 2", 32),
        ("2*dim*rank", 1024),
        ("(9**8)**2", 9**16),
        ("2**20", 2**20),  # a constant written as a power is still a constant
        ("(9**64)**2", 9**128),
    ],
)
def test_evaluate(expr: str, value: int) -> None:
    assert evaluate(expr, {"dim": 64, "rank": 8}) == value


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("__import__('os')", "calling __import__"),
        ("dim.bit_length()", "attribute"),
        ("dim.real", "attribute"),
        ("'dim'", "str constant"),
        ("1.5*dim", "float constant"),
        ("dim / 3", "not an integer"),
        ("dim // 0", "division by zero"),
        ("width + 1", "unknown name"),
        ("lambda dim: dim", "lambda"),
        ("2**10**10", "exceeds"),
        ("9**9**9", "exceeds"),
        ("0x" + "f" * 1100, "exceeds"),
        ("dim**-1", "exponent"),
        ("((((9**8)**8)**8)**8)**8", "exceeds"),
        ("max(dim, key=abs)", "keyword"),
        ("max(*[dim])", "starred"),
        ("max(dim)", "max()"),
        ("dim if dim else 1", "ifexp"),
        ("[dim]", "list"),
        ("dim < 3", "compare"),
        ("True", "constant True"),
        ("dim +", "not a Python expression"),
        ("dim; import os", "not a Python expression"),
        ("x" * 5000, "longer"),
        ("(" * 500 + "1" + ")" * 500, "nested|not a Python expression"),
        ("-" * 1900 + "1", "nested|not a Python expression"),
        ("1+" * 999 + "1", "nested"),
    ],
)
def test_evaluate_rejects_unsafe_or_unsupported_input(expr: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        evaluate(expr, {"dim": 64})


def test_evaluate_rejects_non_integer_values() -> None:
    with pytest.raises(FormulaError, match="not an integer"):
        evaluate("dim + 1", {"dim": 1.5})  # type: ignore[dict-item]


def test_free_names() -> None:
    assert free_names("2*dim*max(1, dim//reduction) + rank") == {"dim", "reduction", "rank"}


# --------------------------------------------------------------------------- render


@pytest.mark.parametrize(
    ("expr", "canonical"),
    [
        ("1 + 2 * dim", "2*dim + 1"),
        ("dim*dim + 11*dim", "dim**2 + 11*dim"),
        ("dim + dim*2*(dim//4)", "2*dim*(dim//4) + dim"),
        ("max(dim//16, 1)*dim*2 + dim", "2*dim*max(1, dim//16) + dim"),
        ("rank*dim*2", "2*dim*rank"),
        ("-3*dim + dim**2", "dim**2 - 3*dim"),
        ("dim - dim//4*2", "dim - 2*(dim//4)"),
        ("-(dim//4)", "-(dim//4)"),
        ("(dim//4)*(dim//4)", "(dim//4)**2"),
        ("(dim + 1)**2", "dim**2 + 2*dim + 1"),
        ("0*dim", "0"),
        ("max(3, 5) + abs(-2)", "7"),
        ("max(1, dim, 4)", "max(4, dim)"),
        ("8*((((8*dim)//3) + 7)//8)", "8*((8*dim//3 + 7)//8)"),
    ],
)
def test_render_canonical_form(expr: str, canonical: str) -> None:
    assert render(expr) == canonical


def random_expression(rng: random.Random, depth: int = 3) -> str:
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(["dim", "rank", str(rng.randint(-9, 9))])
    a, b = random_expression(rng, depth - 1), random_expression(rng, depth - 1)
    shapes = [
        f"({a}) + ({b})", f"({a}) - ({b})", f"({a})*({b})", f"-({a})", f"({a})**2",
        f"({a})//{rng.randint(1, 9)}", f"({a}) % {rng.randint(2, 9)}",
        f"max({a}, {b})", f"min({a}, {b}, 3)", f"abs({a})",
    ]
    return rng.choice(shapes)


def test_render_never_changes_the_value() -> None:
    rng = random.Random(7)
    for _ in range(400):
        expr = random_expression(rng)
        canonical = render(expr)
        assert render(canonical) == canonical
        for dim in (-7, 0, 1, 5, 64, 1001):
            env = {"dim": dim, "rank": 3}
            assert evaluate(canonical, env) == evaluate(expr, env), (expr, canonical)


def test_render_rejects_what_evaluate_rejects() -> None:
    with pytest.raises(FormulaError):
        render("dim.real")
    with pytest.raises(FormulaError):
        render("dim**9")


# --------------------------------------------------------------------------- domain


def test_domain_rule_modulus() -> None:
    inside = [w for w in WIDTHS if w % 8 == 0]
    outside = [w for w in WIDTHS if w % 8]
    assert domain_rule(inside, outside) == "dim % 8 == 0"
    assert domain_rule(inside, [w for w in outside if w % 4], "width") == "width % 4 == 0"


def test_domain_rule_lower_bound() -> None:
    assert domain_rule([w for w in WIDTHS if w >= 4], [1, 2, 3]) == "dim >= 4"


def test_domain_rule_none() -> None:
    assert domain_rule([w for w in WIDTHS if is_prime(w)], [w for w in WIDTHS if not is_prime(w)]) is None
    assert domain_rule(WIDTHS, []) is None
    assert domain_rule([], WIDTHS) is None


def cubic(dim: int) -> int:
    return dim**3 + dim**2


@pytest.mark.parametrize("widths", [
    [1, 2, 3],  # a quadratic fits any three points
    [1, 2, 3, 4, 5],  # spare widths, but all next to the ones that determine the fit
    list(range(1, 11)),  # ten widths, none far past the determining ones
], ids=["three", "five", "ten-close"])
def test_no_formula_without_evidence_to_spare(widths: list[int]) -> None:
    samples = [({"dim": w}, cubic(w)) for w in widths]
    assert derive(samples) is None
    assert why_not(samples) == f"only {len(widths)} widths measured"


def test_a_formula_with_evidence_to_spare_holds_beyond_it() -> None:
    widths = [*range(1, 9), 16, 32, 64, 128]
    found = derive([({"dim": w}, cubic(w)) for w in widths])
    assert found is not None
    assert all(evaluate(found.expr, {"dim": w}) == cubic(w) for w in (3, 100, 4097, 65536))


def test_no_domain_rule_from_a_handful_of_widths() -> None:
    assert domain_rule([4, 8, 12], [w for w in range(1, 13) if w % 4]) is None
