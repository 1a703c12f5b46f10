"""verify's own cost arithmetic, one copy for its families: the plan's cost (verify.py), its cost breakdown
(verify_figures.py) and each hour class's cost (verify_economics.py). Written out here from the resolved
problem's figures on purpose: the check does not borrow planner.economics or the plan extraction it checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from planner.optimize.instance import Instance
from planner.plan import Plan

HOURS_PER_YEAR = 8760.0  # its own constant on purpose (see above)


def rack_capex_usd(plan: Plan, inst: Instance) -> float:
    """What the plan's racks cost (racks of a type the problem does not offer count nothing: verify names them)."""
    return sum(inst.racks[r.rack_type].price_usd for r in plan.fleet.racks if r.rack_type in inst.racks)


def owned_avg_w(inst: Instance, owned: Mapping[str, int], replicas: Iterable[tuple[object, int]]) -> float:
    """Average all-in IT power (W) of the owned servers: every server's idle floor (host and GPUs at idle), plus
    each owned replica's board power above idle. `replicas`: (deployment, how many of it run)."""
    systems = inst.systems
    watts = sum(k * (systems[s].non_gpu_avg_w + systems[s].gpus * systems[s].idle_w)
                for s, k in owned.items() if s in systems)
    for d, k in replicas:
        if d.mode == "own" and d.system in systems:
            watts += k * (d.avg_power_w_per_replica - d.gpus_per_replica * systems[d.system].idle_w)
    return watts


def cost_parts_usd_per_hour(inst: Instance, new: Mapping[str, int], owned: Mapping[str, int],
                            rented: Mapping[str, int], racks_usd: float, avg_w: float,
                            configurations: int) -> dict[str, float]:
    """$/h by component of `new` (bought) servers among the `owned` ones, `rented` servers, racks costing
    `racks_usd`, an owned average IT power of `avg_w` and `configurations` in use (the complexity charge)."""
    systems, h = inst.systems, HOURS_PER_YEAR
    new_capex = sum(systems[s].capex_usd * k for s, k in new.items() if s in systems)
    owned_capex = sum(systems[s].capex_usd * k for s, k in owned.items() if s in systems)
    rented = {s: k for s, k in rented.items() if s in systems}
    return {
        "capital": (new_capex + racks_usd) * inst.crf / h,
        "maintenance": (owned_capex + racks_usd) * inst.maintenance_fraction / h,
        # facility is charged on provisioned all-in power (GPUs + host + network), as the site must supply it
        "facility": sum(systems[s].provisioned_kw * k for s, k in owned.items() if s in systems)
        * inst.facility_usd_per_kw_month * 12 / h,
        "energy": avg_w * inst.pue * inst.electricity_usd_per_kwh / 1000,
        "rental": sum(systems[s].gpus * (systems[s].rent_usd_per_gpu_hour or 0.0) * k for s, k in rented.items()),
        "licence": sum(systems[s].gpus * systems[s].licence_usd_per_gpu_hour_owned * k
                       for s, k in owned.items() if s in systems)
        + sum(systems[s].gpus * systems[s].licence_usd_per_gpu_hour_rented * k for s, k in rented.items()),
        "complexity": inst.complexity_usd_per_hour * configurations,
    }
