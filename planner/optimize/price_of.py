"""What the buyer's requirements cost: the plan against the optimum without its simplicity limits, and without
its failure domains (each re-solved with the same candidates and backend, min_cost problems only).

"cost of limits: +4.10 $/h, +2.2% against the optimum without limits": limits = max_configs_per_workload,
max_platforms(_per_workload), min_deployment_share and the complexity charge; survive = every workload's `survive`.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from planner.optimize.instance import Instance
from planner.plan import Plan, PriceOf


def limits_active(inst: Instance) -> bool:
    return any(
        v for v in (inst.max_configs_per_workload, inst.max_platforms_per_workload, inst.max_platforms,
                    inst.min_deployment_share, inst.complexity_usd_per_hour)
    )


def without_limits(inst: Instance) -> Instance:
    return dataclasses.replace(
        inst, max_configs_per_workload=None, max_platforms_per_workload=None, max_platforms=None,
        min_deployment_share=None, complexity_usd_per_hour=0.0,
    )


def without_survive(inst: Instance) -> Instance:
    return dataclasses.replace(
        inst,
        workloads={
            w: dataclasses.replace(wl, survive_level=None, survive_count=0) for w, wl in inst.workloads.items()
        },
    )


def requirements_in_force(inst: Instance) -> list[str]:
    return [name for name, _ in _checks(inst)]


def _checks(inst: Instance) -> list[tuple[str, object]]:
    """(name, relax) for each requirement in force (min_cost problems only)."""
    if inst.objective != "min_cost":
        return []
    checks = [("limits", limits_active(inst), without_limits),
              ("survive", any(w.survive_level for w in inst.workloads.values()), without_survive)]
    return [(name, relax) for name, active, relax in checks if active]


def relaxations(inst: Instance) -> list[tuple[str, Instance]]:
    """(requirement, the instance without it) for each requirement in force. Independent of the plan:
    `pipeline` solves them beside the main solve."""
    return [(name, relax(inst)) for name, relax in _checks(inst)]


def relaxed_result(sol) -> tuple[str, float | None]:
    """(status, optimum) of a relaxation's Solution."""
    ok = sol.status.has_solution and sol.objective_value is not None
    return str(sol.status), sol.objective_value if ok else None


def relaxed_optima(inst: Instance, solve) -> dict[str, tuple[str, float | None]]:
    """{requirement: (status, optimum without it)}; `solve(instance) -> Solution`, one re-solve per requirement
    in force."""
    return {name: relaxed_result(solve(relaxed)) for name, relaxed in relaxations(inst)}


def priced(plan: Plan, optima: dict[str, tuple[str, float | None]]) -> dict[str, PriceOf]:
    """What each requirement adds to the plan's cost, from `relaxed_optima`."""
    if plan.objective_value is None:
        return {}
    out: dict[str, PriceOf] = {}
    for name, (status, base) in optima.items():
        if base is None:
            out[name] = PriceOf(without_usd_per_hour=None, add_usd_per_hour=None, add_pct=None,
                                message=f"without {name}: {status}")
            continue
        add = plan.objective_value - base
        pct = 100.0 * add / base if base > 0 else None
        out[name] = PriceOf(
            without_usd_per_hour=base, add_usd_per_hour=add, add_pct=pct,
            message=f"{add:+,.2f} $/h" + (f", {pct:+.1f}%" if pct is not None else "")
            + f" against the optimum without {name}: {base:,.2f} $/h",
        )
    return out


def price_of_requirements(inst: Instance, cands: pd.DataFrame, plan: Plan, solve) -> dict[str, PriceOf]:
    """`solve(instance) -> Solution`; one re-solve per requirement in force."""
    if inst.objective != "min_cost" or plan.objective_value is None:
        return {}
    return priced(plan, relaxed_optima(inst, solve))
