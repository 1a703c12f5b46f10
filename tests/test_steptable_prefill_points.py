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
