"""Step times: a toy decode step by hand, roofline properties, monotonicity, the MoE expert formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from perf_toy import NEUTRAL_SERVING, base_catalog, toy_catalog, toy_efficiency

from planner.perf import evaluate, load_efficiency
from planner.perf.kernels import causal_pairs, expected_experts_touched
from planner.perf.memory import weight_bytes_per_gpu
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.step import decode_step, prefill_pass

CAT = toy_catalog()
EFF = toy_efficiency(CAT)


def cols(catalog, eff, **kw):
    row = dict(model="toy", accelerator="toy-gpu", precision="bf16", batch=2, isl=100, osl=1) | kw
    c, reason = resolve(normalize_grid(pd.DataFrame([row])), catalog, eff)
    assert reason[0] == "", reason[0]
    return c


def test_toy_decode_step_by_hand():
    """Toy: 2 layers, hidden 64, 4 heads / 2 KV heads of 16, FFN 128, vocab 100; accelerator 100 TFLOP/s bf16,
    1 TB/s, every efficiency 0.5, 1 us per kernel, 10 us per step. Batch 2 at context 100, bf16, TP 1."""
    bw, peak, eta = 1e12, 100e12, 0.5
    t_attn_proj = max(2 * 2 * 12_288 * 2 / (peak * eta), 12_288 * 2 * 2 / (bw * eta))  # 2 layers
    t_ffn = max(2 * 2 * 24_576 * 2 / (peak * eta), 24_576 * 2 * 2 / (bw * eta))
    t_lm_head = max(2 * 2 * 6_400 / (peak * eta), 6_400 * 2 / (bw * eta))
    kv_read = 2 * (2 * 2 * 16) * 2 * (2 * 100)  # sequences * KV elements/layer/token * bytes * layer-tokens
    attn_flops = 2 * (2 * 4 * (16 + 16)) * (2 * 100)
    t_attn = max(attn_flops / (peak * eta), kv_read / (bw * eta))
    act = 2 * (12 * 64 * 2 * 2 + 3 * (2 * 128 * 2)) + 2 * 64 * 2 * 2  # elementwise traffic + KV writes
    t_act = act / (bw * eta)
    overhead = 2 * 9 * 1e-6 + 10e-6  # 9 kernels per layer, plus the step
    expected = t_attn_proj + t_ffn + t_lm_head + t_attn + t_act + overhead
    c = cols(CAT, EFF)
    step = decode_step(c, NEUTRAL_SERVING, c.batch, 100.0)
    assert step["time_s"][0] == pytest.approx(expected, rel=1e-9)
    assert step["comm_s"][0] == 0.0


def test_toy_tp2_adds_two_allreduces_per_layer():
    c2 = cols(CAT, EFF, tp=2)
    s2 = decode_step(c2, NEUTRAL_SERVING, c2.batch, 100.0)
    msg = 2 * 64 * 2  # tokens * hidden * bf16
    ring = 8e-6 + 2 * (2 - 1) / 2 * msg / (100e9 * 0.8)
    assert s2["comm_s"][0] == pytest.approx(2 * 2 * ring)  # 2 layers x 2 all-reduces
    assert s2["time_s"][0] > s2["comm_s"][0]


# ------------------------------------------------------------------------------------------------ roofline
REAL = base_catalog()
REAL_EFF = load_efficiency(REAL)
MODELS = sorted(REAL.models)
ACCS = sorted(REAL.accelerators)
PRECS = ["bf16", "fp8", "nvfp4", "mxfp4", "int4", "int8"]


@st.composite
def configs(draw):
    return dict(model=draw(st.sampled_from(MODELS)), accelerator=draw(st.sampled_from(ACCS)),
                precision=draw(st.sampled_from(PRECS)), tp=draw(st.sampled_from([1, 2, 4, 8])),
                batch=draw(st.integers(1, 2048)), isl=draw(st.integers(1, 16000)), osl=draw(st.integers(1, 4000)),
                kv_precision=draw(st.sampled_from(["bf16", "fp8"])))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(configs(), min_size=20, max_size=20))
def test_never_faster_than_the_datasheet_roofline(rows):
    grid = normalize_grid(pd.DataFrame(rows))
    c, reason = resolve(grid, REAL, REAL_EFF)
    ok = reason == ""
    if not ok.any():
        return
    idx = np.flatnonzero(ok)
    c = type(c)({k: (v[idx] if isinstance(v, np.ndarray) and len(v) == len(grid) else v) for k, v in c.items()})
    ctx = c.isl + c.osl / 2
    per_step = c.batch / c.osl  # prompts whose prefill each step carries
    step = decode_step(c, REAL_EFF.serving, c.batch, ctx, c.batch * c.isl / c.osl, per_step * causal_pairs(c.isl),
                       per_step * causal_pairs(c.isl, c.window_tokens), c.isl)
    best_peak = np.maximum.reduce([c.flops_bf16, c.flops_fp8, c.flops_int8, c.flops_fp4])
    t = step["time_s"]
    assert np.all(t >= step["flops"] / best_peak * (1 - 1e-9))
    assert np.all(t >= step["bytes"] / c.hbm_bandwidth_bytes_s * (1 - 1e-9))
    # independent of the model's own bookkeeping: a dense decode step reads every weight on the GPU once
    dense = c.is_moe == 0
    assert np.all(t[dense] >= (weight_bytes_per_gpu(c)[dense] - c.embed_params[dense] * 2 / c.tp[dense])
                  / c.hbm_bandwidth_bytes_s[dense])
    # and performs at least 2 FLOPs per active weight per token on its share of the GPUs
    tokens = c.batch * (1 + c.isl / c.osl)
    min_flops = 2 * (c.active_params - c.embed_params - c.lm_head_params) * tokens / c.tp
    assert np.all(t * best_peak >= min_flops * (1 - 1e-9))
    pre, _ = prefill_pass(c, REAL_EFF.serving, 1.0, c.isl)
    pre_flops = 2 * (c.active_params - 2 * c.embed_params) * c.isl
    assert np.all(pre["time_s"] * best_peak * c.tp >= pre_flops * (1 - 1e-9))


# ------------------------------------------------------------------------------------------------ monotonicity
def _evaluate_rows(catalog, eff, **kw):
    base = dict(model="llama-3.1-70b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=2,
                batch=64, isl=2000, osl=500)
    return evaluate(pd.DataFrame([base | kw]), catalog, efficiency=eff).iloc[0]


def test_more_bandwidth_is_never_slower():
    fast = REAL.accelerators["h100-sxm"].model_copy(update={"id": "h100-fast", "hbm_bandwidth_tb_s": 5.0})
    entries = {k: dict(v) for k, v in REAL.entries.items()}
    entries["accelerators"]["h100-fast"] = fast
    from planner.catalog.catalog import Catalog
    from planner.perf.params import Efficiency

    cat = Catalog(entries=entries, origin=dict(REAL.origin))
    accel = REAL_EFF.accel.copy()
    accel.loc["h100-fast"] = accel.loc["h100-sxm"]
    eff = Efficiency(accel=accel, serving=REAL_EFF.serving)
    for batch in (1, 16, 128):
        slow, quick = (_evaluate_rows(cat, eff, accelerator=a, batch=batch) for a in ("h100-sxm", "h100-fast"))
        assert quick["tpot_s"] <= slow["tpot_s"] and quick["ttft_s"] <= slow["ttft_s"]
        assert quick["tpot_s"] < slow["tpot_s"]  # decode reads weights and KV: strictly faster


@pytest.mark.parametrize("model,acc,prec,tp", [("llama-3.1-8b", "h200-sxm", "bf16", 1),
                                               ("gpt-oss-120b", "b200", "mxfp4", 1),
                                               ("deepseek-r1", "b200", "nvfp4", 8)])
def test_longer_context_is_never_faster(model, acc, prec, tp):
    grid = pd.DataFrame({"isl": [128, 512, 2048, 8192, 16384]}).assign(
        model=model, accelerator=acc, precision=prec, batch=8, osl=256, tp=tp, ep=tp)
    out = evaluate(grid, REAL)
    assert out["fits"].all()
    assert np.all(np.diff(out["tpot_s"]) >= 0) and np.all(np.diff(out["ttft_s"]) >= 0)
    c, _ = resolve(normalize_grid(grid.assign(isl=100)), REAL, REAL_EFF)
    steps = [decode_step(c, REAL_EFF.serving, c.batch, ctx)["time_s"][0] for ctx in (100, 1000, 10_000, 30_000)]
    assert np.all(np.diff(steps) >= 0)


@pytest.mark.parametrize("model,acc,prec,tp,ep,dp", [("llama-3.1-8b", "h100-sxm", "fp8", 1, 1, 1),
                                                     ("llama-3.1-70b", "h200-sxm", "fp8", 4, 1, 1),
                                                     ("qwen3-235b-a22b", "b200", "nvfp4", 1, 4, 4),
                                                     ("mixtral-8x7b", "mi300x", "bf16", 2, 2, 1)])
def test_larger_batch_never_lowers_throughput_until_memory(model, acc, prec, tp, ep, dp):
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    grid = pd.DataFrame({"batch": batches}).assign(model=model, accelerator=acc, precision=prec, tp=tp, ep=ep,
                                                   attn_dp=dp, isl=1000, osl=1000)
    out = evaluate(grid, REAL)
    fit = out[out["fits"]]
    assert len(fit) >= 5
    assert np.all(np.diff(fit["output_tok_s"]) > 0)
    assert np.all(np.diff(fit["tpot_s"]) >= 0)
    assert (out.loc[~out["fits"], "limited_by"] == "memory").all()


# ------------------------------------------------------------------------------------------------ MoE
def test_expected_experts_formula():
    assert expected_experts_touched(8, 2, 0) == 0
    assert expected_experts_touched(8, 2, 1) == pytest.approx(2.0)  # one token touches exactly k experts
    assert expected_experts_touched(256, 8, 10_000) == pytest.approx(256.0)
    assert expected_experts_touched(128, 4, 3) == pytest.approx(128 * (1 - (1 - 4 / 128) ** 3))
    # agrees with routing simulated token by token (uniform top-k without replacement per token)
    rng = np.random.default_rng(0)
    for e, k, t in ((64, 4, 5), (128, 8, 20), (32, 2, 40)):
        sims = [len({x for _ in range(t) for x in rng.choice(e, k, replace=False)}) for _ in range(400)]
        assert expected_experts_touched(e, k, t) == pytest.approx(np.mean(sims), rel=0.03)


def test_moe_decode_reads_only_touched_experts():
    grid = pd.DataFrame({"batch": [1, 4, 64]}).assign(model="qwen3-235b-a22b", accelerator="b200",
                                                      precision="fp8", isl=1, osl=1000)
    c, _ = resolve(normalize_grid(grid), REAL, REAL_EFF)
    bytes_ = [decode_step(c, REAL_EFF.serving, c.batch, 10.0, breakdown=True)["ops"]["experts"]]
    t = bytes_[0]
    # batch 1 touches 8 of 128 experts per layer, batch 4 about 30: expert time grows sub-linearly then saturates
    assert t[0] < t[1] < t[2]
    assert t[1] / t[0] == pytest.approx(expected_experts_touched(128, 8, 4) / 8, rel=0.05)
