"""MLA and MoE mechanisms of the step model, and the one eager-launch floor: each checked against a hand count.

- MLA's down-projections (q_a, kv_a) are whole on every TP rank, so a DeepSeek layer's attention weights per GPU
  shrink less than 1/tp with TP (vLLM/SGLang ReplicatedLinear, TensorRT-LLM `fused_a`).
- Top-k routing moves each routed (token, expert) row hidden-wide three times on the GPU that holds the expert.
- A named engine's step that carries a prompt chunk runs eagerly: it lasts at least its kernels' launch time,
  with the host time added the same way as for a decode step above the CUDA-graph batch (one function).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import planner.perf.step as step_mod
from planner.catalog import load_catalog
from planner.perf.arch import model_row
from planner.perf.kernels import causal_pairs
from planner.perf.memory import weight_bytes_per_gpu
from planner.perf.params import load_efficiency
from planner.perf.resolve import Cols, normalize_grid, resolve
from planner.perf.serving import aggregated
from planner.perf.step import decode_step, eager_launch_s
from planner.perf.steptable import build_step_tables, interp_step

CAT = load_catalog()
EFF = load_efficiency(CAT)
DS = dict(model="deepseek-r1", accelerator="h200-sxm", precision="fp8", kv_precision="fp8", isl=1000, osl=500)


def _cols(rows):
    c, reason = resolve(normalize_grid(pd.DataFrame(rows)), CAT, EFF)
    assert (reason == "").all(), reason
    return c


def _op(c, name, n=4.0):
    out = decode_step(c, EFF.serving, np.full(len(c.tp), n), np.full(len(c.tp), 1000.0), breakdown=True)
    return np.asarray(out["ops"][name], dtype=float)


def test_mla_down_projections_are_whole_on_every_tp_rank():
    m = CAT.models["deepseek-r1"]
    row = model_row(m)
    replicated = 7168 * (1536 + 512 + 64)  # hidden x (q_lora_rank + kv_lora_rank + qk_rope_head_dim)
    assert row["attn_replicated_params"] == replicated
    assert model_row(CAT.models["llama-3.3-70b"])["attn_replicated_params"] == 0.0
    # the attention GEMMs' time at a fixed batch is linear in the weights a rank holds: TP8 / TP1 by hand
    c = _cols([DS | dict(tp=tp, ep=tp, batch=4) for tp in (1, 8)])
    t1, t8 = _op(c, "attn_proj")
    a = row["attn_params"]
    assert t8 / t1 == pytest.approx(((a - replicated) / 8 + replicated) / a, rel=1e-9)
    assert t8 / t1 > 1 / 8 * 1.5  # without the mechanism it would be exactly 1/8
    llama = _cols([dict(DS, model="llama-3.3-70b", tp=tp, ep=1, batch=4) for tp in (1, 8)])
    l1, l8 = _op(llama, "attn_proj")
    assert l8 / l1 == pytest.approx(1 / 8, rel=1e-9)
    # and the weights in memory: TP8 holds the replicated part whole, 7/8 of it more than a plain split
    w = weight_bytes_per_gpu(c)
    split = weight_bytes_per_gpu(Cols(dict(_cols([DS | dict(tp=8, ep=8, batch=4)]).items()) | {
        "attn_replicated_params": np.zeros(1)}))
    assert w[1] - split[0] == pytest.approx(replicated * 7 / 8 * m.layers * 1.0, rel=1e-9)  # fp8: 1 byte


def test_moe_routed_rows_move_hidden_wide_on_the_expert_gpu(monkeypatch):
    c = _cols([DS | dict(tp=8, ep=ep, batch=64) for ep in (1, 8)])
    with_rows = _op(c, "activations", n=64.0)
    plain = dataclasses.replace(step_mod.ASSUMPTIONS, moe_routed_hidden_values=0.0)
    monkeypatch.setattr(step_mod, "ASSUMPTIONS", plain)
    without = _op(c, "activations", n=64.0)
    m = CAT.models["deepseek-r1"]
    moe_layers = m.layers - m.moe.dense_layers
    # 64 tokens x top-8 rows x 3 hidden vectors x 7,168 x 2 bytes per MoE layer; all on every GPU at EP 1
    routed = 3 * 64 * 8 * m.hidden_size * 2.0 * moe_layers / np.array([1.0, 8.0])
    hbm = np.minimum(c.gemm_hbm_eta, 0.98)  # activations stream at the GEMM's HBM efficiency
    np.testing.assert_allclose(with_rows - without, routed / (c.hbm_bandwidth_bytes_s * hbm), rtol=1e-9)


def test_prompt_chunk_step_is_floored_like_an_eager_decode_step():
    """vLLM (no overlap scheduling): step = max(GPU, launch) + host whether the step runs eagerly because it
    carries a prompt chunk or because its batch is above the CUDA-graph limit; aggregated TTFT and the step tables
    read that same step."""
    rows = [dict(model="qwen3-8b", accelerator="h100-sxm", precision="fp8", isl=64, osl=200, batch=b,
                 engine="vllm") for b in (1, 4)]
    c = _cols(rows)
    n = np.array([1.0, 4.0])
    pairs = causal_pairs(64.0)
    graph = decode_step(c, EFF.serving, n, np.full(2, 164.0), 64.0, pairs, pairs, 64.0)
    eager = decode_step(c, EFF.serving, n, np.full(2, 164.0), 64.0, pairs, pairs, 64.0, prompt_chunk=True)
    host = c.eng_step_s + EFF.serving["seq_overhead_s"] * c.eng_seq_factor * n
    launch = eager_launch_s(c, EFF.serving)
    assert (launch > graph["time_s"] - host).all()  # the floor binds at this size (else the test shows nothing)
    np.testing.assert_allclose(eager["time_s"], np.maximum(graph["time_s"] - host, launch) + host, rtol=1e-12)
    # a decode step above the graph limit is floored the same way, by its fused kernels' launches
    big = np.full(2, 600.0)
    over = decode_step(c, EFF.serving, big, np.full(2, 400.0))
    host_big = c.eng_step_s + EFF.serving["seq_overhead_s"] * c.eng_seq_factor * big
    fused = eager_launch_s(c, EFF.serving, prompt_chunk=False)
    np.testing.assert_allclose(fused, launch * 9 / 28, rtol=1e-12)  # qwen3-8b: dense layers only
    assert (over["time_s"] >= fused + host_big - 1e-15).all()
    # TTFT of one 64-token prompt: one chunk riding on that eager step, plus the API server
    agg = aggregated(c, EFF.serving)
    np.testing.assert_allclose(agg["ttft_s"] - c.eng_request_s, eager["time_s"], rtol=1e-12)
    # the step tables at their grid points with prompt tokens are the same eager steps: the larger of the
    # point's step launched as a decode step and the chunk floor (the eager step of PROMPT_EPSILON tokens)
    tab = build_step_tables(pd.DataFrame(rows).drop(columns="batch"), CAT, efficiency=EFF, max_seqs=4,
                            token_budget=512)
    d = tab.decode[:, 1]  # one running sequence
    p = np.full(len(d), 64.0)  # the 64-token prompt, one chunk: a grid point (steptable.prefill_grid)
    assert (tab.prefill == 64.0).any(axis=1).all()
    pairs = p * causal_pairs(64.0) / 64.0
    want = decode_step(c, EFF.serving, d, tab.ctx_ref, p, pairs, pairs, 64.0, prompt_chunk=True)["time_s"]
    np.testing.assert_allclose(interp_step(tab, d[:, None], p[:, None])[:, 0], want, rtol=1e-12)


def test_eager_step_launches_the_unfused_op_count():
    """An eager step carrying a prompt chunk launches the GPU probe's measured unfused count,
    28 kernels per llama-shape layer (measured.PROBE_SOFTWARE), not the fused graph's 9: Qwen3-8B (36 dense
    layers) on H100 -> 36 x 28 x kernel_launch_s (~23 ms, GPUStack's c=4 p99 ITL: 24 ms TensorRT-LLM, 41 ms
    vLLM); a MoE layer adds its extra router / permute kernels; PP launches every stage's kernels."""
    from planner.perf.measured import PROBE_SOFTWARE

    assert EFF.serving["eager_kernels_per_layer"] == PROBE_SOFTWARE["llama-3.1-8b"]["kernels_per_layer"] == 28.0
    rows = [dict(model="qwen3-8b", accelerator="h100-sxm", precision="bf16", isl=233, osl=221, engine="vllm",
                 batch=4, pp=pp) for pp in (1, 2)]
    c = _cols(rows)
    launch = EFF.accel.loc["h100-sxm", "kernel_launch_s"]
    want = 36 * 28 * launch
    np.testing.assert_allclose(eager_launch_s(c, EFF.serving), [want, want], rtol=1e-12)
    assert 0.020 < want < 0.025
    moe = _cols([dict(DS, batch=4, tp=8, engine="vllm")])
    m = CAT.models["deepseek-r1"]
    want_moe = (m.layers * 28 + moe.moe_layers * EFF.serving["kernels_per_moe_layer_extra"]) * moe.kernel_launch_s
    np.testing.assert_allclose(eager_launch_s(moe, EFF.serving), want_moe, rtol=1e-12)


def test_mla_decode_tile_is_padded_at_tp8_and_full_with_attention_dp():
    """Absorbed MLA decode puts (query tokens x local heads) on 64-row tiles: at TP8 (16 heads a rank) one query
    token fills a quarter of a tile, so verifying 4 tokens (MTP) costs the attention no more than 1; with all 128
    heads on a rank (attention-DP, compute-bound at ~480 FLOPs per fp8 KV byte) 4 tokens cost 4 times 1."""
    c = _cols([DS | dict(tp=8, ep=8, attn_dp=1, batch=64), DS | dict(tp=1, ep=8, attn_dp=8, batch=64)])
    n, ctx = np.array([64.0, 512.0]), np.full(2, 8000.0)

    def attn(q):
        out = decode_step(c, EFF.serving, n, ctx, q_dec=q, breakdown=True)
        return np.asarray(out["ops"]["attn_decode"], dtype=float)

    one, four = attn(1.0), attn(4.0)
    assert four[0] == pytest.approx(one[0], rel=1e-9)  # TP8: the padding absorbs the extra query tokens
    assert four[1] == pytest.approx(4.0 * one[1], rel=1e-9)  # DP attention: full tiles, 4x the FLOPs


def test_block_scaled_fp8_experts_run_at_the_block_scale_on_hopper_only():
    """DeepSeek's released FP8 weights carry 128 x 128 block scales (models.yaml fp8_weight_block): on H200 (no
    microscaled tensor cores) their routed experts run at block_fp8_moe_eta_scale of the plain FP8 GEMM's
    efficiency, on both rooflines, so at a fixed batch their time is 1 / scale times the neutral one; on B200
    (FP4 tensor cores scale blocks in the MMA), on Llama's per-tensor FP8 and on DeepSeek in bf16 nothing
    changes."""
    scale = 0.4
    served = dict(EFF.serving) | {"block_fp8_moe_eta_scale": scale}
    rows = [DS | dict(tp=8, ep=1, batch=4), DS | dict(accelerator="b200", precision="fp8", tp=8, ep=1, batch=4),
            dict(DS, model="qwen3-235b-a22b", tp=8, ep=1, batch=4),
            DS | dict(precision="bf16", tp=8, ep=1, batch=4)]
    c = _cols(rows)
    assert list(step_mod.block_fp8_moe_scale(c, served)) == [scale, 1.0, 1.0, 1.0]
    for n in (4.0, 256.0):  # memory-bound (few rows per expert) and wider: the scale is on both rooflines
        args = (np.full(4, n), np.full(4, 1000.0))
        neutral = decode_step(c, EFF.serving | {"block_fp8_moe_eta_scale": 1.0}, *args, breakdown=True)
        scaled = decode_step(c, served, *args, breakdown=True)
        ratio = np.asarray(scaled["ops"]["experts"]) / np.asarray(neutral["ops"]["experts"])
        assert ratio == pytest.approx([1.0 / scale, 1.0, 1.0, 1.0], rel=1e-9)
    assert CAT.models["deepseek-r1"].fp8_weight_block == 128
    assert CAT.models["llama-3.3-70b"].fp8_weight_block is None



def test_vllm_counts_mla_shared_expert_and_block_fp8_quantization_kernels():
    """vLLM's CUDA path launches MLA's extra kernels (7 a layer), the shared expert's own MLP (4 a MoE layer) and
    one per-token-group quantization before each block-scaled FP8 GEMM (3 attention + 4 expert GEMMs a MoE
    layer, 3 + 2 a dense one), each at the accelerator's kernel_overhead_s: DeepSeek-R1 FP8 on 8x H200 (58 MoE +
    3 dense layers) launches 1,080 more kernels a step than the generic layer count, 3.0 ms at 2.8 us. Without
    them GPUStack's vLLM run at concurrency 4 (GPS-deepseek-r1-h200-10: 19.4 ms) was modelled at 7.7 ms, with
    them 10.7. NVFP4 weights: no block-FP8 quantization; Qwen3-8B (GQA, dense, bf16) and engines that do not
    list the vendor (TensorRT-LLM, the generic engine) keep the generic count. Breaking the count (or dropping
    the engines' `architecture_kernels`) fails this test."""
    rows = [DS | dict(tp=8, ep=1, batch=4, engine=e) for e in ("vllm", "trtllm", "")]
    rows += [DS | dict(precision="nvfp4", accelerator="b200", tp=8, ep=1, batch=4, engine="vllm"),
             dict(model="qwen3-8b", accelerator="h100-sxm", precision="bf16", isl=233, osl=221, batch=4,
                  engine="vllm"),
             DS | dict(tp=8, ep=1, batch=4, engine="sglang"), DS | dict(tp=8, ep=8, batch=4, engine="sglang")]
    c = _cols(rows)
    out = decode_step(c, EFF.serving, np.full(len(rows), 4.0), np.full(len(rows), 1000.0), breakdown=True)
    sv = EFF.serving
    generic = c.layers * sv["kernels_per_layer"] + c.moe_layers * sv["kernels_per_moe_layer_extra"]
    extra = out["kernels"] - generic
    # the counts by part, from the model's own layer columns (DeepSeek-R1: 61 layers, 58 of them MoE)
    layers, moe = int(c.layers[0]), int(c.moe_layers[0])
    assert (layers, moe) == (61, 58)
    mla, shared = 7 * layers, 4 * moe  # MLA's extra kernels; the shared expert's MLP
    quant_attn, quant_experts, quant_dense = 3 * layers, 4 * moe, 2 * (layers - moe)  # block-FP8 activations
    vllm = mla + shared + quant_attn + quant_experts + quant_dense
    # SGLang runs the shared expert inside the routed MoE kernel while experts are tensor-parallel: no shared
    # MLP and two of a MoE layer's four expert quantizations fewer; with EP it keeps them apart
    sglang_tp = mla + quant_attn + quant_dense + 2 * moe
    np.testing.assert_allclose(extra, [vllm, 0.0, 0.0, mla + shared, 0.0, sglang_tp, vllm])
    # vllm = 1080, sglang_tp = 732 here: the figures the docstring and kernels.py's comments quote
    # each kernel costs the accelerator's in-graph overhead: 3.0 ms more on the vLLM / H200 step
    added = out["ops"]["kernel_overhead"][0] - out["ops"]["kernel_overhead"][1]
    assert added == pytest.approx(1080 * c.kernel_overhead_s[0], rel=1e-12)
    assert 2.5e-3 < added < 3.5e-3


def test_every_attention_dp_rank_admits_its_own_sequences():
    """With attention DP each of the 8 ranks keeps the whole MLA latent of its own sequences: the replica's memory
    batch is 8 x the sequences one GPU's free memory holds (not one GPU's worth), and a TP8 replica's is one
    GPU's worth (every GPU holds every sequence's latent)."""
    from planner.perf.memory import memory

    c = _cols([DS | dict(tp=1, ep=8, attn_dp=8, batch=64), DS | dict(tp=8, ep=8, attn_dp=1, batch=64)])
    m = memory(c)
    free = m["usable_bytes"] - m["weight_bytes_per_gpu"] - m["reserve_bytes_per_gpu"]
    per_gpu = np.asarray(m["max_batch_memory"], dtype=float) / np.array([8.0, 1.0])
    assert (per_gpu == np.floor(per_gpu)).all() and (per_gpu > 100).all()
    assert (per_gpu * m["per_seq_bytes_per_gpu"] <= free).all()
    assert ((per_gpu + 1) * m["per_seq_bytes_per_gpu"] > free).all()


def test_an_ep_size_that_does_not_divide_the_experts_holds_whole_slots():
    """DeepSeek-R1's 256 routed experts on EP 6: every rank holds ceil(256 / 6) = 43 expert slots per layer, not
    42.67. EP 4 and 8 (dividing 256) give the per-GPU weights A + X / ep (A the rest, X all experts' bytes)."""
    c = _cols([DS | dict(tp=1, ep=ep, attn_dp=ep, batch=64) for ep in (4, 8, 6)])
    w4, w8, w6 = weight_bytes_per_gpu(c)
    experts = (w4 - w8) * 8
    assert w6 == pytest.approx(w8 - experts / 8 + experts * 43 / 256, rel=1e-12)
