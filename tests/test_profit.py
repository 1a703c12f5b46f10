"""max_profit, weighted max_throughput and demand profiles on hand-made candidate tables (issue 10): brute force,
both backends, hand-computed hour classes, and verify catching tampered economics."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optimize_fixtures import cand, instance, system, table, workload

from planner.optimize.backends import available_backends
from planner.optimize.hours import DailyProfile, hour_classes
from planner.optimize.pipeline import solve_candidates
from planner.optimize.solve import solve_instance
from planner.optimize.value_data import TokenPricing, ValueData
from planner.optimize.verify import verify_plan

BACKENDS = available_backends()


def priced(inst, prices: dict[str, TokenPricing], priority=None, profiles=None):
    classes = tuple(hour_classes(profiles)) if profiles else ()
    inst.value = ValueData(prices, priority or {}, classes, profiles or {})
    return inst


def rate(p: TokenPricing, tpot_s: float, isl=1024, osl=256) -> float:
    """$/h per output tok/s, written out: tier by 1/TPOT, input tokens isl/osl per output token."""
    out = p.usd_per_mtok_output
    for threshold, price in p.tiers:
        if 1 / tpot_s >= threshold:
            out = price
    return (out + p.usd_per_mtok_input * isl / osl) * 3600 / 1e6


def toy_profit(price_out=20.0, min_replicas=1, tiers=()):
    inst = instance(
        [workload("chat", 4000, min_replicas=min_replicas), workload("code", 2500, min_replicas=0)],
        [system("h100", "h100", price=250_000), system("h200", "h200", price=330_000)],
        objective="max_profit",
    )
    slow = cand("chat", "h200", "h200", gpus=4, out=3800, watts=2300, tp=4) | {"tpot_s": 0.05, "batch": 64}
    slow["key"] = slow["key"].replace("/b32/", "/b64/") + "/slow"  # the key names its batch
    cands = table(
        cand("chat", "h100", "h100", gpus=2, out=1500, watts=1000),
        cand("chat", "h200", "h200", gpus=1, out=1000, watts=600),
        slow,
        cand("code", "h100", "h100", gpus=4, out=1400, watts=2000),
        cand("code", "h200", "h200", gpus=2, out=800, watts=1100),
    )
    prices = {
        "chat": TokenPricing(price_out, price_out / 10, tiers),
        "code": TokenPricing(price_out * 0.5, 0.0),
    }
    return priced(inst, prices), cands


def brute_force_profit(inst, cands, max_rep=4):
    """Enumerate replicas; servers = ceil(GPUs / 8); each workload sells its best-paid capacity up to demand."""
    rows = cands.to_dict("records")
    best, arg = -math.inf, None
    for reps in itertools.product(range(max_rep + 1), repeat=len(rows)):
        revenue = 0.0
        ok = True
        for w, wl in inst.workloads.items():
            sel = [(r, n) for r, n in zip(rows, reps, strict=True) if r["workload"] == w]
            if sum(n for _, n in sel) < wl.min_replicas:
                ok = False
            left = wl.demand_out_tok_s
            p = inst.value.pricing[w]
            for r, n in sorted(sel, key=lambda t: -rate(p, t[0]["tpot_s"])):
                take = min(r["output_tok_s"] * n, left)
                left -= take
                revenue += take * rate(p, r["tpot_s"])
        if not ok:
            continue
        cost = 0.0
        for s, sd in inst.systems.items():
            g = sum(r["gpus"] * n for r, n in zip(rows, reps, strict=True) if r["system"] == s)
            cost += math.ceil(g / sd.gpus) * sd.new_usd_per_hour
            cost += sum(
                (r["avg_power_w"] - r["gpus"] * sd.idle_w) * sd.usd_per_w_hour * n
                for r, n in zip(rows, reps, strict=True)
                if r["system"] == s
            )
        if revenue - cost > best:
            best, arg = revenue - cost, reps
    return best, arg


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("price", [2.0, 20.0, 200.0])
def test_max_profit_matches_brute_force(backend, price):
    inst, cands = toy_profit(price, tiers=((25.0, price * 1.5),))
    expect, _ = brute_force_profit(inst, cands)
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal", sol.message
    assert sol.objective_value == pytest.approx(expect, rel=1e-6, abs=1e-6)
    assert sol.best_bound == pytest.approx(expect, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_profit_plan_sells_at_most_the_demand_and_verifies(backend):
    inst, cands = toy_profit(200.0)
    out = solve_candidates(inst, cands, backend=backend, runner_up=False)
    plan, e = out.plan, out.plan.economics
    assert out.verify.ok, out.verify.violations
    for w, wl in inst.workloads.items():
        cap = sum(d.output_tok_s for d in plan.deployments if d.workload == w)
        assert cap >= wl.demand_out_tok_s * 0.999  # well paid: the whole demand is served ...
    assert e.served_output_tok_s == pytest.approx(4000 + 2500)  # ... and never more than it is sold
    assert e.profit_usd_per_hour == pytest.approx(plan.objective_value)
    assert e.revenue_usd_per_hour - e.cost_usd_per_hour == pytest.approx(e.profit_usd_per_hour)


def test_a_money_losing_replica_runs_only_when_a_floor_forces_it():
    # at $0.01/Mtok every replica loses money: the plan keeps chat's floor of 2 and runs no code replica
    inst, cands = toy_profit(0.01, min_replicas=2)
    sol = solve_instance(inst, cands, BACKENDS[0])
    reps = {k: round(sol.values[x]) for k, x in zip(sol.ix.keys, sol.ix.x, strict=True)}
    assert sum(n for k, n in reps.items() if k.startswith("chat/")) == 2
    assert sum(n for k, n in reps.items() if k.startswith("code/")) == 0
    assert sol.objective_value < 0
    inst, cands = toy_profit(0.01, min_replicas=0)
    sol = solve_instance(inst, cands, BACKENDS[0])
    assert all(round(sol.values[x]) == 0 for x in sol.ix.x)
    assert sol.objective_value == pytest.approx(0.0, abs=1e-9)


def test_no_replica_of_the_optimum_loses_money():
    """Dropping any one replica (servers re-derived) never raises the brute-force profit of the MIP's plan."""
    inst, cands = toy_profit(20.0, min_replicas=0)
    best, _ = brute_force_profit(inst, cands)
    sol = solve_instance(inst, cands, BACKENDS[0])
    assert sol.objective_value == pytest.approx(best, rel=1e-6)
    mine = [round(sol.values[x]) for x in sol.ix.x]  # in key order
    assert any(mine)
    for i, n in enumerate(mine):
        if n:
            fewer = [m - (j == i) for j, m in enumerate(mine)]
            assert _profit(inst, cands, fewer) <= _profit(inst, cands, mine) + 1e-9


def _profit(inst, cands, reps):
    """Profit of fixed replica counts (candidates in key order), servers = ceil(GPUs / 8)."""
    rows = cands.sort_values("key", kind="stable").to_dict("records")
    revenue = 0.0
    for w, wl in inst.workloads.items():
        left = wl.demand_out_tok_s
        p = inst.value.pricing[w]
        sel = [(r, n) for r, n in zip(rows, reps, strict=True) if r["workload"] == w]
        for r, n in sorted(sel, key=lambda t: -rate(p, t[0]["tpot_s"])):
            take = min(r["output_tok_s"] * n, left)
            left -= take
            revenue += take * rate(p, r["tpot_s"])
    cost = 0.0
    for s, sd in inst.systems.items():
        g = sum(r["gpus"] * n for r, n in zip(rows, reps, strict=True) if r["system"] == s)
        cost += math.ceil(g / sd.gpus) * sd.new_usd_per_hour
        cost += sum(
            (r["avg_power_w"] - r["gpus"] * sd.idle_w) * sd.usd_per_w_hour * n
            for r, n in zip(rows, reps, strict=True)
            if r["system"] == s
        )
    return revenue - cost


@pytest.mark.parametrize("backend", BACKENDS)
def test_priority_weighted_max_throughput(backend):
    # a $300k capex budget buys one server: it serves the workload with priority 3, not the one with 1
    inst = instance(
        [workload("batch", 8000, min_replicas=0), workload("rag", 8000, min_replicas=0)],
        [system("h100", "h100", price=250_000)],
        objective="max_throughput",
        capex=300_000,
    )
    cands = table(
        cand("batch", "h100", "h100", gpus=8, out=3000, watts=5000),
        cand("rag", "h100", "h100", gpus=8, out=2000, watts=5000),
    )
    priced(inst, {}, priority={"batch": 1.0, "rag": 3.0})
    out = solve_candidates(inst, cands, backend=backend, runner_up=False)
    assert out.verify.ok, out.verify.violations
    assert [d.workload for d in out.plan.deployments] == ["rag"]
    assert out.plan.objective_value == pytest.approx(3 * 2000)
    assert out.plan.objective_unit == "priority-weighted output tok/s"


# ------------------------------------------------------------------------------------------ demand profiles
PEAK_8H = [0.25] * 9 + [1.0] * 8 + [0.25] * 7  # 8 peak hours a day at 4000 tok/s, 16 at 1000


def profile_toy(objective="min_cost"):
    inst = instance(
        [workload("chat", 4000, min_replicas=1)],
        [system("h100", "h100", price=250_000, rent=2.0)],  # rent: 8 GPUs x $2 = $16/h per server
        objective=objective,
    )
    inst.systems["h100"] = inst.systems["h100"].__class__(**{**vars(inst.systems["h100"]), "rent": True})
    cands = table(
        cand("chat", "h100", "h100", gpus=8, out=1000, watts=800),  # 8 x idle 100 W: no energy above idle
        cand("chat", "h100", "h100", gpus=8, out=1000, watts=800, mode="rent"),
    )
    profiles = {"chat": DailyProfile.every_day(PEAK_8H)}
    prices = {"chat": TokenPricing(10.0)} if objective == "max_profit" else {}
    return priced(inst, prices, profiles=profiles), cands


def test_profile_tokens_per_watt_count_rented_servers_in_their_hours():
    """By hand: every server draws 800 W (its replica's 8 GPUs, idle included; no non-GPU power). The owned one
    runs all year, the 3 rented ones 8 h a day: 800 + 3 x 800 x 8/24 = 1600 W on average for (4000 x 8 + 1000 x
    16) / 24 = 2000 tok/s served, 1.25 tok/s per W. A rented server's idle GPUs are its draw as much as an owned
    one's (without them the rented servers draw nothing: 2.5 tok/s per W)."""
    inst, cands = profile_toy()
    plan = solve_candidates(inst, cands, backend=BACKENDS[0], runner_up=False).plan
    assert plan.hourly[0].servers_rented == {"h100": 3}
    assert plan.economics.served_output_tok_s == pytest.approx(2000.0)
    assert plan.economics.output_tok_s_per_w == pytest.approx(1.25)


def test_profile_utilization_by_hour_class():
    """By hand: 3500 tok/s at the peak (8 h) needs 4 replicas of 1000 (3 rented), 875 tok/s off-peak 1: each
    class serves 87.5% of what it runs, and so does the year, (3500 x 8 + 875 x 16) / (4000 x 8 + 1000 x 16)."""
    inst, cands = profile_toy()
    inst.workloads["chat"] = workload("chat", 3500, min_replicas=1)
    plan = solve_candidates(inst, cands, backend=BACKENDS[0], runner_up=False).plan
    peak, low = plan.hourly
    assert (peak.owned_replicas + peak.rented_replicas, low.owned_replicas + low.rented_replicas) == (4, 1)
    assert (peak.utilization, low.utilization) == (pytest.approx(0.875), pytest.approx(0.875))
    assert plan.economics.utilization == pytest.approx(0.875)


@pytest.mark.parametrize("backend", BACKENDS)
def test_profile_owns_the_base_and_rents_the_peak(backend):
    """By hand: an owned server costs F = 250,000 x 0.25 / 8760 + 800 W x 1.3e-4 = 7.2387 $/h every hour; a rented
    one $16/h only when used. The base load (1 replica, 24 h) is owned (F < 16); the 3 peak replicas are rented
    for 8 h a day (16 x 8/24 = 5.33 < F each). Year average: F + 3 x 16 x 8/24 = 23.2387 $/h."""
    inst, cands = profile_toy()
    f = 250_000 * 0.25 / 8760 + 800 * 1.3e-4
    out = solve_candidates(inst, cands, backend=backend, runner_up=False)
    plan = out.plan
    assert out.verify.ok, out.verify.violations
    assert plan.objective_value == pytest.approx(f + 3 * 16 * 8 / 24, rel=1e-6)
    assert plan.fleet.servers_new == {"h100": 1}
    peak, low = plan.hourly
    assert (peak.hours, peak.hours_per_week, low.hours_per_week) == ("daily 09-16", 56, 112)
    assert (peak.owned_replicas, peak.rented_replicas, peak.servers_rented) == (1, 3, {"h100": 3})
    assert (low.owned_replicas, low.rented_replicas, low.servers_rented) == (1, 0, {})
    assert peak.cost_usd_per_hour == pytest.approx(f + 48) and low.cost_usd_per_hour == pytest.approx(f)
    # the year average equals the sum over the 168 hours of the week, each at its own hour's cost
    by_hour = [peak.cost_usd_per_hour if m == 1.0 else low.cost_usd_per_hour for m in PEAK_8H] * 7
    assert plan.economics.cost_usd_per_hour == pytest.approx(sum(by_hour) / 168)
    assert plan.economics.served_output_tok_s == pytest.approx((4000 * 8 + 1000 * 16) / 24)


@pytest.mark.parametrize("backend", BACKENDS)
def test_profile_max_profit_by_hand(backend):
    """$10/Mtok: one replica earns 1000 x 0.036 = $36/h > its rental of $16/h, so max_profit serves every hour's
    demand exactly as min_cost does: revenue = 0.036 x 2000 tok/s on average = $72/h."""
    inst, cands = profile_toy("max_profit")
    f = 250_000 * 0.25 / 8760 + 800 * 1.3e-4
    out = solve_candidates(inst, cands, backend=backend, runner_up=False)
    assert out.verify.ok, out.verify.violations
    e = out.plan.economics
    assert e.revenue_usd_per_hour == pytest.approx(0.036 * 2000)
    assert e.cost_usd_per_hour == pytest.approx(f + 16)
    assert out.plan.objective_value == pytest.approx(72 - f - 16)
    assert [h.revenue_usd_per_hour for h in out.plan.hourly] == pytest.approx([144.0, 36.0])


def test_verify_catches_tampered_economics_and_schedule():
    inst, cands = profile_toy("max_profit")
    plan = solve_candidates(inst, cands, backend=BACKENDS[0], runner_up=False).plan
    for path, value, expect in [
        (("economics", "revenue_usd_per_hour"), 80.0, "economics: revenue"),
        (("economics", "npv_usd"), 1.0, "economics: NPV"),
        (("economics", "provisioned_mw"), 1.0, "MW provisioned"),
        (("hourly", 0, "servers_rented"), {"h100": 2}, "do not pack"),
        (("hourly", 1, "served_output_tok_s"), {"chat": 1500.0}, "tok/s sold in the plan"),
        (("hourly", 1, "hours_per_week"), 100, "h/week in the plan"),
        (("objective_value",), 1e6, "objective"),
    ]:
        data = plan.model_dump()
        node = data
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
        bad = plan.model_validate(data)
        report = verify_plan(bad, inst)
        assert not report.ok and any(expect in x for x in report.violations), (path, report.violations)


def test_max_profit_demand_above_the_site_power_is_a_cap_not_an_error():
    """min_cost would exit 3 (the site cannot serve 40,000 tok/s); max_profit sells what one server can make."""
    inst, cands = toy_profit(200.0, min_replicas=0)
    inst.power_limit_kw = 13.0  # one 10 kW server x PUE 1.3
    inst.workloads["chat"] = workload("chat", 40_000, min_replicas=0)
    out = solve_candidates(inst, cands, backend=BACKENDS[0], runner_up=False)
    assert out.verify.ok, out.verify.violations
    assert sum(out.plan.fleet.servers.values()) == 1
    assert 0 < out.plan.economics.served_output_tok_s < 40_000


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_weighted_max_throughput(backend):
    # one server's worth of budget: unweighted, batch (3000 tok/s) wins; weighted by price, rag ($5/Mtok) does
    inst = instance(
        [workload("batch", 8000, min_replicas=0), workload("rag", 8000, min_replicas=0)],
        [system("h100", "h100", price=250_000)],
        objective="max_throughput",
        capex=300_000,
    )
    cands = table(
        cand("batch", "h100", "h100", gpus=8, out=3000, watts=5000),
        cand("rag", "h100", "h100", gpus=8, out=2000, watts=5000),
    )
    plain = solve_candidates(inst, cands, backend=backend, runner_up=False).plan
    assert [d.workload for d in plain.deployments] == ["batch"]
    priced(inst, {"batch": TokenPricing(1.0), "rag": TokenPricing(5.0)})
    out = solve_candidates(inst, cands, backend=backend, runner_up=False)
    assert out.verify.ok, out.verify.violations
    assert [d.workload for d in out.plan.deployments] == ["rag"]
    assert out.plan.objective_value == pytest.approx(2000 * rate(TokenPricing(5.0), 0.03))
    assert out.plan.objective_value == pytest.approx(out.plan.economics.revenue_usd_per_hour)


@settings(max_examples=12, deadline=None)
@given(
    price=st.floats(0.05, 100.0),
    chat_demand=st.floats(200.0, 6000.0),
    code_demand=st.floats(200.0, 4000.0),
    floor=st.integers(0, 2),
)
def test_max_profit_invariants(price, chat_demand, code_demand, floor):
    """Any prices and demands: the MIP's profit is the brute-force optimum, no workload sells more than its
    demand, and the plan verifies."""
    inst, cands = toy_profit(price, min_replicas=floor)
    inst.workloads["chat"] = workload("chat", chat_demand, min_replicas=floor)
    inst.workloads["code"] = workload("code", code_demand, min_replicas=0)
    expect, _ = brute_force_profit(inst, cands, max_rep=3)
    out = solve_candidates(inst, cands, backend=BACKENDS[0], runner_up=False)
    assert out.verify.ok, out.verify.violations
    assert out.plan.objective_value >= expect - 1e-6 * max(1.0, abs(expect))  # brute force stops at 3 replicas
    assert not out.plan.hourly
    sold = out.plan.economics.served_by_workload_output_tok_s
    assert sold["chat"] <= chat_demand * (1 + 1e-9) and sold["code"] <= code_demand * (1 + 1e-9)
    # the MIP can only do better than the bounded enumeration when that enumeration is the limit
    if expect > 0 and out.plan.objective_value > expect * (1 + 1e-6):
        assert any(d.replicas > 3 for d in out.plan.deployments)


def test_profile_equals_brute_force_over_the_owned_fleet():
    """Given the owned servers, each hour of the week is its own small problem: enumerate the owned count, solve
    every hour of the 168 by enumeration, and average. The MIP over hour classes must find the same optimum."""
    profile = [0.2] * 6 + [0.6] * 3 + [1.0] * 6 + [0.6] * 5 + [0.2] * 4
    inst, cands = profile_toy()
    inst.workloads["chat"] = workload("chat", 3500, min_replicas=1)
    fast = cand("chat", "h100", "h100", gpus=4, out=600, watts=900, tp=4)  # 4-GPU replicas, 100 W above idle
    cands = table(*cands.to_dict("records"), fast, fast | {"key": fast["key"] + "/rent", "mode": "rent"})
    priced(inst, {}, profiles={"chat": DailyProfile.every_day(profile)})
    sd = inst.systems["h100"]
    rows = cands.to_dict("records")

    def hour_cost(owned: int, demand: float) -> float:
        best = math.inf
        for reps in itertools.product(range(7), repeat=len(rows)):
            served = sum(r["output_tok_s"] * n for r, n in zip(rows, reps, strict=True))
            if served < demand - 1e-9 or sum(reps) < 1:
                continue
            own_gpus = sum(r["gpus"] * n for r, n in zip(rows, reps, strict=True) if r["mode"] == "own")
            rent_gpus = sum(r["gpus"] * n for r, n in zip(rows, reps, strict=True) if r["mode"] == "rent")
            if own_gpus > 8 * owned:
                continue
            energy = sum(
                (r["avg_power_w"] - r["gpus"] * sd.idle_w) * sd.usd_per_w_hour * n
                for r, n in zip(rows, reps, strict=True)
                if r["mode"] == "own"
            )
            best = min(best, energy + math.ceil(rent_gpus / 8) * sd.rent_usd_per_hour)
        return best

    levels = {m: {} for m in set(profile)}
    best = math.inf
    for owned in range(6):
        by_hour = [levels[m].setdefault(owned, hour_cost(owned, 3500 * m)) for m in profile]
        best = min(best, owned * sd.new_usd_per_hour + sum(by_hour) / 24)
    for backend in BACKENDS:
        sol = solve_instance(inst, cands, backend)
        assert sol.status.value == "optimal"
        assert sol.objective_value == pytest.approx(best, rel=1e-6), backend


def test_sweeps_read_year_averages_and_profit():
    from planner.sweep.adapter import summarize
    from planner.sweep.spec import _default_metric

    assert _default_metric("max_profit") == "profit_usd_per_hour"
    inst, cands = profile_toy("max_profit")
    plan = solve_candidates(inst, cands, backend=BACKENDS[0], runner_up=False).plan
    metrics = summarize(plan)["metrics"]
    assert plan.fleet.cost_usd_per_hour > plan.economics.cost_usd_per_hour  # the peak hour costs more
    assert metrics["cost_usd_per_hour"] == pytest.approx(plan.economics.cost_usd_per_hour)
    assert metrics["profit_usd_per_hour"] == pytest.approx(plan.objective_value)


def _with_average(inst, w: str, average: float):
    from dataclasses import replace
    inst.workloads[w] = replace(inst.workloads[w], average_out_tok_s=average)
    return inst


def test_min_cost_year_averages_sell_the_average_not_the_peak():
    """A min_cost workload with a peak of 4000 tok/s and an average of 1600 (peak_factor 2.5) and no profile:
    the fleet covers the peak, the year sells the average. Served 1600 tok/s, $/Mtok served = cost / (1600 x
    3600) x 1e6, utilization 1600 / capacity; revenue at $10/Mtok output, $1/Mtok input (isl/osl 4): 1600 x
    (10 + 4) x 3600 / 1e6 = $80.64/h. Verify recomputes it and catches the peak written instead."""
    inst = instance([workload("chat", 4000)], [system("h200", "h200", price=330_000)])
    priced(inst, {"chat": TokenPricing(10.0, 1.0, ())})
    _with_average(inst, "chat", 1600.0)
    cands = table(cand("chat", "h200", "h200", gpus=1, out=1000, watts=600))
    out = solve_candidates(inst, cands, backend=BACKENDS[0], runner_up=False)
    assert out.verify.ok, out.verify.violations
    e = out.plan.economics
    assert e.served_output_tok_s == pytest.approx(1600.0)
    assert e.capacity_output_tok_s == pytest.approx(4000.0)
    assert e.utilization == pytest.approx(0.4)
    assert e.revenue_usd_per_hour == pytest.approx(1600 * 14 * 3600 / 1e6)
    assert e.usd_per_mtok_served == pytest.approx(e.cost_usd_per_hour / (1600 * 3600) * 1e6)
    assert out.plan.fleet.usd_per_mtok_at_average == pytest.approx(e.usd_per_mtok_served)
    forged = out.plan.model_copy(deep=True)
    forged.economics.served_output_tok_s = 4000.0
    assert any("tok/s served" in v for v in verify_plan(forged, inst).violations)


def test_max_profit_without_a_profile_says_it_sells_the_peak_every_hour():
    inst, cands = toy_profit()
    _with_average(inst, "chat", 1000.0)
    out = solve_candidates(inst, cands, backend=BACKENDS[0], runner_up=False)
    assert out.verify.ok, out.verify.violations
    assert any("sells up to the peak demand every hour" in n for n in out.plan.notes)
