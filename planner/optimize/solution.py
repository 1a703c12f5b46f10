"""A solve's outcome (`Solution`) and the one call into the backends, shared by every objective's solve
(`solve.py`, `solve_hourly.py`) so that neither imports the other to reach them."""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.optimize import backends
from planner.optimize import constraints as C
from planner.optimize.backends import RawResult, SolveStatus
from planner.optimize.formulation import Index
from planner.optimize.model import MipModel

# The solvers' own feasibility tolerance (HiGHS mip_feasibility_tolerance, read from highspy, and SCIP
# numerics/feastol: 1e-6 by default): a figure a solve returns may lie that far past a bound it holds, so a test
# against a solved figure allows that much, relative and (near 0) absolute.
FEAS_TOL = 1e-6
# Float noise in a plan's sums (a few thousand terms of ~1e-16 relative each) lies far below it, any gap a problem
# asks (0, or 1e-4 by default) far above; also the floor of a denominator that may be 0 (tok/s, tok/s/$).
# Assumed, not measured.
REL_TOL = 1e-9


def kept_lo(best: float) -> float:
    """The least a second stage (the cheapest plan keeping the first stage's optimum `best`) may keep: `best`
    less the solvers' feasibility tolerance, else the first stage's own plan could read as infeasible."""
    return best - max(FEAS_TOL * abs(best), FEAS_TOL)


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
    hint: list[float] | None = None, start: list[float] | None = None, heuristics: bool = True,
    branch_first: tuple[int, ...] = (), tree_cuts: bool = True,
) -> RawResult:
    return backends.solve(model, backend, time_limit_s=max(time_limit_s, 0.01), gap=gap, abs_gap=abs_gap,
                          presolve=presolve, hint=hint, start=start, heuristics=heuristics,
                          branch_first=branch_first, tree_cuts=tree_cuts)


def _finish(sol: Solution, res: RawResult) -> Solution:
    sol.status, sol.values, sol.message = res.status, res.values, res.message
    sol.solve_time_s += res.solve_time_s
    return sol
