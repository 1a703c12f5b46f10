"""Turn a solved model into a `Plan`: deployments, fleet, rack layout, power, economics, throughput."""

from __future__ import annotations

from collections import defaultdict

from planner import __version__, power
from planner import economics as money
from planner.economics import HOURS_PER_YEAR
from planner.optimize import failure, failure_slots
from planner.optimize.instance import Instance
from planner.optimize.layout import assign_racks
from planner.optimize.solve import Solution
from planner.optimize.variants import variant_fields
from planner.perf.reasoning import decoded_osl
from planner.perf.slo_policy import slo_basis, utilization_cap
from planner.plan import GENERIC_ENGINE, Deployment, Fleet, Limits, Plan, Rack, Server, WorkloadResult

OBJECTIVE_UNITS = {
    "min_cost": "USD/h",
    "max_throughput": "output tok/s",
    "max_tokens_per_dollar": "output tokens/USD",
    "max_profit": "USD/h profit (revenue - all-in cost)",
}


def empty_plan(inst: Instance, sol: Solution, n_candidates: int) -> Plan:
    return Plan(
        problem=inst.name,
        status=str(sol.status),
        objective=inst.objective,
        objective_unit=OBJECTIVE_UNITS[inst.objective],
        objective_value=None,
        best_bound=None,
        gap=None,
        backend=sol.backend,
        solve_time_s=round(sol.solve_time_s, 3),
        iterations=sol.iterations,
        candidates=n_candidates,
        message=sol.message,
        notes=list(inst.notes),
        limits=Limits(
            site_power_kw=inst.power_limit_kw,
            pue=inst.pue,
            budget_capex_usd=inst.budget_capex_usd,
            budget_usd_per_hour=inst.budget_usd_per_hour,
            rack_power_kw={r.id: r.max_kw for r in sorted(inst.racks.values(), key=lambda r: r.id)},
            rack_count={r.id: r.count for r in inst.racks.values() if r.count is not None},
        ),
        planner_version=__version__,
    )


def _count(sol: Solution, table: dict[str, int]) -> dict[str, int]:
    out = {s: round(sol.values[v]) for s, v in sorted(table.items())}
    return {s: n for s, n in out.items() if n > 0}


def build_plan(inst: Instance, sol: Solution, n_candidates: int) -> Plan:
    plan = empty_plan(inst, sol, n_candidates)
    if not sol.status.has_solution:
        return plan
    deployments, replica_w_owned, out_owned, hidden = _deployments(inst, sol)
    plan.deployments = deployments
    placed = failure.placement_from_solution(sol.ix, sol.values, deployments)
    fleet = _fleet(inst, sol, deployments, placed, replica_w_owned, out_owned)
    _at_average(fleet, inst, deployments)
    plan.fleet = fleet
    plan.placement = _placement(inst, placed, deployments, fleet.servers_new, fleet.servers_existing,
                                fleet.servers_rented, fleet.racks)
    plan.workloads = [_workload_result(wl, [d for d in deployments if d.workload == w], hidden)
                      for w, wl in sorted(inst.workloads.items())]
    plan.objective_value = sol.objective_value
    plan.best_bound = sol.best_bound
    plan.gap = sol.gap
    full = failure_slots.full_slot_notes(sol.ix, sol.values)
    plan.notes = sorted(set(inst.notes) | set(sol.ix.notes) | set(full))
    return plan


def _fleet(inst: Instance, sol: Solution, deployments: list[Deployment], placed, replica_w_owned: float,
           out_owned: float) -> Fleet:
    """Servers, racks, power and money of the solution; `replica_w_owned`, `out_owned`: the owned replicas'
    board power above idle (W) and output tok/s (`_deployments`)."""
    ix = sol.ix
    new, old, rented = _count(sol, ix.buy), _count(sol, ix.exist), _count(sol, ix.rent)
    servers: dict[str, int] = defaultdict(int)
    for t in (new, old, rented):
        for s, n in t.items():
            servers[s] += n
    used_gpus: dict[str, int] = defaultdict(int)
    for s, n in servers.items():
        used_gpus[inst.systems[s].accelerator] += n * inst.systems[s].gpus
    # sorted: the sums below come out the same whatever the string hash seed
    owned = {s: new.get(s, 0) + old.get(s, 0) for s in sorted(set(new) | set(old))}
    rack_counts = {
        p: round(sol.values[ix.z[k]]) for k, p in enumerate(ix.patterns) if round(sol.values[ix.z[k]]) > 0
    }
    racks = _racks(inst, ix.racks_modelled, owned, rack_counts, placed)
    it_kw = sum(inst.systems[s].provisioned_kw * n for s, n in owned.items())
    avg_w_owned = replica_w_owned
    for s, n in owned.items():
        sd = inst.systems[s]
        avg_w_owned += n * (sd.non_gpu_avg_w + sd.gpus * sd.idle_w)
    parts, capex = _cost_parts(inst, new, owned, rented, rack_counts, it_kw, avg_w_owned, len(deployments))
    cost_h = sum(parts.values())
    capital = parts["capital"] + parts["rack_capital"]
    out_tok = sum(d.output_tok_s for d in deployments)
    return Fleet(
        servers=dict(sorted(servers.items())),
        servers_new=new,
        servers_existing=old,
        servers_rented=rented,
        gpus=dict(sorted(used_gpus.items())),
        racks=[Rack(**r) for r in racks],
        it_power_kw=it_kw,
        it_power_avg_kw=avg_w_owned / 1000,
        facility_power_kw=it_kw * inst.pue,
        capex_usd=capex,
        opex_usd_per_year=(cost_h - parts["capital"] - parts["rack_capital"]) * HOURS_PER_YEAR,
        cost_usd_per_hour=cost_h,
        cost_breakdown_usd_per_hour={
            "capital": capital,
            "maintenance": parts["maintenance"] + parts["rack_maintenance"],
            "facility": parts["facility"],
            "energy": parts["energy"],
            "rental": parts["rental"],
            "licence": parts["licence"],
            "complexity": parts["complexity"],
        },
        output_tok_s=out_tok,
        total_tok_s=sum(d.total_tok_s for d in deployments),
        tokens_per_usd=out_tok * 3600 / cost_h if cost_h > 0 else None,
        usd_per_mtok=cost_h / (out_tok * 3600) * 1e6 if out_tok > 0 else None,
        tokens_per_kwh=power.tokens_per_kwh(out_owned, avg_w_owned) if avg_w_owned > 0 else None,
        output_tok_s_per_provisioned_mw=power.tokens_s_per_provisioned_mw(out_owned, it_kw),
        rental_terms={s: inst.systems[s].rent_term or "" for s in sorted(rented)},
    )


def _deployments(inst: Instance, sol: Solution) -> tuple[list[Deployment], float, float, set[str]]:
    """The chosen candidate rows as deployments (by workload, then key), with the owned replicas' board power
    above idle (W), their output tok/s and the keys of those that generate hidden reasoning tokens (TTFT to the
    first visible token, `planner.perf.reasoning`; their slo_basis says so)."""
    ix = sol.ix
    deployments: list[Deployment] = []
    hidden: set[str] = set()
    replica_w_owned = 0.0
    out_owned = 0.0
    for i, key in enumerate(ix.keys):
        n = round(sol.values[ix.x[i]])
        if n <= 0:
            continue
        r = ix.cands.iloc[i]
        deployments.append(_deployment(key, r, n))
        osl = inst.workloads[r["workload"]].osl  # the grid's rule (candidate frames built by hand carry no osl)
        if decoded_osl(osl, float(r.get("output_multiplier", 1.0) or 1.0)) > osl:
            hidden.add(key)
        if r["mode"] == "own":
            replica_w_owned += n * (float(r["avg_power_w"]) - int(r["gpus"]) * inst.systems[r["system"]].idle_w)
            out_owned += n * float(r["output_tok_s"])
    deployments.sort(key=lambda d: (d.workload, d.key))
    return deployments, replica_w_owned, out_owned, hidden


def _deployment(key: str, r, n: int) -> Deployment:
    """`n` replicas of candidate row `r`."""
    q = r.get("quality")
    return Deployment(
        key=key,
        workload=r["workload"],
        model=r["model"],
        precision=r["precision"],
        kv_precision=str(r["kv_precision"]),
        system=r["system"],
        accelerator=r["accelerator"],
        mode=r["mode"],
        tp=int(r["tp"]),
        pp=int(r["pp"]),
        ep=int(r["ep"]),
        dp=n,
        attn_dp=int(r["attn_dp"]),
        serving=r["serving"],
        batch=int(r["batch"]),
        replicas=n,
        gpus=n * int(r["gpus"]),
        gpus_per_replica=int(r["gpus"]),
        group_gpus=int(r["group_gpus"]),
        output_tok_s=n * float(r["output_tok_s"]),
        output_tok_s_per_replica=float(r["output_tok_s"]),
        total_tok_s=n * float(r["total_tok_s"]),
        ttft_s=float(r["ttft_s"]),
        tpot_s=float(r["tpot_s"]),
        avg_power_w_per_replica=float(r["avg_power_w"]),
        quality=None if q is None or q != q else float(q),
        engine=str(r.get("engine") or GENERIC_ENGINE),
        **variant_fields(r),
        checkpoint=str(r.get("checkpoint", "published") or "published"),
        effort=r.get("effort") if isinstance(r.get("effort"), str) else None,
    )


def _racks(inst: Instance, racks_modelled: bool, owned: dict[str, int], rack_counts: dict, placed) -> list[dict]:
    """The owned servers in racks: the MIP's rack domains under `survive racks`, else its rack patterns filled
    in order; without rack types, each whole-rack system in a rack of its own."""
    if placed is not None and placed[1]:
        # survive racks: the racks are the homogeneous rack domains; whole-rack systems stand in their own
        whole = {p: k for p, k in rack_counts.items() if inst.systems[p.counts[0][0]].whole_rack}
        whole_owned = {s: n for s, n in owned.items() if inst.systems[s].whole_rack}
        racks = placed[1] + assign_racks(whole, whole_owned, inst)
    else:
        racks = assign_racks(rack_counts, owned, inst) if racks_modelled else []
    if not racks_modelled:
        racks += [{"rack_type": "(not modelled)", "systems": {s: 1}, "power_kw": inst.systems[s].nameplate_kw}
                  for s, n in sorted(owned.items()) if inst.systems[s].whole_rack for _ in range(n)]
    return racks


def _cost_parts(inst: Instance, new: dict[str, int], owned: dict[str, int], rented: dict[str, int],
                rack_counts: dict, it_kw: float, avg_w_owned: float,
                n_deployments: int) -> tuple[dict[str, float], float]:
    """(the fleet's $/h by component (planner.economics) in the order they add up to its cost, its capex)."""
    crf, mf = inst.crf, inst.maintenance_fraction
    new_capex = sum(inst.systems[s].capex_usd * n for s, n in new.items())
    owned_capex = sum(inst.systems[s].capex_usd * n for s, n in owned.items())
    rack_capex = sum(inst.racks[p.rack].price_usd * n for p, n in rack_counts.items())
    return {
        "capital": money.capital_usd_per_hour(new_capex, crf),
        "rack_capital": money.capital_usd_per_hour(rack_capex, crf),
        "maintenance": money.maintenance_usd_per_hour(owned_capex, mf),
        "rack_maintenance": money.maintenance_usd_per_hour(rack_capex, mf),
        "facility": money.facility_usd_per_hour(it_kw, inst.facility_usd_per_kw_month),
        "energy": money.energy_usd_per_hour(avg_w_owned, inst.pue, inst.electricity_usd_per_kwh),
        "rental": sum(
            inst.systems[s].gpus * (inst.systems[s].rent_usd_per_gpu_hour or 0.0) * n for s, n in rented.items()
        ),
        "licence": sum(inst.systems[s].licence_usd_per_hour_owned * n for s, n in owned.items()) + sum(
            inst.systems[s].gpus * inst.systems[s].licence_usd_per_gpu_hour_rented * n for s, n in rented.items()
        ),
        "complexity": inst.complexity_usd_per_hour * n_deployments,
    }, new_capex + rack_capex


def _at_average(fleet: Fleet, inst: Instance, deployments: list[Deployment]) -> None:
    """$/Mtok and tokens per $ at the stated average demand: the fleet costs the same per hour whatever its
    load, so at average load each token carries more of it. A workload without an average counts at peak. A
    workload serves at most its capacity: under max_throughput a budget may buy less than the demand, and
    crediting tokens nobody serves halved enterprise-budget's figure (0.036 against 0.0757 $/Mtok served)."""
    loads = [wl for wl in inst.workloads.values() if wl.demand_out_tok_s]
    if all(wl.average_out_tok_s is None for wl in loads):
        return
    capacity: dict[str, float] = defaultdict(float)
    for d in deployments:
        capacity[d.workload] += d.output_tok_s
    out = sum(min(wl.average_out_tok_s if wl.average_out_tok_s is not None else wl.demand_out_tok_s,
                  capacity[wl.id]) for wl in loads)
    cost = fleet.cost_usd_per_hour
    if out > 0 and cost > 0:
        fleet.usd_per_mtok_at_average = cost / (out * 3600) * 1e6
        fleet.tokens_per_usd_at_average = out * 3600 / cost
    if all(wl.average_out_tok_s is not None for wl in loads):
        fleet.headline = "at_average"


def _placement(inst: Instance, placed, deployments: list, new: dict, old: dict, rented: dict,
               racks: list) -> list[Server]:
    """One entry per physical server: from the MIP's domains under `survive`, else a first-fit packing."""
    raw = placed[0] if placed is not None else None
    if raw is None:
        raw = failure.pack_placement(deployments, failure.fleet_servers(new, old, rented),
                                     lambda s: inst.systems[s].domain, lambda s: inst.systems[s].gpus)
    rack_of = _rack_labels(racks)
    placed_racks = placed is not None and bool(placed[1])
    seen: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for e in sorted(raw, key=lambda e: (e["system"], e["mode"] != "own")):
        s, mode = e["system"], e["mode"]
        seen[(s, mode)] += 1
        k = seen[(s, mode)]
        sid = f"{s}#{k}" if mode == "own" else f"{s}#rent-{k}"
        rack = e.get("rack") or (rack_of.get((s, k)) if mode == "own" and not placed_racks else None)
        out.append(Server(server_id=sid, system=s, rack=rack, deployments=e["deployments"]))
    return out


def _rack_labels(racks: list) -> dict[tuple[str, int], str]:
    """(system, n-th owned server) -> rack_type#k, filling fleet.racks in order."""
    labels: dict[tuple[str, int], str] = {}
    count: dict[str, int] = defaultdict(int)
    per_type: dict[str, int] = defaultdict(int)
    for r in racks:
        per_type[r.rack_type] += 1
        label = f"{r.rack_type}#{per_type[r.rack_type]}"
        for s, n in sorted(r.systems.items()):
            for _ in range(n):
                count[s] += 1
                labels[(s, count[s])] = label
    return labels


def _workload_result(wl, deps: list[Deployment], hidden: set[str]) -> WorkloadResult:
    """Targets beside achieved values (the slowest and lowest-quality deployment of the workload); `hidden`: the
    keys of deployments that decode hidden reasoning tokens first (TTFT to the first visible token)."""
    qualities = [d.quality for d in deps if d.quality is not None]
    # the rule the capacity search applied (`utilization_bound`, reading the assumption when called): recorded
    # as a number, so the proposal renders the plan's own value, not today's assumption or the label's words
    cap = utilization_cap(bool(deps), wl.has_ttft_target)
    return WorkloadResult(
        workload=wl.id,
        demand_output_tok_s=wl.demand_out_tok_s,
        headroom=wl.headroom,
        required_output_tok_s=wl.required_out_tok_s if wl.demand_out_tok_s else None,
        capacity_output_tok_s=sum(d.output_tok_s for d in deps),
        replicas=sum(d.replicas for d in deps),
        ttft_target_s=wl.ttft_target_or_none_s,
        tpot_target_s=wl.tpot_target_s,
        slo_percentile=wl.slo_percentile,
        slo_basis=slo_basis(wl.slo_percentile, {d.serving for d in deps}, cap is not None,
                            sum(d.key in hidden for d in deps)),
        utilization_cap=cap,
        ttft_s=max((d.ttft_s for d in deps), default=None),
        tpot_s=max((d.tpot_s for d in deps), default=None),
        quality_floor_benchmark=wl.floor_benchmark,
        quality_floor_score=wl.floor_score,
        quality=min(qualities, default=None),
    )
