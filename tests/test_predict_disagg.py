"""predict's disaggregated answers use the optimizer's under-load model (planner.perf.capacity): the same
capacity under a percentile SLO as `solve` plans with, TTFT percentiles from the same two queues, TPOT at the
decode batch the load gives, and labels that say so."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from planner.catalog import load_catalog
from planner.perf.capacity import capacity_under_slo
from planner.perf.disagg_capacity import disaggregated_at_load, disaggregated_units
from planner.perf.slo_policy import recorded_basis
from planner.predict.query import predict_many, predict_one
from planner.report.predict_view import render_prediction

QUERY = dict(model="llama-3.1-70b", gpu="h100-sxm", precision="fp8", isl=2000, osl=200, serving="disaggregated",
             tp=4, pp=1)
CFG = dict(model="llama-3.1-70b", accelerator="h100-sxm", precision="fp8", kv_precision="bf16", tp=4, pp=1, ep=1,
           attn_dp=1, serving="disaggregated", isl=2000, osl=200)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_md1_tail_by_hand():
    """One unit with seats to spare (no decode-seat wait): at rho = 0.5 the p99 TTFT is the zero-load TTFT
    plus the M/D/1 prefill wait's quantile ln(rho / 0.01) / (2 mu (1 - rho)) = ln(50) / mu, the mean adds
    Pollaczek-Khinchine's rho / (2 mu (1 - rho)) = 0.5 / mu, and p50 (rho <= 1 - 0.5) adds nothing."""
    mu, base = 10.0, 0.2  # requests/s of the unit; zero-load TTFT, s
    unit = pd.DataFrame([{"fits": True, "osl": 100, "output_tok_s": mu * 100, "ttft_s": base, "batch": 10_000,
                          "decode_instances": 1, "tpot_s": 0.01}])
    at = disaggregated_at_load(unit, request_rate=0.5 * mu).iloc[0]
    assert at["ttft_p99_s"] == pytest.approx(base + math.log(50.0) / mu, rel=1e-12)
    assert at["ttft_mean_s"] == pytest.approx(base + 0.5 / mu, rel=1e-9)
    assert at["ttft_p50_s"] == pytest.approx(base, rel=1e-12)
    assert at["requests_s"] == pytest.approx(5.0) and not at["saturated"]
    over = disaggregated_at_load(unit, request_rate=1.2 * mu).iloc[0]
    assert over["saturated"] and math.isnan(over["ttft_p99_s"]) and over["requests_s"] == pytest.approx(mu)


def test_predict_request_rate_reproduces_the_md1_tail(catalog):
    """predict's p99 TTFT for a disaggregated query at half the unit's rate is that formula on the unit the
    optimizer builds (its decode seats far from full: their wait is nil at p99)."""
    unit = disaggregated_units(pd.DataFrame([CFG]), catalog).iloc[0]
    gpus = int(unit["gpus"])
    mu = unit["output_tok_s"] / unit["osl"]
    seats_busy = 0.5 * mu * unit["osl"] * unit["tpot_s"]
    assert unit["batch"] * unit["decode_instances"] - seats_busy > 6 * math.sqrt(seats_busy)  # no seat wait
    r = predict_one(catalog, **QUERY, gpus=gpus, request_rate=0.5 * mu)
    assert r["fits"] and r["dp"] == 1 and not r["saturated"]
    # the p99 prompt waits (M/D/1) and shares its pass with the prompts that reach its prefill instance while it
    # waits and during a lone pass (twice that), each adding its part of the full pass above a lone prompt's
    wait, lone, per_pass = math.log(50.0) / mu, unit["ttft_lone_s"], unit["prompts_per_pass"]
    shared = min(per_pass, 1.0 + mu / unit["prefill_instances"] * (wait + lone))
    base = lone + (unit["ttft_s"] - lone) * (shared - 1.0) / (per_pass - 1.0)
    assert per_pass > 1 and lone < base < unit["ttft_s"]
    assert r["ttft_p99_s"] == pytest.approx(base + wait, rel=1e-9)
    assert r["requests_s"] == pytest.approx(0.5 * mu, rel=1e-12)
    # TPOT: the decode step at the batch half the rate gives (below the full batch's), as the unit's queues say
    steps = disaggregated_units(pd.DataFrame([CFG]), catalog, load_steps=True)
    assert r["tpot_s"] == pytest.approx(disaggregated_at_load(steps, request_rate=0.5 * mu)["tpot_mean_s"].iloc[0])
    assert r["tpot_s"] < 0.5 * unit["tpot_s"]
    # the percentiles from simulating the unit (planner.predict.disagg_sim), under the full batch's bound and
    # near the analytic mean
    assert all(0 < r[k] <= unit["tpot_s"] for k in ("tpot_p50_s", "tpot_p90_s", "tpot_p99_s"))
    assert r["tpot_p50_s"] == pytest.approx(r["tpot_s"], rel=0.1)


@pytest.mark.parametrize("pct,ttft_ms,tpot_ms", [(90, 1000, 50), (99, 800, 30)])
def test_predict_capacity_is_the_optimizers(catalog, pct, ttft_ms, tpot_ms):
    """A disaggregated query with targets and no load is answered at the capacity `capacity_under_slo` gives
    the candidate search for the same row: the same requests/s per unit, the same TTFT at the percentile."""
    cap = capacity_under_slo(pd.DataFrame([CFG]), catalog, ttft_ms / 1e3, tpot_ms / 1e3, percentile=pct).iloc[0]
    assert cap["fits"]
    dp = 2
    gpus = dp * int(cap["gpus"])
    r = predict_one(catalog, **QUERY, gpus=gpus, ttft_slo_ms=ttft_ms, tpot_slo_ms=tpot_ms, slo_percentile=pct)
    assert r["fits"] and r["dp"] == dp
    assert r["requests_s"] == pytest.approx(dp * cap["capacity_rps"], rel=1e-12)
    assert r[f"ttft_p{pct}_s"] == pytest.approx(cap["ttft_s"], rel=1e-12)
    assert r["output_tok_s"] == pytest.approx(dp * cap["output_tok_s"], rel=1e-12)
    assert r["tpot_s"] == pytest.approx(cap["tpot_s"], rel=1e-12)
    assert "TPOT the full batch's step (a bound)" in r["notes"]  # at the capacity solve plans with


def test_closed_loop_obeys_littles_law(catalog):
    unit = disaggregated_units(pd.DataFrame([CFG]), catalog).iloc[0]
    r = predict_many(pd.DataFrame([{**QUERY, "gpus": int(unit["gpus"]), "concurrency": 32}]), catalog).iloc[0]
    e2e = r["ttft_s"] + (QUERY["osl"] - 1) * r["tpot_s"]
    assert r["requests_s"] * e2e == pytest.approx(32, rel=1e-6)
    assert r["ttft_p50_s"] <= r["ttft_p90_s"] <= r["ttft_p99_s"]


def test_labels_state_the_statistics(catalog):
    unit = disaggregated_units(pd.DataFrame([CFG]), catalog).iloc[0]
    r = predict_one(catalog, **QUERY, gpus=int(unit["gpus"]), request_rate=1.0)
    buf = io.StringIO()
    render_prediction(Console(file=buf, width=200), r, under_load=True)
    text = buf.getvalue()
    # one label (`slo_basis`) for predict, solve and the proposal: predict said "TTFT p90; TPOT full-batch
    # step", solve "p90 TTFT, TPOT mean" and the proposal "p90" for the same deployment
    assert r["slo_basis"] == "p90 TTFT; TPOT full-batch step (bounds every percentile)"
    assert r["slo_basis"] in " ".join(text.split())
    # under a load the TPOT shown is the load's mean (the decode step at the batch the load gives), not the
    # full batch's bound the label once claimed; at the capacity under the SLO it is the bound
    assert "TPOT (mean under the load)" in text and "an upper bound" not in text
    assert r["tpot_s"] == pytest.approx(r["tpot_p50_s"], rel=0.05)
    at_cap = predict_one(catalog, **QUERY, gpus=int(unit["gpus"]), ttft_slo_ms=2000.0)
    buf = io.StringIO()
    render_prediction(Console(file=buf, width=200), at_cap, targets=True)
    assert "TPOT (decode step at the unit's full batch: an upper bound)" in buf.getvalue()
    # older plans: no slo_basis recorded, the words from the percentile and the workload's serving modes
    assert recorded_basis(None, 90.0, {"disaggregated"}) == r["slo_basis"]
    assert recorded_basis(None, 90.0, {"aggregated"}) == "p90"
    assert recorded_basis("recorded", 90.0, {"disaggregated"}) == "recorded"
    # plans written before the percentile was recorded were solved against means
    assert recorded_basis(None, None, {"disaggregated"}) == "mean"


def test_load_answer_keeps_the_prefill_instances_of_the_query_and_fits_its_gpus(catalog):
    """Under a load the unit has the query's prefill accelerator and layout, and is the largest that fits its
    GPUs (solve's unit of TP4 at its largest batch needs 20; 16 are given)."""
    r = predict_one(catalog, **QUERY, gpus=16, request_rate=2.0, prefill_gpu="h200-sxm", prefill_tp=2)
    assert r["fits"] and r["prefill_gpu"] == "h200-sxm" and r["prefill_tp"] == 2
    used = r["dp"] * (r["prefill_instances"] * r["prefill_tp"] + r["decode_instances"] * r["tp"])
    assert used <= 16 and r["requests_s"] == pytest.approx(2.0)


def test_the_fitting_unit_is_the_largest_batch_in_any_batch_order(catalog, monkeypatch):
    """fitting_units keeps, per unit too big for the query's GPUs, the largest batch that fits them: the same
    answer whatever order the candidate batches come in."""
    from planner.predict import disagg

    cfg = pd.DataFrame([CFG])
    args = (cfg, catalog, np.array([np.inf]), np.array([np.inf]), np.array([16.0]))
    want = disagg.fitting_units(*args)
    assert want["fits"].iloc[0] and want["gpus"].iloc[0] <= 16
    assert want["batch"].iloc[0] < disaggregated_units(cfg, catalog)["batch"].iloc[0]  # a smaller batch was picked
    monkeypatch.setattr(disagg, "DEFAULT_BATCHES", tuple(reversed(disagg.DEFAULT_BATCHES)))
    got = disagg.fitting_units(*args)
    assert got["batch"].iloc[0] == want["batch"].iloc[0] and got["gpus"].iloc[0] == want["gpus"].iloc[0]


@pytest.mark.parametrize("targets", [{}, {"ttft_slo_ms": 1000}])
def test_unit_larger_than_the_gpus_given_says_so(catalog, targets):
    """deepseek-r1 fp8 fits in 16 H100s aggregated, but a disaggregated unit (prefill and decode instances each
    holding the weights) needs more: the answer names the GPUs, not 'no configuration meets both the TTFT and
    the TPOT target' for a query that gave no target, nor (with one) TP1's weights not fitting one GPU (what it
    said before)."""
    r = predict_one(catalog, model="deepseek-r1", gpu="h100-sxm", gpus=16, precision="fp8", isl=1000, osl=200,
                    serving="disaggregated", **targets)
    assert not r["fits"]
    assert r["limited_by"] == "config"
    assert "more than the 16 given" in r["notes"]


@pytest.mark.parametrize("load", [{"concurrency": 8}, {"request_rate": 2.0},
                                  {"request_rate": 2.0, "ttft_slo_ms": 2000}])
@pytest.mark.parametrize("layout", [dict(gpu="h100-sxm", gpus=16), dict(gpu="h200-sxm", gpus=8, ep=8)])
def test_under_a_load_a_unit_larger_than_the_gpus_given_says_so(catalog, load, layout):
    """Under a load (and with an --ep), as without one: every disaggregated unit of deepseek-r1 needs more GPUs
    than the query has, and the answer names the smallest, not the first split's own reason (TP1's weights
    exceeding one H100's HBM, limited_by memory; 'ep 8 must divide tp*attn_dp = 1': what it said before)."""
    r = predict_one(catalog, model="deepseek-r1", precision="fp8", isl=1000, osl=200, serving="disaggregated",
                    **layout, **load)
    assert not r["fits"] and r["limited_by"] == "config"
    assert f"GPUs a replica, more than the {layout['gpus']} given" in r["notes"]
    no_load = predict_one(catalog, model="deepseek-r1", precision="fp8", isl=1000, osl=200,
                          serving="disaggregated", **layout, ttft_slo_ms=load.get("ttft_slo_ms"))
    assert no_load["limited_by"] == "config" and "more than the" in no_load["notes"]


@pytest.mark.parametrize("serving", ["aggregated", "disaggregated"])
def test_a_saturated_steady_state_has_no_tpot(catalog, serving):
    """Above what the replicas complete the queue grows without bound: no steady state, so no mean TTFT nor
    TPOT, for either serving (a disaggregated answer showed its full batch's step as TPOT, 28 ms, where the
    aggregated one beside it showed '-')."""
    r = predict_one(catalog, model="llama-3.1-70b", gpu="h100-sxm", gpus=16, precision="fp8", isl=2000, osl=200,
                    request_rate=500.0, serving=serving)
    assert r["fits"] and r["saturated"] and r["limited_by"] == "queue"
    assert math.isnan(r["tpot_s"]) and math.isnan(r["output_tok_s_per_user"]) and math.isnan(r["ttft_s"])


@pytest.mark.parametrize("ask", [{"request_rate": 4.0}, {"ttft_slo_ms": 2000, "tpot_slo_ms": 50}])
def test_disaggregated_notes_are_short(catalog, ask):
    """The notes are on every row of a --batch answer: a disaggregated one restated the method in 380-510
    characters (the README's predict section has it); now what was modelled how, in a line."""
    r = predict_one(catalog, model="llama-3.1-70b", gpu="h100-sxm", gpus=16, precision="fp8", isl=2000, osl=200,
                    serving="disaggregated", **ask)
    assert r["fits"] and "Erlang-C" in r["notes"] and "from a simulation of the unit" in r["notes"]
    assert len(r["notes"]) < 300, r["notes"]


def test_a_finite_burst_has_no_more_in_flight_than_its_requests(catalog):
    """64 requests at once on two units: the steady state saturates and took every decode seat as in flight
    (198); a finite run's in-flight count is its own (Little's law over the run), at most its 64 requests."""
    r = predict_one(catalog, model="llama-3.1-70b", gpu="h100-sxm", gpus=16, precision="fp8", isl=2000, osl=200,
                    serving="disaggregated", request_rate=math.inf, num_requests=64)
    assert r["fits"] and 1 <= r["in_flight"] <= 64
