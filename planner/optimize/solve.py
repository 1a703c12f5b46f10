"""Solve an instance for its objective: one MILP (min_cost), two lexicographic MILPs (max_throughput), or
Dinkelbach iterations of MILPs (max_tokens_per_dollar).

Dinkelbach for  max N(x) / C(x)  (N credited output tok/s, C cost $/h > 0):  start from the min-cost plan,
lambda_0 = N(x_0)/C(x_0); solve F(lambda_k) = max N(x) - lambda_k C(x); stop when F(lambda_k) <= gap * N(x_k),
else lambda_{k+1} = N(x_{k+1})/C(x_{k+1}). The reported bound is lambda_k + max(0, bound of F) / C_min, where C_min
is the proven lower bound on cost from the min-cost solve (every plan costs at least that).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from planner.optimize import backends
from planner.optimize import constraints as C
from planner.optimize.backends import RawResult, SolveStatus
from planner.optimize.formulation import Index, build_model, cost_objective, tie_break_coefs
from planner.optimize.instance import Instance
from planner.optimize.model import MipModel

MAX_DINKELBACH_ITERATIONS = 25


@dataclass
class Solution:
    status: SolveStatus
    objective: str
    backend: str
    model: MipModel | None = None
    ix: Index | None = None
    values: list[float] = field(default_factory=list)
    objective_value: float | None = None  # $/h (min_cost), tok/s (max_throughput), tokens/$ (ratio)
    best_bound: float | None = None
    gap: float | None = None
    solve_time_s: float = 0.0
    build_time_s: float = 0.0
    iterations: int = 1
    message: str = ""
    hourly: object | None = None  # optimize.profit.Hourly: sales and hour classes (max_profit, profiles)

    def value(self, var: int) -> float:
        return self.values[var]

    @property
    def cost_per_hour(self) -> float:
        return sum(c * self.values[v] for v, c in C.cost_coefs(self.ix).items())

    def credited(self) -> float:
        ix = self.ix
        total = 0.0
        for w, rows in ix.by_workload.items():
            served = sum(ix.out[i] * round(self.values[ix.x[i]]) for i in rows)
            cap = ix.credit_cap.get(w)
            total += min(served, cap) if cap is not None else served
        return total


def _timed_solve(
    model: MipModel, backend: str, time_limit_s: float, gap: float, abs_gap: float = 1e-6, presolve: bool = True,
    hint: list[float] | None = None,
) -> RawResult:
    return backends.solve(model, backend, time_limit_s=max(time_limit_s, 0.01), gap=gap, abs_gap=abs_gap,
                          presolve=presolve, hint=hint)


def solve_instance(
    inst: Instance,
    cands: pd.DataFrame,
    backend: str = backends.DEFAULT_BACKEND,
    *,
    time_limit_s: float | None = None,
    gap: float | None = None,
    exclude_accelerators: tuple[str, ...] = (),
) -> Solution:
    """Build and solve; `exclude_accelerators` removes every candidate on those accelerators (runner-up)."""
    time_limit_s = inst.time_limit_s if time_limit_s is None else time_limit_s
    gap = inst.gap if gap is None else gap
    if exclude_accelerators:
        cands = cands[~cands["accelerator"].isin(exclude_accelerators)]
    kind = inst.objective
    from planner.optimize.solve_hourly import solve_hourly, uses_hourly_model  # it builds on Solution: a cycle

    if uses_hourly_model(inst):  # max_profit, demand profiles, weighted max_throughput
        return solve_hourly(inst, cands, backend, time_limit_s, gap)
    if kind == "min_cost":
        return _solve_min_cost(inst, cands, backend, time_limit_s, gap)
    if kind == "max_throughput":
        return _solve_max_throughput(inst, cands, backend, time_limit_s, gap)
    return _solve_ratio(inst, cands, backend, time_limit_s, gap)


def _finish(sol: Solution, res: RawResult) -> Solution:
    sol.status, sol.values, sol.message = res.status, res.values, res.message
    sol.solve_time_s += res.solve_time_s
    return sol


def _build_and_solve(inst, cands, objective, backend, time_limit_s, gap) -> tuple[Solution, RawResult]:
    """Build the model for `objective`, solve it once, and start a Solution (status, values, times)."""
    t0 = time.perf_counter()
    m, ix = build_model(inst, cands, objective=objective)
    sol = Solution(SolveStatus.ERROR, objective, backend, m, ix, build_time_s=time.perf_counter() - t0)
    res = _timed_solve(m, backend, time_limit_s, gap)
    return _finish(sol, res), res


def _solve_min_cost(inst, cands, backend, time_limit_s, gap) -> Solution:
    sol, res = _build_and_solve(inst, cands, "min_cost", backend, time_limit_s, gap)
    ix = sol.ix
    if res.status.has_solution:
        sol.objective_value = sol.cost_per_hour
        tb = sum(c * res.values[v] for v, c in tie_break_coefs(ix).items())
        sol.best_bound = None if res.best_bound is None else min(res.best_bound, res.objective) - tb
        sol.gap = backends.relative_gap(sol.objective_value, sol.best_bound)
    return sol


def _solve_max_throughput(inst, cands, backend, time_limit_s, gap) -> Solution:
    sol, res = _build_and_solve(inst, cands, "max_throughput", backend, time_limit_s, gap)
    m, ix = sol.model, sol.ix
    if not res.status.has_solution:
        return sol
    best, bound = res.objective, res.best_bound
    # second stage: the cheapest plan that keeps the throughput found (measured: keeping all of it solves
    # faster than keeping all but gap/2 of it, on both HiGHS and SCIP)
    m2 = m.copy()
    m2.add(
        "throughput_kept",
        "throughput_kept",
        {v: 1.0 for v in ix.served.values()},
        lo=best - max(1e-6 * abs(best), 1e-6),
    )
    m2.set_objective(cost_objective(ix))
    # The first stage's plan keeps the throughput: HiGHS starts from it (enterprise-budget: 6.7 s -> 0.3 s).
    # HiGHS' presolve turns this near-equality on ~500 integer replica counts into a model its branch and bound
    # needs more nodes for (with the start: 0.5 s with presolve, 0.3 s without; without the start 2.2 s and
    # 6.7 s); the first stage and the other backends keep their defaults.
    res2 = _timed_solve(m2, backend, max(time_limit_s - res.solve_time_s, 1.0), gap, presolve=False,
                        hint=res.values)
    sol.solve_time_s += res2.solve_time_s
    sol.iterations = 2
    if res2.status.has_solution:
        sol.values = res2.values
        if res2.status is not SolveStatus.OPTIMAL:
            sol.status = SolveStatus.FEASIBLE_TIME_LIMIT
    sol.objective_value = sol.credited()
    sol.best_bound = max(bound, sol.objective_value) if bound is not None else None
    sol.gap = backends.relative_gap(sol.objective_value, bound)
    return sol


def _solve_ratio(inst, cands, backend, time_limit_s, gap) -> Solution:
    start = _solve_min_cost(inst, cands, backend, time_limit_s, gap)
    if not start.status.has_solution:
        start.objective = "max_tokens_per_dollar"
        return start
    cost_lb = start.best_bound or start.objective_value
    t0 = time.perf_counter()
    m, ix = build_model(inst, cands, objective="credit")
    sol = Solution(
        SolveStatus.OPTIMAL,
        "max_tokens_per_dollar",
        backend,
        m,
        ix,
        build_time_s=start.build_time_s + time.perf_counter() - t0,
        solve_time_s=start.solve_time_s,
    )
    # map the min-cost plan onto this model's variables to start from
    values = [0.0] * len(m.vars)
    for v in start.model.vars:
        if v.name in m.by_name:
            values[m.by_name[v.name]] = start.values[v.index]
    sol.values = values
    for w, u in ix.served.items():
        served = sum(ix.out[i] * values[ix.x[i]] for i in ix.by_workload[w])
        values[u] = min(served, ix.credit_cap.get(w, served))
    cost_coefs = cost_objective(ix)  # $/h with the tie-break
    lam = sol.credited() / max(sol.cost_per_hour, 1e-12)
    f_bound, lam_used = 0.0, lam
    for it in range(1, MAX_DINKELBACH_ITERATIONS + 1):
        coefs = {v: 1.0 for v in ix.served.values()}
        for v, c in cost_coefs.items():
            coefs[v] = coefs.get(v, 0.0) - lam * c
        m.set_objective(coefs, maximize=True)
        n_now = sol.credited()
        left = time_limit_s - sol.solve_time_s
        res = _timed_solve(m, backend, left, 1e-9, abs_gap=max(gap * n_now * 0.1, 1e-9))
        sol.solve_time_s += res.solve_time_s
        sol.iterations = it + 1
        if not res.status.has_solution:
            sol.status, sol.message = (SolveStatus.FEASIBLE_TIME_LIMIT, res.message or "stopped in Dinkelbach")
            break
        f_val = res.objective
        f_bound = max(res.best_bound if res.best_bound is not None else f_val, f_val)
        lam_used = lam
        if res.status is not SolveStatus.OPTIMAL:
            sol.status = SolveStatus.FEASIBLE_TIME_LIMIT
        cand = Solution(SolveStatus.OPTIMAL, "", backend, m, ix, values=res.values)
        n_new, c_new = cand.credited(), cand.cost_per_hour
        if c_new > 0 and n_new / c_new > lam * (1 + 1e-12):
            sol.values = res.values
            lam = n_new / c_new
        if f_val <= gap * max(n_new, 1e-9) or res.status is not SolveStatus.OPTIMAL:
            break
    sol.objective_value = 3600.0 * lam
    sol.best_bound = max(3600.0 * (lam_used + max(f_bound, 0.0) / max(cost_lb, 1e-12)), sol.objective_value)
    sol.gap = backends.relative_gap(sol.objective_value, sol.best_bound)
    if sol.status is SolveStatus.OPTIMAL and sol.gap is not None and sol.gap > max(gap, 1e-9) * 1.01:
        sol.status = SolveStatus.FEASIBLE_TIME_LIMIT
    return sol
