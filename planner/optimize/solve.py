"""Solve an instance for its objective: one MILP (min_cost), two lexicographic MILPs (max_throughput), or
Dinkelbach iterations of MILPs (max_tokens_per_dollar).

Dinkelbach for  max N(x) / C(x)  (N credited output tok/s, C cost $/h > 0):  start from the min-cost plan,
lambda_0 = N(x_0)/C(x_0); solve F(lambda_k) = max N(x) - lambda_k C(x); stop when F(lambda_k) <= gap * N(x_k),
else lambda_{k+1} = N(x_{k+1})/C(x_{k+1}). The reported bound is lambda_k + max(0, bound of F) / C_min, where C_min
is the proven lower bound on cost from the min-cost solve (every plan costs at least that).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pandas as pd

from planner.optimize import backends, constraints, failure_slots
from planner.optimize.backends import RawResult, SolveStatus
from planner.optimize.formulation import Index, build_model, cost_objective, tie_break_coefs
from planner.optimize.instance import Instance
from planner.optimize.model import MipModel
from planner.optimize.price_of import without_limits, without_survive
from planner.optimize.solution import FEAS_TOL, REL_TOL, Solution, _finish, _timed_solve, kept_lo
from planner.optimize.solve_hourly import solve_hourly, uses_hourly_model

MAX_DINKELBACH_ITERATIONS = 25
# A Dinkelbach step's new ratio counts as better only past lam (1 + RATIO_TOL), and a $/h denominator is floored
# at it: a plan whose ratio equals lam but for float noise (~1e-16 relative) must not start another iteration.
# Assumed, not measured.
RATIO_TOL = 1e-12


def solve_instance(
    inst: Instance,
    cands: pd.DataFrame,
    backend: str = backends.DEFAULT_BACKEND,
    *,
    time_limit_s: float | None = None,
    gap: float | None = None,
    exclude_accelerators: tuple[str, ...] = (),
    warm: bool | None = None,
    on_start: Callable[[Index, list[float]], None] | None = None,
) -> Solution:
    """Build and solve; `exclude_accelerators` removes every candidate on those accelerators (runner-up).
    `warm`: whether a min_cost solve starts from `warm_start`'s plan (None: as `needs_warm_start` says; the
    side solves pass their parent instance's answer for its relaxations). `on_start(ix, values)` is called with
    that plan before the full solve (`planner solve` starts the runner-up on the accelerator it leans on); it
    reads the plan, it cannot change the solve."""
    time_limit_s = inst.time_limit_s if time_limit_s is None else time_limit_s
    gap = inst.gap if gap is None else gap
    if exclude_accelerators:
        cands = cands[~cands["accelerator"].isin(exclude_accelerators)]
    kind = inst.objective
    if uses_hourly_model(inst):  # max_profit, demand profiles, weighted max_throughput
        return solve_hourly(inst, cands, backend, time_limit_s, gap)
    if kind == "min_cost":
        return _solve_min_cost(inst, cands, backend, time_limit_s, gap, warm, on_start)
    if kind == "max_throughput":
        return _solve_max_throughput(inst, cands, backend, time_limit_s, gap)
    return _solve_ratio(inst, cands, backend, time_limit_s, gap)


def _build_and_solve(inst, cands, objective, backend, time_limit_s, gap,
                     slot_floor: dict | None = None) -> tuple[Solution, RawResult]:
    """Build the model for `objective`, solve it once, and start a Solution (status, values, times)."""
    t0 = time.perf_counter()
    m, ix = build_model(inst, cands, objective=objective, slot_floor=slot_floor)
    sol = Solution(SolveStatus.ERROR, objective, backend, m, ix, build_time_s=time.perf_counter() - t0)
    res = _timed_solve(m, backend, time_limit_s, gap)
    return _finish(sol, res), res


def _solve_min_cost(inst, cands, backend, time_limit_s, gap, warm: bool | None = None, on_start=None,
                    slot_floor: dict | None = None, first: Solution | None = None) -> Solution:
    """`slot_floor`: the failure-domain slots `failure_slots.check` found enough (after a first solve); `first`:
    that solve, whose plan this one starts from (None: it had none)."""
    t0 = time.perf_counter()
    m, ix = build_model(inst, cands, objective="min_cost", slot_floor=slot_floor)
    sol = Solution(SolveStatus.ERROR, "min_cost", backend, m, ix, build_time_s=time.perf_counter() - t0)
    warm = needs_warm_start(inst) if warm is None else warm
    if first is not None:
        start = values_by_name(first.model, first.values, m)
    else:
        start = warm_start(sol, inst, cands, time_limit_s, gap) if warm else None
    if start is not None and on_start is not None:
        on_start(ix, list(start))  # a copy: what the callee does with it cannot reach the solve
    # from the start, HiGHS' sub-MIPs and CBC's heuristics and preprocessing cost more than they find (mixed-fleet,
    # CPU s: HiGHS 3.9 -> 2.0, CBC 3.2 -> 1.7; solver_options.HIGHS_NO_SUB_MIPS, CBC_FROM_START)
    # without a start: SCIP separates cuts at the root only (solver_options.SCIP_ROOT_CUTS_ONLY: brownfield-h100
    # 2.7 -> 2.1 CPU s, the same exact optimum)
    res = _timed_solve(m, backend, time_limit_s - sol.solve_time_s, gap, start=start, heuristics=start is None,
                       branch_first=fleet_platforms(m) if start is not None else (), tree_cuts=start is not None)
    _finish(sol, res)
    upper = None  # $/h no optimal plan exceeds: the plan found, or the hourly budget where none is
    if res.status.has_solution:
        sol.objective_value = sol.cost_per_hour
        tb = sum(c * res.values[v] for v, c in tie_break_coefs(ix).items())
        sol.best_bound = None if res.best_bound is None else min(res.best_bound, res.objective) - tb
        sol.gap = backends.relative_gap(sol.objective_value, sol.best_bound)
        upper = res.objective
    elif res.status is SolveStatus.INFEASIBLE:
        upper = inst.budget_usd_per_hour
    # the slots may be too few for the optimum: solve once more with as many as that cost proves enough
    floors = _check_slots(ix, upper)
    if floors is not None and slot_floor is None:
        again = _solve_min_cost(inst, cands, backend, time_limit_s - sol.solve_time_s, gap, warm,
                                slot_floor=floors, first=sol if res.status.has_solution else None)
        return _after(sol, again)
    return sol


def _check_slots(ix: Index, upper_usd_per_hour: float | None) -> dict | None:
    """`failure_slots.check` where the model has failure-domain slots and a cost bounds every optimum (else None:
    nothing to check)."""
    if ix.domains is None or upper_usd_per_hour is None:
        return None
    return failure_slots.check(ix, upper_usd_per_hour, constraints.cost_coefs(ix))


def _after(first: Solution, again: Solution) -> Solution:
    """`again` (the solve with the slots `first`'s cost proved enough), counting `first`'s times too."""
    again.solve_time_s += first.solve_time_s
    again.build_time_s += first.build_time_s
    again.iterations += first.iterations
    return again


def values_by_name(src: MipModel, values: list[float], dst: MipModel, snap: bool = True) -> list[float]:
    """A plan of model `src` as a start for `dst` (by variable name; 0 where `src` has none). `snap`: integers
    rounded and every value inside its bounds (CBC rejects a start of -5.6e-17 for a variable >= 0); False: the
    values as the solver gave them (the ratio model's own first plan, read as it is)."""
    out = [0.0] * len(dst.vars)
    for v in src.vars:
        k = dst.by_name.get(v.name)
        if k is not None:
            var, x = dst.vars[k], values[v.index]
            if snap:
                x = min(max(float(round(x)) if var.integer else x, var.lb), var.ub)
            out[k] = x
    return out


def _cost_with_tie_break_usd_per_hour(ix: Index, values: list[float]) -> float:
    """$/h of the plan `values` with the tie-break (`cost_objective`: the min-cost objective's value)."""
    return sum(c * values[v] for v, c in cost_objective(ix).items())


def fleet_platforms(m: MipModel) -> tuple[int, ...]:
    """The binaries "system type s in the fleet" of `max_platforms`, for SCIP to branch on first: which two of
    four system types mixed-fleet uses decides most of its cost. From the warm start, CPU s: 2.8 -> 2.0 (its
    runner-up 0.45 -> 0.40); after the candidates changed a little (813 -> 816, gpt-oss prefill rows) 3.7 -> 3.9
    from the same start, 3.8 -> 2.4 from a start over 3 candidates per group: SCIP's time on this model swings by
    ~1.5 s with small changes, this order is no worse on average. Per-workload platforms first made
    simplicity-and-failure-domains slower (0.27 -> 0.34); servers and racks first, mixed-fleet too (2.8 -> 4.5)."""
    return next((tuple(c.coefs) for c in m.constraints if c.family == "max_platforms"), ())


def needs_warm_start(inst: Instance) -> bool:
    """The requirements whose binaries leave the solvers' own heuristics without a good plan for long (platform
    choice, minimum shares, the complexity charge, failure domains): SCIP found mixed-fleet's optimum after
    ~600 of ~2,000 nodes and simplicity-and-failure-domains' after ~80 of ~140, and proved it fast once it had
    it. The default limit of configurations per workload alone does not qualify (brownfield-h100: SCIP's root
    heuristics find a plan within 0.05% at once; its time is spent on the bound, and a warm start only adds
    its own)."""
    return inst.objective == "min_cost" and (
        bool(inst.max_platforms or inst.max_platforms_per_workload or inst.min_deployment_share
             or inst.complexity_usd_per_hour)
        or any(w.survive_level for w in inst.workloads.values())
    )


def warm_start(sol: Solution, inst: Instance, cands: pd.DataFrame, time_limit_s: float,
               gap: float) -> list[float] | None:
    """A plan meeting every requirement to start the full solve from (None: none found): the full model
    restricted to a few candidates (every other x_c fixed to 0), solved to the gap. The candidates, first:
      1. the cheapest per output token of each workload on each system and mode (`cheapest_rows`: the per-GPU
         price of a whole server plus the replica's energy, per output tok/s), a few per group, so that every
         platform choice and a second configuration per workload stay open; where those have no plan,
      2. those the optimum without the simplicity limits and failure domains uses (a pure integer model, no
         binaries: slower, mixed-fleet 3.3 s, but it knows the server granularity).
    The full solve then starts with an incumbent and prunes by bound from the first node; it still proves its
    optimum over every candidate, so the answer is the one it would reach alone. What the start is worth depends
    little on how good it is (mixed-fleet, SCIP, full solve from the optimum 450.663: 3.6 CPU s; from step 1's
    450.996: 2.6; from step 2's 450.703: 3.5), what it costs a lot: step 1 0.25 s, step 2 3.4 s (CPU s with
    SCIP). Seconds count in solve_time_s."""
    budget_s = time_limit_s / 2  # at least half the time limit stays for the full solve
    start = _restricted_start(sol, cheapest_rows(sol.ix, CHEAPEST_PER_GROUP), budget_s, gap)
    if start is not None:
        return start
    relaxed = without_survive(without_limits(inst))
    m0, ix0 = build_model(relaxed, cands, objective="min_cost")
    res0 = _timed_solve(m0, sol.backend, budget_s - sol.solve_time_s, gap)
    sol.solve_time_s += res0.solve_time_s
    if not res0.status.has_solution:
        return None
    used = {k for k, x in zip(ix0.keys, ix0.x, strict=True) if res0.values[x] > 0.5}
    rows = [i for i, k in enumerate(sol.ix.keys) if k in used]
    return _restricted_start(sol, rows, budget_s, gap)


# Candidates kept per (workload, system, mode) for the first start. Measured on mixed-fleet with SCIP (restricted
# solve + full solve from its plan, CPU s): 1 -> 0.3 + 4.3 (start 468.6: one configuration per system cannot
# meet the minimum share and the second configuration), 2 -> 0.25 + 2.6 (450.996), 3 -> 1.0 + 3.3 (450.777),
# 5 -> 1.8 + 4.7 (450.721).
CHEAPEST_PER_GROUP = 2


def cheapest_rows(ix: Index, k: int) -> list[int]:
    """The `k` candidates of each (workload, system, mode) with the lowest cost per output tok/s: the server's
    price per GPU (owned: $/h of a server kept or bought; rented: its rent) times the replica's GPUs, plus its
    energy.
    A ranking only (what the LP would charge a replica if servers came in fractions); ties by key."""
    groups: dict[tuple[str, str, str], list[tuple[float, str, int]]] = {}
    for i, (w, s, mode) in enumerate(zip(ix.workload, ix.system, ix.mode, strict=True)):
        sd = ix.inst.systems[s]
        if mode == "rent":
            server_usd_per_hour = sd.rent_usd_per_hour
        else:  # servers kept in service cost less than new ones: rank by the cheaper way to own one
            server_usd_per_hour = sd.existing_usd_per_hour if sd.existing else sd.new_usd_per_hour
        usd_per_hour = server_usd_per_hour / sd.gpus * ix.gpus[i] + ix.energy_usd_per_hour[i]
        groups.setdefault((w, s, mode), []).append((usd_per_hour / max(ix.out[i], REL_TOL), ix.keys[i], i))
    return sorted(i for rows in groups.values() for _, _, i in sorted(rows)[:k])


def _restricted_start(sol: Solution, rows: list[int], budget_s: float, gap: float) -> list[float] | None:
    """The full model's optimum over candidates `rows` only (every other x_c fixed to 0), rounded; None where
    that model has no plan within `budget_s`."""
    keep = set(rows)
    restricted = sol.model.copy()
    for i, x in enumerate(sol.ix.x):
        if i not in keep:
            restricted.fix(x, 0.0, 0.0)
    res = _timed_solve(restricted, sol.backend, budget_s - sol.solve_time_s, gap)
    sol.solve_time_s += res.solve_time_s
    if not res.status.has_solution:
        return None
    return [float(round(v)) if var.integer else v for var, v in zip(restricted.vars, res.values, strict=True)]


def _solve_max_throughput(inst, cands, backend, time_limit_s, gap, slot_floor: dict | None = None) -> Solution:
    """The most credited throughput, then the cheapest plan keeping it. Its failure-domain slots are estimated
    from no demand at all: where a cost bounds every optimum (`_throughput_upper_usd_per_hour`) and proves them
    too few, both stages run once more with the slots that cost proves enough (as `_solve_min_cost`)."""
    sol, res = _build_and_solve(inst, cands, "max_throughput", backend, time_limit_s, gap, slot_floor)
    if res.status.has_solution:
        _cheapest_keeping_throughput(sol, res, backend, time_limit_s, gap)
    upper = _throughput_upper_usd_per_hour(sol, res) if sol.ix.domains is not None else None
    floors = _check_slots(sol.ix, upper)
    if floors is not None and slot_floor is None:
        left_s = time_limit_s - sol.solve_time_s
        return _after(sol, _solve_max_throughput(inst, cands, backend, left_s, gap, floors))
    return sol


def _throughput_upper_usd_per_hour(sol: Solution, res: RawResult) -> float | None:
    """$/h no max_throughput optimum exceeds (None: none known): the hourly budget bounds every plan; a plan
    crediting every workload its cap has the most throughput any plan can have, so an optimum (the cheapest of
    those) costs at most what it costs, tie-break included."""
    ix = sol.ix
    budget = ix.inst.budget_usd_per_hour
    uppers = [budget] if budget is not None else []
    caps = sum(ix.credit_cap.get(w, math.inf) for w in ix.served)
    if res.status.has_solution and math.isfinite(caps) and res.objective >= caps - max(REL_TOL * caps, FEAS_TOL):
        uppers.append(_cost_with_tie_break_usd_per_hour(ix, sol.values))
    return min(uppers, default=None)


def _cheapest_keeping_throughput(sol: Solution, res: RawResult, backend, time_limit_s, gap) -> None:
    m, ix = sol.model, sol.ix
    best, bound = res.objective, res.best_bound
    # second stage: the cheapest plan that keeps the throughput found (measured: keeping all of it solves
    # faster than keeping all but gap/2 of it, on both HiGHS and SCIP)
    m2 = m.copy()
    m2.add(
        "throughput_kept",
        "throughput_kept",
        {v: 1.0 for v in ix.served.values()},
        lo=kept_lo(best),
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


def _ratio_slot_floor(start: Solution, bounds: dict | None) -> dict | None:
    """The failure-domain slots of the ratio model: the min-cost plan's (more, where its cost proved them
    needed), raised to `bounds`, K_g(C) of a cost C no ratio optimum exceeds (`_ratio_upper_usd_per_hour`); with
    no such C the slots stay an estimate (a plan filling them says so)."""
    if bounds is None:
        return start.ix.slot_floor
    return {g.key: max(g.slots, bounds[g.key]) for g in start.ix.domains.groups}


def _ratio_upper_usd_per_hour(start: Solution) -> float | None:
    """$/h no ratio optimum exceeds (None: none known). Every plan keeps under the hourly budget B. Where every
    workload's credit is capped (demand_cap_multiple), N <= N_cap for every plan, and an optimum x* has a ratio at
    least the min-cost plan x0's: N(x*) / C(x*) >= N(x0) / C_tb(x0) (C_tb, the cost with the tie-break, >= C: it
    holds for the optimum of either), so C(x*) <= N_cap C_tb(x0) / N(x0). Otherwise a plan of more servers can
    always have the better ratio (a full rack of them) and nothing is claimed."""
    ix, inst = start.ix, start.ix.inst
    uppers = [inst.budget_usd_per_hour] if inst.budget_usd_per_hour is not None else []
    mult = inst.demand_cap_multiple
    if mult is not None and all(wl.demand_out_tok_s for wl in inst.workloads.values()):
        caps = {w: wl.required_out_tok_s * mult for w, wl in inst.workloads.items()}
        served = {w: sum(ix.out[i] * round(start.values[ix.x[i]]) for i in rows)
                  for w, rows in ix.by_workload.items()}
        credited = sum(min(served.get(w, 0.0), cap) for w, cap in caps.items())
        if credited > 0:
            cost_tb = _cost_with_tie_break_usd_per_hour(ix, start.values)
            uppers.append(sum(caps.values()) * cost_tb / credited)
    return min(uppers, default=None)


def _solve_ratio(inst, cands, backend, time_limit_s, gap) -> Solution:
    start = _solve_min_cost(inst, cands, backend, time_limit_s, gap)
    if not start.status.has_solution:
        start.objective = "max_tokens_per_dollar"
        return start
    cost_lb = start.best_bound or start.objective_value
    t0 = time.perf_counter()
    upper = _ratio_upper_usd_per_hour(start) if start.ix.domains is not None else None
    # K_g(upper) depends on the instance and candidates alone: the min-cost model's serve the ratio model's
    bounds = (failure_slots.cost_bounds(start.ix, upper, constraints.cost_coefs(start.ix))
              if upper is not None else None)
    m, ix = build_model(inst, cands, objective="credit", slot_floor=_ratio_slot_floor(start, bounds))
    if bounds is not None:
        failure_slots.settle(ix, bounds)  # marks the slots that cost proves enough
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
    values = values_by_name(start.model, start.values, m, snap=False)
    sol.values = values
    for w, u in ix.served.items():
        served = sum(ix.out[i] * values[ix.x[i]] for i in ix.by_workload[w])
        values[u] = min(served, ix.credit_cap.get(w, served))
    cost_coefs = cost_objective(ix)  # $/h with the tie-break
    lam = sol.credited() / max(sol.cost_per_hour, RATIO_TOL)
    f_bound, lam_used = 0.0, lam
    for it in range(1, MAX_DINKELBACH_ITERATIONS + 1):
        coefs = {v: 1.0 for v in ix.served.values()}
        for v, c in cost_coefs.items():
            coefs[v] = coefs.get(v, 0.0) - lam * c
        m.set_objective(coefs, maximize=True)
        n_now = sol.credited()
        left = time_limit_s - sol.solve_time_s
        # F is near 0 at the end, where a relative gap means nothing: that is off (REL_TOL), the absolute gap a
        # tenth of the stop rule's
        res = _timed_solve(m, backend, left, REL_TOL, abs_gap=max(gap * n_now * 0.1, REL_TOL))
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
        if c_new > 0 and n_new / c_new > lam * (1 + RATIO_TOL):
            sol.values = res.values
            lam = n_new / c_new
        if f_val <= gap * max(n_new, REL_TOL) or res.status is not SolveStatus.OPTIMAL:
            break
    sol.objective_value = 3600.0 * lam
    sol.best_bound = max(3600.0 * (lam_used + max(f_bound, 0.0) / max(cost_lb, RATIO_TOL)), sol.objective_value)
    sol.gap = backends.relative_gap(sol.objective_value, sol.best_bound)
    if sol.status is SolveStatus.OPTIMAL and sol.gap is not None and sol.gap > max(gap, REL_TOL) * 1.01:
        sol.status = SolveStatus.FEASIBLE_TIME_LIMIT
    return sol
