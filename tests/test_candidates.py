"""optimize.candidates: the expensive part (perf evaluation of the grid), the cheap part (systems, own/rent,
keys, pruning), and a brute-force check that dominance pruning never removes a candidate an optimum needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optimize_fixtures import cand, instance, system, table, workload

from planner.catalog import load_catalog
from planner.optimize.candidates import (
    CandidateCache,
    build_candidates,
    evaluate_configurations,
    expand_candidates,
    perf_key,
)
from planner.optimize.formulation import make_index
from planner.optimize.pipeline import solve_candidates
from planner.optimize.problem import problem_from_text
from planner.optimize.prune import prune_dominated
from planner.optimize.resolve_problem import build_instance

PROBLEM = """
name: t
workloads:
  - id: chat
    archetype: chat
    demand: {requests_per_s: 5}
    models: [llama-3.3-70b]
    precisions: [fp8]
    serving: [aggregated]
fleet:
  systems: [hgx-h100]
  acquire: [buy, rent]
site: {id: new-ai-facility}
"""


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def inst_of(text: str, catalog):
    return build_instance(problem_from_text(text, "<t>"), catalog, "<t>")


def test_grid_is_the_hand_counted_configurations(catalog):
    inst = inst_of(PROBLEM, catalog)
    ev = evaluate_configurations(inst, catalog)
    # one model, one precision, one accelerator with an 8-GPU domain: TP 1, 2, 4, 8 x PP 1, 2 (dense: no EP/DP)
    assert len(ev.grid) == 8
    assert sorted(zip(ev.grid["tp"], ev.grid["pp"], strict=True)) == [(t, p) for t in (1, 2, 4, 8) for p in (1, 2)]
    assert ev.results["fits"].all() and (ev.results["batch"] >= 1).all()
    assert (ev.results["tpot_s"] <= inst.workloads["chat"].tpot_target_s).all()
    assert (ev.results["ttft_s"] <= inst.workloads["chat"].ttft_target_s).all()
    assert len(ev.results) + len(ev.rejected) == 8


def test_speculative_decoding_doubles_the_grid_where_the_model_has_a_draft(catalog):
    # Llama 3.3 has an EAGLE-3 draft (catalog engines), no MTP head: each layout without and with EAGLE-3
    from planner.optimize.grid import build_grid

    grid, _ = build_grid(inst_of(PROBLEM.replace("    serving:", "    speculative: auto\n    serving:"), catalog),
                         catalog)
    assert len(grid) == 16
    assert grid.groupby("speculative").size().to_dict() == {"eagle3": 8, "none": 8}


def test_quality_floor_rejects_before_evaluation(catalog):
    text = PROBLEM.replace("    serving:", "    quality_floor: {benchmark: mmlu-pro, min_score: 99}\n    serving:")
    ev = evaluate_configurations(inst_of(text, catalog), catalog)
    assert ev.grid.empty and ev.rejected and "floor" in ev.rejected[0]["reason"]


def test_expansion_own_and_rent_keys_and_no_mutation(catalog):
    inst = inst_of(PROBLEM, catalog)
    ev = evaluate_configurations(inst, catalog)
    before = ev.results.copy()
    a = expand_candidates(ev, inst, catalog)
    b = expand_candidates(ev, inst, catalog)
    pd.testing.assert_frame_equal(ev.results, before)  # a cached evaluation is never modified
    pd.testing.assert_frame_equal(a.table, b.table)
    assert set(a.table["mode"]) == {"own", "rent"}
    assert a.stats["feasible"] == 2 * len(ev.results)  # every evaluated configuration, owned and rented
    rent = a.table[a.table["mode"] == "rent"]
    assert all(k.endswith("/rent") for k in rent["key"])
    assert all(k.startswith("chat/llama-3.3-70b/hgx-h100/fp8/tp") for k in a.table["key"])
    assert a.table["key"].is_unique and list(a.table["key"]) == sorted(a.table["key"])


def test_scale_up_domain_filter_per_system(catalog):
    inst = inst_of(PROBLEM, catalog)
    ev = evaluate_configurations(inst, catalog)
    sd = inst.systems["hgx-h100"]
    small = type(inst)(**{**inst.__dict__, "systems": {"hgx-h100": type(sd)(**{**sd.__dict__, "domain": 2})}})
    cs = expand_candidates(ev, small, catalog)
    assert (cs.table["group_gpus"] <= 2).all()
    assert any("scale-up domain" in r for r in cs.rejected["reason"])


def test_cache_key_ignores_money_and_demand(catalog):
    base = inst_of(PROBLEM, catalog)
    pricier = inst_of(PROBLEM.replace("requests_per_s: 5", "requests_per_s: 50")
                      + "economics: {electricity_usd_per_kwh: 0.4}\n", catalog)
    slower = inst_of(PROBLEM.replace("    serving:", "    tpot_ms: 200\n    serving:"), catalog)
    assert perf_key(base, catalog) == perf_key(pricier, catalog)
    assert perf_key(base, catalog) != perf_key(slower, catalog)
    cache = CandidateCache()
    build_candidates(base, catalog, cache=cache)
    build_candidates(pricier, catalog, cache=cache)
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)


def test_prune_keeps_the_earlier_of_identical_candidates():
    t = table(
        cand("w", "s", "a", gpus=2, out=1000, watts=800, batch=1),
        cand("w", "s", "a", gpus=2, out=1000, watts=800, batch=2),
        cand("w", "s", "a", gpus=4, out=1900, watts=1700, batch=3),  # 2 x the first beats it
        cand("w", "s", "a", gpus=4, out=2100, watts=1700, batch=4),  # more than 2 x the first: kept
    ).sort_values("key").reset_index(drop=True)
    kept = list(prune_dominated(t, {"s": 100.0})["batch"])
    assert kept == [1, 4]


def test_prune_compares_the_power_the_mip_charges_not_the_total():
    """m7d's quickstart case in small: d (a 3-GPU disaggregated unit, 990 W) draws less in total than c (4 GPUs,
    1000 W) but more above idle: 990 - 3 x 100 = 690 W against 1000 - 4 x 100 = 600 W (the GPU d leaves free
    idles inside the server's fixed cost either way), so one replica of c costs 90 W of energy less than one of d
    and a plan may need it. The total-power rule dropped c."""
    t = table(
        cand("w", "s1", "a1", gpus=4, out=1000, watts=1000, batch=1),
        cand("w", "s1", "a1", gpus=3, out=1000, watts=990, batch=2, tp=1, group=1),
    ).sort_values("key").reset_index(drop=True)
    assert sorted(prune_dominated(t, {"s1": 100.0})["batch"]) == [1, 2]
    assert list(prune_dominated(t, {"s1": 0.0})["batch"]) == [2]  # with no idle draw, d does dominate
    inst = instance([workload("w", 1000)], [system("s1", "a1", gpus=4, idle_w=100.0)])
    energy = dict(zip(make_index(inst, t).keys, make_index(inst, t).energy_usd_per_hour, strict=True))
    c, d = (t.loc[t["batch"] == b, "key"].item() for b in (1, 2))
    assert energy[d] - energy[c] == pytest.approx(90 * inst.systems["s1"].usd_per_w_hour)


GPUS = st.sampled_from([1, 2, 4, 8])


@st.composite
def candidate_sets(draw):
    """Small random sets where dominance is common: outputs and powers on a coarse grid of per-GPU figures."""
    systems = [system("s1", "a1", price=draw(st.integers(100_000, 400_000)),
                      kw=draw(st.sampled_from([6.0, 14.0])))]
    rows = []
    wls = []
    for i in range(draw(st.integers(1, 2))):
        wid = f"w{i}"
        wls.append(workload(wid, draw(st.floats(500, 40_000)), min_replicas=draw(st.integers(0, 2))))
        for j in range(draw(st.integers(2, 7))):
            g = draw(GPUS)
            # watts not proportional to GPUs: total and above-idle power then order candidates differently
            watts = draw(st.sampled_from([300, 400, 500])) * g + draw(st.sampled_from([0, 90, 250]))
            rows.append(cand(wid, "s1", "a1", gpus=g, out=draw(st.sampled_from([500, 800, 1000, 1200])) * g,
                             watts=watts, batch=j + 1))
    inst = instance(wls, systems, power_limit_kw=draw(st.none() | st.floats(15, 200)))
    inst.objective = draw(st.sampled_from(["min_cost", "max_throughput", "max_tokens_per_dollar"]))
    if inst.objective != "min_cost":
        inst.demand_cap_multiple = 1.5
    return inst, table(*rows).drop_duplicates("key").sort_values("key").reset_index(drop=True)


def _optimum(inst, cands):
    from planner.errors import InfeasibleError

    try:
        return solve_candidates(inst, cands, runner_up=False).plan.objective_value
    except InfeasibleError:
        return None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidate_sets())
def test_pruning_never_changes_the_optimum(case):
    inst, cands = case
    pruned = prune_dominated(cands, {s: sd.idle_w for s, sd in inst.systems.items()})
    full, small = _optimum(inst, cands), _optimum(inst, pruned)
    if full is None:
        assert small is None
        return
    assert small == pytest.approx(full, rel=1e-6, abs=1e-9), (len(cands), len(pruned))


def _prune_by_definition(t: pd.DataFrame, idle: dict[str, float]) -> list[int]:
    """The pruning rule as stated, pair by pair in table order (the reference for the vectorized one)."""
    kept: list[int] = []
    g, o, w, q = (t[c].to_numpy(dtype=float) for c in ("gpus", "output_tok_s", "avg_power_w", "group_gpus"))
    w = w - g * t["system"].map(idle).to_numpy(dtype=float)
    grp = list(zip(t["workload"], t["system"], t["mode"], strict=True))
    alive = [True] * len(t)
    for a in range(len(t)):
        for d in range(len(t)):
            if d == a or grp[d] != grp[a] or not alive[d]:
                continue
            m = np.floor(g[a] / g[d])
            ok = m >= 1 and m * o[d] >= o[a] * (1 - 1e-12) and m * w[d] <= w[a] * (1 + 1e-12) and q[d] <= q[a]
            strict = m * o[d] > o[a] * (1 + 1e-9) or m * w[d] < w[a] * (1 - 1e-9) or m * g[d] < g[a] or q[d] < q[a]
            if ok and (strict or d < a):
                alive[a] = False
                break
        if alive[a]:
            kept.append(a)
    return kept


@st.composite
def prune_tables(draw):
    """Random candidate tables with many exact ties, multiples and near-ties (within and beyond tolerance)."""
    rows = []
    for i in range(draw(st.integers(1, 40))):
        g = draw(st.sampled_from([1, 2, 3, 4, 8, 16]))
        base = draw(st.sampled_from([500.0, 800.0, 1000.0, 1000.0 * (1 + 1e-13), 1000.0 * (1 + 1e-10)]))
        rows.append(cand(draw(st.sampled_from(["w1", "w2"])), draw(st.sampled_from(["s1", "s2"])), "a1",
                         gpus=g, out=base * draw(st.sampled_from([1, 2, 3, 4])),
                         watts=draw(st.sampled_from([300.0, 400.0, 400.0 * (1 - 1e-13)])) * g
                         + draw(st.sampled_from([0.0, 120.0])), batch=i + 1,
                         mode=draw(st.sampled_from(["own", "rent"]))))
    t = table(*rows).drop_duplicates("key").sort_values("key").reset_index(drop=True)
    t["group_gpus"] = [draw(st.sampled_from([1, 2, 4])) for _ in range(len(t))]
    return t


@settings(max_examples=300, deadline=None)
@given(prune_tables())
def test_pruning_keeps_exactly_what_the_pairwise_rule_keeps(t):
    idle = {"s1": 100.0, "s2": 0.0}
    kept = prune_dominated(t, idle)
    assert list(kept["key"]) == list(t["key"].iloc[_prune_by_definition(t, idle)])


def test_pruning_groups_equal_value_for_value_share_one_answer():
    """Past ONE_MATRIX_ROWS the groups are pruned one by one, and a group equal value for value to an earlier one
    (a system owned and rented) reuses its answer: the same rows kept as the one-matrix rule keeps for each."""
    from planner.optimize.prune import ONE_MATRIX_ROWS, _undominated_at_once, undominated

    rng = np.random.default_rng(7)
    n = ONE_MATRIX_ROWS // 2 + 20
    g = rng.choice([1.0, 2.0, 4.0, 8.0], n)
    o, w = g * rng.choice([500.0, 800.0, 1000.0], n), g * rng.choice([300.0, 400.0], n)
    q = rng.choice([1.0, 2.0], n)
    other = rng.permutation(n)  # a third group: the same values in another order (another answer)
    cols = [np.concatenate([x, x, x[other]]) for x in (g, o, w, q)]
    by = [np.full(3 * n, "w"), np.full(3 * n, "s"), np.repeat(["own", "rent", "x"], n)]
    keep = undominated(*cols, by)
    label = np.repeat([0, 1, 2], n)
    assert (keep == _undominated_at_once(*cols, label)).all()
    assert (keep[:n] == keep[n:2 * n]).all() and keep[:n].sum() < n
