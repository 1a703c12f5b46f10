"""Latency under load: hand-checkable queueing cases, simulator invariants, simulator vs analytic, saturation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from perf_toy import base_catalog

from planner.perf import queueing as Q
from planner.perf.closed_loop import closed_loop
from planner.perf.load import latency_under_load, max_rate_meeting
from planner.perf.simulate import Workload, simulate_one, summarize
from planner.perf.steptable import StepTables, build_step_tables, interp_step

CAT = base_catalog()
D, P = 20, 9


def linear_table(a=0.01, b=0.0, c=0.0, isl=100, osl=101, max_seqs=1, kv=1e9, budget=8192) -> StepTables:
    """A step time a + b * decode_sequences + c * prefill_tokens, exact on the grid (so hand-checkable)."""
    frac = np.linspace(0.0, 1.0, D - 1)
    decode = np.concatenate([[0.0], float(max_seqs) ** frac])[None, :]
    prefill = (budget * np.linspace(0.0, 1.0, P))[None, :]
    time_s = a + b * decode[0][:, None] + c * prefill[0][None, :]
    step_avg = a + b * decode + c * decode * isl / osl
    one = lambda v: np.array([float(v)])  # noqa: E731
    return StepTables(decode=decode, prefill=prefill, time_s=time_s[None], s_per_ctx_token=one(0),
                      ctx_ref=one(isl + osl / 2), step_avg_s=step_avg, max_seqs=one(max_seqs),
                      token_budget=one(budget), kv_tokens=one(kv), isl=one(isl), osl=one(osl),
                      fits=np.array([True]), reason=np.array([""], dtype=object), gpus=np.array([1]),
                      burst=one(1))


def analytic_open(tab: StepTables, lam: float) -> dict:
    sv = Q.service(tab)
    return {k: v[0] for k, v in Q.open_loop(Q.chain(sv), sv, tab, np.array([lam])).items()}


# ---------------------------------------------------------------- hand-checkable queueing


def test_one_seat_is_md1_pollaczek_khinchine():
    """One seat, every request lives 1.01 s (one 10 ms prefill step + 100 decode steps): M/D/1."""
    tab = linear_table(max_seqs=1)
    life = 0.01 + 100 * 0.01
    sv = Q.service(tab)
    assert sv.cap[0] == 1 and sv.capacity_rps[0] == pytest.approx(1 / life)
    lam = 0.5
    rho = lam * life
    r = analytic_open(tab, lam)
    assert r["p_wait"] == pytest.approx(rho)  # PASTA: an arrival finds the seat busy with probability rho
    wait = rho * life / (2 * (1 - rho))  # Pollaczek-Khinchine, deterministic service
    # its prefill step (the seat is idle or just freed) and half a step to the boundary when busy; no wait behind
    # other prompts: a prompt adds no GPU time to the step it rides on here (c = 0), the M/D/1 on prompt work idles
    own = 0.01 + 0.5 * 0.01 * rho
    assert r["ttft_mean_s"] == pytest.approx(wait + own)
    assert r["tpot_mean_s"] == pytest.approx(0.01)
    # the simulator of the same system agrees on the mean wait (sampling noise of 3,000 requests)
    run = summarize(simulate_one(tab, Workload(request_rate=lam, num_requests=3000, seed=1)))
    assert run["ttft_mean_s"] == pytest.approx(wait + 0.01 + 0.5 * 0.01 * rho, rel=0.15)
    assert run["requests_s"] == pytest.approx(lam, rel=0.1)


def test_many_seats_is_an_infinite_server():
    """Seats far above the load: M/G/inf, the occupancy is Poisson(lam * life) and nobody waits."""
    tab = linear_table(max_seqs=1000)
    r = analytic_open(tab, 5.0)
    assert r["running_mean"] == pytest.approx(5.0 * 1.01, rel=0.01)
    assert r["p_wait"] < 1e-12
    assert r["ttft_p50_s"] == pytest.approx(0.01 + 0.5 * 0.01, rel=0.01)


def test_light_load_ttft_is_the_prefill_and_tpot_the_decode_step():
    cfg = pd.DataFrame([dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8",
                             tp=1, pp=1, ep=1, attn_dp=1, serving="aggregated", isl=2000, osl=100)])
    tab = build_step_tables(cfg, CAT)
    run = simulate_one(tab, Workload(concurrency=1, num_requests=3))
    ttft = run.first_token_s - run.arrival_s
    assert ttft == pytest.approx(np.full(3, interp_step(tab, 0.0, 2000.0)[0, 0]))
    s = summarize(run)
    one_step = interp_step(tab, 1.0, 0.0)[0, 0]
    assert s["tpot_p50_s"] == pytest.approx(one_step, rel=0.02)  # context grows: slightly above the table
    a = latency_under_load(cfg, CAT, concurrency=1).iloc[0]
    assert a["ttft_p50_s"] == pytest.approx(ttft[0], rel=0.05)
    assert a["tpot_mean_s"] == pytest.approx(s["tpot_mean_s"], rel=0.05)


def test_closed_loop_above_the_seats_waits_its_turn():
    """3x more clients than seats: each waits (C - B) / X, X = B / life."""
    tab = linear_table(max_seqs=4)
    sv = Q.service(tab)
    r = closed_loop(sv, tab, np.array([12.0]))
    x = 4 / 1.01
    assert r["requests_s"][0] == pytest.approx(x)
    assert r["ttft_mean_s"][0] == pytest.approx(8 / x + 0.01 + 0.005)
    assert r["saturated"][0]
    run = summarize(simulate_one(tab, Workload(concurrency=12)))
    assert run["ttft_mean_s"] == pytest.approx(r["ttft_mean_s"][0], rel=0.05)
    assert run["requests_s"] == pytest.approx(x, rel=0.03)


# ---------------------------------------------------------------- simulator invariants


@settings(max_examples=40, deadline=None)
@given(a=st.floats(1e-3, 0.05), b=st.floats(0.0, 1e-3), c=st.floats(1e-7, 1e-4), isl=st.integers(1, 6000),
       osl=st.integers(1, 400), seats=st.integers(1, 64), kv_seqs=st.floats(1.2, 100.0),
       n=st.integers(1, 60), rate=st.sampled_from([0.5, 5.0, math.inf]),
       dist=st.sampled_from(["fixed", "variable"]), budget=st.sampled_from([512, 2048, 8192]),
       seed=st.integers(0, 3))
def test_simulator_invariants(a, b, c, isl, osl, seats, kv_seqs, n, rate, dist, budget, seed):
    tab = linear_table(a, b, c, isl, osl, seats, kv=kv_seqs * (isl + osl), budget=budget)
    run = simulate_one(tab, Workload(request_rate=rate, num_requests=n, length_dist=dist, seed=seed))
    assert np.isfinite(run.finish_s).all() and np.isfinite(run.first_token_s).all()  # every request finishes
    ttft = run.first_token_s - run.arrival_s
    # a prompt's tokens cost at least c each, and it needs ceil(isl / budget) steps of at least a
    floor = np.maximum(c * run.isl, a * np.ceil(run.isl / budget))
    assert (ttft >= floor * (1 - 1e-9)).all()
    assert (run.finish_s >= run.first_token_s).all()
    s = summarize(run)
    # throughput below the ceiling: a step lasts at least a and gives each of <= seats running sequences
    # at most one token
    assert s["output_tok_s"] <= seats / a * (1 + 1e-9)
    again = simulate_one(tab, Workload(request_rate=rate, num_requests=n, length_dist=dist, seed=seed))
    assert np.array_equal(run.finish_s, again.finish_s)  # deterministic with a seed


@settings(max_examples=30, deadline=None)
@given(a=st.floats(1e-3, 0.05), b=st.floats(0.0, 1e-3), c=st.floats(1e-7, 1e-4), isl=st.integers(1, 6000),
       osl=st.integers(2, 400), seats=st.integers(1, 2048), f1=st.floats(0.01, 0.98), f2=st.floats(0.01, 0.98))
def test_analytic_is_monotone_in_load(a, b, c, isl, osl, seats, f1, f2):
    tab = linear_table(a, b, c, isl, osl, seats)
    cap = Q.service(tab).capacity_rps[0]
    lo, hi = sorted((f1, f2))
    r1, r2 = analytic_open(tab, lo * cap), analytic_open(tab, hi * cap)
    for k in ("ttft_mean_s", "ttft_p90_s", "ttft_p99_s", "tpot_mean_s", "tpot_p90_s"):
        assert r2[k] >= r1[k] * (1 - 1e-9), k
    assert r1["ttft_p50_s"] <= r1["ttft_p90_s"] <= r1["ttft_p99_s"]


def test_simulated_ttft_grows_with_load():
    cfg = pd.DataFrame([dict(model="llama-3.3-70b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8",
                             tp=2, isl=1000, osl=200, serving="aggregated")])
    cap = latency_under_load(cfg, CAT, request_rate=1.0)["capacity_rps"].iloc[0]
    res = [latency_under_load(cfg, CAT, request_rate=f * cap, method="simulate").iloc[0] for f in (0.2, 0.6, 0.9)]
    assert res[0]["ttft_p90_s"] < res[1]["ttft_p90_s"] < res[2]["ttft_p90_s"]
    assert res[0]["tpot_mean_s"] < res[1]["tpot_mean_s"] < res[2]["tpot_mean_s"]
    assert all(r["requests_s"] <= cap * 1.03 for r in res)


# ---------------------------------------------------------------- simulator vs analytic

# Stated tolerance (relative) of the analytic approximation against the simulator, over loads below and above
# the knee. TTFT percentiles near saturation are the hardest part: they are checked up to 80% of capacity.
TOLERANCE = {"ttft_p50_s": 0.25, "ttft_p90_s": 0.35, "tpot_mean_s": 0.15, "tpot_p90_s": 0.20,
             "itl_p50_s": 0.10, "itl_mean_s": 0.15, "output_tok_s": 0.10}
SEEDS = 6
CONFIGS = [
    dict(model="llama-3.3-70b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=2, isl=5000,
         osl=500),
    dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, isl=1000,
         osl=300, batch=64),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["70b-tp2-kv-bound", "8b-seat-bound"])
def test_simulator_and_analytic_agree_over_a_load_grid(cfg):
    base = pd.DataFrame([cfg | dict(serving="aggregated")])
    probe = latency_under_load(base, CAT, concurrency=1).iloc[0]
    cap, seats = probe["capacity_rps"], probe["max_running"]
    loads = ([dict(request_rate=f * cap) for f in (0.3, 0.6, 0.8)]
             + [dict(concurrency=int(max(1, f * seats))) for f in (0.25, 0.5, 2.0, 3.0)])
    grid = pd.DataFrame([cfg | dict(serving="aggregated") | ld for ld in loads])
    a = latency_under_load(grid, CAT, method="analytic")
    # the reference is the simulator's mean over seeds: a closed loop's clients start at random phases and
    # their cohorts settle differently (8B, 16 clients, fixed lengths: TTFT p90 37 ms on seeds 0, 1, 5 and
    # 20 ms on 2, 3, 4), so one seed's percentile is one draw of a two-valued figure
    runs = [latency_under_load(grid.assign(seed=k), CAT, method="simulate") for k in range(SEEDS)]
    assert all((r["saturated"] == a["saturated"]).all() for r in runs)
    s = sum(r[list(TOLERANCE)] for r in runs) / SEEDS
    for k, tol in TOLERANCE.items():
        err = (a[k] - s[k]).abs() / s[k]
        assert (err <= tol).all(), f"{k}: {err.round(3).tolist()} > {tol}"


# Many running sequences (8B, 754 seats, 1024 / 128 tokens: ~0.4-0.8 prompt chunks a step), closed and open
# loop, fixed and variable lengths. Measured (analytic vs simulator, 2026-12-02): ITL p50 within 21%, p99 34%,
# mean 11%; TTFT p50 53% (open loop with variable lengths: the median prompt beside mean-length others), p90 43%;
# TPOT mean 28% (open loop at 0.8 of capacity: the chain's occupancy runs high, below); output tokens/s 4%. The
# three-point ITL mixture (share 1 - e^-f of steps with a prompt) missed by +344% (p50, 96 clients) and +151%
# (p99, 0.8 of capacity) here. The closed loop's re-sends no longer wait behind the last client's first send
# (simulate.py, h53): the simulator's TTFT p90 at 256 clients with variable lengths fell (error 39 -> 46%), its
# p90 and ITL p99 at 96 clients with fixed lengths rose to the analytic figures (-27 -> +23%, -27 -> 0%).
# The open loop's lumped states at their mean occupancy (queueing.py, h55): TPOT mean +13/+28/+13% -> +0.3/+4.9/
# -2.7% (0.5, 0.8, 0.6 variable), ITL mean (read at the occupancy whose step is the mean one a token sees)
# -0.9/+11/-6 -> -2/+5/-9%; the lower occupancy shortens the prefill beside it: TTFT p50 -17 -> -21% (0.8),
# -53 -> -55.0% (0.6 variable: the median-prompt gap above), so its tolerance 0.55 -> 0.58.
MANY_SEATS_TOLERANCE = {"itl_p50_s": 0.25, "itl_p99_s": 0.45, "itl_mean_s": 0.15, "ttft_p50_s": 0.58,
                        "ttft_p90_s": 0.50, "tpot_mean_s": 0.10, "output_tok_s": 0.05}


def test_simulator_and_analytic_agree_at_many_running_sequences():
    """Chunks per step: prompts that arrive in time gather during the long step before (a branching process,
    wider than Poisson), a closed loop's come with the steps (its completions), so the share of steps carrying
    a prompt stays below one half at 96 clients, where the ITL p50 is the decode step; the p99 is a step with
    several prompts (step_mix.py)."""
    cfg = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, isl=1024,
               osl=128, serving="aggregated")
    cap = latency_under_load(pd.DataFrame([cfg]), CAT, concurrency=1)["capacity_rps"].iloc[0]
    loads = [dict(concurrency=96), dict(concurrency=256, length_dist="variable"), dict(request_rate=0.5 * cap),
             dict(request_rate=0.8 * cap), dict(request_rate=0.6 * cap, length_dist="variable")]
    grid = pd.DataFrame([cfg | ld for ld in loads])
    a = latency_under_load(grid, CAT, method="analytic")
    s = latency_under_load(grid, CAT, method="simulate")
    assert a["max_running"].iloc[0] > 500
    for k, tol in MANY_SEATS_TOLERANCE.items():
        err = (a[k] - s[k]).abs() / s[k]
        assert (err <= tol).all(), f"{k}: {err.round(3).tolist()} > {tol}"


def test_short_prompts_beside_a_large_batch_do_not_queue_behind_each_other():
    """ShareGPT-like chat (220-token prompts, variable lengths) on a 1,024-seat engine: a prompt adds a few ms
    to a step that decodes hundreds of sequences anyway, so prompts rarely wait for each other. Counting each
    prompt's whole step as prefill work put the M/D/1 on the prompts at its 0.999 clip (TTFT p50 277x the
    simulator's in a closed loop of 256 clients); on the GPU time prompts add, TTFT stays within the tolerance.
    TTFT p50 of the closed loops within 27%: their analytic TTFT runs on the mean prompt, and ShareGPT's median
    prompt is 0.47 of its mean (sharegpt_lengths.py; +23% with the floor-plus-exponential lengths, +26% with
    ShareGPT's); the prompt-length quantile there (as open_loop) puts p50 at +15% but p90 at +27-31%."""
    cfg = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, isl=220,
               osl=200, serving="aggregated", length_dist="variable")
    probe = latency_under_load(pd.DataFrame([cfg]), CAT, concurrency=1).iloc[0]
    cap, seats = probe["capacity_rps"], probe["max_running"]
    loads = ([dict(request_rate=f * cap) for f in (0.3, 0.6)]
             + [dict(concurrency=int(f * seats)) for f in (0.25, 0.5)])
    grid = pd.DataFrame([cfg | ld for ld in loads])
    a = latency_under_load(grid, CAT, method="analytic")
    s = latency_under_load(grid, CAT, method="simulate")
    tol = TOLERANCE | {"ttft_p50_s": 0.27}
    for k in ("ttft_p50_s", "ttft_p90_s"):
        err = (a[k] - s[k]).abs() / s[k]
        assert (err <= tol[k]).all(), f"{k}: {err.round(3).tolist()} > {tol[k]}"


# ---------------------------------------------------------------- saturation, finite vs steady state


def test_saturation_steady_state_has_no_latency_and_finite_run_does():
    cfg = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, isl=1000,
               osl=200, serving="aggregated")
    cap = latency_under_load(pd.DataFrame([cfg]), CAT, concurrency=1)["capacity_rps"].iloc[0]
    grid = pd.DataFrame([cfg | dict(request_rate=2 * cap), cfg | dict(request_rate=2 * cap, num_requests=400),
                         cfg | dict(request_rate=math.inf, num_requests=400), cfg | dict(request_rate=0.3 * cap),
                         cfg | dict(request_rate=math.inf, num_requests=1),
                         cfg | dict(request_rate=math.inf, num_requests=3000)])
    res = {}
    for method in ("analytic", "simulate"):
        r = res[method] = latency_under_load(grid, CAT, method=method)
        # a finite run that the seats (804) hold at once (400 requests, or one) is not saturated at any rate: no
        # request waits for another to finish (2x capacity as inf: 1e6/s is a burst, and read saturated where inf
        # did not); 3,000 at once are; a steady state above capacity is
        assert 400 < r["max_running"].iloc[0] < 3000
        assert r["saturated"].tolist() == [True, False, False, False, False, True]
        assert r.loc[4, "ttft_p50_s"] < r.loc[3, "ttft_p50_s"]  # the lone request's: no queue
        assert np.isnan(r.loc[0, "ttft_p90_s"]) and r.loc[0, "requests_s"] == pytest.approx(cap, rel=0.1)
        assert r.loc[1:3, "ttft_p90_s"].notna().all()
        assert r.loc[1, "ttft_p90_s"] > 5 * r.loc[3, "ttft_p90_s"]  # the queue of a finite overload
        assert r.loc[2, "ttft_p50_s"] > r.loc[1, "ttft_p50_s"]  # all at once waits longer than 2x capacity
        assert (r.loc[1:2, "requests_s"] <= cap * 1.03).all()  # 400 requests never fill the 804 seats
    # the finite runs, fluid vs simulated: within 25%, or 0.5 s where the queue is short (row 1 arrives
    # faster than the full batch completes, but 400 requests fit the seats: only the prompts queue)
    for k in ("ttft_p50_s", "ttft_p90_s", "e2e_p50_s", "requests_s"):
        a, s = res["analytic"].loc[1:2, k], res["simulate"].loc[1:2, k]
        close = ((a - s).abs() / s <= 0.25) | ((a - s).abs() <= 0.5)
        assert close.all(), (k, a.tolist(), s.tolist())


def test_row_problems_are_reasons_not_exceptions():
    grid = pd.DataFrame([
        dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", isl=100, osl=100, tp=1),
        dict(model="llama-3.1-405b", accelerator="h100-sxm", precision="bf16", isl=100, osl=100, tp=1,
             request_rate=1.0),
        dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", isl=100, osl=100, tp=1,
             serving="disaggregated", request_rate=1.0),
    ])
    r = latency_under_load(grid, CAT)
    assert r["load_reason"].iloc[0] == "give request_rate or concurrency"
    assert "exceed" in r["load_reason"].iloc[1]
    assert r["ttft_p90_s"].iloc[:2].isna().all()
    # a disaggregated row is a unit of prefill and decode instances under its load (perf.load_disagg)
    assert r["load_reason"].iloc[2] == "" and r["ttft_p90_s"].iloc[2] > 0


def test_max_rate_meeting_holds_the_targets_at_the_percentile():
    cfg = dict(model="llama-3.3-70b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=2, isl=2000,
               osl=300, serving="aggregated")
    grid = pd.DataFrame([cfg] * 3)
    rates = max_rate_meeting(grid, CAT, ttft_s=[0.5, 1.0, 1.0], tpot_s=[0.05, 0.05, 0.05], percentile=90)
    p99 = max_rate_meeting(grid, CAT, ttft_s=[0.5, 1.0, 1.0], tpot_s=[0.05, 0.05, 0.05], percentile=99)
    assert rates[0] < rates[1] and (p99 <= rates).all()
    for r, t in zip(rates, (0.5, 1.0), strict=False):
        at = latency_under_load(pd.DataFrame([cfg]), CAT, request_rate=r).iloc[0]
        assert at["ttft_p90_s"] <= t and at["tpot_p90_s"] <= 0.05
        over = latency_under_load(pd.DataFrame([cfg]), CAT, request_rate=r * 1.03).iloc[0]
        assert over["ttft_p90_s"] > t or over["tpot_p90_s"] > 0.05 or over["saturated"]
    assert max_rate_meeting(grid, CAT, ttft_s=0.001)[0] == 0.0  # even a trickle misses 1 ms


# ---------------------------------------------------------------- published behaviour under load

# NVIDIA NIM for LLMs benchmarking guide, performance page (NIM 1.8.0), Llama-3.3-70B-Instruct FP8 TP2 on
# 2 x H100 80G, 5000 in / 500 out, closed-loop concurrency sweep:
# https://docs.nvidia.com/nim/benchmarking/llm/1.0.0/performance (rows NIM-L33-70B-H100x2-5000-500-* of
# catalogs/calibration/serving_under_load.csv). concurrency: (TTFT mean ms, ITL mean ms, output tok/s)
NIM_70B_TP2 = {1: (406.77, 18.58, 51.67), 5: (546.7, 21.83, 218.48), 25: (688.69, 38.75, 623.4),
               50: (834.51, 59.73, 814.37), 100: (7996.25, 92.91, 917.26), 150: (34794.22, 92.86, 920.9),
               200: (61680.22, 93.06, 920.54), 250: (88605.32, 93.2, 920.12)}


def nim_prediction(method: str) -> pd.DataFrame:
    cfg = dict(model="llama-3.3-70b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=2,
               isl=5000, osl=500, serving="aggregated")
    grid = pd.DataFrame([cfg | dict(concurrency=c) for c in NIM_70B_TP2])
    return latency_under_load(grid, CAT, method=method).set_index("concurrency")


@pytest.mark.parametrize("method", ["analytic", "simulate"])
def test_saturation_knee_like_nim_70b_on_two_h100(method):
    """The shape the published sweep shows: a knee between 50 and 100 clients, flat throughput and ITL past
    it, TTFT growing linearly by about (extra clients) / (requests/s)."""
    r = nim_prediction(method)
    assert 50 < r["max_running"].iloc[0] < 100
    assert not r.loc[50, "saturated"] and r.loc[100, "saturated"]
    flat = r.loc[[150, 200, 250], "output_tok_s"]
    assert flat.max() / flat.min() < 1.03
    assert r.loc[250, "itl_mean_s"] / r.loc[150, "itl_mean_s"] < 1.05
    assert r.loc[250, "ttft_mean_s"] > 50 * r.loc[1, "ttft_mean_s"]
    slope = (r.loc[250, "ttft_mean_s"] - r.loc[150, "ttft_mean_s"]) / 100
    published = (NIM_70B_TP2[250][0] - NIM_70B_TP2[150][0]) / 1e3 / 100
    assert slope == pytest.approx(published, rel=0.35)
    # below the knee TTFT stays within 2x of the single-request prefill, as published (407 -> 835 ms)
    assert r.loc[50, "ttft_mean_s"] < 2.0 * r.loc[1, "ttft_mean_s"]


def test_capacity_under_slo_is_a_rate_that_holds_the_percentile_targets():
    from planner.perf import max_batch_meeting
    from planner.perf.load import capacity_under_slo

    cfgs = pd.DataFrame([dict(model=m, accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=tp, pp=1,
                              ep=1, attn_dp=1, serving=s, isl=1000, osl=300)
                         for m, tp in (("llama-3.1-8b", 1), ("llama-3.3-70b", 4)) for s in ("aggregated",
                                                                                          "disaggregated")])
    p90 = capacity_under_slo(cfgs, CAT, ttft_s=0.5, tpot_s=0.04, percentile=90)
    p99 = capacity_under_slo(cfgs, CAT, ttft_s=0.5, tpot_s=0.04, percentile=99)
    mean = max_batch_meeting(cfgs, CAT, ttft_s=0.5, tpot_s=0.04)
    assert p90["fits"].all()
    assert (p99["output_tok_s"] <= p90["output_tok_s"] * (1 + 1e-9)).all()
    assert (p90["output_tok_s"] <= mean["output_tok_s"] * 1.05).all()  # a percentile binds harder than a mean
    assert np.allclose(p90["output_tok_s"], p90["capacity_rps"] * 300)
    assert (p90["ttft_s"] <= 0.5 + 1e-9).all() and (p90["tpot_s"] <= 0.04 + 1e-9).all()
    agg = p90[p90["serving"] == "aggregated"]
    at = latency_under_load(agg.drop(columns=["batch"]).assign(request_rate=agg["capacity_rps"] * 0.999), CAT)
    assert (at["ttft_p90_s"] <= 0.5).all() and (at["tpot_p90_s"] <= 0.04).all()


def test_admission_step_lasts_at_least_the_mixed_step_floor():
    """A step that carries a prompt chunk runs outside the decode CUDA graphs (step.mixed_step_floor_s): at
    concurrency 4 a few % of the gaps are admission steps, so p99 ITL is the floor; at concurrency 1 there is no
    running decode to see it, and the floor also sets the prefill part of TTFT."""
    from dataclasses import replace

    base = linear_table(a=0.01, isl=100, osl=51, max_seqs=8)
    floored = replace(base, mixed_floor_s=np.array([0.05]))
    wl = Workload(concurrency=4, num_requests=200, length_dist="variable")  # clients out of lock-step
    plain, slow = (summarize(simulate_one(t, wl)) for t in (base, floored))
    assert plain["itl_p99_s"] == pytest.approx(0.01, rel=1e-6)
    assert slow["itl_p99_s"] == pytest.approx(0.05, rel=1e-6)
    assert slow["itl_p50_s"] == pytest.approx(0.01, rel=1e-6)  # decode-only steps keep their time
    one = summarize(simulate_one(floored, Workload(concurrency=1, num_requests=20)))
    assert one["ttft_p50_s"] == pytest.approx(0.05, rel=1e-6) and one["itl_p99_s"] == pytest.approx(0.01)
    # the analytic side reads the same floor through the table interpolation
    assert interp_step(floored, [[4.0]], [[100.0]])[0, 0] == pytest.approx(0.05)
    assert interp_step(floored, [[4.0]], [[0.0]])[0, 0] == pytest.approx(0.01)


def test_kv_reservation_admits_only_what_fits_whole_and_never_preempts():
    """engines.yaml `scheduler: kv_reserve_output`. A burst of 40 requests of 100 + 101 tokens on a cache of 2,100
    tokens (watermark 1% = 21): reserving each request's whole output (TensorRT-LLM GUARANTEED_NO_EVICT) admits
    floor((2100 - 21) / 201) = 10 at once and never preempts; prompt-only admission (vLLM) lets ~20 in, which
    then outgrow the cache and are preempted. Removing the reservation from the simulator fails the first half."""
    from dataclasses import replace

    base = linear_table(a=0.01, isl=100, osl=101, max_seqs=64, kv=2100)
    wl = Workload(request_rate=math.inf, num_requests=40)
    runs = {r: simulate_one(replace(base, kv_reserve=np.array([r])), wl) for r in (0.0, 1.0)}
    whole = runs[1.0]
    first_done = whole.finish_s.min()
    assert int((whole.first_token_s < first_done).sum()) == 10
    assert whole.preemptions == 0
    on_demand = runs[0.0]
    assert int((on_demand.first_token_s < on_demand.finish_s.min()).sum()) >= 19
    assert on_demand.preemptions > 0
    # fewer at once: the queue waits for completions, so the later requests' first token comes later
    assert summarize(whole)["ttft_p99_s"] > summarize(on_demand)["ttft_p99_s"]


def test_engine_scheduler_policy_reaches_the_step_tables():
    """The catalog's per-engine KV admission policy (engines.yaml `scheduler:`) is what the simulator reads."""
    from planner.catalog import load_catalog

    cat = load_catalog()
    grid = pd.DataFrame([dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="bf16", isl=500, osl=200,
                              engine=e) for e in ("vllm", "sglang", "trtllm", "")])
    tab = build_step_tables(grid, cat)
    # the generic engine: no eviction (1), as its memory check (memory.held_context_tokens)
    expected = [cat.engines[e].scheduler.kv_reserve_output for e in ("vllm", "sglang", "trtllm")] + [1.0]
    np.testing.assert_array_equal(tab.kv_reserve, expected)
    assert expected[0] == 0.0 and expected[2] == 1.0  # vLLM on demand, TensorRT-LLM no eviction
    np.testing.assert_array_equal(tab.prefill_first, [0.0, 1.0, 0.0, 0.0])  # SGLang runs prompts first


def test_prefill_first_needs_its_source():
    """A scheduler fact in engines.yaml carries where it is stated (the catalog's rule for every figure)."""
    from pydantic import ValidationError

    from planner.catalog.schema_engines import Scheduler

    with pytest.raises(ValidationError, match="prefill_first_source"):
        Scheduler(kv_reserve_output=0.7, prefill_first=True, source="scheduler docs")
    ok = Scheduler(kv_reserve_output=0.7, prefill_first=True, source="abc", prefill_first_source="scheduler.py")
    assert ok.prefill_first and not Scheduler(kv_reserve_output=0.0, source="abc").prefill_first


def test_prefill_first_engine_pauses_decode_while_prompts_run():
    """engines.yaml `scheduler: prefill_first` (SGLang). Four 100-token prompts at once, one per 100-token step
    of 0.02 s (decode steps 0.01 s), 11 output tokens each: the prompts run back to back (first tokens at 0.02,
    0.04, 0.06, 0.08 s), then all four decode 10 steps together and finish at 0.18 s. So request i's TPOT is
    (0.18 - 0.02 (i + 1)) / 10, and the gaps are 0.07, 0.05, 0.03 s (the pause) and 37 decode steps of 0.01 s.
    A mixed schedule (vLLM) decodes the first request beside the other prompts: its TPOT is lower."""
    from dataclasses import replace

    base = linear_table(a=0.01, c=1e-4, isl=100, osl=11, max_seqs=64, budget=100)
    wl = Workload(request_rate=math.inf, num_requests=4)
    run = simulate_one(replace(base, prefill_first=np.array([1.0])), wl)
    np.testing.assert_allclose(run.first_token_s, [0.02, 0.04, 0.06, 0.08])
    np.testing.assert_allclose(run.finish_s, 0.18)
    s = summarize(run)
    assert s["itl_mean_s"] == pytest.approx((0.07 + 0.05 + 0.03 + 37 * 0.01) / 40)
    assert s["itl_p99_s"] == pytest.approx(0.07) and s["itl_p50_s"] == pytest.approx(0.01)
    assert s["tpot_p99_s"] == pytest.approx(np.percentile([0.016, 0.014, 0.012, 0.010], 99))
    mixed = simulate_one(base, wl)
    assert (mixed.finish_s - mixed.first_token_s)[0] < (run.finish_s - run.first_token_s)[0]


def test_reserved_kv_sets_the_seats_in_simulator_and_analytic_alike():
    """A cache of 4.5 whole requests (100 + 101 tokens) with the output reserved up front: both models run 4 at
    once, as with a 4-seat engine (X = 4 / 1.01 s, the case above); on demand the analytic model counts half the
    output per request and seats 5 (floor(0.99 * 904.5 / 150.5))."""
    from dataclasses import replace

    base = linear_table(max_seqs=64, kv=4.5 * 201)
    whole = replace(base, kv_reserve=np.array([1.0]))
    assert Q.service(whole).cap[0] == 4 and Q.service(base).cap[0] == 5
    r = closed_loop(Q.service(whole), whole, np.array([12.0]))
    assert r["requests_s"][0] == pytest.approx(4 / 1.01)
    run = simulate_one(whole, Workload(concurrency=12, num_requests=240))
    assert run.preemptions == 0
    assert summarize(run)["requests_s"] == pytest.approx(4 / 1.01, rel=0.03)


def test_seats_per_engine_on_gpt_oss_120b_h100_by_hand():
    """The running-batch cap each engine gets for GPUStack's gpt-oss-120b runs on one H100 (isl 215, osl 194):
    KV tokens = pool / KV bytes a token at the mean held context (isl + osl / 2 = 312 tokens), seats = 0.99 x
    KV tokens / what a running request holds (isl + osl / 2 x (1 + reserve share)). TensorRT-LLM: 0.9 of what
    weights and the 8192-token forward leave, 18 full layers + 18 of at most 128 tokens (2,048 B a layer-token),
    each request's whole output reserved (GUARANTEED_NO_EVICT); vLLM: the same layers, prompt only; SGLang:
    every layer at full context (hybrid SWA off for gpt-oss), 0.7 of the output."""
    from planner.catalog import load_catalog
    from planner.perf.memory import memory
    from planner.perf.params import load_efficiency
    from planner.perf.resolve import normalize_grid, resolve

    cat = load_catalog()
    eff = load_efficiency(cat)
    engines = ("trtllm", "vllm", "sglang")
    grid = pd.DataFrame([dict(model="gpt-oss-120b", accelerator="h100-sxm", precision="mxfp4", tp=1, isl=215,
                              osl=194, engine=e) for e in engines])
    c, _ = resolve(normalize_grid(grid.assign(batch=1)), cat, eff)
    m = memory(c)
    pool = m["usable_bytes"] - m["weight_bytes_per_gpu"] - m["reserve_bytes_per_gpu"]
    w, hbm = m["weight_bytes_per_gpu"], 79.18 * 2.0**30  # the memory the driver exposes (accelerators.yaml)
    fwd = 2.0e9 + 8192 * 2.0 * (12.0 * 2880 + 3.0 * 4 * 2880)  # ASSUMPTIONS: fixed 2 GB + bf16 activations
    assert pool[0] == pytest.approx(0.9 * (hbm - w[0] - fwd))
    ctx = 215 + 194 / 2
    per_token = np.array([2048 * (18 + 18 * 128 / ctx), 2048 * (18 + 18 * 128 / ctx), 36 * 2048])
    tab = build_step_tables(grid, cat, efficiency=eff)
    np.testing.assert_allclose(tab.kv_tokens, np.floor(pool / per_token))
    held = np.array([215 + 194, 215 + 194 / 2, 215 + 194 / 2 * 1.7])
    cap = np.minimum(np.floor(0.99 * tab.kv_tokens / held), tab.max_seqs)
    # never above what evaluate's memory check admits at the same held context (its per-sequence logits buffer,
    # 0.8 MB at gpt-oss's 201k vocabulary, is over 1% of these short sequences' KV)
    cap = np.minimum(cap, m["max_batch_memory"])
    np.testing.assert_allclose(Q.service(tab).cap, cap)
    # the whole output reserved seats fewer than prompt-only admission would on the same pool
    assert cap[0] < np.floor(0.99 * tab.kv_tokens[0] / (215 + 194 / 2))


def test_a_closed_loop_with_variable_lengths_spreads_as_the_simulator():
    """One client, ShareGPT-shaped lengths: TTFT varies with each prompt's prefill and TPOT with each request's
    context. The closed loop gave TTFT p50 = p90 (the mean prompt's) and TPOT p50 = p90 = p99, and end-to-end
    p50 at the mean output (1.5x the simulator's); the simulated run (3 seeds of 1,000 requests) spreads."""
    cfg = dict(model="llama-3.3-70b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=2, isl=2048,
               osl=256, engine="vllm", serving="aggregated", length_dist="variable", concurrency=1)
    a = latency_under_load(pd.DataFrame([cfg]), CAT).iloc[0]
    runs = [latency_under_load(pd.DataFrame([cfg | dict(num_requests=1000)]), CAT, method="simulate", seed=s)
            for s in range(3)]
    s = pd.concat(runs).mean(numeric_only=True)
    assert a["ttft_p50_s"] < a["ttft_p90_s"] < a["ttft_p99_s"]
    assert a["tpot_p50_s"] < a["tpot_p90_s"] < a["tpot_p99_s"]
    # tolerance: TTFT p50/p90 10%, p99 25% (the longest prompts); TPOT 2%; end-to-end p50 5%
    for k, tol in (("ttft_p50_s", 0.1), ("ttft_p90_s", 0.1), ("ttft_p99_s", 0.25), ("tpot_p50_s", 0.02),
                   ("tpot_p90_s", 0.02), ("tpot_p99_s", 0.02), ("e2e_p50_s", 0.05)):
        assert a[k] == pytest.approx(s[k], rel=tol), (k, a[k], s[k])
