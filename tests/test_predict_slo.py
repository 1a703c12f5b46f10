"""`predict` without a load holds its TTFT/TPOT targets at the SLO percentile (issue 8: percentile SLOs
everywhere),
and its percentile columns describe the engine and speculative method it answers with."""

from __future__ import annotations

import pandas as pd

from planner.catalog import load_catalog
from planner.perf import latency_under_load
from planner.predict import predict_many

CAT = load_catalog()
Q = dict(model="llama-3.3-70b", gpu="h200-sxm", gpus=8, precision="fp8", isl=1024, osl=256)


def one(**kw) -> pd.Series:
    return predict_many(pd.DataFrame([kw]), CAT).iloc[0]


def test_the_answer_meets_its_tpot_target_at_the_reported_percentile():
    # the zero-load batch mean at batch 24 is ~24 ms, but 24 closed-loop clients per replica see ~34 ms (prompt
    # chunks share the steps): the old answer met 30 ms on the mean and reported p90 = 34 ms
    r = one(**Q, tpot_slo_ms=30)
    assert r["fits"] and r["slo_percentile"] == 90
    assert r["tpot_p90_s"] <= 0.030


def test_slo_percentile_moves_the_answer_without_a_load():
    loose, strict = one(**Q, ttft_slo_ms=60, slo_percentile=50), one(**Q, ttft_slo_ms=60, slo_percentile=99)
    assert loose["ttft_p50_s"] <= 0.060 and strict["ttft_p99_s"] <= 0.060
    assert strict["output_tok_s"] < loose["output_tok_s"]  # the stricter percentile costs throughput here
    # a target nothing meets at p99 names the percentile it was held to
    none = one(**Q, ttft_slo_ms=25, slo_percentile=99)
    assert not none["fits"] and none["limited_by"] == "ttft" and "p99" in none["notes"]


def test_percentile_columns_follow_the_engine_and_the_draft():
    r = one(**Q | dict(gpus=1), tp=1, pp=1, engine="vllm", speculative="auto", max_throughput=True)
    assert r["engine"] == "vllm" and r["speculative"] == "eagle3"
    grid = pd.DataFrame([dict(model=Q["model"], accelerator=Q["gpu"], precision="fp8", kv_precision="bf16", tp=1,
                              pp=1, ep=1, attn_dp=1, serving="aggregated", isl=1024, osl=256,
                              concurrency=r["in_flight"], engine=e, speculative=s)  # the engine's seats
                         for e, s in (("vllm", "eagle3"), ("", "none"))])
    with_draft, generic = latency_under_load(grid, CAT).itertuples()
    assert r["tpot_p50_s"] == with_draft.tpot_p50_s != generic.tpot_p50_s
