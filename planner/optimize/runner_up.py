"""The runner-up: the best plan without the accelerator that carries most of the plan's GPUs.

Split in three so that `pipeline` can start the re-solve early, beside the main solve, on a guess of that
accelerator (the one the optimum without the simplicity limits leans on): `main_accelerator` names it,
`solve_without` is the re-solve (the same model and solver wherever it runs, so the same answer), and
`runner_up_record` turns it into the plan's record once the main plan is known.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from planner.optimize.formulation import Index
from planner.optimize.instance import Instance
from planner.optimize.solve import Solution, solve_instance
from planner.plan import Plan, RunnerUp

UNITS = {"min_cost": "$/h", "max_throughput": "tok/s", "max_tokens_per_dollar": "tokens/$", "max_profit": "$/h"}


def main_accelerator(gpus: Counter) -> str | None:
    """The accelerator with the most GPUs (ties: the first by name)."""
    return sorted(gpus.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if gpus else None


def plan_gpus(plan: Plan) -> Counter:
    gpus: Counter = Counter()
    for d in plan.deployments:
        gpus[d.accelerator] += d.gpus
    return gpus


def solution_gpus(sol: Solution) -> Counter:
    """GPUs per accelerator in a solution's replicas (what `plan_gpus` counts once the plan is built)."""
    if sol.ix is None or not sol.status.has_solution:
        return Counter()
    return values_gpus(sol.ix, sol.values)


def values_gpus(ix: Index, values: list[float]) -> Counter:
    """GPUs per accelerator in the replicas of `values` (one per variable of `ix`'s model)."""
    gpus: Counter = Counter()
    for acc, x, g in zip(ix.cands["accelerator"], ix.x, ix.gpus, strict=True):
        n = round(values[x])
        if n > 0:
            gpus[acc] += n * g
    return gpus


def solve_without(inst: Instance, cands: pd.DataFrame, backend: str, time_limit_s: float | None,
                  accelerator: str) -> tuple[str, float | None, list[str]]:
    """(status, objective, accelerators used) of the best plan without `accelerator`."""
    alt = solve_instance(inst, cands, backend, time_limit_s=time_limit_s, exclude_accelerators=(accelerator,))
    if not alt.status.has_solution:
        return str(alt.status), None, []
    accs = sorted({a for a, s in zip(alt.ix.cands["accelerator"], alt.ix.x, strict=True) if alt.values[s] > 0.5})
    return str(alt.status), alt.objective_value, accs


def runner_up_record(inst: Instance, main: str, alt: tuple[str, float | None, list[str]],
                     objective_value: float | None) -> RunnerUp:
    status, value, accs = alt
    if value is None:
        return RunnerUp(excluded_accelerator=main, status=status, message=f"no plan without {main} ({status})")
    diff = value - objective_value
    pct = 100 * diff / abs(objective_value) if objective_value else None
    return RunnerUp(
        excluded_accelerator=main,
        status=status,
        objective_value=value,
        difference=diff,
        difference_pct=pct,
        accelerators=accs,
        message=f"best plan without {main}: {', '.join(accs)}, {diff:+,.4g} {UNITS[inst.objective]}"
        + (f" ({pct:+.1f}%)" if pct is not None else ""),
    )


def find_runner_up(
    inst: Instance, cands: pd.DataFrame, plan: Plan, sol: Solution, backend: str, time_limit_s: float | None
) -> RunnerUp | None:
    """The best plan without the accelerator that carries most of this plan's GPUs."""
    main = main_accelerator(plan_gpus(plan))
    if main is None:
        return None
    return runner_up_record(inst, main, solve_without(inst, cands, backend, time_limit_s, main),
                            sol.objective_value)
