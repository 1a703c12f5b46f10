"""`latency_under_load` on disaggregated rows (perf/load_disagg.py): each row one unit under its load, the
optimizer's two queues (analytic) or the unit's simulation (simulate), where both said 'modelled for aggregated
serving only'; `predict` answers without a load get their percentile columns from it (e2e_p50_s was empty on
disaggregated answers that were not simulated); and repeated units under the same load are simulated once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.perf import load_disagg
from planner.perf.disagg_capacity import disaggregated_at_load, disaggregated_units
from planner.perf.load import latency_under_load
from planner.perf.simulate import Workload, summarize
from planner.perf.simulate_disagg import simulate_unit, unit_steps
from planner.predict import predict_one

CFG = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="bf16", tp=4, pp=1, ep=1,
           attn_dp=1, isl=1000, osl=200, serving="disaggregated")


def test_a_disaggregated_row_is_its_unit_under_the_load(cat):
    grid = pd.DataFrame([CFG | dict(request_rate=5.0), CFG | dict(concurrency=16)])
    a = latency_under_load(grid, cat)
    s = latency_under_load(grid, cat, method="simulate")
    assert (a["load_reason"] == "").all() and (s["load_reason"] == "").all()
    units = disaggregated_units(pd.DataFrame([CFG]), cat, load_steps=True)
    q = disaggregated_at_load(pd.concat([units] * 2, ignore_index=True), request_rate=np.array([5.0, np.nan]),
                              concurrency=np.array([np.nan, 16.0]))
    for k in ("ttft_p90_s", "tpot_mean_s", "requests_s"):
        assert a[k].to_numpy() == pytest.approx(q[k].to_numpy(), rel=1e-12), k
    assert a["e2e_p50_s"].to_numpy() == pytest.approx((a["ttft_p50_s"] + 199 * a["tpot_p50_s"]).to_numpy())
    assert a["max_running"].iloc[0] == units["batch"].iloc[0] * units["decode_instances"].iloc[0]
    run = summarize(simulate_unit(unit_steps(units.iloc[0], cat), Workload(request_rate=5.0)))
    for k in ("ttft_p50_s", "tpot_p99_s", "itl_p50_s", "e2e_p50_s", "requests_s"):
        assert s[k].iloc[0] == pytest.approx(run[k], rel=1e-12), k
    # TPOT at the load's decode batch: the queues and the simulation agree (tests/test_simulate_disagg.py)
    assert a["tpot_p50_s"].to_numpy() == pytest.approx(s["tpot_p50_s"].to_numpy(), rel=0.05)


def test_a_disaggregated_answer_without_a_load_has_its_percentiles(cat):
    """As an aggregated answer's: the full batch as closed-loop clients on each unit (batch x decode instances),
    from the queues; end-to-end p50 included."""
    r = predict_one(cat, model="llama-3.1-8b", gpu="h100-sxm", gpus=4, precision="fp8", isl=1000, osl=200, tp=1,
                    pp=1, serving="disaggregated", max_throughput=True)
    assert r["fits"] and r["prefill_instances"] >= 1
    clients = r["in_flight"] // r["dp"]
    g = pd.DataFrame([CFG | dict(tp=1, batch=clients // r["decode_instances"], concurrency=clients)])
    at = latency_under_load(g, cat).iloc[0]
    for k in ("ttft_p50_s", "ttft_p99_s", "tpot_p90_s", "itl_p50_s", "e2e_p50_s"):
        assert r[k] == pytest.approx(at[k], rel=1e-9) and r[k] > 0, k
    assert r["requests_s"] == pytest.approx(at["requests_s"] * r["dp"], rel=1e-9)


def test_a_repeated_unit_and_load_is_simulated_once(cat, monkeypatch):
    calls = []
    real = load_disagg.simulate_unit
    monkeypatch.setattr(load_disagg, "simulate_unit", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(load_disagg, "_RUNS", load_disagg._Lru())
    grid = pd.DataFrame([CFG | dict(request_rate=3.0, tp=2)] * 3 + [CFG | dict(request_rate=4.0, tp=2)])
    first = latency_under_load(grid, cat, method="simulate")
    assert len(calls) == 2  # two loads of one unit
    again = latency_under_load(grid, cat, method="simulate")
    assert len(calls) == 2
    pd.testing.assert_frame_equal(first, again)


def test_an_answer_without_a_load_keeps_its_prefill_instances_expert_layout(cat):
    """A split with small expert-parallel prefill instances (DEP4 decode + DEP2 prefill) is answered for that
    unit: percentile_columns passed only the prefill accelerator, tp and pp on, so the percentiles were those of
    a unit whose prefill took the decode layout (TTFT p90 0.108 s here instead of 0.098 s)."""
    from planner.predict.load import percentile_columns

    row = dict(model="qwen3-30b-a3b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, pp=1,
               ep=4, attn_dp=4, serving="disaggregated", isl=1000, osl=200, batch=64, decode_instances=1,
               prefill_instances=1, prefill_accelerator="h100-sxm", prefill_tp=1, prefill_pp=1, prefill_ep=2,
               prefill_attn_dp=2, engine="", speculative_method="")
    got = percentile_columns(pd.DataFrame([row]), cat).iloc[0]
    grid = pd.DataFrame([row]).drop(columns=["decode_instances", "prefill_instances", "speculative_method"])
    grid = grid.assign(concurrency=64, speculative="none")
    want = latency_under_load(grid, cat).iloc[0]
    other = latency_under_load(grid.drop(columns=["prefill_ep", "prefill_attn_dp"]), cat).iloc[0]
    for k in ("ttft_p90_s", "tpot_p90_s", "e2e_p50_s"):
        assert got[k] == pytest.approx(want[k], rel=1e-12), k
    assert abs(other["ttft_p90_s"] / want["ttft_p90_s"] - 1) > 0.05  # the two units do differ


def test_the_closed_loop_search_runs_on_the_closed_loop_rows_only(cat, monkeypatch):
    """disaggregated_at_load's 40 halvings of rho ran over every row, open-loop and units that do not run too:
    now over the closed-loop rows, with the same rho (the plain bisection over all rows, as it was, below)."""
    from planner.perf import disagg_capacity as dc
    from planner.perf.reasoning_disagg import tpot_at_load

    cfgs = pd.DataFrame([CFG | dict(model=m, tp=tp) for m in ("llama-3.1-8b", "llama-3.1-405b") for tp in (1, 4)])
    units = disaggregated_units(cfgs, cat, load_steps=True)
    units = pd.concat([units] * 3, ignore_index=True)  # each unit open loop, closed loop, and without a load
    n = len(units)
    rate = np.repeat([3.0, np.nan, np.nan], 4)
    conc = np.repeat([np.nan, 24.0, np.nan], 4)
    s = dc._unit_state(units)
    lo, hi = np.zeros(n), np.full(n, dc.DISAGG_UTILIZATION_MAX)
    for _ in range(dc.CLOSED_LOOP_HALVINGS):
        mid = (lo + hi) / 2.0
        little = mid * s["mu"] * (dc._unit_ttft_mean(s, mid) + (s["visible"] - 1.0) * tpot_at_load(s, mid, None))
        lo, hi = np.where(little <= conc, mid, lo), np.where(little <= conc, hi, mid)
    closed = s["fits"] & np.isfinite(conc)
    assert 0 < closed.sum() < n and not s["fits"].all()
    want = np.where(closed, lo, rate / s["mu"])
    want = np.where(s["fits"] & (want < 1.0), want, np.nan)
    rows = []  # the rows each evaluation of the mean TTFT takes
    real = dc._unit_ttft_mean
    monkeypatch.setattr(dc, "_unit_ttft_mean", lambda st, rho: rows.append(len(rho)) or real(st, rho))
    got = dc.disaggregated_at_load(units, request_rate=rate, concurrency=conc)
    assert np.array_equal(got["rho"].to_numpy(), want, equal_nan=True)
    # the closed-loop rows' halvings, then every row's mean TTFT once (40 x 2 + 12 = 92; 40 x 12 + 12 before)
    assert sum(rows) == dc.CLOSED_LOOP_HALVINGS * closed.sum() + n


def test_a_row_with_a_batch_is_evaluated_once_where_it_runs(cat, monkeypatch):
    """_units evaluated every row with a batch twice, at batch 1 for the memory's room and at the batch: now
    once at the batch where it runs there, the others again at the room (here 2 + 1 rows, 6 before). The same
    frame as the two evaluations give (below), a batch over memory's room cut to the room."""
    from planner.perf.evaluate import evaluate
    from planner.perf.params import load_efficiency
    from planner.perf.reasoning_disagg import with_decode_steps
    from planner.perf.resolve import CONFIG_COLUMNS

    g = pd.DataFrame([CFG | dict(batch=32), CFG | dict(batch=8.5, osl=300), CFG | dict(batch=10**7)])
    cfg = g[[c for c in CONFIG_COLUMNS if c in g]]  # in the order _units takes them
    hidden, eff = np.array([0.0, 40.0, 0.0]), load_efficiency(cat)
    room = evaluate(cfg.assign(batch=1), cat, efficiency=eff)["max_batch_memory"].to_numpy()
    b = np.minimum(g["batch"].to_numpy(), room).astype(np.int64)
    assert b[2] == room[2] < 10**7 and b[1] == 8
    want = evaluate(cfg.assign(batch=b), cat, efficiency=eff)
    want["ttft_s"] = load_disagg.visible_ttft(want["ttft_s"].to_numpy(), want["tpot_s"].to_numpy(), hidden)
    want = with_decode_steps(want, cfg, cat, eff, hidden, every=True)
    rows = []
    monkeypatch.setattr(load_disagg, "evaluate", lambda grid, *a, **k: rows.append(len(grid)) or evaluate(
        grid, *a, **k))
    got = load_disagg._units(g, cat, hidden, eff)
    assert rows == [3, 1]
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_a_burst_its_decode_seats_hold_is_not_saturated(cat):
    """One request at rate inf: no request waits for another to finish (it read saturated); 20,000 do."""
    grid = pd.DataFrame([CFG | dict(request_rate=np.inf, num_requests=n) for n in (1, 20000)])
    got = latency_under_load(grid, cat)
    assert got["max_running"].iloc[0] < 20000
    assert got["saturated"].tolist() == [False, True] and got["ttft_p50_s"].notna().all()


def test_a_batch_beyond_int64_is_cut_to_the_room_without_a_cast_warning(cat):
    """A batch of inf or above 2**63 was cast to INT64_MIN ('invalid value encountered in cast') and evaluated
    there before the room's redo mended it: now clamped first, the same unit as a batch over the room."""
    import warnings

    from planner.perf.params import load_efficiency

    eff = load_efficiency(cat)
    want = load_disagg._units(pd.DataFrame([CFG | dict(batch=10**7)]), cat, np.zeros(1), eff)
    for batch in (np.inf, 1e20):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = load_disagg._units(pd.DataFrame([CFG | dict(batch=batch)]), cat, np.zeros(1), eff)
        pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize("serving", ["aggregated", "disaggregated"])
def test_an_endless_concurrency_or_run_is_refused_by_name(cat, serving):
    """concurrency or num_requests of inf (predict refuses them at its input; the library took them): a
    simulation raised OverflowError casting them to int, the analytic answer read TTFT inf. Now a load reason."""
    grid = pd.DataFrame([CFG | dict(serving=serving, batch=8, concurrency=np.inf),
                         CFG | dict(serving=serving, batch=8, request_rate=5.0, num_requests=np.inf)])
    for method in ("analytic", "simulate"):
        got = latency_under_load(grid, cat, method=method)
        assert got["load_reason"].tolist() == ["concurrency must be a finite number, got inf",
                                               "num_requests must be a finite number, got inf"], method
        assert got["requests_s"].isna().all()


@pytest.mark.parametrize("serving", ["aggregated", "disaggregated"])
def test_a_run_of_no_requests_is_refused_by_name(cat, serving):
    """num_requests 0 or below (predict refuses it at its input; the library took it): with the clients held to
    the run's requests the analytic answer read TTFT NaN with no load reason, and a simulation raised on its
    empty arrivals. Now a load reason."""
    grid = pd.DataFrame([CFG | dict(serving=serving, batch=8, concurrency=4, num_requests=0),
                         CFG | dict(serving=serving, batch=8, request_rate=5.0, num_requests=-3)])
    for method in ("analytic", "simulate"):
        got = latency_under_load(grid, cat, method=method)
        assert got["load_reason"].tolist() == ["num_requests must be positive"] * 2, method
        assert got["requests_s"].isna().all()


def test_a_disaggregated_row_is_simulated_with_its_own_seed(cat):
    """The grid's `seed` column reaches disaggregated units as it does aggregated rows (they all ran seed 0, so
    predict's mean over seeds of a random finite run averaged one draw repeated)."""
    row = CFG | dict(request_rate=5.0, num_requests=20, length_dist="variable")
    grid = pd.DataFrame([row | dict(seed=0), row | dict(seed=1)])
    s = latency_under_load(grid, cat, method="simulate")
    assert s["ttft_p50_s"].iloc[0] != s["ttft_p50_s"].iloc[1]
    one = latency_under_load(pd.DataFrame([row]), cat, method="simulate", seed=1)
    for k in ("ttft_p50_s", "tpot_mean_s", "e2e_p50_s", "requests_s"):
        assert s[k].iloc[1] == one[k].iloc[0], k
