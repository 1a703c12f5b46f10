"""The step tables' prompt axis at attention DP: points where the step bends (the rank's chunk, attn_dp chunks)
and the eager chunk floor per decode count, so that a chunk step of a few thousand tokens beside a large
batch reads as the step model computes it (benchmarks/attention_dp_noload_vs_load.py: uniform eighths of a
65,536-token budget read a 1,000-4,096-token chunk step 14-16% fast and the load model's TPOT 26% below
evaluate's)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.perf import evaluate, load_efficiency
from planner.perf.kernels import causal_pairs
from planner.perf.load import latency_under_load
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.serving import _chunk_step
from planner.perf.steptable import build_step_tables, interp_step, prefill_grid

GPT_OSS = dict(model="gpt-oss-120b", accelerator="h200-sxm", precision="mxfp4", kv_precision="fp8", ep=8,
               serving="aggregated", engine="vllm", isl=1000, osl=1000)


def test_grid_holds_the_bends_and_ascends():
    g = prefill_grid(np.array([65536.0, 8192.0, 8192.0]), np.array([1000.0, 1000.0, 8192.0]),
                     np.array([8.0, 1.0, 1.0]), 5)
    assert (np.diff(g, axis=1) > 0).all()
    assert {0.0, 1000.0, 8000.0, 65536.0} <= set(g[0])
    assert {0.0, 1000.0, 8192.0} <= set(g[1])
    np.testing.assert_allclose(g[2], np.linspace(0.0, 8192.0, 5))  # the chunk is the budget: even


@pytest.mark.parametrize("tp,dp", [(1, 8), (2, 4), (8, 1)])
def test_chunk_steps_read_as_the_step_model(cat, tp, dp):
    g = pd.DataFrame([GPT_OSS | dict(tp=tp, attn_dp=dp, batch=1024)])
    eff = load_efficiency(cat)
    c, _ = resolve(normalize_grid(g), cat, eff)
    tab = build_step_tables(g, cat, efficiency=eff)
    per_tok = (causal_pairs(1000.0) / 1000.0, causal_pairs(1000.0, c.window_tokens) / 1000.0)
    for tokens in (1000.0, 2000.0, 4096.0):
        direct = _chunk_step(c, eff.serving, c.batch, 1500.0, np.array([tokens]), per_tok, 1.0)["time_s"][0]
        table = interp_step(tab, np.array([[1024.0]]), np.array([[tokens]]))[0, 0]
        assert table == pytest.approx(direct, rel=0.01), tokens


def test_load_tpot_meets_evaluate_at_attention_dp(cat):
    """vLLM tp 2 x attn_dp 4, batch 1,024 closed loop at 1,000 / 1,000: evaluate 0.0327 s, load 0.0259 (-26%)
    on the uniform grid."""
    g = pd.DataFrame([GPT_OSS | dict(tp=2, attn_dp=4, batch=1024)])
    ev = evaluate(g, cat).iloc[0]
    ld = latency_under_load(g, cat, concurrency=1024).iloc[0]
    assert ld.tpot_mean_s == pytest.approx(ev.tpot_s, rel=0.02)


def _sglang_vllm(cat, model, precision):
    g = pd.DataFrame([dict(model=model, accelerator="h100-sxm", precision=precision, tp=1, engine=e,
                           serving="aggregated", isl=217, osl=202) for e in ("sglang", "vllm")])
    return build_step_tables(g, cat)


def test_sglang_context_slope_where_it_runs(cat):
    """SGLang overlaps its host's per-sequence work with the GPU step: at its 4,096-seat cap the host sets the
    pace and the context slope probed there was 0 on every SGLang calibration row. Probed at the seats its KV
    cache holds (Qwen3-32B on one H100: ~65), the attention's slope is vLLM's (the same GPU work)."""
    tab = _sglang_vllm(cat, "qwen3-32b", "bf16")
    assert tab.kv_tokens[0] / tab.ctx_ref[0] < 100
    assert tab.s_per_ctx_token[0] > 0
    assert tab.s_per_ctx_token[0] == pytest.approx(tab.s_per_ctx_token[1], rel=1e-9)


def test_simulator_steps_read_the_slope_at_their_batch(cat):
    """Qwen3-8B / SGLang: host-bound from ~100 sequences on (slope 0 there, and at its KV seats), not at 8: a
    step of 8 sequences at twice the reference context is longer by the attention's slope."""
    from planner.perf.simulate import _Steps
    tab = _sglang_vllm(cat, "qwen3-8b", "bf16").row(0)
    steps = _Steps(tab)
    ref = 8 * float(tab.ctx_ref[0])
    grown = steps(8, 0.0, 2.0 * ref) - steps(8, 0.0, ref)
    assert grown > 0
    assert grown == pytest.approx(_sglang_vllm(cat, "qwen3-8b", "bf16").s_per_ctx_token[1] * ref, rel=1e-6)


@pytest.mark.parametrize("points", [2, 3, 5, 7])
def test_prefill_at_counts_the_inner_points_at_or_below(points):
    """prefill_at's segment index: the inner prompt points at or below each count (the comparison summed along
    the points, as it was written before it counted one point at a time), with NaN and points tied."""
    from planner.perf.steptable_read import prefill_at

    rng = np.random.default_rng(points)
    pre = np.sort(rng.integers(0, 9, size=(40, points)).astype(float) * 1000.0, axis=1)
    x = rng.integers(-1, 10, size=(40, 6)).astype(float) * 1000.0 + rng.choice([0.0, 0.5], size=(40, 6))
    x[3, 2] = np.nan
    k, w = prefill_at(pre, x)
    want = (x[..., None] >= pre[:, None, 1:points - 1]).sum(axis=-1)
    assert k.dtype == want.dtype and (k == want).all()
    x0, x1 = np.take_along_axis(pre, want, axis=1), np.take_along_axis(pre, want + 1, axis=1)
    np.testing.assert_array_equal(w, (x - x0) / np.maximum(x1 - x0, 1e-12))
