"""DeepSeek Sparse Attention (DeepSeek-V3.2) in the step model, against hand counts.

The lightning indexer reads its 128-value key of every context token (O(context)); the MLA attention reads the
576-value latent of at most top-k = 2048 tokens per query. Below 2048 tokens of context V3.2 reads what V3 reads
plus the indexer keys; at 100k tokens it reads ~4x less. Prefill: the main attention sees at most top-k keys
per prompt token; the indexer scores every causal pair with 64 heads of 128 at the precision's peak.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.kernels import causal_pairs
from planner.perf.params import load_efficiency
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.step import decode_step

CAT = load_catalog()
EFF = load_efficiency(CAT)
BASE = dict(accelerator="h200-sxm", precision="fp8", kv_precision="fp8", isl=1000, osl=500, tp=8, ep=8, batch=4)


def _cols():
    rows = [BASE | dict(model=m) for m in ("deepseek-v3", "deepseek-v3.2")]
    c, reason = resolve(normalize_grid(pd.DataFrame(rows)), CAT, EFF)
    assert (reason == "").all(), reason
    return c


def _decode(ctx: float, n_pre=0.0, pairs=0.0) -> dict:
    c = _cols()
    n = np.full(2, 4.0)
    return decode_step(c, EFF.serving, n, np.full(2, ctx), np.full(2, n_pre), np.full(2, pairs), np.zeros(2),
                       np.full(2, max(n_pre, 1.0)), breakdown=True)


def test_decode_reads_top_k_latents_plus_every_indexer_key():
    out = _decode(100_000.0)
    dense, sparse = out["bytes"]  # the whole step's bytes: weights, KV, activations
    c = _cols()
    kv = lambda units_times_held: 4 * units_times_held * 1.0 * 61 / 1  # noqa: E731 (fp8 KV, MLA: whole on a rank)
    # V3.2 over V3: the KV reads differ by the hand count, everything else (weights: the indexer's 0.85B) little
    kv_v3, kv_v32 = kv(576 * 100_000), kv(576 * 2048 + 128 * 100_000)
    assert c.sparse_topk[1] == 2048 and np.isinf(c.sparse_topk[0])
    assert kv_v3 / kv_v32 == pytest.approx(4.12, rel=0.01)
    assert dense - sparse == pytest.approx(kv_v3 - kv_v32, rel=0.02)
    t = np.asarray(out["ops"]["attn_decode"], dtype=float)
    assert t[1] < t[0] / 3.5  # memory-bound: time follows the bytes


def test_decode_below_top_k_costs_v3_plus_the_indexer():
    t = np.asarray(_decode(1000.0)["ops"]["attn_decode"], dtype=float)
    # absorbed MLA at 4 sequences is compute-bound here: FLOPs per context token 2 x 128 x (2 x 512 + 64), plus
    # the indexer's 2 x 64 x 128; were it memory-bound, bytes (576 + 128) / 576
    flops_ratio = (2 * 128 * (2 * 512 + 64) + 2 * 64 * 128) / (2 * 128 * (2 * 512 + 64))
    assert t[1] / t[0] in (pytest.approx(flops_ratio, rel=1e-6), pytest.approx((576 + 128) / 576, rel=1e-6))
    assert t[1] > t[0]  # below top-k the indexer is pure extra cost


def test_prefill_main_attention_capped_at_top_k_and_indexer_scores_every_pair():
    isl = 32768.0
    pairs = float(causal_pairs(isl))
    out = _decode(1.0, n_pre=isl, pairs=pairs)
    main = np.asarray(out["ops"]["attn_prefill"], dtype=float)
    assert main[1] / main[0] == pytest.approx(isl * 2048 / pairs, rel=1e-6)  # min(pairs, tokens x top-k)
    idx = np.asarray(out["ops"]["attn_indexer"], dtype=float)
    assert idx[0] == 0.0 and idx[1] > 0.0
    # indexer FLOPs 2 x 64 x 128 per pair at the FP8 peak vs MLA's 2 x 128 x (192 + 128) at the bf16 peak
    c = _cols()
    ratio = (2 * 64 * 128 / c.peak_flops_s[1]) / (2 * 128 * 320 / c.peak_bf16_flops_s[1])
    assert idx[1] / main[0] == pytest.approx(ratio, rel=1e-6)
