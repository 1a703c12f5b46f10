"""`survive` optima against brute force over server contents: the bounds and cuts that speed the MIP up must keep
every optimum (a replica bound of ceil(demand / o_c) once cut the optimum of every plan needing more copies of
its best candidate than demand alone asks for)."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
from optimize_fixtures import cand, instance, rack, system, table, workload

from planner.optimize import failure_slots
from planner.optimize.backends import available_backends
from planner.optimize.extract import build_plan
from planner.optimize.solve import solve_instance

BACKENDS = available_backends()


def survive_instance(n_lost: int, demand: float, rows: list[dict], workloads=("chat",), level="servers"):
    ws = [dataclasses.replace(workload(w, demand, headroom=0.1), survive_level=level, survive_count=n_lost)
          for w in workloads]
    # racks level: 25 kW racks hold two 10 kW servers
    racks = [rack("air", 25, 42, count=None, price=20_000)] if level == "racks" else []
    return instance(ws, [system("h200", "h200", price=330_000)], racks), table(*rows)


def brute_force_survive(inst, cands, max_domains: int = 5) -> float:
    """Cheapest multiset of failure domains (a server, or a rack of up to two servers at level racks: its servers
    and the replicas per candidate on them) meeting demand with headroom, min_replicas, and each workload's peak
    demand after losing its survive_count most loaded domains. Replica groups divide the servers' 8 GPUs, so
    replicas fit a domain's servers when their GPUs do. Single-server domains: up to the system's existing servers
    cost its kept-in-service price instead of the new one."""
    rows = cands.to_dict("records")
    sd = next(iter(inst.systems.values()))
    rack_data = next(iter(inst.racks.values()), None)
    per_domain = 2 if rack_data is not None else 1
    ws = sorted(inst.workloads.values(), key=lambda wl: wl.id)
    contents = []  # (tok/s per workload, replicas per workload, $/h) of each possible domain
    for servers in range(1, per_domain + 1):
        fixed = servers * sd.new_usd_per_hour + (rack_data.usd_per_hour if rack_data is not None else 0.0)
        for n in itertools.product(*(range(servers * sd.gpus // r["gpus"] + 1) for r in rows)):
            if not any(n) or sum(k * r["gpus"] for k, r in zip(n, rows, strict=True)) > servers * sd.gpus:
                continue
            load = tuple(sum(k * r["output_tok_s"] for k, r in zip(n, rows, strict=True) if r["workload"] == wl.id)
                         for wl in ws)
            reps = tuple(sum(k for k, r in zip(n, rows, strict=True) if r["workload"] == wl.id) for wl in ws)
            energy = sum(k * (r["avg_power_w"] - r["gpus"] * sd.idle_w) * sd.usd_per_w_hour
                         for k, r in zip(n, rows, strict=True))
            contents.append((load, reps, fixed + energy))
    best = math.inf
    kept_saves = max(sd.new_usd_per_hour - sd.existing_usd_per_hour, 0.0) if per_domain == 1 else 0.0
    for k in range(1, max_domains + 1):
        for domains in itertools.combinations_with_replacement(contents, k):
            cost = sum(c[2] for c in domains) - min(k, sd.existing) * kept_saves
            if cost >= best or not all(_survives(wl, [c[0][j] for c in domains], sum(c[1][j] for c in domains))
                                       for j, wl in enumerate(ws)):
                continue
            best = cost
    return best


def _survives(wl, loads: list[float], replicas: int) -> bool:
    total = sum(loads)
    lost = sum(sorted(loads, reverse=True)[:wl.survive_count])
    return (total >= wl.required_out_tok_s - 1e-9 and replicas >= wl.min_replicas
            and total - lost >= wl.demand_out_tok_s - 1e-9)


CASES = {
    # one whole-server replica covers demand with headroom, but surviving a loss needs two of them: the optimum
    # is 2 (n=1) or 3 (n=2) servers of the big candidate, not a mix with the smaller ones
    "big-replica": (3000.0, [cand("chat", "h200", "h200", gpus=8, out=3400, watts=5000),
                             cand("chat", "h200", "h200", gpus=4, out=1500, watts=2600),
                             cand("chat", "h200", "h200", gpus=2, out=700, watts=1300)]),
    # whole-server replicas of exactly half the peak: the optimum sits on X = D K / (K - N) (K = 3 for N = 1,
    # 4 for N = 2), the curve the survive cuts are secants of: a cut any tighter cuts it off
    "on-the-curve": (3000.0, [cand("chat", "h200", "h200", gpus=8, out=1500, watts=5000)]),
    # two workloads sharing servers: each survives the loss of its most loaded server
    "two-workloads": (2000.0, [cand("chat", "h200", "h200", gpus=4, out=2300, watts=2600),
                               cand("chat", "h200", "h200", gpus=2, out=1000, watts=1300),
                               cand("code", "h200", "h200", gpus=4, out=2100, watts=2600),
                               cand("code", "h200", "h200", gpus=2, out=900, watts=1300)]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_lost", [1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_survive_min_cost_matches_brute_force(backend, n_lost, case):
    demand, rows = CASES[case]
    workloads = sorted({r["workload"] for r in rows})
    inst, cands = survive_instance(n_lost, demand, rows, workloads)
    expect = brute_force_survive(inst, cands)
    assert math.isfinite(expect)
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(expect, rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", ["big-replica", "on-the-curve"])
def test_survive_racks_min_cost_matches_brute_force(backend, case):
    """Racks of two servers as the failure domains (the level simplicity-and-failure-domains uses)."""
    demand, rows = CASES[case]
    inst, cands = survive_instance(1, demand, rows, level="racks")
    expect = brute_force_survive(inst, cands, max_domains=4)
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(expect, rel=1e-6)


def cheap_server_instance(slow_out: float):
    """Servers cheap next to the big replica's energy: the optimum is many servers of the slow, frugal candidate,
    more than the estimate offers from the fastest one (ceil(3300 / 3400) + 1 lost + 1 min_replicas + 1 = 4)."""
    wl = dataclasses.replace(workload("chat", 3000.0, headroom=0.1), survive_level="servers", survive_count=1)
    inst = instance([wl], [system("h200", "h200", price=1_000)])
    return inst, table(cand("chat", "h200", "h200", gpus=8, out=3400, watts=5000),
                       cand("chat", "h200", "h200", gpus=8, out=slow_out, watts=900, batch=8))


@pytest.mark.parametrize("backend", BACKENDS)
def test_survive_slot_bound_keeps_a_slower_cheaper_optimum(backend):
    """4 servers of 1000 tok/s (3000 left after a loss) cost less than 2 of 3400 tok/s: the slot bound's `+ 1`
    is what lets the plan have the 4th server (with `total` alone the MIP returns the 2-server plan)."""
    inst, cands = cheap_server_instance(1000.0)
    expect = brute_force_survive(inst, cands)
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(expect, rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_survive_slot_bound_keeps_a_many_server_optimum(backend):
    """At 700 tok/s the optimum is 6 servers of the slow candidate (0.873 $/h: 4200 tok/s, 3500 after a loss);
    the estimate offers 4 slots, where every backend returned 2 of 3400 tok/s (1.357 $/h) as optimal. The first
    plan's cost proves at most floor((1.357 - 0.061) / 0.133) = 9 servers can pay: the solve runs again with 9."""
    inst, cands = cheap_server_instance(700.0)
    expect = brute_force_survive(inst, cands, max_domains=7)
    assert expect == pytest.approx(0.8732, abs=1e-4)
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(expect, rel=1e-6)
    assert sum(round(sol.values[sl.used]) for sl in sol.ix.domains.slots) == 6
    assert [(g.slots, g.limit) for g in sol.ix.domains.groups] == [(9, "cost")]
    assert not failure_slots.full_slot_notes(sol.ix, sol.values)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kept", "kept_usd_per_hour", "slots"), [(3, 0.0, 10), (3, 0.001, 10), (8, 0.0, 15)])
def test_survive_slots_with_cheap_kept_servers(backend, kept, kept_usd_per_hour, slots):
    """Servers kept in service at (next to) nothing made K_g = (C - E_LB) / F_kept infinite or huge: 48 slots
    (MAX_SLOTS) and a "bound reached" note on a 6-server plan. Past the kept ones every server is bought at
    0.133 $/h: the 4 estimated slots' plan (1.092 $/h) proves 3 + floor((1.092 - 0.061) / 0.133) = 10 enough
    (8 kept: 15), the optimum (0.476 $/h; 8 kept: 0.078, 6 servers) needs at most 6 (8): proven, no note."""
    inst, cands = cheap_server_instance(700.0)
    inst.systems["h200"] = dataclasses.replace(inst.systems["h200"], existing=kept,
                                               existing_usd_per_hour=kept_usd_per_hour)
    expect = brute_force_survive(inst, cands, max_domains=7)
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(expect, rel=1e-6)
    assert [(g.slots, g.limit) for g in sol.ix.domains.groups] == [(slots, "cost")]
    assert not failure_slots.full_slot_notes(sol.ix, sol.values)


def _plan_notes(inst, cands):
    sol = solve_instance(inst, cands, BACKENDS[0])
    return [n for n in build_plan(inst, sol, len(cands)).notes if n.startswith("survive:")]


def test_survive_note_when_max_slots_cuts(monkeypatch):
    """MAX_SLOTS below what the plan's cost says an optimum could use: the plan says the bound was reached (with 5
    slots the 700 tok/s case keeps the 1.357 $/h plan, which 6 would beat)."""
    monkeypatch.setattr(failure_slots, "MAX_SLOTS", 5)
    notes = _plan_notes(*cheap_server_instance(700.0))
    assert notes == ["survive: the plan uses 2 of the 5 servers of h200 (own) the model offers (MAX_SLOTS); bound "
                     "reached: the optimum may need more servers"]


def test_survive_note_when_supply_is_full():
    """Every server the supply allows in use: said; every slot of an estimate the plan's cost proves enough (4 at
    1000 tok/s: floor((0.582 - 0.043) / 0.133) = 4) is not."""
    inst, cands = cheap_server_instance(1000.0)
    assert _plan_notes(inst, cands) == []
    inst.systems["h200"] = dataclasses.replace(inst.systems["h200"], supply=4)
    assert _plan_notes(inst, cands) == ["survive: the plan uses all 4 servers of h200 (own), the most its supply "
                                        "allows"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_survive_rack_slots_keep_a_many_rack_optimum(backend):
    """Racks as domains, cheap racks ($1,000), a 500 tok/s slow candidate: the optimum is 7 racks of one slow
    server each (3500 tok/s, 3000 after a rack is lost: 1.219 $/h); the estimate offered ceil(4 / 2) + 2 = 4 racks
    and every backend returned 1.278 $/h as optimal."""
    wl = dataclasses.replace(workload("chat", 3000.0, headroom=0.1), survive_level="racks", survive_count=1)
    inst = instance([wl], [system("h200", "h200", price=1_000)], [rack("air", 25, 42, count=None, price=1_000)])
    cands = table(cand("chat", "h200", "h200", gpus=8, out=3400, watts=5000),
                  cand("chat", "h200", "h200", gpus=8, out=500, watts=900, batch=8))
    expect = brute_force_survive(inst, cands, max_domains=8)
    assert expect == pytest.approx(1.2185, abs=1e-4)
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(expect, rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_survive_slots_under_an_hourly_budget(backend):
    """A budget of 1 $/h rules out the 1.357 $/h plan the estimate's 4 slots allow: every backend reported the
    problem infeasible; the budget bounds the servers an optimal plan can pay for (floor((1 - 0.061) / 0.133) = 7)
    and the 6-server plan (0.873 $/h) is found."""
    inst, cands = cheap_server_instance(700.0)
    inst.budget_usd_per_hour = 1.0
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(brute_force_survive(inst, cands, max_domains=7), rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("budget_usd_per_hour", [None, 1.0])
def test_survive_max_throughput_keeps_the_many_server_plan(backend, budget_usd_per_hour):
    """max_throughput credits at most the 3300 tok/s of demand with headroom, then takes the cheapest plan that
    keeps it: 6 slow servers (0.873 $/h). Its slots were estimated from no demand (1 lost + 1 min_replicas + 1 =
    3): every backend returned 2 fast servers (1.357 $/h) as optimal, and under a 1 $/h budget "infeasible". The
    capped throughput reached (or the budget) is a cost every optimum keeps under: the slots follow from it."""
    inst, cands = cheap_server_instance(700.0)
    inst.objective = "max_throughput"
    inst.budget_usd_per_hour = budget_usd_per_hour
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(3300.0, rel=1e-9)
    assert sol.cost_per_hour == pytest.approx(brute_force_survive(inst, cands, max_domains=7), rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_survive_slots_when_a_replica_draws_less_than_idle(backend):
    """A slow replica drawing 700 W on 8 GPUs idling at 100 W has a negative energy term (-0.013 $/h): the cost
    bound was dropped, the 4 estimated slots kept, and every backend returned 2 fast servers (1.357 $/h) as
    optimal with no note, where 6 slow ones cost 0.717. A server's replicas lower its cost by at most that
    much a GPU, so a server still costs >= 0.1195 $/h and the first plan's cost bounds the servers: 11."""
    inst, cands = cheap_server_instance(700.0)
    cands.loc[1, "avg_power_w"] = 700.0
    expect = brute_force_survive(inst, cands, max_domains=7)
    assert expect == pytest.approx(0.7172, abs=1e-4)
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(expect, rel=1e-6)
    assert [(g.slots, g.limit) for g in sol.ix.domains.groups] == [(11, "cost")]


def racked_ratio_instance(budget_usd_per_hour: float | None):
    """Server domains in 0.5 $/h racks of ten 10 kW servers (0.389 $/h each): the rack's cost makes a full rack of
    fast servers (3400 tok/s at 0.935 $/h) the best tokens per dollar; the min-cost plan is 2 of them."""
    wl = dataclasses.replace(workload("chat", 3000.0, headroom=0.1), survive_level="servers", survive_count=1)
    inst = instance([wl], [system("h200", "h200", price=10_000, units=4)], [rack("air", 100, 42, price=17_520)],
                    objective="max_tokens_per_dollar", hourly=budget_usd_per_hour)
    return inst, table(cand("chat", "h200", "h200", gpus=8, out=3400, watts=5000),
                       cand("chat", "h200", "h200", gpus=8, out=700, watts=900, batch=8))


def brute_force_ratio(inst, cands, most_servers: int = 16) -> float:
    """Best tok/$ over n_c whole-server replicas of each candidate (one a server), racks of ten, demand with
    headroom and the peak after losing the most loaded server met, cost within the hourly budget, the output
    credited up to demand_cap_multiple x demand with headroom."""
    sd, rk, wl = inst.systems["h200"], next(iter(inst.racks.values())), inst.workloads["chat"]
    rows = cands.to_dict("records")
    usd = [sd.new_usd_per_hour + (r["avg_power_w"] - r["gpus"] * sd.idle_w) * sd.usd_per_w_hour for r in rows]
    best, cap = 0.0, wl.required_out_tok_s * (inst.demand_cap_multiple or math.inf)
    for n in itertools.product(range(most_servers + 1), repeat=len(rows)):
        loads = [r["output_tok_s"] for k, r in zip(n, rows, strict=True) for _ in range(k)]
        cost = sum(k * u for k, u in zip(n, usd, strict=True)) + math.ceil(sum(n) / 10) * rk.usd_per_hour
        if loads and _survives(wl, loads, len(loads)) and cost <= (inst.budget_usd_per_hour or math.inf):
            best = max(best, 3600.0 * min(sum(loads), cap) / cost)
    return best


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("budget_usd_per_hour", "cap_multiple", "slots"), [(10.0, None, 25), (None, 12.0, 35)])
def test_survive_ratio_slots_keep_the_full_rack(backend, budget_usd_per_hour, cap_multiple, slots):
    """The ratio solve kept the min-cost plan's 5 slots (2 fast servers: 2.37 $/h proves 5 enough for min_cost):
    every backend returned 5 fast servers (3,284 tok/s per $/h) as optimal where a full rack of 10 gives 3,450.
    Under a 10 $/h budget every plan costs <= 10: floor((10 - 0.061) / 0.389) = 25 slots keep the optimum. With no
    budget but credit capped at 12x demand (39,600 tok/s), an optimum's ratio is at least the min-cost plan's
    (6,800 tok/s at 2.37 $/h), so it costs <= 39,600 x 2.37 / 6,800 = 13.8 $/h: 35 slots."""
    inst, cands = racked_ratio_instance(budget_usd_per_hour)
    inst.demand_cap_multiple = cap_multiple
    expect = brute_force_ratio(inst, cands)
    assert expect == pytest.approx(3600 * 3450.42, rel=1e-5)
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(expect, rel=1e-6)
    assert [(g.slots, g.limit) for g in sol.ix.domains.groups] == [(slots, "cost")]
