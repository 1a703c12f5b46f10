"""Memory per GPU, KV bytes and fit reasons, checked against hand computation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from perf_toy import base_catalog, toy_catalog, toy_efficiency

from planner.catalog.architecture import kv_bytes_per_token, param_counts
from planner.perf import evaluate
from planner.perf.assumptions import ASSUMPTIONS

CAT = toy_catalog()
EFF = toy_efficiency(CAT)


def toy_row(**kw) -> pd.DataFrame:
    row = dict(model="toy", accelerator="toy-gpu", precision="bf16", batch=1, isl=60, osl=40) | kw
    return pd.DataFrame([row])


def test_toy_weights_by_hand():
    # attention 2*h*H*d + 2*h*KV*d = 2*64*64 + 2*64*32 = 12,288 per layer; FFN 3*64*128 = 24,576 per layer;
    # embedding and lm_head 100*64 each (kept in bf16)
    layers = 2 * (12_288 + 24_576)
    assert param_counts(CAT.models["toy"])[0] == layers + 2 * 6_400
    r = evaluate(toy_row(), CAT, efficiency=EFF).iloc[0]
    assert r["weight_bytes_per_gpu"] == pytest.approx(layers * 2 + 12_800 * 2)
    r8 = evaluate(toy_row(precision="fp8"), CAT, efficiency=EFF).iloc[0]
    assert r8["weight_bytes_per_gpu"] == pytest.approx(layers * 1 + 12_800 * 2)
    r2 = evaluate(toy_row(tp=2), CAT, efficiency=EFF).iloc[0]
    assert r2["weight_bytes_per_gpu"] == pytest.approx((layers * 2 + 12_800 * 2) / 2)


def test_toy_kv_by_hand():
    # 2 (K,V) * 2 KV heads * 16 head_dim * 2 bytes * 2 layers = 256 B per token; a sequence holds isl+osl = 100
    assert kv_bytes_per_token(CAT.models["toy"], 2.0) == 256
    r = evaluate(toy_row(batch=3), CAT, efficiency=EFF).iloc[0]
    assert r["kv_bytes_per_gpu"] == pytest.approx(3 * 100 * 256)
    fp8 = evaluate(toy_row(batch=3, kv_precision="fp8"), CAT, efficiency=EFF).iloc[0]
    assert fp8["kv_bytes_per_gpu"] == pytest.approx(3 * 100 * 128)
    # tp 2 splits the 2 KV heads; tp 4 > 2 KV heads replicates one head per GPU: still half per GPU
    for tp in (2, 4):
        r = evaluate(toy_row(batch=3, tp=tp), CAT, efficiency=EFF).iloc[0]
        assert r["kv_bytes_per_gpu"] == pytest.approx(3 * 100 * 128), tp


def test_toy_max_batch_by_hand():
    A = ASSUMPTIONS
    usable = 10 * 2**30 * A.usable_hbm_fraction  # hbm_gb is read in GiB (catalog/tables.py)
    weights = 2 * (12_288 + 24_576) * 2 + 12_800 * 2
    reserve = A.fixed_reserve_bytes + A.activation_token_budget * A.act_bytes * (
        A.activation_values_per_token_hidden * 64 + A.activation_values_per_token_ffn * 128)
    per_seq = 100 * 256 + 100 * A.logits_bytes_per_vocab  # KV of 100 tokens + fp32 logits
    expected = math.floor((usable - weights - reserve) / per_seq)
    r = evaluate(toy_row(), CAT, efficiency=EFF).iloc[0]
    assert r["max_batch_memory"] == expected
    over = evaluate(toy_row(batch=expected + 1), CAT, efficiency=EFF).iloc[0]
    assert not over["fits"] and over["limited_by"] == "memory"
    assert f"max batch {expected}" in over["reason"]


def test_uneven_pipeline_stages_hold_the_larger_share():
    # Llama 3.1 70B: 80 layers of a bytes each, two vocabulary tables of t (untied); a stage with pp > 1 holds
    # one table. pp 2 and 4 give a (w2 - w4 = 20 a) and t (w2 - 40 a); pp 3's worst stage holds ceil(80/3) = 27
    # layers (26 on the others): 27 a + t.
    grid = pd.DataFrame([dict(model="llama-3.1-70b", accelerator="h100-sxm", precision="fp8", pp=pp, batch=1,
                              isl=100, osl=10) for pp in (2, 3, 4)])
    w2, w3, w4 = evaluate(grid, base_catalog())["weight_bytes_per_gpu"]
    a = (w2 - w4) / 20
    assert w3 == pytest.approx(27 * a + (w2 - 40 * a), rel=1e-9)


def test_reasons_are_answers_not_exceptions():
    cat = base_catalog()
    grid = pd.DataFrame([
        dict(model="llama-3.1-405b", accelerator="h100-sxm", precision="bf16", tp=1),  # weights do not fit
        dict(model="llama-3.1-70b", accelerator="h100-sxm", precision="nvfp4", tp=2),  # not native, no fallback
        dict(model="llama-3.1-70b", accelerator="h100-sxm", precision="fp8", tp=3),  # heads
        dict(model="llama-3.1-70b", accelerator="h100-sxm", precision="fp8", ep=2),  # dense model
        dict(model="llama-3.1-70b", accelerator="h100-sxm", precision="fp8", kv_precision="fp4"),
        dict(model="no-such-model", accelerator="h100-sxm", precision="fp8"),
        dict(model="qwen3-235b-a22b", accelerator="h100-sxm", precision="fp8", tp=16),  # > 8-GPU domain
    ]).assign(batch=8, isl=1000, osl=100)
    out = evaluate(grid, cat)
    assert not out["fits"].any()
    reasons = out["reason"].tolist()
    assert reasons[0].startswith("weights 81") and "85.02 GB HBM per GPU" in reasons[0]  # 79.18 GiB exposed
    assert reasons[1] == "fp4 not native on h100-sxm and nvfp4 has no weight-only fallback"
    assert reasons[2] == "tp 3 does not divide 64 heads"
    assert "needs an MoE model" in reasons[3]
    assert "does not allow a fp4 KV cache" in reasons[4]
    assert reasons[5] == "unknown model 'no-such-model'"
    assert "scale-up domain" in reasons[6]
    assert out["ttft_s"].isna().all()


def test_mla_kv_not_split_by_tp_but_by_attention_dp():
    cat = base_catalog()
    ds = cat.models["deepseek-r1"]
    # MLA latent: layers * (kv_lora_rank + rope) * 2 B = 61 * 576 * 2 = 70,272 B per token
    assert kv_bytes_per_token(ds, 2.0) == 61 * 576 * 2
    grid = pd.DataFrame([dict(tp=8, ep=8, attn_dp=1), dict(tp=1, ep=8, attn_dp=8)]).assign(
        model="deepseek-r1", accelerator="h200-sxm", precision="fp8", kv_precision="bf16", batch=64, isl=1000,
        osl=1000)
    out = evaluate(grid, cat)
    per_seq = 61 * 576 * 2 * 2000
    assert out.loc[0, "kv_bytes_per_gpu"] == pytest.approx(64 * per_seq)  # every TP rank holds the latent
    assert out.loc[1, "kv_bytes_per_gpu"] == pytest.approx(64 / 8 * per_seq)  # DP ranks split sequences
    # attention DP replicates attention weights: more weight bytes per GPU than pure TP
    assert out.loc[1, "weight_bytes_per_gpu"] > out.loc[0, "weight_bytes_per_gpu"]


def test_sliding_window_caps_kv():
    cat = base_catalog()
    grid = pd.DataFrame([dict(isl=1000), dict(isl=8000)]).assign(
        model="gpt-oss-120b", accelerator="h200-sxm", precision="mxfp4", batch=1, osl=1000)
    out = evaluate(grid, cat)
    m = cat.models["gpt-oss-120b"]
    per_layer = 2 * m.num_kv_heads * m.head_dim * 2
    for ctx, kv in zip((2000, 9000), out["kv_bytes_per_gpu"], strict=True):
        held = (m.layers - 18) * ctx + 18 * min(ctx, 128)  # 18 of 36 layers keep a 128-token window
        assert kv == pytest.approx(per_layer * held)


def test_moe_experts_split_over_stage_gpus():
    cat = base_catalog()
    grid = pd.DataFrame([dict(tp=1, ep=1), dict(tp=4, ep=4), dict(tp=4, ep=1)]).assign(
        model="qwen3-235b-a22b", accelerator="b200", precision="fp8", batch=8, isl=100, osl=100)
    w = evaluate(grid, cat)["weight_bytes_per_gpu"].to_numpy()
    assert w[1] == pytest.approx(w[2])  # EP or expert-TP: same bytes per GPU
    assert w[0] / w[1] == pytest.approx(4.0, rel=0.02)


def _kv_pool(rows: list[dict]):
    """(free KV bytes per GPU, weights, hbm, activations of one 8192-token forward) of real-catalog rows."""
    from planner.catalog import load_catalog
    from planner.perf.memory import memory
    from planner.perf.params import load_efficiency
    from planner.perf.resolve import normalize_grid, resolve

    cat = load_catalog()
    c, reason = resolve(normalize_grid(pd.DataFrame(rows).assign(batch=1)), cat, load_efficiency(cat))
    assert (reason == "").all(), reason
    m = memory(c)
    return m["usable_bytes"] - m["weight_bytes_per_gpu"] - m["reserve_bytes_per_gpu"], m["weight_bytes_per_gpu"], \
        c.hbm_bytes


def test_engine_kv_sizing_by_hand():
    """engines.yaml `kv_sizing:` per engine, Qwen3-32B bf16 TP1 (hidden 5120, FFN 25600, vocab 151,936) on an
    H100 (79.18 GiB exposed): vLLM 0.9 x HBM less 0.5 GiB outside torch and the larger of the 8192-token
    forward and the FlashInfer sampler warm-up over 1024 rows at 14 bytes a logit (256 rows / 2048 tokens on
    A100, its smaller defaults); TensorRT-LLM 0.9 of what weights and the forward leave; SGLang HBM less
    512 + 1.5 x 8192 + 2 x 256 + 1024/8 = 13,440 MiB; the generic engine as before (0.9 x HBM, 2 GB +
    8192-token forward)."""
    A = ASSUMPTIONS
    base = dict(model="qwen3-32b", accelerator="h100-sxm", precision="bf16", isl=200, osl=200)
    rows = [base | {"engine": e} for e in ("vllm", "trtllm", "sglang", "")] + [
        base | {"engine": "vllm", "accelerator": "a100-sxm-80gb"}]
    free, w, hbm = _kv_pool(rows)
    per_token = A.act_bytes * (A.activation_values_per_token_hidden * 5120 + A.activation_values_per_token_ffn
                               * 25600)
    fwd = A.fixed_reserve_bytes + 8192 * per_token
    sampler_h100 = 0.5 * 2**30 + max(8192 * per_token, 1024 * 151_936 * 14.0)
    sampler_a100 = 0.5 * 2**30 + max(2048 * per_token, 256 * 151_936 * 14.0)
    assert free[0] == pytest.approx(0.9 * hbm[0] - w[0] - sampler_h100)
    assert free[1] == pytest.approx(0.9 * (hbm[1] - w[1] - fwd))
    assert free[2] == pytest.approx(hbm[2] - w[2] - 13_440 * 2**20)
    assert free[3] == pytest.approx(0.9 * hbm[3] - w[3] - fwd)
    assert free[4] == pytest.approx(0.9 * hbm[4] - w[4] - sampler_a100)
    # the mechanism behind GPUStack's vLLM bursts: the same memory runs more sequences on A100 (256 / 2048
    # defaults) than on H100 (1024 / 8192)
    assert free[4] > free[0]


def test_weights_too_big_names_the_engines_share_of_hbm():
    """vLLM may fill 90% of HBM; TensorRT-LLM and SGLang size KV from what weights + reserve leave (100%)."""
    from planner.catalog import load_catalog

    cat = load_catalog()
    rows = pd.DataFrame([dict(model="qwen3-32b", accelerator="h100-sxm", precision="bf16", isl=200, osl=200,
                              engine=e, batch=1) for e in ("vllm", "trtllm", "sglang", "")])
    # Qwen3-32B bf16 (61 GiB of weights) fits one 80 GiB GPU under every engine; Llama-3.1-405B does not
    assert evaluate(rows, cat)["fits"].all()
    big = evaluate(rows.assign(model="llama-3.1-405b"), cat)["reason"].tolist()
    assert [s.split(" exceed ")[1].split(" of ")[0] for s in big] == ["90%", "100%", "100%", "90%"], big


# gpt-oss-120b: 36 MoE layers of 128 experts, hidden 2880, expert width 2880 (3 matrices), MXFP4 0.53125 B
GPT_OSS_EXPERT_BYTES = 3 * 2880 * 2880 * 128 * 36 * 0.53125


def test_vllm_marlin_pads_fp4_experts_by_hand():
    """vLLM runs MXFP4 MoE on A100 / Hopper through Marlin, which pads the hidden size to a multiple of 256 and
    each GPU's expert width to 128: gpt-oss-120b's experts grow by 3072/2880 x 2944/2880 at TP1 (+6.0 GiB) and
    by 3072/2880 x 1536/1440 at TP2 (width 1440 per GPU); native FP4 (B200) and the generic engine are unpadded."""
    base = dict(model="gpt-oss-120b", precision="mxfp4", isl=200, osl=200)
    rows = [base | dict(accelerator="h100-sxm", engine="vllm", tp=1), base | dict(accelerator="h100-sxm", tp=1),
            base | dict(accelerator="h100-sxm", engine="vllm", tp=2), base | dict(accelerator="h100-sxm", tp=2),
            base | dict(accelerator="b200", engine="vllm", tp=1), base | dict(accelerator="b200", tp=1),
            base | dict(accelerator="a100-sxm-80gb", engine="vllm", tp=1)]
    _, w, _ = _kv_pool(rows)
    tp1 = 3072 / 2880 * 2944 / 2880 - 1.0
    tp2 = 3072 / 2880 * 1536 / 1440 - 1.0
    assert w[0] - w[1] == pytest.approx(GPT_OSS_EXPERT_BYTES * tp1, rel=1e-9)
    assert w[2] - w[3] == pytest.approx(GPT_OSS_EXPERT_BYTES / 2 * tp2, rel=1e-9)
    assert w[4] == pytest.approx(w[5])
    assert w[6] == pytest.approx(w[0])


def test_vllm_gpt_oss_h100_pool_by_hand():
    """The KV pool GPUStack's vLLM ran gpt-oss-120b with on one H100 (default flags): 0.9 x the memory the
    driver exposes (79.18 GiB on our H100, catalogs/measured/info_h100_sxm.json: vLLM takes torch's
    mem_get_info total, not the marketed 80) less the padded weights, 0.5 GiB outside torch and the larger of
    the forward at 8192 tokens (hidden 2880, 4 experts of width 2880: 12 x 2880 + 3 x 11,520 bf16 values a
    token) and the sampler warm-up over 1024 rows of 201,088 logits at 14 bytes: 2.88 GB, which binds."""
    import json
    from pathlib import Path

    A = ASSUMPTIONS
    info = Path(__file__).resolve().parents[1] / "catalogs" / "measured" / "info_h100_sxm.json"
    exposed_gib = json.loads(info.read_text())["mem_gib"]
    free, w, _ = _kv_pool([dict(model="gpt-oss-120b", precision="mxfp4", accelerator="h100-sxm",
                                  engine="vllm", tp=1, isl=200, osl=200)])
    forward = 8192 * A.act_bytes * (A.activation_values_per_token_hidden * 2880
                                    + A.activation_values_per_token_ffn * 4 * 2880)
    sampler = 1024 * 201_088 * 14.0
    assert sampler > forward
    assert free[0] == pytest.approx(0.9 * exposed_gib * 2**30 - w[0] - 0.5 * 2**30 - sampler, rel=1e-3)
    # the padded experts alone: 114.7e9 parameters x 0.53125 B x 1.0904
    assert w[0] > GPT_OSS_EXPERT_BYTES * (3072 / 2880 * 2944 / 2880)


def test_engines_that_hold_local_layers_at_full_context_by_hand():
    """SGLang turns its hybrid SWA pool off for gpt-oss (every layer keeps the whole context), vLLM keeps it (18
    full layers + 18 layers of at most 128 tokens); vLLM turns its hybrid manager off for Llama 4's chunked
    attention (all 48 layers full), the generic engine keeps the 8192-token chunks. gpt-oss-120b: 8 KV heads x
    64 x 2 (K, V) x 2 B = 2,048 B a layer-token; Llama-4-Scout: 8 x 128 x 2 x 2 = 4,096 B, 36 of 48 layers
    chunked."""
    from planner.catalog import load_catalog
    from planner.perf.memory import kv_bytes_per_seq_per_gpu
    from planner.perf.params import load_efficiency
    from planner.perf.resolve import normalize_grid, resolve

    oss = dict(model="gpt-oss-120b", precision="mxfp4", accelerator="h100-sxm", tp=1, isl=200, osl=200)
    scout = dict(model="llama-4-scout", precision="bf16", accelerator="h200-sxm", tp=4, isl=200, osl=200)
    rows = [oss | {"engine": "sglang"}, oss | {"engine": "vllm"}, oss, scout | {"engine": "vllm"}, scout,
            oss | {"engine": "trtllm"}]
    cat = load_catalog()
    c, reason = resolve(normalize_grid(pd.DataFrame(rows).assign(batch=1)), cat, load_efficiency(cat))
    assert (reason == "").all(), reason
    kv = kv_bytes_per_seq_per_gpu(c, 20_000)
    assert kv[0] == pytest.approx(2048 * 36 * 20_000)
    assert kv[1] == pytest.approx(2048 * (18 * 20_000 + 18 * 128))
    assert kv[2] == pytest.approx(kv[1])
    assert kv[3] == pytest.approx(4096 / 4 * 48 * 20_000)  # 8 KV heads over TP4
    assert kv[4] == pytest.approx(4096 / 4 * (12 * 20_000 + 36 * 8192))
    # TensorRT-LLM keeps the window (full-context sizing under-predicted NVIDIA's trtllm-bench gpt-oss rows)
    assert kv[5] == pytest.approx(kv[1])


def test_sglang_reserve_follows_its_gpu_and_tp_defaults_by_hand():
    """SGLang's chunked_prefill_size / cuda_graph_max_bs by GPU memory and tp_size (server_args.py
    _handle_gpu_memory_settings) in its reserve: H100 TP1 8192 / 256: 512 + 12,288 + 512 + 128 = 13,440 MiB;
    H200 TP8 8192 / 512: 512 + 12,288 + 1,024 + 1,024 = 14,848; H200 attention TP1 x DP8 (tp_size 8, dp 8)
    adds 3 x 512 x 8 and, above 300 graphs, 1.5 x 512 x 8: 33,280; B200 TP1 16,384 / 512: 512 + 24,576 +
    1,024 + 128 = 26,240. A 24 GiB GPU at TP1 (2048 / 16) would keep 512 + 3,072 + 32 + 128 = 3,744 MiB (under
    60 GiB: no 10 GiB floor)."""
    from planner.perf.memory import sglang_gpu_defaults, static_reserve_bytes

    class C:  # the columns the reserve reads
        def __init__(self, hbm_gib, tp, dp):
            self.hbm_bytes, self.tp, self.attn_dp = np.array([hbm_gib * 2.0**30]), np.array([tp]), np.array([dp])
            self.pp = np.array([1.0])

    cases = [((80, 1, 1), 13_440), ((141, 8, 1), 14_848), ((141, 1, 8), 33_280), ((180, 1, 1), 26_240),
             ((24, 1, 1), 3_744)]
    for (hbm, tp, dp), mib in cases:
        assert static_reserve_bytes(C(hbm, tp, dp))[0] == pytest.approx(mib * 2.0**20), (hbm, tp, dp)
    chunk, graph = sglang_gpu_defaults(C(44, 4, 1))
    assert (chunk[0], graph[0]) == (4096, 160)
