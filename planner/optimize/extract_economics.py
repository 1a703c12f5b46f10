"""The plan's `economics` object and, with a demand profile, its `hourly` list (issue 10).

Each hour class is turned into a plan of its own (`build_plan` on that class's replicas and rentals, the owned
fleet shared), so its cost per hour is computed by the same code as every plan's. Sales: each workload sells its
best-paid capacity first, up to its demand in that class (`value_data.sell`). Year averages weight each class by
its share of the week; the investment view comes from `planner.investment`.
"""

from __future__ import annotations

from dataclasses import replace

from planner.investment import intensity, investment
from planner.optimize.extract import build_plan
from planner.optimize.instance import Instance
from planner.optimize.profit import PEAK
from planner.optimize.solve import Solution
from planner.optimize.value_data import sales_cap, sell
from planner.plan import CashFlowYear, Deployment, Economics, HourClassResult, Plan

WEIGHTED_UNITS = {
    "priority": "priority-weighted output tok/s",
    "value": "USD/h of output sold (value-weighted throughput)",
}


def add_economics(plan: Plan, inst: Instance, sol: Solution, n_candidates: int) -> None:
    """Fill `plan.economics` (and `plan.hourly`, with hour classes); list configurations that run only off-peak
    among the deployments with 0 replicas at the peak."""
    if not sol.status.has_solution:
        return
    if inst.objective == "max_throughput" and (inst.value.priority or inst.value.pricing):
        plan.objective_unit = WEIGHTED_UNITS["priority" if inst.value.priority else "value"]
    h = sol.hourly
    classes = list(h.classes) if h is not None else [PEAK]
    class_plans = [plan] + [
        build_plan(h.views[k].inst, _class_solution(sol, k), n_candidates) for k in range(1, len(classes))
    ]
    sales = [_class_sales(inst, cls, p) for cls, p in zip(classes, class_plans, strict=True)]
    rows = [_hour_class(inst, cls, p, s) for cls, p, s in zip(classes, class_plans, sales, strict=True)]
    caps = year_average_caps(inst)
    year = sales if not caps else [_class_sales(inst, cls, p, caps)
                                   for cls, p in zip(classes, class_plans, strict=True)]
    _note_peak_sales(plan, inst)
    if inst.value.hour_classes:
        plan.hourly = rows
        _add_off_peak_deployments(plan, class_plans[1:])
        plan.notes.append(
            f"demand profile: {len(rows)} hour classes; deployments, rented servers and fleet costs shown are "
            "the peak class's; `hourly` lists every class; `economics` holds the year averages"
        )
    plan.economics = _economics(inst, plan, rows, class_plans, year)


def _flat_averages(inst: Instance) -> dict[str, float]:
    """Average output tok/s of each workload that states an average demand but no daily profile."""
    return {w: wl.average_out_tok_s for w, wl in sorted(inst.workloads.items())
            if wl.average_out_tok_s is not None and wl.demand_out_tok_s and not inst.value.profiles.get(w)}


def year_average_caps(inst: Instance) -> dict[str, float]:
    """min_cost: output tok/s each workload with an average demand and no daily profile sells in the year
    averages. The fleet is sized for the peak, but the peak does not last all year: served tokens, $/Mtok served,
    utilization and revenue count the average. (max_profit and max_throughput value sales in the MIP itself:
    there the year averages stay what the MIP optimized.)"""
    return _flat_averages(inst) if inst.objective == "min_cost" else {}


def _note_peak_sales(plan: Plan, inst: Instance) -> None:
    flat = [] if inst.objective == "min_cost" else list(_flat_averages(inst))
    if flat:
        plan.notes.append(
            f"{', '.join(flat)}: an average demand but no demand_profile; {inst.objective} sells up to the peak "
            "demand every hour (the average only sets $/Mtok at average): give demand_profile for the daily shape"
        )


def _class_solution(sol: Solution, k: int) -> Solution:
    """The solution seen through class k: its replicas and rentals in the peak's variables."""
    h = sol.hourly
    values = list(sol.values)
    peak, view = h.views[0], h.views[k]
    for a, b in zip(peak.x, view.x, strict=True):
        values[a] = sol.values[b]
    for s, v in peak.rent.items():
        values[v] = sol.values[view.rent[s]]
    return replace(sol, values=values, ix=replace(view, x=peak.x, rent=peak.rent))


def _add_off_peak_deployments(plan: Plan, others: list[Plan]) -> None:
    have = {d.key for d in plan.deployments}
    extra: dict[str, Deployment] = {}
    for p in others:
        for d in p.deployments:
            if d.key not in have and d.key not in extra:
                extra[d.key] = d.model_copy(
                    update={"replicas": 0, "dp": 0, "gpus": 0, "output_tok_s": 0.0, "total_tok_s": 0.0}
                )
    if extra:
        plan.deployments = sorted([*plan.deployments, *extra.values()], key=lambda d: (d.workload, d.key))


def _class_sales(inst: Instance, cls, p: Plan, caps: dict[str, float] | None = None
                 ) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Per workload: capacity, tok/s sold (best-paid first, up to the class's demand, and up to `caps`) and
    revenue $/h."""
    pricing = inst.value.pricing
    capacity: dict[str, float] = {}
    served: dict[str, float] = {}
    revenue: dict[str, float] = {}
    for w, wl in sorted(inst.workloads.items()):
        m = cls.multiplier(w)
        demand = wl.demand_out_tok_s * m if wl.demand_out_tok_s else None
        cap = sales_cap(demand, wl.required_out_tok_s * m, inst.objective, inst.demand_cap_multiple)
        if caps and w in caps:
            cap = caps[w] if cap is None else min(cap, caps[w])
        offers: dict[float, float] = {}
        for d in p.deployments:
            if d.workload == w and d.replicas:
                rate = pricing[w].usd_per_hour_per_out_tok_s(d.tpot_s, wl.isl, wl.osl) if w in pricing else 0.0
                offers[rate] = offers.get(rate, 0.0) + d.output_tok_s
        sold = sell(offers, cap)
        capacity[w] = sum(offers.values())
        served[w] = sum(sold.values())
        revenue[w] = sum(r * q for r, q in sold.items())
    return capacity, served, revenue


def _hour_class(inst: Instance, cls, p: Plan, sales) -> HourClassResult:
    capacity, served, by_w = sales
    revenue = sum(by_w.values())
    priced = bool(inst.value.pricing)
    cost = p.fleet.cost_usd_per_hour
    cap_total = sum(capacity.values())
    return HourClassResult(
        hours=cls.label,
        hours_per_week=cls.hours_per_week,
        share_of_year=cls.share,
        demand_multipliers={w: cls.multiplier(w) for w in sorted(inst.workloads)},
        replicas={d.key: d.replicas for d in p.deployments if d.replicas},
        owned_replicas=sum(d.replicas for d in p.deployments if d.mode == "own"),
        rented_replicas=sum(d.replicas for d in p.deployments if d.mode == "rent"),
        servers_rented=dict(p.fleet.servers_rented),
        capacity_output_tok_s=capacity,
        served_output_tok_s=served,
        cost_usd_per_hour=cost,
        revenue_usd_per_hour=revenue if priced else None,
        profit_usd_per_hour=revenue - cost if priced else None,
        utilization=sum(served.values()) / cap_total if cap_total > 0 else None,
    )


def _rented_power(inst: Instance, p: Plan) -> tuple[float, float]:
    """(nameplate kW, average W) of the rented servers of one hour class, by the owned servers' formula."""
    kw = w = 0.0
    for s, n in p.fleet.servers_rented.items():
        sd = inst.systems[s]
        kw += n * sd.provisioned_kw
        w += n * (sd.non_gpu_avg_w + sd.gpus * sd.idle_w)
    for d in p.deployments:
        if d.mode == "rent" and d.replicas:
            w += d.replicas * (d.avg_power_w_per_replica - d.gpus_per_replica * inst.systems[d.system].idle_w)
    return kw, w


# figures that exist only when the problem prices its output (value.pricing): None otherwise
PRICED_ONLY = (
    "revenue_usd_per_hour", "profit_usd_per_hour", "gross_margin", "payback_years", "discounted_payback_years",
    "npv_usd", "irr", "revenue_usd_per_mw_year", "profit_usd_per_mw_year", "revenue_usd_per_rack_year",
    "profit_usd_per_rack_year", "revenue_usd_per_year", "profit_usd_per_year",
)


def _economics(
    inst: Instance, plan: Plan, rows: list[HourClassResult], class_plans: list[Plan], sales: list
) -> Economics:
    shares = [r.share_of_year for r in rows]
    cost = sum(f * r.cost_usd_per_hour for f, r in zip(shares, rows, strict=True))
    breakdown = {k: sum(f * p.fleet.cost_breakdown_usd_per_hour.get(k, 0.0)
                        for f, p in zip(shares, class_plans, strict=True))
                 for k in plan.fleet.cost_breakdown_usd_per_hour}
    # served and revenue from `sales` (year-average caps applied), not from the rows (each class at its level)
    revenue = sum(f * sum(s[2].values()) for f, s in zip(shares, sales, strict=True))
    served = sum(f * sum(s[1].values()) for f, s in zip(shares, sales, strict=True))
    capacity = sum(f * sum(r.capacity_output_tok_s.values()) for f, r in zip(shares, rows, strict=True))
    fl = plan.fleet
    it_kw, avg_it_w = _year_power(shares, class_plans, inst)
    inv = investment(revenue, cost, fl.capex_usd, rate=inst.cost_of_capital, years=inst.amortization_years)
    racks = sum(1 for r in fl.racks if r.rack_type != "(not modelled)") or len(fl.racks)
    k = intensity(revenue, revenue - cost, served, nameplate_it_kw=it_kw, pue=inst.pue, avg_it_w=avg_it_w,
                  racks=racks)
    figures = dict(
        revenue_usd_per_hour=revenue,
        cost_usd_per_hour=cost,
        cost_breakdown_usd_per_hour=breakdown,
        profit_usd_per_hour=revenue - cost,
        gross_margin=inv.gross_margin,
        payback_years=inv.payback_years,
        discounted_payback_years=inv.discounted_payback_years,
        npv_usd=inv.npv_usd,
        irr=inv.irr,
        revenue_usd_per_mw_year=k.revenue_usd_per_mw_year,
        profit_usd_per_mw_year=k.profit_usd_per_mw_year,
        output_tok_s_per_mw=k.output_tok_s_per_mw,
        output_tok_s_per_w=k.output_tok_s_per_w,
        provisioned_mw=k.provisioned_mw,
        racks=racks,
        revenue_usd_per_rack_year=k.revenue_usd_per_rack_year,
        profit_usd_per_rack_year=k.profit_usd_per_rack_year,
        output_tok_s_per_rack=k.output_tok_s_per_rack,
        horizon_years=inst.amortization_years,
        discount_rate=inst.cost_of_capital,
        capex_usd=fl.capex_usd,
        revenue_usd_per_year=inv.revenue_usd_per_year,
        opex_usd_per_year=inv.opex_usd_per_year,
        capital_charge_usd_per_year=inv.capital_charge_usd_per_year,
        profit_usd_per_year=inv.profit_usd_per_year,
        served_output_tok_s=served,
        capacity_output_tok_s=capacity,
        utilization=served / capacity if capacity > 0 else None,
        usd_per_mtok_served=cost / (served * 3600) * 1e6 if served > 0 else None,
        revenue_by_workload_usd_per_hour={},
        served_by_workload_output_tok_s=_year_average_by_workload(shares, [sold for _, sold, _ in sales]),
        cash_flows=[],
    )
    if inst.value.pricing:
        figures["revenue_by_workload_usd_per_hour"] = _year_average_by_workload(
            shares, [{w: x for w, x in rev.items() if w in inst.value.pricing} for _, _, rev in sales])
        figures["cash_flows"] = [CashFlowYear(**vars(f)) for f in inv.cash_flows]
    else:
        figures.update(dict.fromkeys(PRICED_ONLY))
    return Economics(**figures)


def _year_power(shares: list[float], class_plans: list[Plan], inst: Instance) -> tuple[float, float]:
    """(nameplate IT kW, year-average IT W) of the servers that make the tokens: owned every hour, rented in the
    hours they are rented (their power is the provider's, but per-MW figures would otherwise credit rented tokens
    to the site's MW)."""
    rented = [_rented_power(inst, p) for p in class_plans]
    avg_it_w = sum(f * (p.fleet.it_power_avg_kw * 1000 + w)
                   for f, p, (_, w) in zip(shares, class_plans, rented, strict=True))
    it_kw = class_plans[0].fleet.it_power_kw + sum(f * kw for f, (kw, _) in zip(shares, rented, strict=True))
    return it_kw, avg_it_w


def _year_average_by_workload(shares: list[float], per_class: list[dict[str, float]]) -> dict[str, float]:
    """Per workload, the year average of a figure given per hour class (each class weighted by its share)."""
    out: dict[str, float] = {}
    for f, figures in zip(shares, per_class, strict=True):
        for w, x in figures.items():
            out[w] = out.get(w, 0.0) + f * x
    return out
