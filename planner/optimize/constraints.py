"""One function per constraint family: each docstring states its inequality; each adds nothing when it has
nothing to constrain.

Notation (see `planner.optimize.formulation` for the whole model):
  c candidate (workload w(c), system s(c), mode own|rent), x_c replicas, g_c GPUs per replica, q_c GPUs of one
  TP/EP group (must share a scale-up domain), o_c output tok/s per replica;
  b_s servers bought, e_s existing servers kept, r_s servers rented, z_p racks laid out with pattern p;
  u_w output tok/s credited to workload w (ratio and throughput objectives).
"""

from __future__ import annotations

import math
from collections import defaultdict

from planner.optimize.model import MipModel


def add_demand(m: MipModel, ix) -> None:
    """Serve peak demand with headroom:  sum_{c in w} o_c x_c >= (1 + h_w) D_w   for every workload w.

    For the ratio and throughput objectives the credited output is bounded by what runs and by the cap:
    u_w <= sum_{c in w} o_c x_c,   u_w <= cap_w  (cap_w = (1 + h_w) D_w * demand_cap_multiple, if any).
    """
    inst = ix.inst
    for w, rows in ix.by_workload.items():
        wl = inst.workloads[w]
        coefs = {ix.x[i]: ix.out[i] for i in rows}
        if w in ix.served:
            u = ix.served[w]
            m.add(f"credit[{w}]", "credit", {**coefs, u: -1.0}, lo=0.0, entity=w, unit="tok/s")
            cap = ix.credit_cap.get(w)
            if cap is not None:
                m.add(f"credit_cap[{w}]", "credit_cap", {u: 1.0}, hi=cap, entity=w, unit="tok/s")
        if ix.enforce_demand and wl.required_out_tok_s > 0:
            m.add(f"demand[{w}]", "demand", coefs, lo=wl.required_out_tok_s, entity=w, unit="tok/s")


def add_min_replicas(m: MipModel, ix) -> None:
    """Availability:  sum_{c in w} x_c >= min_replicas_w."""
    for w, rows in ix.by_workload.items():
        k = ix.inst.workloads[w].min_replicas
        if k > 0:
            m.add(
                f"min_replicas[{w}]", "min_replicas", {ix.x[i]: 1.0 for i in rows}, lo=k, entity=w, unit="replicas"
            )


def add_replica_bounds(m: MipModel, ix) -> None:
    """Replica upper bounds (min_cost only):  x_c <= max(ceil((1 + h_w) D_w / o_c), min_replicas_w).

    Not valid for every feasible plan, but for the optimum: candidate c alone at that count meets its workload's
    demand and replica floor, so lowering a larger x_c to it keeps demand and min_replicas, only loosens
    server_fit, and changes the cost by -E_c per replica (applied only where E_c >= 0, so cost never rises);
    every optimal value is kept. Measured: SCIP's 60 s gap on the synthetic 50 x 15 goes from 1.1e-3 to 3.5e-4.
    Skipped for the throughput and ratio objectives, where more replicas earn more credit.
    """
    if ix.served or not ix.enforce_demand:
        return
    for w, rows in ix.by_workload.items():
        wl = ix.inst.workloads[w]
        need = wl.required_out_tok_s
        for i in rows:
            if ix.energy_usd_per_hour[i] < 0 or ix.out[i] <= 0:
                continue
            ub = max(math.ceil(need / ix.out[i] - 1e-9), wl.min_replicas) if need > 0 else wl.min_replicas
            v = m.vars[ix.x[i]]
            if ub < v.ub:
                m.fix(v.index, v.lb, float(ub))


def add_server_fit(m: MipModel, ix) -> None:
    """GPUs fit in whole servers, each TP/EP group inside one scale-up domain. For every system s, mode and
    group size t used there:
        sum_{c on s, q_c >= t} g_c x_c  <=  cap_s(t) * servers_s
    cap_s(t) = GPUs of one server usable by groups of size >= t (t * floor(D/t) per domain of size D);
    servers_s = b_s + e_s (own) or r_s (rent). For group sizes dividing each other (powers of two) these
    inequalities are exactly the condition for first-fit-decreasing to pack the groups into the domains.
    """
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i in range(len(ix.keys)):
        groups[(ix.system[i], ix.mode[i])].append(i)
    for (s, mode), rows in sorted(groups.items()):
        sysd = ix.inst.systems[s]
        server_vars = [ix.buy.get(s), ix.exist.get(s)] if mode == "own" else [ix.rent.get(s)]
        server_vars = [v for v in server_vars if v is not None]
        for t in sorted({ix.group[i] for i in rows} | {1}):
            cap = sysd.domain_capacity(t)
            if t > 1 and cap == sysd.domain_capacity(1):
                continue  # t divides the domains: implied by the plain GPU count (t = 1)
            coefs = {ix.x[i]: float(ix.gpus[i]) for i in rows if ix.group[i] >= t}
            if not coefs:
                continue
            for v in server_vars:
                coefs[v] = coefs.get(v, 0.0) - cap
            m.add(f"server_fit[{s},{mode},q>={t}]", "server_fit", coefs, hi=0.0, entity=s, unit="GPUs")


def add_supply(m: MipModel, ix) -> None:
    """Supply limits:  b_s <= supply_s (purchases),  r_s <= rent_supply_s (rentals),  e_s <= existing_s."""
    for s, v in sorted(ix.buy.items()):
        lim = ix.inst.systems[s].supply
        if lim is not None:
            m.add(f"supply[{s}]", "supply", {v: 1.0}, hi=lim, entity=s, unit="servers")
    for s, v in sorted(ix.rent.items()):
        lim = ix.inst.systems[s].rent_supply
        if lim is not None:
            m.add(f"rent_supply[{s}]", "rent_supply", {v: 1.0}, hi=lim, entity=s, unit="servers")
    for s, v in sorted(ix.exist.items()):
        m.add(f"existing[{s}]", "existing", {v: 1.0}, hi=ix.inst.systems[s].existing, entity=s, unit="servers")


def add_rack_fit(m: MipModel, ix) -> None:
    """Every owned server has a rack slot:  sum_p n_{p,s} z_p >= b_s + e_s.
    Each pattern p of rack type r holds sum_s n_{p,s} kW_s <= max_kW_r (rack power) and
    sum_s n_{p,s} U_s <= U_r (rack space), with matching cooling, by construction (see layout.rack_patterns).
    """
    if not ix.racks_modelled:
        return
    for s in sorted(set(ix.buy) | set(ix.exist)):
        coefs = {ix.z[k]: float(p.count(s)) for k, p in enumerate(ix.patterns) if p.count(s)}
        for v in (ix.buy.get(s), ix.exist.get(s)):
            if v is not None:
                coefs[v] = coefs.get(v, 0.0) - 1.0
        m.add(f"rack_fit[{s}]", "rack_fit", coefs, lo=0.0, entity=s, unit="servers")


def add_rack_count(m: MipModel, ix) -> None:
    """Racks available per type:  sum_{p of type r} z_p <= count_r."""
    if not ix.racks_modelled:
        return
    for rid, rack in sorted(ix.inst.racks.items()):
        if rack.count is None:
            continue
        coefs = {ix.z[k]: 1.0 for k, p in enumerate(ix.patterns) if p.rack == rid}
        m.add(f"rack_count[{rid}]", "rack_count", coefs, hi=rack.count, entity=rid, unit="racks")


def add_site_power(m: MipModel, ix) -> None:
    """Site power:  PUE * sum_s nameplate_kW_s (b_s + e_s) <= site limit (kW)."""
    lim = ix.inst.power_limit_kw
    if lim is None:
        return
    coefs = {}
    for s in sorted(set(ix.buy) | set(ix.exist)):
        kw = ix.inst.pue * ix.inst.systems[s].nameplate_kw
        for v in (ix.buy.get(s), ix.exist.get(s)):
            if v is not None:
                coefs[v] = kw
    m.add("site_power", "site_power", coefs, hi=lim, entity="site", unit="kW")


def add_budget(m: MipModel, ix) -> None:
    """Budgets:  sum_s capex_s b_s + sum_p price_r(p) z_p <= capex budget;   cost per hour <= hourly budget."""
    inst = ix.inst
    if inst.budget_capex_usd is not None:
        m.add(
            "budget_capex", "budget_capex", capex_coefs(ix), hi=inst.budget_capex_usd, entity="budget", unit="USD"
        )
    if inst.budget_usd_per_hour is not None:
        m.add(
            "budget_hourly",
            "budget_hourly",
            cost_coefs(ix),
            hi=inst.budget_usd_per_hour,
            entity="budget",
            unit="USD/h",
        )


def capex_coefs(ix) -> dict[int, float]:
    """New hardware spend: servers bought (incl. network share) and racks."""
    coefs = {v: ix.inst.systems[s].capex_usd for s, v in ix.buy.items()}
    for k, p in enumerate(ix.patterns):
        price = ix.inst.racks[p.rack].price_usd
        if price:
            coefs[ix.z[k]] = price
    return coefs


def cost_coefs(ix) -> dict[int, float]:
    """Total cost per hour:
        sum_s (F^new_s b_s + F^old_s e_s + R_s r_s) + sum_p F_r(p) z_p + sum_{c own} E_c x_c
    F fixed $/h per server (capital, maintenance, facility, base energy), R rental $/h per server,
    E_c energy $/h of a replica above the idle draw of its GPUs: (W_c - g_c W_idle) * PUE * $/kWh / 1000.
    """
    inst = ix.inst
    coefs: dict[int, float] = {}
    for s, v in ix.buy.items():
        coefs[v] = inst.systems[s].new_usd_per_hour
    for s, v in ix.exist.items():
        coefs[v] = inst.systems[s].existing_usd_per_hour
    for s, v in ix.rent.items():
        coefs[v] = inst.systems[s].rent_usd_per_hour
    for k, p in enumerate(ix.patterns):
        if inst.racks[p.rack].usd_per_hour:
            coefs[ix.z[k]] = inst.racks[p.rack].usd_per_hour
    for i in range(len(ix.keys)):
        if ix.mode[i] == "own" and ix.energy_usd_per_hour[i]:
            coefs[ix.x[i]] = ix.energy_usd_per_hour[i]
    return coefs
