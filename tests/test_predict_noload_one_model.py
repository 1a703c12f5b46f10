"""An answer without a load is one steady state: its batch as closed-loop clients on every replica (a
disaggregated unit's on each decode instance), the load model its percentiles and requests/s come from, gives its
TTFT, TPOT and ITL means and its throughputs too.

Before, the means and tokens/s were the step model's at the full batch (`evaluate`) beside the load model's
percentiles and requests/s: gpt-oss-120b on 8 H200 (SGLang, 1,024 / 128 tokens, attention DP 8 at batch 4,096) read
TTFT 149 ms beside a p50 of 208 ms, TPOT 252 ms beside a p50 of 340 ms, and 16,398 output tokens/s beside 94.8
requests/s x 128 = 12,133; 70B TP1 PP4 disaggregated on 16 H200 a TPOT of 37.6 ms above its p99 of 35.3 ms."""

from __future__ import annotations

import pytest

from planner.catalog import load_catalog
from planner.predict import predict_one

CAT = load_catalog()
LAYOUTS = {
    "dense": dict(model="llama-3.3-70b", gpu="h200-sxm", gpus=8, precision="fp8", isl=4096, osl=256),
    "attention-DP MoE": dict(model="gpt-oss-120b", gpu="h200-sxm", gpus=8, precision="mxfp4", engine="sglang",
                             isl=1024, osl=128, tp=1, ep=8),
    "disaggregated": dict(model="llama-3.3-70b", gpu="h200-sxm", gpus=16, precision="fp8", isl=4096, osl=256,
                          serving="disaggregated"),
}
TOL = 1e-9


@pytest.fixture(scope="module", params=list(LAYOUTS))
def answer(request) -> tuple[dict, dict]:
    q = LAYOUTS[request.param]
    r = predict_one(CAT, **q)
    assert r["fits"] and r["serving"] == q.get("serving", "aggregated")
    if "ep" in q:
        assert r["attn_dp"] == q["ep"]
    return q, r


def test_means_sit_among_the_percentiles(answer):
    """Fixed lengths: every request decodes at the same step, TPOT's mean is its p50; TTFT's waits spread right
    of its median, so the mean lies between p50 and p99."""
    _, r = answer
    for metric in ("ttft", "tpot"):
        mean, p50, p99 = r[f"{metric}_s"], r[f"{metric}_p50_s"], r[f"{metric}_p99_s"]
        assert p50 * (1 - TOL) <= mean <= p99 * (1 + TOL), (metric, mean, p50, p99)


def test_throughputs_are_the_requests_completed(answer):
    q, r = answer
    assert r["output_tok_s"] == pytest.approx(r["requests_s"] * q["osl"], rel=TOL)
    assert r["total_tok_s"] == pytest.approx(r["requests_s"] * (q["isl"] + q["osl"]), rel=TOL)
    assert r["output_tok_s_per_gpu"] == pytest.approx(r["output_tok_s"] / q["gpus"], rel=TOL)
    assert r["output_tok_s_per_user"] == pytest.approx(1.0 / r["tpot_s"], rel=TOL)
    # Little's law over the deployment: the clients in flight, each a request's end-to-end time
    e2e_s = r["ttft_s"] + (q["osl"] - 1) * r["tpot_s"]
    assert r["requests_s"] * e2e_s == pytest.approx(r["in_flight"], rel=0.02)


def test_under_a_load_the_itl_mean_is_the_loads_too():
    """Under a load ITL was the step model's at the mean batch beside the load model's ITL percentiles: 252 ms
    beside a p50 and p99 of 340 ms (gpt-oss-120b, attention DP 8, 4,096 clients; one token a step, so ITL is the
    step at every percentile). Now the load's own mean, within 1% of its p50 there."""
    q = LAYOUTS["attention-DP MoE"] | dict(concurrency=4096)
    r = predict_one(CAT, **q)
    assert r["fits"] and r["attn_dp"] == 8
    assert r["itl_p50_s"] * 0.99 <= r["itl_s"] <= r["itl_p99_s"] * (1 + TOL)
