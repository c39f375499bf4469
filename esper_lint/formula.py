"""Derive the exact formula of a parameter count from sampled widths, and its domain.

Standard library only.  A formula is accepted only when it reproduces every sample
(``esper_lint.expression.evaluate``) and the samples hold evidence to spare: widths
beyond the ones that determine it, reaching well past them; otherwise there is none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import combinations, islice, product

from esper_lint.expression import Env, FormulaError, compiled, free_names, render
from esper_lint.model import Formula

Sample = tuple[Mapping[str, int], int]
MAX_DIVISOR = 64  # largest constant floor divisor ``derive`` looks for
# widths rounded up to a multiple, ``m*((a*dim//b + m - 1)//m)``: LLaMA's ``int(8*dim/3)`` to 256
ROUND_UP_MULTIPLES = (2, 4, 8, 16, 32, 64, 128, 256)
ROUND_UP_RATIOS = tuple(sorted({Fraction(a, b) for b in range(1, 4) for a in range(1, 8 * b + 1)}))
PREFILTER = 24  # samples a candidate set of floors must fit before it is fitted to all of them
MIN_SPARE = 8  # widths verified beyond the ones that determine a formula or a domain rule
SPREAD = 8  # the widest verified width, in multiples of the widest determining one

# --------------------------------------------------------------------------- derive


@dataclass(frozen=True)
class _Floor:
    """``max(low, scale*variable//divisor)``, rounded up to a multiple of ``multiple``.

    ``low`` is None for a plain floor; ``divisor`` and ``low`` are constants or a
    parameter's name.
    """

    divisor: int | str
    low: int | str | None = None
    scale: int = 1
    multiple: int = 1

    def expr(self, variable: str) -> str:
        inner = variable if self.scale == 1 else f"{self.scale}*{variable}"
        inner = inner if self.divisor == 1 else f"{inner}//{self.divisor}"
        if self.multiple != 1:
            m = self.multiple
            inner = f"{m}*(({inner} + {m - 1})//{m})"
        return inner if self.low is None else f"max({self.low}, {inner})"

    @property
    def weight(self) -> int:
        """How many floor divisions a reader sees in it."""
        return (self.divisor != 1) + (self.multiple != 1)


@dataclass(frozen=True)
class _Term:
    """``variable**power`` times floors times parameter powers."""

    power: int = 0
    floors: tuple[_Floor, ...] = ()
    multiplier: tuple[tuple[str, int], ...] = ()

    @property
    def degree(self) -> int:
        return self.power + len(self.floors) + sum(e for _, e in self.multiplier)

    @property
    def weight(self) -> int:
        return sum(f.weight for f in self.floors)

    def expr(self, variable: str) -> str:
        parts = [f"{variable}**{self.power}"] if self.power else []
        parts += [f"({f.expr(variable)})" for f in self.floors]
        parts += [f"{name}**{e}" for name, e in self.multiplier]
        return "*".join(parts) or "1"

    def times(self, multiplier: tuple[tuple[str, int], ...]) -> _Term:
        return replace(self, multiplier=multiplier)


@dataclass(frozen=True)
class _Fit:
    terms: tuple[tuple[int, _Term], ...]  # nonzero integer coefficients

    def expr(self, variable: str) -> str:
        raw = " + ".join(f"{c}*({t.expr(variable)})" for c, t in self.terms) or "0"
        return render(raw, variable)

    @property
    def floors(self) -> tuple[_Floor, ...]:
        return tuple(dict.fromkeys(f for _, t in self.terms for f in t.floors))

    @property
    def cost(self) -> tuple[int, int, int]:
        """Simplest first: fewest floor divisions, then fewest terms, then smallest coefficients
        (``3*dim*hidden`` over ``6*dim*(hidden/2)``: a width rounded as the code rounds it)."""
        return sum(t.weight for _, t in self.terms), len(self.terms), sum(abs(c) for c, _ in self.terms)


@dataclass(frozen=True)
class _Data:
    variable: str
    params: tuple[tuple[str, int], ...]
    envs: tuple[dict[str, int], ...]
    counts: tuple[int, ...]
    conflict: int | None  # a width where two builds with the same arguments disagree

    def is_default(self, env: Env, skip: str = "") -> bool:
        return all(env[name] == default for name, default in self.params if name != skip)

    def base(self) -> tuple[list[dict[str, int]], list[int]]:
        pairs = [(e, c) for e, c in zip(self.envs, self.counts, strict=True) if self.is_default(e)]
        return [e for e, _ in pairs], [c for _, c in pairs]


def derive(
    samples: Sequence[Sample],
    variable: str = "dim",
    params: Sequence[tuple[str, int]] = (),
) -> Formula | None:
    """The simplest integer formula reproducing every sampled count, or None.

    ``samples`` are ``({variable: width, param: value, ...}, count)``; a missing
    parameter means its default, and every value must be an int (ValueError
    otherwise).  Parameters that never change the count are left out.
    """
    data = _prepare(samples, variable, params)
    fit = _derive_fit(data)
    if fit is None or _too_few(fit, data) is not None:
        return None
    expr = fit.expr(variable)
    if not _verified(expr, data):
        return None
    used = free_names(expr)
    return Formula(expr, variable, tuple(p for p in data.params if p[0] in used))


def why_not(
    samples: Sequence[Sample],
    variable: str = "dim",
    params: Sequence[tuple[str, int]] = (),
) -> str:
    """A plain reason why :func:`derive` finds no formula for ``samples``."""
    data = _prepare(samples, variable, params)
    envs, counts = data.base()
    if not envs:
        return "no width was sampled with every parameter at its default"
    if data.conflict is not None:
        return f"the count differs between builds at {variable}={data.conflict}"
    v = variable
    families = f"{v}, {v}**2, {v}**3, {v}//r, max(k, {v}//r), m*((a*{v}//b + m - 1)//m)"
    widths = len({env[v] for env in envs})
    if _fit_base(envs, counts, v) is None:
        return f"no formula with integer coefficients over {families} fits the {widths} sampled widths"
    varied = ", ".join(_relevant(data))
    fit = _derive_fit(data)
    if fit is None:
        return (f"the counts at default arguments fit a formula, but none with integer "
                f"coefficients also fits the builds with {varied} changed")
    return _too_few(fit, data) or "the derived formula did not reproduce every sampled count"


def _too_few(fit: _Fit, data: _Data) -> str | None:
    """Why the sampled widths are too few to trust ``fit``; None when they hold evidence to spare.

    Any ``k`` counts fit some formula of ``k`` unknowns (its coefficients and floor
    divisors), so those widths prove nothing: ``MIN_SPARE`` more must agree, and they
    must reach ``SPREAD`` times past the ``k``-th, not just the next few integers.
    """
    widths = sorted({env[data.variable] for env in data.base()[0]})
    determining = max(1, len(fit.terms) + len(fit.floors))
    if len(widths) - determining >= MIN_SPARE and widths[-1] >= SPREAD * widths[determining - 1]:
        return None
    return f"only {len(widths)} widths measured"


def _prepare(samples: Sequence[Sample], variable: str, params: Sequence[tuple[str, int]]) -> _Data:
    envs: list[dict[str, int]] = []
    counts: list[int] = []
    seen: dict[tuple[tuple[str, int], ...], int] = {}
    conflict = None
    for env, count in samples:
        if variable not in env:
            raise ValueError(f"sample {dict(env)!r} has no {variable!r}")
        full = {variable: env[variable], **{n: env.get(n, d) for n, d in params}}
        if not all(type(value) is int for value in full.values()):
            raise ValueError(f"sample {full!r} has a value that is not an int")
        key = tuple(sorted(full.items()))
        if seen.setdefault(key, count) != count and conflict is None:
            conflict = full[variable]
        envs.append(full)
        counts.append(count)
    return _Data(variable, tuple(params), tuple(envs), tuple(counts), conflict)


def _derive_fit(data: _Data) -> _Fit | None:
    envs, counts = data.base()
    if not envs or data.conflict is not None:
        return None
    fit = _fit_base(envs, counts, data.variable)
    relevant = _relevant(data)
    if fit is None or not relevant:
        return fit
    return _fit_params(data, fit, relevant)


def _verified(expr: str, data: _Data) -> bool:
    check = compiled(expr)
    try:
        return all(check(e) == c for e, c in zip(data.envs, data.counts, strict=True))
    except FormulaError:
        return False


def _relevant(data: _Data) -> list[str]:
    """Parameters whose value changed the count somewhere in the samples.

    Compared at widths also built with defaults; when there are none, the joint
    fit decides (an unused parameter gets no terms).
    """
    at_default = {e[data.variable]: c for e, c in zip(*data.base(), strict=True)}
    relevant = []
    for name, default in data.params:
        varied = [
            (at_default.get(e[data.variable]), c)
            for e, c in zip(data.envs, data.counts, strict=True)
            if e[name] != default and data.is_default(e, skip=name)
        ]
        compared = [(a, c) for a, c in varied if a is not None]
        if any(a != c for a, c in compared) or (varied and not compared):
            relevant.append(name)
    return relevant


# The search, at default arguments: the count is a polynomial of degree <= 2 in
# the variable and up to two floors ``variable//r``, each perhaps clamped below
# as ``max(k, variable//r)``.  Such a count is, above the clamps, a polynomial on
# each residue class modulo lcm(r); finding that period and the width where the
# clamps stop first keeps the number of candidate floors small.


def _fit_base(envs: Sequence[Env], counts: Sequence[int], variable: str) -> _Fit | None:
    columns = _Columns(envs, variable)
    few = list(islice(_spread(len(envs)), PREFILTER))
    sample = _Columns([envs[i] for i in few], variable), [counts[i] for i in few]
    widths = [env[variable] for env in envs]
    for group in _candidate_groups(widths, counts):
        candidates = [terms for terms in map(_dim_terms, group) if _may_fit(terms, *sample)]
        fits = [_fit_terms(_orders(terms), columns, counts, simplest=True) for terms in candidates]
        found = [fit for fit in fits if fit is not None]
        if found:
            return min(found, key=lambda fit: fit.cost)
    return None


def _may_fit(terms: list[_Term], columns: _Columns, counts: Sequence[int]) -> bool:
    """False when a few samples already rule the terms out: they are independent there and
    no integer combination fits (a fit to every sample would fit these too)."""
    coefficients, independent = _solve([columns.of(t) for t in terms], counts)
    return coefficients is not None or not independent


def _candidate_groups(widths: Sequence[int], counts: Sequence[int]) -> Iterator[list[tuple[_Floor, ...]]]:
    """Sets of floors to try, in order; the first group with a fit wins."""
    yield [()]
    period = _period(widths, counts)
    singles: list[_Floor] = []
    if period is not None:
        p, threshold = period
        divisors = [r for r in range(2, p + 1) if p % r == 0]
        clamped = threshold > min(widths)
        singles = [_Floor(r) for r in divisors]
        singles += [_Floor(r, k) for r in [1, *divisors] if clamped for k in _lows(threshold, r)]
        yield [(f,) for f in singles]
        pairable = [_Floor(r) for r in divisors]
        pairable += [_Floor(r, -(-threshold // r)) for r in divisors if clamped]
        yield [(a, b) for i, a in enumerate(pairable) for b in pairable[i + 1:]
               if a.divisor != b.divisor]
    rest = [_Floor(r, low) for low in (None, 1) for r in range(2, MAX_DIVISOR + 1)]
    yield [(f,) for f in rest if f not in singles]
    yield [(_Floor(r.denominator, scale=r.numerator, multiple=m),) for r in ROUND_UP_RATIOS
           for m in ROUND_UP_MULTIPLES if r.denominator > 1 or r.numerator % m]


def _lows(threshold: int, divisor: int) -> list[int]:
    """Clamp values ``k`` for ``max(k, v//divisor)`` whose clamp ends near ``threshold``."""
    k = -(-threshold // divisor)
    return [low for low in dict.fromkeys([k, k + 1, threshold // divisor]) if low >= 1]


def _period(widths: Sequence[int], counts: Sequence[int]) -> tuple[int, int] | None:
    """(p, t): the smallest p where each residue class mod p is quadratic above t."""
    points = sorted(set(zip(widths, counts, strict=True)), reverse=True)  # repeats agree
    median = points[len(points) // 2][0]
    for p in range(1, min(MAX_DIVISOR, len(points) // 4) + 1):
        threshold, confirmed = _quasi_polynomial(points, p)
        if confirmed and threshold <= median:
            return p, threshold
    return None


def _quasi_polynomial(points: Sequence[tuple[int, int]], p: int) -> tuple[int, int]:
    """(threshold, confirmations) for quadratics fitted per class from the widest points."""
    classes: dict[int, list[tuple[int, int]]] = {}
    for width, count in points:
        classes.setdefault(width % p, []).append((width, count))
    threshold, confirmed = points[-1][0], 0
    for members in classes.values():
        if len(members) < 4:
            continue
        on_curve = _quadratic(members[:3])
        for width, count in members[3:]:
            if not on_curve(width, count):
                threshold = max(threshold, width + 1)
                break
            confirmed += 1
    return threshold, confirmed


def _quadratic(points: Sequence[tuple[int, int]]) -> Callable[[int, int], bool]:
    """Whether a point lies on the quadratic through three points (Newton form)."""
    (x0, y0), (x1, y1), (x2, y2) = points
    a1 = Fraction(y1 - y0, x1 - x0)
    a2 = (Fraction(y2 - y1, x2 - x1) - a1) / (x2 - x0)
    scale = math.lcm(a1.denominator, a2.denominator)
    n1 = a1.numerator * (scale // a1.denominator)
    n2 = a2.numerator * (scale // a2.denominator)
    return lambda x, y: scale * (y - y0) == (x - x0) * (n1 + n2 * (x - x1))


def _dim_terms(floors: tuple[_Floor, ...]) -> list[_Term]:
    """All products of degree <= 2 of the variable and ``floors`` (and ``v**3`` alone)."""
    if not floors:
        return [_Term(power) for power in range(4)]
    factors: list[_Floor | None] = [None, *floors]
    terms = [_Term()] + [_term_of((f,)) for f in factors]
    terms += [_term_of((a, b)) for i, a in enumerate(factors) for b in factors[i:]]
    return terms + ([_Term(3)] if len(floors) == 1 else [])


def _term_of(factors: tuple[_Floor | None, ...]) -> _Term:
    floors = tuple(f for f in factors if f is not None)
    return _Term(len(factors) - len(floors), floors)


def _orders(terms: list[_Term]) -> list[list[_Term]]:
    """Column orders to try: simplest first, then floors before plain powers.

    Only matters when the terms are linearly dependent on the samples (e.g.
    ``v**2``, ``v*(v//2)`` and ``(v//2)**2``); the solver prefers earlier terms.
    """
    return [terms, sorted(terms, key=lambda t: (t.degree, -len(t.floors)))]


# Joint fit over parameters: the default formula's terms, with a floor's divisor
# or clamp replaced by a parameter whose default it equals, times parameter
# monomials of degree <= 2.


def _fit_params(data: _Data, base: _Fit, relevant: list[str]) -> _Fit | None:
    columns = _Columns(data.envs, data.variable)
    defaults = dict(data.params)
    template = list(dict.fromkeys([t for _, t in base.terms] + [_Term()]))
    broad = _dim_terms(base.floors) if len(base.floors) <= 2 else template
    for terms in (template, broad):
        fits = [
            _fit_terms(_joint_orders(variant, relevant), columns, data.counts)
            for variant in _variants(terms, relevant, defaults)
        ]
        found = [fit for fit in fits if fit is not None]
        if found:
            return min(found, key=lambda fit: len(fit.terms))
    return None


def _variants(terms: list[_Term], relevant: list[str], defaults: Mapping[str, int]) -> Iterator[list[_Term]]:
    floors = list(dict.fromkeys(f for t in terms for f in t.floors))
    options = [_floor_options(f, relevant, defaults) for f in floors]
    for choice in product(*options):
        swap = dict(zip(floors, choice, strict=True))
        yield [replace(t, floors=tuple(swap[f] for f in t.floors)) for t in terms]


def _floor_options(floor: _Floor, relevant: list[str], defaults: Mapping[str, int]) -> list[_Floor]:
    divisors = [floor.divisor] + [p for p in relevant if defaults[p] == floor.divisor]
    lows = [floor.low] + [p for p in relevant if floor.low is not None and defaults[p] == floor.low]
    return [replace(floor, divisor=d, low=k) for d in divisors for k in lows]


def _joint_orders(terms: list[_Term], relevant: list[str]) -> list[list[_Term]]:
    monomials = _monomials(relevant)
    additive = sorted(monomials, key=lambda m: sum(e for _, e in m))
    # one-at-a-time samples cannot tell ``d*p*q`` from ``8*d*p + 8*d*q - 64*d``
    products = sorted(monomials, key=lambda m: (-len(m), sum(e for _, e in m)))
    return [[t.times(m) for m in order for t in terms] for order in (additive, products)]


def _monomials(names: list[str]) -> list[tuple[tuple[str, int], ...]]:
    """Products of ``names`` with total degree <= 2."""
    out: list[tuple[tuple[str, int], ...]] = [()]
    out += [((n, e),) for n in names for e in (1, 2)]
    out += [((a, 1), (b, 1)) for i, a in enumerate(names) for b in names[i + 1:]]
    return out


# Exact solving.  Coefficients are found modulo a large prime, lifted to small
# integers and then checked against every sample with exact integer arithmetic,
# so a lift that is wrong (a non-integer true solution) is always rejected.

_PRIME = (1 << 61) - 1


class _Columns:
    """Values of terms at each sample, cached."""

    def __init__(self, envs: Sequence[Env], variable: str) -> None:
        self.envs = envs
        self.variable = variable
        self.cache: dict[object, list[int]] = {}

    def of(self, term: _Term) -> list[int]:
        if term not in self.cache:
            column = self.power(self.variable, term.power)
            for factor in [*map(self.floor, term.floors), *(self.power(*m) for m in term.multiplier)]:
                column = [a * b for a, b in zip(column, factor, strict=True)]
            self.cache[term] = column
        return self.cache[term]

    def power(self, name: str, exponent: int) -> list[int]:
        key = (name, exponent)
        if key not in self.cache:
            self.cache[key] = [env[name] ** exponent for env in self.envs]
        return self.cache[key]

    def floor(self, f: _Floor) -> list[int]:
        if f not in self.cache:
            v = self.variable
            divisors = [f.divisor if isinstance(f.divisor, int) else e[f.divisor] for e in self.envs]
            values = [f.scale * e[v] // d if d else 0 for e, d in zip(self.envs, divisors, strict=True)]
            if f.multiple != 1:
                values = [-(-q // f.multiple) * f.multiple for q in values]
            if f.low is not None:
                lows = [f.low if isinstance(f.low, int) else e[f.low] for e in self.envs]
                values = [max(k, q) for k, q in zip(lows, values, strict=True)]
            self.cache[f] = values
        return self.cache[f]


def _fit_terms(orders: list[list[_Term]], columns: _Columns, counts: Sequence[int],
               simplest: bool = False) -> _Fit | None:
    """The sparsest fit over the orders tried; stops once the terms are independent.

    Terms dependent on the samples (widths in ``dim % 4 == 0`` only, where ``dim//4`` is
    ``dim/4``) fit in many ways: with ``simplest`` (a handful of terms, at default arguments)
    fewer floor divisions are then sought among them.
    """
    best: _Fit | None = None
    for terms in orders:
        fit, independent = _fit_of(terms, columns, counts)
        if fit is not None and (best is None or len(fit.terms) < len(best.terms)):
            best = fit
        if independent:
            return best
    return _simpler(best, orders[0], columns, counts) if best is not None and simplest else best


def _fit_of(terms: Sequence[_Term], columns: _Columns, counts: Sequence[int]) -> tuple[_Fit | None, bool]:
    """(the fit over ``terms`` or None, whether they are independent on the samples)."""
    coefficients, independent = _solve([columns.of(t) for t in terms], counts)
    if coefficients is None:
        return None, independent
    return _Fit(tuple((c, t) for c, t in zip(coefficients, terms, strict=True) if c)), independent


def _simpler(best: _Fit, terms: list[_Term], columns: _Columns, counts: Sequence[int]) -> _Fit:
    """The cheapest fit over a subset of ``terms`` no larger than ``best``'s."""
    subsets = [c for size in range(1, len(best.terms) + 1) for c in combinations(terms, size)]
    subsets.sort(key=lambda c: (sum(t.weight for t in c), len(c)))
    for subset in subsets:
        if (sum(t.weight for t in subset), len(subset)) >= best.cost[:2]:
            break
        fit, _ = _fit_of(subset, columns, counts)
        if fit is not None:
            return fit
    return best


def _solve(columns: Sequence[Sequence[int]], target: Sequence[int]) -> tuple[list[int] | None, bool]:
    """(integer x with sum x[j]*columns[j] == target, columns independent on the samples).

    When the columns are dependent, later columns that add nothing get 0.
    """
    n, m = len(columns), len(target)
    echelon: list[tuple[int, list[int]]] = []  # (pivot column, row scaled to 1 at pivot)
    for i in _spread(m):
        row = [c[i] % _PRIME for c in columns] + [target[i] % _PRIME]
        for pivot, other in echelon:
            if row[pivot]:
                f = row[pivot]
                row = [(a - f * b) % _PRIME for a, b in zip(row, other, strict=True)]
        lead = next((j for j in range(n) if row[j]), None)
        if lead is None:
            if row[n]:
                return None, False
            continue
        inverse = pow(row[lead], -1, _PRIME)
        echelon.append((lead, [a * inverse % _PRIME for a in row]))
        if len(echelon) == n:
            break
    x = _back_substitute(echelon, n)
    exact = all(
        sum(xj * c[i] for xj, c in zip(x, columns, strict=True) if xj) == target[i]
        for i in range(m)
    )
    return (x if exact else None), len(echelon) == n


def _back_substitute(echelon: list[tuple[int, list[int]]], n: int) -> list[int]:
    # each row is zero left of its pivot, so solve from the rightmost pivot
    x = [0] * n
    for pivot, row in sorted(echelon, reverse=True):
        value = (row[n] - sum(row[j] * x[j] for j in range(pivot + 1, n))) % _PRIME
        x[pivot] = value if value <= _PRIME // 2 else value - _PRIME
    return x


def _spread(m: int) -> Iterator[int]:
    """0..m-1 in a scattered order, so independent rows turn up early."""
    step = next(s for s in (7919, 104729, 1299709, 1) if math.gcd(s, m) == 1)
    return ((i * step) % m for i in range(m))


# --------------------------------------------------------------------------- domain


def domain_rule(inside: Sequence[int], outside: Sequence[int], variable: str = "dim") -> str | None:
    """``dim % m == 0`` or ``dim >= n`` when that separates the sampled widths, else None.

    Like a formula, a rule needs evidence to spare: ``MIN_SPARE`` widths inside it.
    """
    if len(inside) < MIN_SPARE or not outside:
        return None
    g = math.gcd(*inside)
    for m in range(2, g + 1):
        if g % m == 0 and all(w % m for w in outside):
            return f"{variable} % {m} == 0"
    if min(inside) > max(outside):
        return f"{variable} >= {min(inside)}"
    return None
