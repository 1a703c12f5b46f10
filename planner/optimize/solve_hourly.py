"""Solve the sales / hour-class model (`optimize.profit`): max_profit, min_cost with demand profiles, and
value- or priority-weighted max_throughput. Same reporting as the other objectives: objective, proven bound, gap.

max_profit is one MILP (revenue - cost is linear); its bound is the solver's bound plus the tie-break the
incumbent pays (the tie-break, 1e-6 $/h per GPU, is excluded from every reported figure). Weighted max_throughput
is two MILPs as in `solve.py`: the most weighted output, then the cheapest plan that keeps it.
"""

from __future__ import annotations

import math
import time

from planner.optimize import backends
from planner.optimize.backends import SolveStatus
from planner.optimize.hourly_split import split_solve
from planner.optimize.instance import Instance
from planner.optimize.profit import (
    Hourly,
    build_hourly_model,
    hourly_cost_coefs,
    hourly_tie_break,
    revenue_coefs,
    value_of,
)
from planner.optimize.solution import Solution, _finish, _timed_solve, kept_lo
from planner.optimize.value_data import sell

# min_cost with hour classes is solved class by class (optimize.hourly_split) on these backends, for models with
# at least this many integer variables. Measured on diurnal-own-rent (whole model -> split): the plan (557 integer
# variables) SCIP 4.7 -> 2.5 CPU s, CBC 41 -> 2.8 s; its runner-up (H100 only, 258) SCIP 0.26 -> 0.9 CPU s (five
# fleets to solve in full, ~18 class solves), CBC 2.6 -> 1.2 s. HiGHS solved the whole plan in 2.0 s and took
# 4-6 s class by class, but after the step-model refit its whole plan takes 3.1-3.3 CPU s (4.8 s end to end, idle)
# and class by class, its class solves without presolve (`backends.solve(cuts=False)`: 81 class solves 3.4 ->
# 1.8 CPU s), 1.9 CPU s in all, shared with the forked helper; 188.458 $/h where the whole model stopped at
# 188.510 (the proven optimum is 188.452 within the 1e-3 gap).
SPLIT_MIN_INTEGERS = {"scip": 400, "highs": 400, "cbc": 0}


def uses_hourly_model(inst: Instance) -> bool:
    """max_profit, any demand profile, and max_throughput with priorities or prices go through this module."""
    v = inst.value
    return (
        inst.objective == "max_profit"
        or bool(v.hour_classes)
        or (inst.objective == "max_throughput" and bool(v.priority or v.pricing))
    )


def sold_value(h: Hourly, values: list[float]) -> float:
    """Average revenue (or weighted tok/s) a plan earns when each class sells its best-paid capacity first, up
    to the class's caps: what the sales variables reach at the optimum, recomputed from the replicas alone."""
    total = 0.0
    for cls, view, caps in zip(h.classes, h.views, h.caps, strict=True):
        for w in sorted(view.inst.workloads):
            offers: dict[float, float] = {}
            for (ww, r), rows in h.levels.items():
                if ww == w:
                    offers[r] = offers.get(r, 0.0) + sum(view.out[i] * round(values[view.x[i]]) for i in rows)
            total += cls.share * sum(r * q for r, q in sell(offers, caps.get(w)).items())
    return total


def owned_fleet(h: Hourly) -> list[int]:
    """The variables every hour class shares: servers bought and kept (racks follow from them alone)."""
    b = h.base
    return [*(b.buy[s] for s in sorted(b.buy)), *(b.exist[s] for s in sorted(b.exist))]


def solve_hourly(inst: Instance, cands, backend: str, time_limit_s: float, gap: float) -> Solution:
    t0 = time.perf_counter()
    kind = inst.objective
    m, h = build_hourly_model(inst, cands, kind)
    sol = Solution(SolveStatus.ERROR, kind, backend, m, None, build_time_s=time.perf_counter() - t0)
    sol.ix, sol.hourly = h.peak, h
    res = None
    t_split = time.perf_counter()
    integers = sum(v.integer for v in m.vars)
    if kind == "min_cost" and integers >= SPLIT_MIN_INTEGERS.get(backend, math.inf):  # classes one by one
        owned = owned_fleet(h)
        servers = [*(v for view in h.views for v in view.rent.values()), *h.base.z]
        res = split_solve(m, owned, [*owned, *servers], backend, time_limit_s, gap)
    if res is None:
        tried_s = time.perf_counter() - t_split  # a split that gave up: its time is solve time too
        res = _timed_solve(m, backend, max(time_limit_s - (time.perf_counter() - t0), 1.0), gap)
        res.solve_time_s += tried_s
    _finish(sol, res)
    if not res.status.has_solution:
        return sol
    if kind == "max_throughput":
        return _second_stage(sol, h, res, time_limit_s, gap)
    cost = value_of(hourly_cost_coefs(h), res.values)
    tb = value_of(hourly_tie_break(h), res.values)
    bound = res.best_bound
    if kind == "min_cost":
        sol.objective_value = cost
        sol.best_bound = None if bound is None else min(bound, res.objective) - tb
    else:
        sol.objective_value = sold_value(h, res.values) - cost
        sol.best_bound = None if bound is None else max(bound + tb, sol.objective_value)
    sol.gap = backends.relative_gap(sol.objective_value, sol.best_bound)
    return sol


def _second_stage(sol: Solution, h: Hourly, res, time_limit_s: float, gap: float) -> Solution:
    best, bound = res.objective, res.best_bound
    m2 = sol.model.copy()
    m2.add("throughput_kept", "throughput_kept", revenue_coefs(h), lo=kept_lo(best))
    coefs = hourly_cost_coefs(h)
    for v, c in hourly_tie_break(h).items():
        coefs[v] = coefs.get(v, 0.0) + c
    m2.set_objective(coefs)
    res2 = _timed_solve(m2, sol.backend, max(time_limit_s - res.solve_time_s, 1.0), gap, hint=res.values)
    sol.solve_time_s += res2.solve_time_s
    sol.iterations = 2
    if res2.status.has_solution:
        sol.values = res2.values
        if res2.status is not SolveStatus.OPTIMAL:
            sol.status = SolveStatus.FEASIBLE_TIME_LIMIT
    sol.objective_value = sold_value(h, sol.values)
    sol.best_bound = max(bound, sol.objective_value) if bound is not None else None
    sol.gap = backends.relative_gap(sol.objective_value, bound)
    return sol
