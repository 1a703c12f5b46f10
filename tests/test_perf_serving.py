"""Serving modes, precisions, power and the batch search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from perf_toy import base_catalog

from planner.perf import evaluate, load_efficiency, max_batch_meeting
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.serving import aggregated, disaggregated, kv_transfer_s
from planner.perf.step import decode_step, prefill_pass

CAT = base_catalog()
EFF = load_efficiency(CAT)


def one(**kw) -> pd.Series:
    base = dict(model="llama-3.1-70b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=2,
                batch=32, isl=1000, osl=500)
    return evaluate(pd.DataFrame([base | kw]), CAT).iloc[0]


def test_weight_only_vs_native():
    native = one(accelerator="h100-sxm", tp=2)
    wo = one(accelerator="a100-sxm-80gb", tp=2)  # no FP8 tensor cores: FP8 weights, bf16 GEMMs
    bf16 = one(accelerator="a100-sxm-80gb", tp=2, precision="bf16", kv_precision="bf16")
    assert native["compute_dtype_used"] == "fp8" and wo["compute_dtype_used"] == "bf16"
    assert wo["weight_bytes_per_gpu"] == pytest.approx(native["weight_bytes_per_gpu"])  # same bytes in HBM
    assert wo["weight_bytes_per_gpu"] < 0.6 * bf16["weight_bytes_per_gpu"]
    # weight-only saves bandwidth (decode), not compute (prefill)
    small = dict(accelerator="a100-sxm-80gb", batch=1, tp=4)
    assert one(**small)["tpot_s"] < one(**small, precision="bf16", kv_precision="bf16")["tpot_s"]
    assert one(**small, isl=8000)["ttft_s"] == pytest.approx(
        one(**small, isl=8000, precision="bf16", kv_precision="bf16")["ttft_s"], rel=0.1)
    fp4 = one(precision="nvfp4")
    assert not fp4["fits"] and "no weight-only fallback" in fp4["reason"]
    mx = one(model="gpt-oss-120b", precision="mxfp4", kv_precision="bf16", tp=1)
    assert mx["fits"] and mx["compute_dtype_used"] == "bf16"
    assert one(model="gpt-oss-120b", accelerator="b200", precision="mxfp4", tp=1)["compute_dtype_used"] == "fp4"


def test_weight_only_expert_cost_is_amortized_over_wide_steps():
    """4-bit experts dequantized in the GEMM (gpt-oss MXFP4 on Hopper) pay weight_only_moe_eta_scale in full up
    to ASSUMPTIONS.weight_only_dequant_rows rows per expert, then a share 256 / m of it: a decode step of 8
    sequences (m ~ 1 row per expert, bandwidth-bound) is 1/scale slower on its experts, a 32k-token prompt pass
    (m = 32768 * 4 / 32 = 4096 rows per expert, compute-bound) only 1 + (1/scale - 1) * 256/4096."""
    from planner.perf.assumptions import ASSUMPTIONS

    c = _cols(model="gpt-oss-20b", accelerator="h100-sxm", precision="mxfp4", kv_precision="bf16", tp=1,
              serving="aggregated")
    assert c.weight_only[0] == 1.0 and ASSUMPTIONS.weight_only_dequant_rows == 256.0
    slow = dict(EFF.serving) | {"weight_only_moe_eta_scale": 0.35}
    par = slow | {"weight_only_moe_eta_scale": 1.0}

    def experts(serving, **kw):
        return decode_step(c, serving, breakdown=True, **kw)["ops"]["experts"][0]

    dec = dict(n_dec=np.array([8.0]), ctx_dec=np.array([1000.0]))
    assert experts(slow, **dec) / experts(par, **dec) == pytest.approx(1 / 0.35, rel=1e-6)
    pre = dict(n_dec=np.array([0.0]), ctx_dec=np.array([0.0]), n_pre=np.array([32768.0]))
    assert experts(slow, **pre) / experts(par, **pre) == pytest.approx(1 + (1 / 0.35 - 1) * 256 / 4096, rel=1e-3)
    assert experts(slow, **pre) > experts(par, **pre)  # never faster than the plain GEMM's roofline


def test_fp8_kv_doubles_the_batch_that_fits():
    bf = one(kv_precision="bf16")
    f8 = one(kv_precision="fp8")
    assert f8["max_batch_memory"] / bf["max_batch_memory"] == pytest.approx(2.0, rel=0.05)


def test_aggregated_prefill_share_slows_decode():
    short, long_ = one(isl=100), one(isl=8000)
    assert long_["tpot_s"] > 1.5 * short["tpot_s"]
    assert long_["total_tok_s"] == pytest.approx(long_["output_tok_s"] * (1 + 8000 / 500))
    # a request lives its own prompt step and osl - 1 steps at TPOT (serving.aggregated): for a 100-token prompt
    # within 1% of batch / TPOT
    assert short["output_tok_s"] == pytest.approx(32 / short["tpot_s"], rel=0.01)
    assert short["output_tok_s_per_user"] == pytest.approx(1 / short["tpot_s"])


def _cols(**kw):
    base = dict(model="llama-3.1-70b", accelerator="h200-sxm", precision="fp8", kv_precision="fp8", tp=2,
                batch=128, isl=4000, osl=300, serving="disaggregated")
    c, reason = resolve(normalize_grid(pd.DataFrame([base | kw])), CAT, EFF)
    assert reason[0] == ""
    return c


def test_disaggregated_rate_matching():
    c = _cols()
    res = disaggregated(c, EFF.serving)
    n_p, n_d = int(res["prefill_instances"][0]), int(res["decode_instances"][0])
    g = 2
    assert res["gpus"][0] == (n_p + n_d) * g
    # rates as the model defines them, recomputed here
    dec = decode_step(c, EFF.serving, c.batch, c.isl + c.osl / 2)["time_s"][0]
    rate_d = 128 / (dec * 300)
    n_req = max(1, 8192 // 4000)
    _, interval = prefill_pass(c, EFF.serving, float(n_req), c.isl)
    rate_p = n_req / interval[0]
    per_gpu = lambda p, d: min(p * rate_p, d * rate_d) / ((p + d) * g)  # noqa: E731
    units = [(p, d) for p in range(1, 9) for d in range(1, 9)]
    best = max(per_gpu(p, d) for p, d in units)
    assert per_gpu(n_p, n_d) >= 0.97 * best  # within the tolerance of the best ratio ...
    assert n_p + n_d == min(p + d for p, d in units if per_gpu(p, d) >= 0.97 * best - 1e-12)  # ... and smallest
    assert res["output_tok_s"][0] == pytest.approx(min(n_p * rate_p, n_d * rate_d) * 300, rel=1e-9)
    # prompt-heavy work needs more prefill than decode instances
    assert n_p >= n_d
    assert res["tpot_s"][0] == pytest.approx(dec)
    assert res["ttft_s"][0] > kv_transfer_s(c, res["gpus"], 2)[0] > 0


def test_disaggregated_decode_is_faster_per_token_than_aggregated():
    agg = aggregated(_cols(serving="aggregated"), EFF.serving)
    dis = disaggregated(_cols(), EFF.serving)
    assert dis["tpot_s"][0] < agg["tpot_s"][0]  # no prefill chunks in the decode steps
    out = evaluate(pd.DataFrame([dict(model="llama-3.1-70b", accelerator="h200-sxm", precision="fp8", tp=2,
                                      batch=128, isl=4000, osl=300, kv_precision="fp8", serving=s)
                                for s in ("aggregated", "disaggregated")]), CAT)
    assert out["fits"].all()
    assert out.loc[1, "gpus"] > out.loc[0, "gpus"] and out.loc[1, "gpus"] % 2 == 0


def test_power_between_idle_and_tdp_and_lower_when_memory_bound():
    small, big = one(batch=1), one(batch=128, isl=2000, osl=200)
    for r in (small, big):
        assert 2 * 126 < r["avg_power_w"] <= r["peak_power_w"] == 2 * 700
    assert small["avg_power_w"] < big["avg_power_w"]  # decode at batch 1 is memory-bound: far below TDP


def test_max_batch_meeting_targets_and_limits():
    cfg = pd.DataFrame([dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8",
                             isl=1000, osl=1000)])
    free = max_batch_meeting(cfg, CAT).iloc[0]
    assert free["fits"] and free["limited_by"] == "memory" and free["batch"] == free["max_batch_memory"]
    tight = max_batch_meeting(cfg, CAT, tpot_s=0.02).iloc[0]
    assert tight["fits"] and tight["tpot_s"] <= 0.02 and tight["limited_by"] == "tpot"
    assert tight["batch"] < free["batch"]
    nxt = next(b for b in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512) if b > tight["batch"])
    assert one(model="llama-3.1-8b", tp=1, batch=nxt, isl=1000, osl=1000)["tpot_s"] > 0.02
    ttft = max_batch_meeting(cfg.assign(isl=16000), CAT, ttft_s=0.5).iloc[0]
    assert ttft["limited_by"] in ("ttft", "memory") and (not ttft["fits"] or ttft["ttft_s"] <= 0.5)
    never = max_batch_meeting(cfg, CAT, tpot_s=1e-4).iloc[0]
    assert not never["fits"] and "misses the TPOT target" in never["reason"] and never["limited_by"] == "tpot"
    nofit = max_batch_meeting(cfg.assign(model="llama-3.1-405b", precision="bf16"), CAT).iloc[0]
    assert not nofit["fits"] and nofit["limited_by"] == "memory"


def test_grid_is_vectorized_and_order_preserving():
    rng = np.random.default_rng(1)
    n = 3000
    grid = pd.DataFrame({
        "model": rng.choice(sorted(CAT.models), n), "accelerator": rng.choice(sorted(CAT.accelerators), n),
        "precision": rng.choice(["bf16", "fp8", "nvfp4", "mxfp4", "int4"], n), "tp": rng.choice([1, 2, 4, 8], n),
        "batch": rng.integers(1, 512, n), "isl": rng.integers(16, 8000, n), "osl": rng.integers(16, 2000, n),
        "serving": rng.choice(["aggregated", "disaggregated"], n),
    })
    out = evaluate(grid, CAT)
    assert len(out) == n and (out["model"].to_numpy() == grid["model"].to_numpy()).all()
    ok = out[out["fits"]]
    assert len(ok) > 100
    assert ok[["ttft_s", "tpot_s", "output_tok_s", "avg_power_w"]].notna().all().all()
    assert (ok["reason"] == "").all() and (out.loc[~out["fits"], "reason"] != "").all()
    one_by_one = pd.concat([evaluate(grid.iloc[[i]], CAT) for i in range(0, n, 250)], ignore_index=True)
    pd.testing.assert_frame_equal(one_by_one, out.iloc[::250].reset_index(drop=True), check_dtype=False)


def test_chunked_prompt_ttft_carries_every_causal_pair():
    """A prompt longer than the step budget is prefilled in chunks; over all chunks its causal attention is
    still isl(isl+1)/2 pairs per layer. TTFT is therefore at least the prompt's FLOPs (projections, FFN and
    causal attention) at the GPU's dense peak. Counting 1/chunks of the pairs (before) put a 100k-token prompt
    on Llama-3.1-8B / H100 at ~3 s, below that bound."""
    m, acc = CAT.models["llama-3.1-8b"], CAT.accelerators["h100-sxm"]
    isl = np.array([4_000, 16_384, 100_000])
    r = evaluate(pd.DataFrame({"model": "llama-3.1-8b", "accelerator": "h100-sxm", "precision": "bf16",
                               "isl": isl, "osl": 100, "batch": 1}), CAT, efficiency=EFF)
    attn = 2.0 * m.num_heads * 2 * m.head_dim * isl * (isl + 1) / 2.0 * m.layers
    gemm = 2.0 * 8.0e9 * isl
    assert np.all(r["ttft_s"].to_numpy() >= (attn + gemm) / (acc.dense_tflops["bf16"] * 1e12))
