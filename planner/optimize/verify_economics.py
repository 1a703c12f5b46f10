"""Independent re-check of what a plan earns and of its hourly schedule (issue 10): one verify family.

Recomputed from the plan's deployments, its `hourly` list and the resolved problem only, with arithmetic written
here (not the optimizer's): each hour class's replicas must pack into the owned plus that class's rented
servers, serve its demand (min_cost) or sell no more than it (every objective), meet min_replicas; its cost and
revenue are recomputed; the year averages are summed over the 168 hours of the week straight from the
problem's profiles; profit, margin, NPV, IRR and payback from their textbook definitions.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from planner.optimize.instance import Instance
from planner.optimize.layout import pack_groups
from planner.optimize.verify_cost import HOURS_PER_YEAR, cost_parts_usd_per_hour, owned_avg_w, rack_capex_usd
from planner.plan import Plan

TOL = 1e-5  # plan.json rounds floats to 6 significant digits


def _close(a: float | None, b: float | None, tol: float = TOL) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def _price_per_out_tok_s(inst: Instance, w: str, tpot_s: float) -> float:
    """$/h for one output tok/s sold, with its input tokens: tier by tokens/s per user, written out here."""
    p = inst.value.pricing.get(w)
    if p is None:
        return 0.0
    speed = 1.0 / tpot_s
    out = p.usd_per_mtok_output
    for threshold, price in sorted(p.tiers):
        if speed >= threshold * (1 - 1e-9):
            out = price
    wl = inst.workloads[w]
    return (out + p.usd_per_mtok_input * wl.isl / wl.osl) * 3600 / 1e6


def _week(inst: Instance) -> list[tuple[float, ...]]:
    """The 168 hours' demand multipliers (workloads sorted), straight from the profiles."""
    names = sorted(inst.workloads)
    out = []
    for day in range(7):
        kind = "weekday" if day < 5 else "weekend"
        for hour in range(24):
            prof = inst.value.profiles
            out.append(tuple(getattr(prof[w], kind)[hour] if prof.get(w) else 1.0 for w in names))
    return out


def verify_economics(plan: Plan, inst: Instance) -> tuple[int, list[str]]:
    """(checks made, violations) of the plan's hour classes (or its one fleet), sales, costs and economics."""
    v: list[str] = []
    n = 0

    def check(cond: bool, msg: str) -> None:
        nonlocal n
        n += 1
        if not cond:
            v.append(msg)

    fl = plan.fleet
    owned = Counter(fl.servers_new) + Counter(fl.servers_existing)
    names = sorted(inst.workloads)
    rows, shares = _hour_classes(plan, inst, names, check)
    # one (replicas, rented servers, multipliers, reported row) per class; without a profile: the deployments
    classes = [(r.replicas, r.servers_rented, r.demand_multipliers, r) for r in rows] or [
        ({d.key: d.replicas for d in plan.deployments}, fl.servers_rented, {}, None)
    ]
    per_class = []  # (cost, revenue, served, weighted, rented kW) of each class
    sold_by_w: Counter = Counter()
    for k, (reps, rented, mult, row) in enumerate(classes):
        tag = f"hourly[{k}]" if row is not None else "plan"
        cap, count = _class_capacity(plan, inst, reps, rented, owned, tag, check)
        revenue, served, weighted, class_revenue, year_sold = _class_sales(inst, cap, count, mult, row, tag, check)
        for w in names:
            sold_by_w[w] += shares[k] * year_sold[w]
        cost = _class_cost(plan, inst, reps, rented, owned)
        if row is not None:
            check(
                _close(row.cost_usd_per_hour, cost),
                f"{tag}: cost {row.cost_usd_per_hour:.4f} $/h in the plan, {cost:.4f} recomputed",
            )
            if inst.value.pricing:
                check(
                    _close(row.revenue_usd_per_hour, class_revenue),
                    f"{tag}: revenue {row.revenue_usd_per_hour} $/h in the plan, {class_revenue:.4f} recomputed",
                )
        rented_kw = sum(inst.systems[s].provisioned_kw * x for s, x in rented.items() if s in inst.systems)
        per_class.append((cost, revenue, served, weighted, rented_kw))
    avg = [sum(f * x for f, x in zip(shares, xs, strict=True)) for xs in zip(*per_class, strict=True)]
    cost, revenue, served, weighted, rented_kw = avg
    owned_kw = sum(inst.systems[s].provisioned_kw * x for s, x in owned.items() if s in inst.systems)
    mw = (owned_kw + rented_kw) * inst.pue / 1000
    _check_totals(plan, inst, check, cost, revenue, served, weighted, mw)
    if plan.economics is not None:
        for w in names:
            mine = plan.economics.served_by_workload_output_tok_s.get(w, 0.0)
            check(
                _close(mine, sold_by_w[w]),
                f"economics: workload {w} sells {mine:,.1f} tok/s in the plan, {sold_by_w[w]:,.1f} recomputed",
            )
    return n, v


def _hour_classes(plan: Plan, inst: Instance, names: list[str], check) -> tuple[list, list[float]]:
    """(the plan's hour classes, each one's share of the week): every hour of the profiles' week falls in the
    class of its demand level, and each class holds as many hours as the plan says. No profile: no class, one
    share of 1."""
    if not inst.value.hour_classes:
        check(not plan.hourly, "the plan has an hourly schedule but the problem no demand profile")
        return [], [1.0]
    check(bool(plan.hourly), "the problem has demand profiles but the plan has no hourly schedule")
    if not plan.hourly:  # said; the rest is checked on the deployments as one class, not left to crash
        return [], [1.0]
    rows = plan.hourly
    at = {tuple(r.demand_multipliers.get(w, 1.0) for w in names): k for k, r in enumerate(rows)}
    hours = Counter()
    for level in _week(inst):
        k = at.get(level)
        check(k is not None, f"hourly: no hour class has the demand level {dict(zip(names, level, strict=True))}")
        if k is not None:
            hours[k] += 1
    for k, r in enumerate(rows):
        check(
            hours[k] == r.hours_per_week,
            f"hourly[{k}] ({r.hours}): {r.hours_per_week} h/week in the plan, {hours[k]} in the profiles",
        )
    return rows, [hours[k] / 168 for k in range(len(rows))]


def _class_capacity(plan: Plan, inst: Instance, reps: dict, rented: dict, owned: Counter, tag: str,
                    check) -> tuple[dict[str, list[tuple[float, float]]], Counter]:
    """One class's replicas: they name deployments, pack into the owned plus the class's rented servers, rent
    only what may be rented. Returns per workload its (price $/h per tok/s, tok/s) offers and replica count."""
    deps = {d.key: d for d in plan.deployments}
    unknown = sorted(set(reps) - set(deps))
    check(not unknown, f"{tag}: replicas of configurations not among the deployments: {', '.join(unknown)}")
    cap: dict[str, list[tuple[float, float]]] = defaultdict(list)
    count = Counter()
    groups: dict[tuple[str, str], Counter] = defaultdict(Counter)  # counts: a forged 1e9 replicas is cheap
    for key, x in reps.items():
        d = deps.get(key)
        if d is None:
            continue
        cap[d.workload].append((_price_per_out_tok_s(inst, d.workload, d.tpot_s), x * d.output_tok_s_per_replica))
        count[d.workload] += x
        g = max(d.group_gpus, 1)
        groups[(d.system, d.mode)][g] += x * d.gpus_per_replica // g
    for (s, mode), gs in sorted(groups.items()):
        sd = inst.systems.get(s)
        if sd is None:
            continue
        servers = owned[s] if mode == "own" else rented.get(s, 0)
        check(
            pack_groups(gs, sd.domain, sd.gpus, servers),
            f"{tag}: {s} ({mode}): {sum(g * k for g, k in gs.items())} GPUs of replicas do not pack into "
            f"{servers} servers",
        )
    for s, x in rented.items():
        sd = inst.systems.get(s)
        check(
            sd is not None and sd.rent and (sd.rent_supply is None or x <= sd.rent_supply),
            f"{tag}: {x} {s} rented: not allowed or above the rental supply",
        )
    return cap, count


def _class_sales(inst: Instance, cap: dict, count: Counter, mult: dict, row, tag: str,
                 check) -> tuple[float, float, float, float, dict[str, float]]:
    """One class's sales per workload (min replicas, demand served under min_cost, no more sold than asked):
    (year-average revenue $/h, tok/s served, priority-weighted tok/s sold, the class's own revenue $/h, tok/s
    sold per workload at the year average)."""
    revenue = served_total = weighted = class_revenue = 0.0
    year_sold_by_w: dict[str, float] = {}
    for w in sorted(inst.workloads):
        wl = inst.workloads[w]
        m = mult.get(w, 1.0)
        offered = sum(q for _, q in cap[w])
        check(count[w] >= wl.min_replicas, f"{tag}: workload {w}: {count[w]} replicas < minimum {wl.min_replicas}")
        if inst.objective == "min_cost" and wl.demand_out_tok_s:
            check(
                offered >= wl.required_out_tok_s * m * (1 - TOL),
                f"{tag}: workload {w}: capacity {offered:,.0f} tok/s < required {wl.required_out_tok_s * m:,.0f}",
            )
        limit = math.inf
        if wl.demand_out_tok_s:
            base = wl.required_out_tok_s if inst.objective == "max_throughput" else wl.demand_out_tok_s
            limit = base * m * (inst.demand_cap_multiple or 1.0)
        sold_w, rev_w = _sell(cap[w], limit)
        class_revenue += rev_w
        # year averages (min_cost): a workload with an average and no daily profile sells its average.
        # Written out here on purpose, like _sell below (value_data.sell, year_average_caps): the verifier
        # does not borrow the arithmetic it checks
        year_limit = limit
        if (inst.objective == "min_cost" and wl.average_out_tok_s is not None and wl.demand_out_tok_s
                and not inst.value.profiles.get(w)):
            year_limit = min(limit, wl.average_out_tok_s)
        year_sold, year_rev = _sell(cap[w], year_limit)
        revenue += year_rev
        served_total += year_sold
        year_sold_by_w[w] = year_sold
        weighted += sold_w * inst.value.priority.get(w, 1.0)
        if row is not None:
            check(
                _close(row.served_output_tok_s.get(w, 0.0), sold_w),
                f"{tag}: workload {w}: {row.served_output_tok_s.get(w, 0.0):,.1f} tok/s sold in the plan, "
                f"{sold_w:,.1f} recomputed",
            )
            check(
                row.served_output_tok_s.get(w, 0.0) <= limit * (1 + TOL),
                f"{tag}: workload {w} sells more than its demand",
            )
    return revenue, served_total, weighted, class_revenue, year_sold_by_w


def _sell(offers: list[tuple[float, float]], limit: float) -> tuple[float, float]:
    """(tok/s sold, revenue $/h): best-paid capacity sells first, up to `limit`."""
    sold = revenue = 0.0
    for price, q in sorted(offers, key=lambda t: -t[0]):
        take = min(q, limit - sold)
        sold += take
        revenue += price * take
    return sold, revenue


def _class_cost(plan: Plan, inst: Instance, reps: dict, rented: dict, owned: Counter) -> float:
    """$/h of one hour: owned servers and racks every hour, replicas' energy above idle, rentals (verify_cost.py);
    a configuration in use has a replica in this hour."""
    running = [(next((d for d in plan.deployments if d.key == key), None), x) for key, x in reps.items()]
    avg_w = owned_avg_w(inst, owned, [(d, x) for d, x in running if d is not None])
    in_use = sum(1 for x in reps.values() if x > 0)
    parts = cost_parts_usd_per_hour(inst, plan.fleet.servers_new, owned, rented, rack_capex_usd(plan, inst), avg_w,
                                    in_use)
    return sum(parts.values())


def _check_totals(
    plan: Plan, inst: Instance, check, cost: float, revenue: float, served: float, weighted: float, mw: float
) -> None:
    e = plan.economics
    check(e is not None, "the plan has no economics")
    if e is None:
        return
    priced = bool(inst.value.pricing)
    if inst.budget_usd_per_hour is not None and plan.hourly:
        check(
            cost <= inst.budget_usd_per_hour * (1 + TOL),
            f"year-average cost {cost:,.2f} $/h > budget {inst.budget_usd_per_hour:,.2f} $/h",
        )
    check(
        _close(e.cost_usd_per_hour, cost),
        f"economics: cost {e.cost_usd_per_hour:.4f} $/h in the plan, {cost:.4f} recomputed over the week",
    )
    if e.cost_breakdown_usd_per_hour:  # absent in plans written before it was recorded
        parts = sum(e.cost_breakdown_usd_per_hour.values())
        check(_close(parts, cost), f"economics: cost breakdown adds up to {parts:.4f} $/h, {cost:.4f} recomputed")
    check(
        _close(e.served_output_tok_s, served),
        f"economics: {e.served_output_tok_s:,.1f} tok/s served in the plan, {served:,.1f} recomputed",
    )
    if priced:
        check(
            _close(e.revenue_usd_per_hour, revenue),
            f"economics: revenue {e.revenue_usd_per_hour} $/h in the plan, {revenue:.4f} recomputed",
        )
        check(
            _close(e.profit_usd_per_hour, revenue - cost),
            f"economics: profit {e.profit_usd_per_hour} $/h in the plan, {revenue - cost:.4f} recomputed",
        )
        _check_investment(e, inst, plan.fleet.capex_usd, revenue, cost, check)
        if mw > 0:
            check(
                _close(e.revenue_usd_per_mw_year, revenue * HOURS_PER_YEAR / mw, 1e-4),
                f"economics: revenue per MW-year {e.revenue_usd_per_mw_year} in the plan, "
                f"{revenue * HOURS_PER_YEAR / mw:,.0f} recomputed (servers' nameplate x PUE)",
            )
    else:
        check(e.revenue_usd_per_hour is None, "economics: revenue reported but no workload has a value")
    check(
        _close(e.provisioned_mw, mw),
        f"economics: {e.provisioned_mw} MW provisioned in the plan, {mw:.6g} recomputed (owned servers' "
        "nameplate, rented ones over their hours, x PUE)",
    )
    _check_objective(plan, inst, check, cost, revenue, weighted)


def _check_objective(plan: Plan, inst: Instance, check, cost: float, revenue: float, weighted: float) -> None:
    """The objective value of the objectives whose value is money or weighted sales (the others: verify.py)."""
    if plan.objective_value is None:
        return
    priced = bool(inst.value.pricing)
    expect = None
    if inst.objective == "max_profit":
        expect = revenue - cost
    elif inst.objective == "min_cost" and plan.hourly:
        expect = cost
    elif inst.objective == "max_throughput" and (inst.value.priority or priced):
        expect = weighted if inst.value.priority else revenue
    if expect is not None:
        check(
            _close(plan.objective_value, expect, 1e-4),
            f"objective {plan.objective_value:g} in the plan, {expect:g} recomputed",
        )


def _check_investment(e, inst: Instance, capex: float, revenue: float, cost: float, check) -> None:
    r, n = inst.cost_of_capital, inst.amortization_years
    crf = 1 / n if r == 0 else r * (1 + r) ** n / ((1 + r) ** n - 1)
    net = (revenue - cost) * HOURS_PER_YEAR + capex * crf  # revenue - opex, per year
    pv = n if r == 0 else (1 - (1 + r) ** -n) / r
    check(
        _close(e.npv_usd, -capex + net * pv, 1e-4),
        f"economics: NPV {e.npv_usd} in the plan, {-capex + net * pv:,.0f} recomputed",
    )
    check(
        e.gross_margin is None if revenue <= 0 else _close(e.gross_margin, (revenue - cost) / revenue, 1e-4),
        "economics: gross margin differs from (revenue - cost) / revenue",
    )
    if capex > 0 and net > 0:
        check(
            _close(e.payback_years, capex / net, 1e-4),
            f"economics: payback {e.payback_years} years in the plan, {capex / net:.4g} recomputed",
        )
        if e.irr is not None:
            at_irr = -capex + net * ((1 - (1 + e.irr) ** -n) / e.irr if e.irr else n)
            check(
                abs(at_irr) <= 1e-3 * capex,
                f"economics: NPV at the plan's IRR {e.irr:.4g} is {at_irr:,.0f}, not 0",
            )
