"""A finite run (`num_requests`) over several replicas runs exactly that many requests: each replica ran
ceil(n / dp) before, so 1 request at once over TP1 x DP8 ran 8 (and won on the requests/s that inflated)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf import latency_under_load
from planner.perf.simulate import Workload, simulate_one, summarize
from planner.perf.steptable import build_step_tables
from planner.predict import predict_many
from planner.predict.load_query import replica_shares

CAT = load_catalog()
Q8 = dict(model="llama-3.1-8b", gpu="h100-sxm", precision="fp8", kv_precision="fp8", isl=1024, osl=128)


def one(**kw) -> pd.Series:
    return predict_many(pd.DataFrame([kw]), CAT).iloc[0]


@pytest.mark.parametrize("rate, clients, n, dp", [
    (math.inf, math.nan, 1, 8), (2.0, math.nan, 500, 8), (3.0, math.nan, 7, 3),
    (math.nan, 4, 3, 2), (math.nan, 5, 7, 3), (math.nan, 1, 5, 2), (math.nan, 9, 100, 4),
])
def test_shares_add_up_to_the_run(rate, clients, n, dp):
    shares = replica_shares(rate, clients, n, dp)
    assert sum(m * k for _, _, m, k in shares) == n
    assert sum(k for *_, k in shares) <= dp
    if clients == clients:
        assert sum(c * k for _, c, _, k in shares) <= clients
    else:  # every replica's run lasts as long as the whole run: n / rate
        assert all(r == pytest.approx(rate * m / n) for r, _, m, _ in shares)


def test_one_request_at_once_runs_once():
    two = one(**Q8, gpus=2, tp=1, request_rate=math.inf, num_requests=1)
    single = one(**Q8, gpus=1, tp=1, request_rate=math.inf, num_requests=1)
    assert two["dp"] == 2 and two["in_flight"] == 1
    assert two["requests_s"] == pytest.approx(single["requests_s"], rel=1e-6)
    assert two["ttft_p50_s"] == pytest.approx(single["ttft_p50_s"], rel=1e-6)
    assert "1 of 2 replicas idle" in two["notes"]


def test_an_odd_run_splits_exactly():
    """5 requests at once over two replicas: 3 on one, 2 on the other (3 + 3 before)."""
    r = one(**Q8, gpus=2, tp=1, request_rate=math.inf, num_requests=5)
    cfg = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, isl=1024,
               osl=128, serving="aggregated", request_rate=math.inf)
    sim = latency_under_load(pd.DataFrame([cfg | dict(num_requests=3), cfg | dict(num_requests=2)]), CAT,
                             method="simulate")
    assert r["requests_s"] == pytest.approx(sim["requests_s"].sum(), rel=1e-6)



def test_fewer_requests_than_clients_are_all_in_flight_at_most():
    """3 clients sending 2 requests answered 3 requests in flight."""
    r = one(**Q8, gpus=1, tp=1, concurrency=3, num_requests=2)
    assert r["fits"] and r["in_flight"] == 2 and r["concurrency"] == 3
    assert one(**Q8, gpus=1, tp=1, concurrency=3, num_requests=9)["in_flight"] == 3


@pytest.mark.parametrize("serving", ["aggregated", "disaggregated"])
def test_a_burst_the_seats_hold_at_once_is_not_saturated(serving):
    """One request at rate inf read 'saturated: the load exceeds what the replicas complete; requests queue',
    limited by 'queue': nothing waits for another request to finish. A burst beyond the seats still is."""
    q = dict(model="llama-3.3-70b", gpu="h200-sxm", gpus=8, precision="fp8", isl=1024, osl=256,
             serving=serving, request_rate=math.inf)
    lone = one(**q, num_requests=1)
    assert lone["fits"] and not lone["saturated"] and lone["limited_by"] != "queue"
    assert "saturated" not in lone["notes"]
    crowd = one(**q, num_requests=20000)  # more than every seat of the 8 GPUs
    assert crowd["saturated"] and crowd["limited_by"] == "queue"


@pytest.mark.parametrize("serving", ["aggregated", "disaggregated"])
def test_a_finite_run_at_a_huge_rate_is_a_burst_as_inf_is(serving):
    """10 requests at 1e6 requests/s arrive within 10 us: a burst as inf's are, yet read 'saturated: the load
    exceeds what the replicas complete; requests queue' (limited by queue) where inf did not. The rule is the
    seats at every rate: a run the seats hold at once is not saturated, one of more requests than seats is,
    at 1e6 as at inf."""
    q = dict(model="llama-3.3-70b", gpu="h200-sxm", gpus=8, precision="fp8", isl=1024, osl=128, serving=serving)
    runs = {rate: one(**q, request_rate=rate, num_requests=10) for rate in (math.inf, 1e6, 1e3)}
    for rate, r in runs.items():
        assert r["fits"] and not r["saturated"] and r["limited_by"] != "queue", rate
        assert "saturated" not in r["notes"], rate
    # the simulator's first Poisson arrival steps alone (its prompt 40 ms ahead of the other nine), inf's not
    assert runs[1e6]["requests_s"] == pytest.approx(runs[math.inf]["requests_s"], rel=0.05)
    if serving == "aggregated":  # 4 seats a replica (--max-batch): 10 requests on 2 or fewer replicas wait
        crowd = {rate: one(**q, tp=4, max_batch=4, request_rate=rate, num_requests=10) for rate in (math.inf, 1e6)}
        assert all(r["saturated"] and r["limited_by"] == "queue" for r in crowd.values())


def test_idle_disaggregated_units_are_called_units():
    """One client over two disaggregated units read '1 of 2 replicas idle' beside 'a unit needs 3'."""
    r = one(model="llama-3.1-8b", gpu="h100-sxm", precision="fp8", isl=1000, osl=100, gpus=8, tp=1,
            serving="disaggregated", concurrency=1)
    assert r["fits"] and r["dp"] == 2 and "1 of 2 units idle: the 1 concurrent request(s) run on 1" in r["notes"]


def test_a_finite_run_is_won_by_the_layout_that_completes_it_soonest():
    """5 clients sending 2 requests over 8 H200s at TP1: the steady state of 5 clients (3 + 2 on two replicas of
    PP4) won over PP1 x DP8, whose answer completes the run faster (0.405 against 0.386 requests/s): a finite
    run has at most its requests in flight."""
    q = dict(model="llama-3.3-70b", gpu="h200-sxm", gpus=8, precision="fp8", isl=1024, osl=256, tp=1,
             concurrency=5, num_requests=2)
    chosen = one(**q)
    for pp in (2, 4, 8):
        other = one(**q, pp=pp)
        assert chosen["requests_s"] >= other["requests_s"], (pp, chosen["pp"])
    assert chosen["pp"] == 1
    assert "6 of 8 replicas idle: the finite run's 2 request(s) run on 2" in chosen["notes"]


@pytest.mark.parametrize("serving", ["aggregated", "disaggregated"])
def test_clients_beyond_a_finite_run_do_not_saturate(serving):
    """100,000 clients sending 10 requests have 10 in flight: a disaggregated unit read saturated ('more clients
    than the units' seats', limited by queue)."""
    r = one(model="llama-3.1-8b", gpu="h100-sxm", gpus=8, precision="fp8", isl=1024, osl=256, serving=serving,
            concurrency=100_000, num_requests=10)
    assert r["fits"] and not r["saturated"] and r["limited_by"] != "queue" and r["in_flight"] == 10
    assert "saturated" not in r["notes"]


@pytest.mark.parametrize("method", ["analytic", "simulate"])
def test_a_closed_loop_saturates_on_the_requests_it_has_in_flight(method):
    """latency_under_load: 64 clients with 4 requests on 4 seats are 4 at once, not saturated, as 4 clients are
    (they read saturated, and the analytic TTFT waited for 60 clients ahead); 5 requests on 4 seats wait."""
    cfg = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, isl=1024,
               osl=128, serving="aggregated", batch=4)
    res = latency_under_load(pd.DataFrame([cfg | dict(concurrency=64, num_requests=4),
                                           cfg | dict(concurrency=4, num_requests=4),
                                           cfg | dict(concurrency=64, num_requests=5)]), CAT, method=method)
    assert list(res["saturated"]) == [False, False, True]
    for col in ("ttft_mean_s", "ttft_p99_s", "tpot_mean_s", "requests_s"):
        assert res[col].iloc[0] == pytest.approx(res[col].iloc[1], rel=1e-9), col


def test_a_burst_has_at_most_its_requests_in_flight():
    """50 requests at once on 8 B200s read 50.03 requests in flight (Little's law over the run)."""
    r = one(model="deepseek-r1", gpu="b200", gpus=8, precision="fp8", isl=4096, osl=1024, engine="vllm",
            request_rate=math.inf, num_requests=50)
    assert r["fits"] and r["in_flight"] <= 50


def test_a_finite_runs_tokens_are_those_its_requests_drew():
    """A finite run of variable lengths is a few draws, not the mean: 2 requests done in 21 ms (a few tokens
    each) read 200 output tokens each, as requests/s x the mean osl."""
    cfg = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="bf16", tp=2, isl=1000,
               osl=200, serving="aggregated", length_dist="variable", request_rate=50.0 / 3.5, num_requests=2)
    grid = pd.DataFrame([cfg])
    got = latency_under_load(grid, CAT, method="simulate").iloc[0]
    run = simulate_one(build_step_tables(grid, CAT).row(0),
                       Workload(request_rate=cfg["request_rate"], num_requests=2, length_dist="variable", seed=0))
    drawn = summarize(run)
    for col in ("output_tok_s", "total_tok_s", "requests_s"):
        assert got[col] == pytest.approx(drawn[col], rel=1e-9), col
    assert got["output_tok_s"] / got["requests_s"] == pytest.approx(run.osl.mean(), rel=1e-9)


def test_a_small_random_run_is_the_mean_of_its_seeds_and_the_same_every_time():
    """10 requests of variable lengths at once: one seed of the simulator read TTFT p99 27% and requests/s 17%
    above the mean of 200 other seeds (its draw's spread over seeds: 31-44%); the answer is the mean over
    seeds 0..31, within 15% of that reference, and byte for byte the same on every call."""
    q = dict(model="llama-3.3-70b", gpu="h200-sxm", gpus=4, tp=4, pp=1, precision="fp8", isl=1024, osl=256,
             length_dist="variable", request_rate=math.inf, num_requests=10)
    twice = predict_many(pd.DataFrame([q, q]), CAT)
    again = predict_many(pd.DataFrame([q]), CAT)
    same = [f.reset_index(drop=True).to_json() for f in (twice.iloc[[0]], twice.iloc[[1]], again)]
    assert same[0] == same[1] == same[2]
    cfg = dict(model="llama-3.3-70b", accelerator="h200-sxm", precision="fp8", tp=4, pp=1, serving="aggregated",
               isl=1024, osl=256, length_dist="variable", request_rate=math.inf, num_requests=10)
    ref = latency_under_load(pd.DataFrame([cfg | dict(seed=s) for s in range(1000, 1200)]), CAT,
                             method="simulate")
    for k in ("ttft_p50_s", "ttft_p99_s", "e2e_p50_s", "requests_s"):
        assert again.iloc[0][k] == pytest.approx(ref[k].mean(), rel=0.15), k


def test_a_random_run_is_saturated_where_any_of_its_seeds_is(monkeypatch):
    """The `_s` figures are means over seeds; `saturated` was seed 0's alone: a run whose later draws saturate
    read not saturated beside figures averaged over them. It is saturated where any seed is (the flag is the
    same in every seed today: the load against capacity and seats; it holds the rule if a draw differs)."""
    from planner.predict import finite_runs

    def by_seed(rows, catalog, method):
        figures = {k: rows["seed"].astype(float) for k in finite_runs.AVERAGED}
        return rows.assign(saturated=rows["seed"] == 1, **figures)

    monkeypatch.setattr(finite_runs, "latency_under_load", by_seed)
    rows = pd.DataFrame([dict(request_rate=math.inf, num_requests=500, length_dist="variable", speculative=None),
                         dict(request_rate=math.inf, num_requests=500, length_dist="fixed", speculative=None)])
    got = finite_runs.simulated_runs(rows, CAT)
    assert got["saturated"].tolist() == [True, False]  # seeds 0, 1 against seed 0 alone
    assert got["ttft_p50_s"].tolist() == [0.5, 0.0]
