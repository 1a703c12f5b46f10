"""Which platform earns the most (issue 10): re-solve a max_profit problem on each accelerator alone.

The runner-up answers "what if not the winner"; this answers the AI-factory question directly, at the same site
power, prices and demand: the profit per hour and per provisioned MW of the best plan on each accelerator, the
precisions it chose, and how far it falls behind the best.
"""

from __future__ import annotations

from planner.optimize.extract import build_plan
from planner.optimize.extract_economics import add_economics
from planner.optimize.instance import Instance
from planner.optimize.solve import solve_instance
from planner.plan import PlatformResult


def platforms_compared(inst: Instance, cands) -> list[str]:
    """The accelerators compared: those among the candidates, for max_profit with two or more; else none."""
    accs = sorted(set(cands["accelerator"])) if len(cands) else []
    return accs if inst.objective == "max_profit" and len(accs) >= 2 else []


def compare_platforms(inst: Instance, cands, backend: str, time_limit_s: float | None) -> list[PlatformResult]:
    """One solve per accelerator among the candidates (only for max_profit with two or more), best first."""
    accs = platforms_compared(inst, cands)
    if not accs:
        return []
    out = []
    for a in accs:
        others = tuple(x for x in accs if x != a)
        sol = solve_instance(inst, cands, backend, time_limit_s=time_limit_s, exclude_accelerators=others)
        if not sol.status.has_solution:
            out.append(PlatformResult(accelerator=a, status=str(sol.status)))
            continue
        plan = build_plan(inst, sol, len(cands))
        add_economics(plan, inst, sol, len(cands))
        e = plan.economics
        running = [d for d in plan.deployments if d.replicas]
        out.append(
            PlatformResult(
                accelerator=a,
                status=str(sol.status),
                profit_usd_per_hour=sol.objective_value,
                profit_usd_per_mw_year=e.profit_usd_per_mw_year,
                revenue_usd_per_mw_year=e.revenue_usd_per_mw_year,
                output_tok_s_per_mw=e.output_tok_s_per_mw,
                provisioned_mw=e.provisioned_mw,
                gpus=sum(plan.fleet.gpus.values()),
                systems=sorted(plan.fleet.servers),
                precisions=sorted({d.precision for d in running}),
            )
        )
    solved = [p for p in out if p.profit_usd_per_hour is not None]
    best = max((p.profit_usd_per_hour for p in solved), default=None)
    for p in solved:
        p.difference_usd_per_hour = p.profit_usd_per_hour - best
        p.difference_pct = 100 * p.difference_usd_per_hour / abs(best) if best else None
    return sorted(out, key=lambda p: (p.profit_usd_per_hour is None, -(p.profit_usd_per_hour or 0), p.accelerator))
