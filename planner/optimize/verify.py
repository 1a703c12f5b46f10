"""Independent re-check of a plan: every constraint and the cost, recomputed from the problem and the catalog.

Nothing here reads the MIP or its solution values: only the plan (what a user would take away), the resolved
problem and, when given, the performance model to re-predict each deployment. Every solve runs it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.quality import quality_of
from planner.optimize import verify_buyer as vb
from planner.optimize.instance import Instance
from planner.optimize.layout import fits_rack, pack_groups
from planner.optimize.verify_cost import cost_parts_usd_per_hour, owned_avg_w, rack_capex_usd
from planner.optimize.verify_economics import verify_economics
from planner.optimize.verify_figures import check_plan_figures, check_side_figures
from planner.optimize.verify_predictions import check_predictions
from planner.plan import Plan

REL_TOL = 1e-6
# plan.json rounds every float to 6 significant digits (up to 5e-6 relative): checks on figures read from the
# plan allow for that, or a plan written by `planner solve --out` would fail its own re-check.
PLAN_TOL = 1e-5


@dataclass
class VerifyReport:
    ok: bool
    violations: list[str] = field(default_factory=list)
    checks: int = 0


def _close(a: float, b: float, tol: float = REL_TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


class _Checks:
    """Counts every check and collects the messages of those that fail."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.n = 0

    def __call__(self, cond: bool, msg: str) -> None:
        self.n += 1
        if not cond:
            self.violations.append(msg)


def verify_plan(
    plan: Plan,
    inst: Instance,
    catalog: Catalog | None = None,
    predict: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> VerifyReport:
    """Every constraint family of the formulation, re-checked on the plan alone (plus the problem, the catalog
    and, when given, the performance model), in the order of `constraints.py`."""
    if plan.status not in ("optimal", "feasible_time_limit"):
        return VerifyReport(False, [f"plan status is {plan.status}: nothing to verify"], 0)
    check = _Checks()
    check(
        plan.objective == inst.objective,
        f"objective {plan.objective} in the plan, the problem asks for {inst.objective}",
    )
    keys = Counter(d.key for d in plan.deployments)
    for key, k in sorted(keys.items()):
        check(k == 1, f"{key}: listed {k} times")
    groups, known = _check_deployments(plan, inst, catalog, check)
    if predict is not None and known:
        check.n += check_predictions(known, inst, predict, check.violations, catalog)
    cap, reps = _check_demand(plan, inst, check)
    owned = _check_servers(plan, inst, groups, check)
    if inst.racks and owned:
        _check_racks(plan, inst, owned, check)
    _check_totals(plan, inst, cap, reps, check)
    owned = Counter({s: k for s, k in owned.items() if s in inst.systems})
    _check_power(plan, inst, owned, check)
    _check_money(plan, inst, owned, cap, check)
    check.n += _buyer_families(plan, inst, catalog, check.violations)
    check_plan_figures(plan, inst, catalog, check)  # every other figure of the plan (verify_figures.py)
    _check_economics(plan, inst, check)
    return VerifyReport(not check.violations, check.violations, check.n)


def verify_side_figures(plan: Plan) -> VerifyReport:
    """The runner-up and price_of figures alone (`verify_plan` checks them with the rest where the plan has
    them; `planner solve` verifies the plan before they arrive from the side worker, then these)."""
    check = _Checks()
    check_side_figures(plan, check)
    return VerifyReport(not check.violations, check.violations, check.n)


def _check_deployments(plan: Plan, inst: Instance, catalog: Catalog | None, check: _Checks):
    """Each deployment: allowed workload/system/model/precision/mode, latency targets, group sizes, quality.
    Returns the TP/EP groups per (system, mode) and the deployments the perf model can re-predict."""
    groups: dict[tuple[str, str], Counter] = defaultdict(Counter)
    known: list = []  # deployments whose workload, system, model and precision all exist
    for d in plan.deployments:
        w = inst.workloads.get(d.workload)
        sd = inst.systems.get(d.system)
        check(w is not None, f"{d.key}: unknown workload {d.workload}")
        check(sd is not None, f"{d.key}: system {d.system} is not allowed")
        if catalog is not None:
            check(d.model in catalog.models, f"{d.key}: unknown model {d.model}")
            check(d.precision in catalog.precisions, f"{d.key}: unknown precision {d.precision}")
            if d.model not in catalog.models or d.precision not in catalog.precisions:
                continue
        if w is None or sd is None:
            continue
        known.append(d)
        _check_one_deployment(d, w, sd, catalog, check)
        group = d.tp * d.attn_dp
        # counts, not lists: a forged plan with 1e9 replicas must not build a list of 1e9 groups
        groups[(d.system, d.mode)][group] += d.replicas * d.gpus_per_replica // max(group, 1)
    return groups, known


def _check_one_deployment(d, w, sd, catalog: Catalog | None, check: _Checks) -> None:
    check(d.accelerator == sd.accelerator, f"{d.key}: {d.system} holds {sd.accelerator}, not {d.accelerator}")
    check(d.mode in ("own", "rent"), f"{d.key}: unknown mode {d.mode}")
    check(d.mode != "rent" or sd.rent, f"{d.key}: {d.system} cannot be rented")
    check(w.models is None or d.model in w.models, f"{d.key}: model {d.model} not allowed for {d.workload}")
    check(w.precisions is None or d.precision in w.precisions, f"{d.key}: precision {d.precision} not allowed")
    check(
        d.ttft_s <= w.ttft_target_s * (1 + PLAN_TOL),
        f"{d.key}: TTFT {d.ttft_s * 1000:.0f} ms > target {w.ttft_target_s * 1000:g} ms",
    )
    check(
        d.tpot_s <= w.tpot_target_s * (1 + PLAN_TOL),
        f"{d.key}: TPOT {d.tpot_s * 1000:.1f} ms > target {w.tpot_target_s * 1000:g} ms",
    )
    group = max(d.tp * d.attn_dp, (d.prefill_tp or 1) * (d.prefill_attn_dp or 1) if d.prefill_tp else 0)
    check(group == d.group_gpus, f"{d.key}: group of {d.group_gpus} GPUs, expected tp*attn_dp = {group} (the "
          "larger of the decode and prefill groups when disaggregated)")
    check(d.dp == d.replicas, f"{d.key}: dp {d.dp} differs from replicas {d.replicas}")
    check(
        group <= sd.domain,
        f"{d.key}: TP/EP group of {group} GPUs exceeds {d.system}'s {sd.domain}-GPU scale-up domain",
    )
    check(
        d.gpus_per_replica % max(group, 1) == 0,
        f"{d.key}: {d.gpus_per_replica} GPUs per replica is not a multiple of its {group}-GPU group",
    )
    check(d.gpus == d.replicas * d.gpus_per_replica, f"{d.key}: gpus != replicas x gpus_per_replica")
    check(
        _close(d.output_tok_s, d.replicas * d.output_tok_s_per_replica, PLAN_TOL),
        f"{d.key}: output_tok_s != replicas x per replica",
    )
    if catalog is not None and w.floor_benchmark is not None:
        q = quality_of(catalog, d.model, d.precision, w.floor_benchmark, d.effort)
        check(
            q is not None and q >= w.floor_score - 1e-9,
            f"{d.key}: quality {q} below the floor {w.floor_score:g} on {w.floor_benchmark}",
        )


def _check_demand(plan: Plan, inst: Instance, check: _Checks) -> tuple[Counter, Counter]:
    """Capacity >= demand x (1 + headroom) and the minimum replicas, per workload."""
    cap = Counter()
    reps = Counter()
    for d in plan.deployments:
        cap[d.workload] += d.output_tok_s
        reps[d.workload] += d.replicas
    for wid, w in inst.workloads.items():
        # max_profit sells at most the demand; a profile's hours are checked by verify_economics
        if inst.objective not in ("max_throughput", "max_profit") and not plan.hourly and w.demand_out_tok_s:
            check(
                cap[wid] >= w.required_out_tok_s * (1 - PLAN_TOL),
                f"workload {wid}: capacity {cap[wid]:,.0f} tok/s "
                f"< required {w.required_out_tok_s:,.0f} tok/s (demand x (1 + headroom))",
            )
        check(reps[wid] >= w.min_replicas, f"workload {wid}: {reps[wid]} replicas < minimum {w.min_replicas}")
    return cap, reps


def _check_servers(plan: Plan, inst: Instance, groups: dict, check: _Checks) -> Counter:
    """Buy/rent allowed, supply and inventory limits, TP/EP groups packed into scale-up domains of servers.
    Returns the owned servers (new + existing) per system."""
    fl = plan.fleet
    owned = Counter()
    for s, k in fl.servers_new.items():
        sd = inst.systems.get(s)
        check(sd is not None and sd.buy, f"{s}: bought but buying it is not allowed")
        if sd is not None and sd.supply is not None:
            check(k <= sd.supply, f"{s}: {k} bought > supply {sd.supply}")
        owned[s] += k
    for s, k in fl.servers_existing.items():
        sd = inst.systems.get(s)
        check(
            sd is not None and k <= sd.existing,
            f"{s}: {k} existing in service > inventory {sd.existing if sd else 0}",
        )
        owned[s] += k
    for s, k in fl.servers_rented.items():
        sd = inst.systems.get(s)
        check(sd is not None and sd.rent, f"{s}: rented but renting it is not allowed")
        if sd is not None and sd.rent_supply is not None:
            check(k <= sd.rent_supply, f"{s}: {k} rented > rental supply {sd.rent_supply}")
    for (s, mode), gs in sorted(groups.items()):
        sd = inst.systems[s]
        servers = owned[s] if mode == "own" else fl.servers_rented.get(s, 0)
        check(
            pack_groups(gs, sd.domain, sd.gpus, servers),
            f"{s} ({mode}): {sum(gs.values())} TP/EP groups ({sum(g * k for g, k in gs.items())} GPUs) do not "
            f"pack into {servers} servers of {sd.gpus} GPUs (domain {sd.domain})",
        )
    return owned


def _check_racks(plan: Plan, inst: Instance, owned: Counter, check: _Checks) -> None:
    """Rack power, units, cooling, whole-rack systems, rack counts, every owned server placed."""
    placed = Counter()
    per_type = Counter()
    for i, r in enumerate(plan.fleet.racks):
        rack = inst.racks.get(r.rack_type)
        check(rack is not None, f"rack {i}: type {r.rack_type} not available")
        if rack is None:
            continue
        per_type[r.rack_type] += 1
        unknown = sorted(s for s in r.systems if s not in inst.systems)
        check(not unknown, f"rack {i} ({r.rack_type}): holds systems not allowed: {', '.join(unknown)}")
        if unknown:
            continue
        kw = sum(inst.systems[s].nameplate_kw * k for s, k in r.systems.items())
        units = sum((inst.systems[s].rack_units or 0) * k for s, k in r.systems.items())
        check(kw <= rack.max_kw * (1 + REL_TOL), f"rack {i} ({r.rack_type}): {kw:g} kW > {rack.max_kw:g} kW")
        check(units <= rack.units, f"rack {i} ({r.rack_type}): {units}U > {rack.units}U")
        for s, k in r.systems.items():
            check(
                fits_rack(inst.systems[s], rack),
                f"rack {i} ({r.rack_type}): {s} does not fit (cooling or power)",
            )
            if inst.systems[s].whole_rack:
                check(k == 1 and len(r.systems) == 1, f"rack {i}: whole-rack system {s} must stand alone")
            placed[s] += k
    for rid, k in per_type.items():
        lim = inst.racks[rid].count
        check(lim is None or k <= lim, f"racks {rid}: {k} used > {lim} available")
    for s, k in owned.items():
        check(placed[s] == k, f"{s}: {k} owned servers but {placed[s]} placed in racks")


def _check_totals(plan: Plan, inst: Instance, cap: Counter, reps: Counter, check: _Checks) -> None:
    """The plan's GPU counts and per-workload capacity agree with its servers and deployments."""
    fl = plan.fleet
    gpus = Counter()
    for s, k in (*fl.servers_new.items(), *fl.servers_existing.items(), *fl.servers_rented.items()):
        if s in inst.systems:
            gpus[inst.systems[s].accelerator] += k * inst.systems[s].gpus
    check(
        {a: k for a, k in fl.gpus.items() if k} == {a: k for a, k in gpus.items() if k},
        f"GPUs {dict(sorted(fl.gpus.items()))} in the plan, {dict(sorted(gpus.items()))} recomputed",
    )
    for r in plan.workloads:
        wl = inst.workloads.get(r.workload)
        check(wl is not None, f"workload result {r.workload}: no such workload in the problem")
        check(
            _close(r.capacity_output_tok_s, cap[r.workload], 1e-5) and r.replicas == reps[r.workload],
            f"workload {r.workload}: {r.capacity_output_tok_s:,.0f} tok/s on {r.replicas} replicas in the plan, "
            f"{cap[r.workload]:,.0f} tok/s on {reps[r.workload]} in its deployments",
        )


def _check_power(plan: Plan, inst: Instance, owned: Counter, check: _Checks) -> None:
    """IT and facility power as reported, and the site limit."""
    fl = plan.fleet
    it_kw = sum(inst.systems[s].provisioned_kw * k for s, k in owned.items())
    check(_close(it_kw, fl.it_power_kw, 1e-5), f"IT power {fl.it_power_kw:g} kW in the plan, {it_kw:g} recomputed")
    check(
        _close(it_kw * inst.pue, fl.facility_power_kw, 1e-5),
        f"facility power {fl.facility_power_kw:g} kW in the plan, {it_kw * inst.pue:g} recomputed (IT x PUE)",
    )
    if inst.power_limit_kw is not None:
        check(
            it_kw * inst.pue <= inst.power_limit_kw * (1 + REL_TOL),
            f"site power {it_kw * inst.pue:,.0f} kW (IT x PUE) > limit {inst.power_limit_kw:,.0f} kW",
        )


def _check_money(plan: Plan, inst: Instance, owned: Counter, cap: Counter, check: _Checks) -> None:
    """Cost and capex recomputed independently, budgets, and the objective value."""
    fl = plan.fleet
    cost, capex = _recompute_cost(plan, inst, owned)
    check(
        _close(cost, fl.cost_usd_per_hour, 1e-5),
        f"cost {fl.cost_usd_per_hour:.4f} $/h in the plan, {cost:.4f} recomputed",
    )
    check(_close(capex, fl.capex_usd, 1e-5), f"capex {fl.capex_usd:,.0f} in the plan, {capex:,.0f} recomputed")
    if inst.budget_capex_usd is not None:
        check(
            capex <= inst.budget_capex_usd * (1 + REL_TOL),
            f"capex {capex:,.0f} > budget {inst.budget_capex_usd:,.0f}",
        )
    if inst.budget_usd_per_hour is not None and not plan.hourly:  # profiles: the year average, verify_economics
        check(
            cost <= inst.budget_usd_per_hour * (1 + PLAN_TOL),
            f"cost {cost:,.2f} $/h > budget {inst.budget_usd_per_hour:,.2f} $/h",
        )
    if plan.objective_value is not None and not _money_by_value(plan, inst):  # those: verify_economics
        if inst.objective == "min_cost":
            expect = cost
        else:
            credited = sum(
                min(cap[w], wl.required_out_tok_s * (inst.demand_cap_multiple or 1.0))
                if wl.demand_out_tok_s and (inst.demand_cap_multiple or inst.objective == "max_throughput")
                else cap[w]
                for w, wl in inst.workloads.items()
            )
            expect = credited if inst.objective == "max_throughput" else credited * 3600 / cost
        check(
            _close(expect, plan.objective_value, 1e-5),
            f"objective {plan.objective_value:g} in the plan, {expect:g} recomputed",
        )


def _money_by_value(plan: Plan, inst: Instance) -> bool:
    """Objectives whose value is checked by verify_economics: profit, profiled cost, weighted throughput."""
    return bool(
        inst.objective == "max_profit"
        or plan.hourly
        or (inst.objective == "max_throughput" and (inst.value.priority or inst.value.pricing))
    )


def _check_economics(plan: Plan, inst: Instance, check: _Checks) -> None:
    """Revenue, profit, the investment view and each hour class of a profile (`verify_economics`)."""
    if plan.economics is None and not _money_by_value(plan, inst):
        return
    n, violations = verify_economics(plan, inst)
    check.n += n
    check.violations.extend(violations)


def _recompute_cost(plan: Plan, inst: Instance, owned: Counter) -> tuple[float, float]:
    """(cost $/h, capex) of the plan's fleet (verify_cost.py); a configuration in use has a replica."""
    fl = plan.fleet
    new = {s: k for s, k in fl.servers_new.items() if s in inst.systems}
    racks_usd = rack_capex_usd(plan, inst)
    capex = sum(inst.systems[s].capex_usd * k for s, k in new.items()) + racks_usd
    avg_w = owned_avg_w(inst, owned, ((d, d.replicas) for d in plan.deployments))
    in_use = sum(1 for d in plan.deployments if d.replicas > 0)
    parts = cost_parts_usd_per_hour(inst, new, owned, fl.servers_rented, racks_usd, avg_w, in_use)
    return sum(parts.values()), capex


def _buyer_families(plan: Plan, inst: Instance, catalog: Catalog | None, v: list[str]) -> int:
    """Rental terms, simplicity limits, placement and failure domains (and, with the catalog, checkpoints and
    effort levels): planner.optimize.verify_buyer."""
    found, n = vb.verify_rental_terms(plan, inst)
    families = [vb.verify_limits, vb.verify_placement, vb.verify_survive]
    if catalog is not None:
        families += [lambda p, i: vb.verify_checkpoints(p, i, catalog),
                     lambda p, i: vb.verify_effort(p, i, catalog)]
    for family in families:
        more, m = family(plan, inst)
        found, n = found + more, n + m
    v.extend(found)
    return n
