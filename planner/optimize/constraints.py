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

from planner.optimize import failure
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
    """Replica upper bounds (min_cost only):  x_c <= max(ceil((1 + h_w) D_w / o_c), min_replicas_w), and under
    `survive` (N_w domains lost, at most k_c replicas of c in one domain) also >= ceil(D_w / o_c) + N_w k_c.

    Not valid for every feasible plan, but for the optimum: candidate c alone at that count meets its workload's
    demand and replica floor, and, with the survive term, still meets D_w after losing any N_w domains (they hold
    at most N_w k_c of its replicas); so lowering a larger x_c to it (taking replicas off any domains) keeps
    demand, min_replicas and survive, only loosens server_fit and slot_fit, and changes the cost by -E_c per
    replica (applied only where E_c >= 0, so cost never rises); every optimal value is kept. Without the survive
    term the bound cut optima off (simplicity-and-failure-domains: 60.30 $/h reported, 56.29 $/h optimal).
    Measured: SCIP's 60 s gap on the synthetic 50 x 15 goes from 1.1e-3 to 3.5e-4.
    Skipped for the throughput and ratio objectives, where more replicas earn more credit.
    """
    if ix.served or not ix.enforce_demand:
        return
    for w, rows in ix.by_workload.items():
        wl = ix.inst.workloads[w]
        need = wl.required_out_tok_s
        n_lost = wl.survive_count if wl.survive_level and wl.demand_out_tok_s else 0
        for i in rows:
            if ix.energy_usd_per_hour[i] < 0 or ix.out[i] <= 0:
                continue
            ub = max(math.ceil(need / ix.out[i] - 1e-9), wl.min_replicas) if need > 0 else wl.min_replicas
            if n_lost:
                per_domain = failure.replicas_per_domain(ix.inst, wl.survive_level, ix.system[i], ix.mode[i],
                                                         ix.gpus[i])
                ub = max(ub, math.ceil(wl.demand_out_tok_s / ix.out[i] - 1e-9) + n_lost * per_domain)
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
    """Site power:  PUE * sum_s provisioned_kW_s (b_s + e_s) <= site limit (kW); provisioned = all-in (chassis
    nameplate + network share, planner.power)."""
    lim = ix.inst.power_limit_kw
    if lim is None:
        return
    coefs = {}
    for s in sorted(set(ix.buy) | set(ix.exist)):
        kw = ix.inst.pue * ix.inst.systems[s].provisioned_kw
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
    F fixed $/h per server (capital, maintenance, facility, base energy, licence), R rental $/h per server
    (incl. licence),
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
    if inst.complexity_usd_per_hour:
        for v in ix.config_used.values():
            coefs[v] = inst.complexity_usd_per_hour
    return coefs


# A replica count no plan reaches without a bound of its own (max_throughput without a demand cap): the big-M of
# x_c <= M u_c. Budgets and supply keep real plans far below it.
REPLICA_BIG_M = 10000.0


def _config_used(m: MipModel, ix, i: int) -> int:
    """Binary u_c = 1 when candidate c has replicas:  x_c <= UB_c u_c  (UB_c its replica bound, else big-M)."""
    if i in ix.config_used:
        return ix.config_used[i]
    u = m.add_var(f"uses[{ix.keys[i]}]", ub=1.0, integer=True)
    ub = m.vars[ix.x[i]].ub
    big = ub if math.isfinite(ub) else REPLICA_BIG_M
    m.add(f"uses_link[{ix.keys[i]}]", "config_use", {ix.x[i]: 1.0, u: -big}, hi=0.0, entity=ix.keys[i],
          unit="replicas")
    ix.config_used[i] = u
    return u


def add_simplicity_limits(m: MipModel, ix) -> None:
    """Simplicity limits (u_c binary: configuration c in use, x_c <= UB_c u_c):
        configs      sum_{c in w} u_c <= K                                  per workload (default K = 2)
        platforms_w  u_c <= v_{w,s(c)},  sum_s v_{w,s} <= P_w                per workload (system types)
        platforms    v_{w,s} <= V_s (u_c <= V_s),  sum_s V_s <= P             fleet-wide
        min_share    o_c x_c >= share * D_w * u_c    (a workload's only configuration covers D_w anyway)
        complexity   + kappa $/h per configuration in use (in cost_coefs)
    Binaries are created only where a limit can bind (more candidates or systems than allowed) or kappa > 0.
    """
    inst = ix.inst
    K, Pw, P = inst.max_configs_per_workload, inst.max_platforms_per_workload, inst.max_platforms
    share = inst.min_deployment_share
    fleet_v: dict[str, int] = {}
    all_systems = sorted(set(ix.system))
    for w, rows in sorted(ix.by_workload.items()):
        if not rows:
            continue
        need_u = inst.complexity_usd_per_hour > 0 or (K is not None and len(rows) > K) or bool(share)
        systems = sorted({ix.system[i] for i in rows})
        need_pw = Pw is not None and len(systems) > Pw
        need_p = P is not None and len(all_systems) > P
        if need_u or need_pw or need_p:
            for i in rows:
                _config_used(m, ix, i)
        if K is not None and len(rows) > K:
            m.add(f"max_configs[{w}]", "max_configs", {ix.config_used[i]: 1.0 for i in rows}, hi=K, entity=w,
                  unit="configurations")
        if share:
            d = inst.workloads[w].demand_out_tok_s or 0.0
            for i in rows:
                if d > 0:
                    coefs = {ix.x[i]: ix.out[i], ix.config_used[i]: -share * d}
                    m.add(f"min_share[{ix.keys[i]}]", "min_share", coefs, lo=0.0, entity=w, unit="tok/s")
        if need_pw:
            v = {s: m.add_var(f"platform[{w},{s}]", ub=1.0, integer=True) for s in systems}
            for i in rows:
                coefs = {ix.config_used[i]: 1.0, v[ix.system[i]]: -1.0}
                m.add(f"platform_link[{ix.keys[i]}]", "platform_use", coefs, hi=0.0, entity=w, unit="")
            m.add(f"max_platforms_per_workload[{w}]", "max_platforms_per_workload", {x: 1.0 for x in v.values()},
                  hi=Pw, entity=w, unit="system types")
        if need_p:
            for s in systems:
                if s not in fleet_v:
                    fleet_v[s] = m.add_var(f"platform[{s}]", ub=1.0, integer=True)
            for i in rows:
                m.add(f"fleet_platform_link[{ix.keys[i]}]", "platform_use",
                      {ix.config_used[i]: 1.0, fleet_v[ix.system[i]]: -1.0}, hi=0.0, entity=ix.system[i], unit="")
    if fleet_v:
        m.add("max_platforms", "max_platforms", {v: 1.0 for v in fleet_v.values()}, hi=P, entity="fleet",
              unit="system types")


def add_failure_domains(m: MipModel, ix) -> None:
    """Failure domains (`survive`): see planner.optimize.failure for the placement slots and the exact
    worst-case-loss constraints."""
    failure.add(m, ix)
