"""Designs: which scenarios a sweep runs. Deterministic: the same sweep file (and seed) gives the same list.

- grid: every combination of the parameters' values (product of their counts);
- one_at_a_time: the base scenario, then each parameter through its values with the others at base (tornado);
- random, latin_hypercube: `samples` points in the parameters' bounds (numpy, seeded);
- sobol (Saltelli/Sobol' sequence, N (D + 2) scenarios) and morris (r (D + 1)) via SALib, for global indices.

Sampling designs draw u in [0, 1] per parameter: a range or catalog low/base/high maps u onto [low, high]
(geometrically for log ranges); a list of values picks value[floor(u n)].
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from planner.errors import InputError
from planner.sweep.spec import Parameter, Sweep, _canon


@dataclass(frozen=True)
class Scenario:
    index: int
    values: dict  # parameter path -> value
    varied: str | None = None  # one_at_a_time: the parameter moved off its base ("" for the base scenario)


def expand(sweep: Sweep) -> list[Scenario]:
    d = sweep.spec.design
    params = sweep.parameters
    if d.kind == "grid":
        rows = [dict(zip([p.path for p in params], combo, strict=True))
                for combo in itertools.product(*(p.values for p in params))]
        return [Scenario(i, v) for i, v in enumerate(rows)]
    if d.kind == "one_at_a_time":
        return one_at_a_time(params)
    unit = unit_samples(sweep)
    return [Scenario(i, dict(zip([p.path for p in params], (from_unit(p, u) for p, u in
                                                                zip(params, row, strict=True)), strict=True)))
            for i, row in enumerate(unit)]


def one_at_a_time(params: tuple[Parameter, ...] | list[Parameter]) -> list[Scenario]:
    base = {p.path: p.base for p in params}
    out = [Scenario(0, dict(base), "")]
    for p in params:
        for v in p.values:
            if v != p.base:
                out.append(Scenario(len(out), {**base, p.path: v}, p.path))
    return out


def unit_samples(sweep: Sweep) -> np.ndarray:
    """The design's points in the unit cube, one row per scenario (what SALib analyses)."""
    d = sweep.spec.design
    k = len(sweep.parameters)
    if d.kind == "random":
        return np.random.default_rng(d.seed).random((d.samples, k))
    if d.kind == "latin_hypercube":
        rng = np.random.default_rng(d.seed)
        cols = [(rng.permutation(d.samples) + rng.random(d.samples)) / d.samples for _ in range(k)]
        return np.column_stack(cols)
    problem = salib_problem(sweep)
    try:
        from SALib.sample import morris, sobol
    except ImportError:
        raise InputError(f"{sweep.where}: design {d.kind} needs SALib: pip install 'planner[sweep]'") from None
    if d.kind == "sobol":
        return sobol.sample(problem, d.samples, calc_second_order=False, seed=d.seed)
    if d.kind == "morris":
        return morris.sample(problem, d.samples, num_levels=d.levels, seed=d.seed)
    raise ValueError(f"no unit samples for design {d.kind}")


def salib_problem(sweep: Sweep) -> dict:
    k = len(sweep.parameters)
    return {"num_vars": k, "names": [p.path for p in sweep.parameters], "bounds": [[0.0, 1.0]] * k}


def from_unit(p: Parameter, u: float):
    u = min(max(float(u), 0.0), 1.0)
    if p.low is None or p.high is None:
        return p.values[min(int(u * len(p.values)), len(p.values) - 1)]
    if p.log:
        x = math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
    else:
        x = p.low + u * (p.high - p.low)
    return _canon(x, p.target.integer)


def count(sweep: Sweep) -> int:
    """How many scenarios the design expands to, without building them (for messages and checks)."""
    d = sweep.spec.design
    ps = sweep.parameters
    if d.kind == "grid":
        return math.prod(len(p.values) for p in ps)
    if d.kind == "one_at_a_time":
        return 1 + sum(sum(v != p.base for v in p.values) for p in ps)
    if d.kind == "sobol":
        return d.samples * (len(ps) + 2)
    if d.kind == "morris":
        return d.samples * (len(ps) + 1)
    return d.samples
