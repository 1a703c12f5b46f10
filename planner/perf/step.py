"""Time of one forward pass: decode steps (with or without prefill chunks) and prefill passes, vectorized.

A pass of one pipeline stage is the sum of its ops, each on its own roofline:
attention projections, dense FFN, shared experts, routed experts (only the experts the batch touches are read:
E * (1 - (1 - k/E)^T)), lm_head, decode attention (KV reads), prefill attention (causal FLOPs), activation
traffic, TP all-reduces (2 per layer), EP all-to-all (dispatch + combine per MoE layer), PP hand-off, and a
fixed latency per layer. Counts passed in are whole-instance counts of the microbatch on this stage.
"""

from __future__ import annotations

import numpy as np

from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.engines import rank_chunk_tokens
from planner.perf.kernels import (
    ETA_CAP,
    _safe_div,
    architecture_kernels,
    attention_prefill_efficiency,
    block_fp8_rows,
    causal_pairs,
    expected_experts_touched,
    gemm_efficiency,
)
from planner.perf.memory import (
    attention_params_per_gpu,
    expert_slot_factor,
    kv_head_fraction,
    non_expert_weight_bytes,
    stage_layers,
)
from planner.perf.resolve import Cols
from planner.perf.step_attention_paths import (  # noqa: F401 (PREFIX_TILE_TOKENS, longest_sequence_tokens: read as step's)
    PREFIX_TILE_TOKENS,
    graph_context_exceeded,
    grouped_kv_context_exceeded,
    kv_reads_per_head,
    longest_sequence_tokens,
    prompt_attention_efficiency,
)
from planner.perf.step_comm import communication

BUCKETS = ("compute_s", "memory_s", "comm_s", "overhead_s")


def _op(out: dict, flops, bytes_, peak, bw, eta_c, eta_m, eta_c_max, name: str = "", den_c=None,
        nil: str = "") -> None:
    """Add one op to the running sums: its roofline time, its class (compute- or memory-bound), and the time
    the tensor cores / HBM would be busy at full efficiency (for power). `den_c`: peak x clipped eta_c where
    the caller has it (`_Pass.gemm`). `nil`: "flops" or "bytes" where that operand is 0 everywhere (the pass's
    zeros): for the time alone its term (0 / den, zeroed) is not computed, max(t, 0) for max(0, t) (the same
    but for -0.0 against +0.0, which a running sum, never -0.0, adds alike)."""
    den_c = peak * _clip_eta(eta_c) if den_c is None else den_c
    if nil and "flops" not in out:
        num, den, zero = (bytes_, bw * _clip_eta(eta_m), flops) if nil == "flops" else (flops, den_c, bytes_)
        shape = out["time_s"].shape
        if np.broadcast_shapes(shape, np.shape(zero), np.shape(den_c if nil == "flops" else bw),
                               np.shape(eta_m)) == shape:
            t = _safe_div(num, den)
            _add(out, "time_s", np.maximum(t, 0.0, out=t) if t.shape else np.maximum(t, 0.0))
            return
    t_c = _safe_div(flops, den_c)
    t_m = _safe_div(bytes_, bw * _clip_eta(eta_m))
    t = np.maximum(t_c, t_m)
    _add(out, "time_s", t)
    if "flops" not in out:  # the time alone (step tables): no buckets, counts or busy times kept
        return
    compute_bound = t_c >= t_m
    _add(out, "compute_s", np.where(compute_bound, t_c, 0.0))
    _add(out, "memory_s", np.where(compute_bound, 0.0, t_m))
    _add(out, "flops", flops)
    _add(out, "bytes", bytes_)
    _add(out, "compute_busy_s", _safe_div(flops, peak * _clip_eta(eta_c_max)))
    _add(out, "memory_busy_s", t_m)  # HBM busy at the op's own efficiency: its memory time
    if "ops" in out:  # breakdown requested (debugging, reports)
        out["ops"][name] = out["ops"].get(name, 0.0) + t


def _clip_eta(eta):
    """np.clip(eta, 1e-6, ETA_CAP) (the same values, NaN kept) without np.clip's Python wrappers (~7 us a call,
    ~25 calls a pass)."""
    return np.minimum(np.maximum(eta, 1e-6), ETA_CAP)


def _add(out: dict, key: str, x) -> None:
    """out[key] += x, in place where x fits its shape; else (an op wider than the sum so far: the step tables'
    rows sharing all but the context, steptable.shared_groups) broadcast into a new array, the same sums."""
    s = out[key]
    if np.shape(x) == s.shape:
        s += x
    else:
        out[key] = s + x


class _Pass:
    """What every section of one stage pass reads: the microbatch's token counts, the stage's layers and the
    efficiencies in force (the engine's factor applied), and the running sums (`out`) the sections add to."""

    def __init__(self, c: Cols, serving: dict[str, float], n_dec, n_pre, pre_seq, n_logits, q_dec,
                 breakdown: bool, time_only: bool = False):
        self.c, self.serving = c, serving
        self.n_seq = np.asarray(n_dec, dtype=float)  # sequences whose KV is read
        self.q_dec = np.asarray(q_dec, dtype=float)
        self.n_dec = self.n_seq * self.q_dec  # decode tokens through the GEMMs
        self.n_pre = np.asarray(n_pre, dtype=float)
        self.pre_seq = pre_seq
        self.n_logits = np.asarray(n_logits, dtype=float)
        self.s = stage_layers(c)
        self.tp, self.dp = c.tp, c.attn_dp
        self.g = self.tp * self.dp
        self.tokens = self.n_dec + self.n_pre
        # Attention-DP ranks meet at every MoE layer, so the most loaded rank sets the pace. Decode sequences
        # spread evenly; prefill is not split across ranks (a prompt chunk runs on one rank), so the critical
        # rank carries at least one whole chunk (its own: engines.rank_chunk_tokens) whenever a step carries
        # prefill.
        chunk = np.minimum(np.asarray(pre_seq, dtype=float), rank_chunk_tokens(c))
        self.pre_rank = np.where(self.dp > 1, np.maximum(self.n_pre / self.dp, np.minimum(self.n_pre, chunk)),
                                 self.n_pre)
        self.t_rank = self.n_dec / self.dp + self.pre_rank  # tokens the critical attention-DP rank processes
        self.bw = c.hbm_bandwidth_bytes_s
        self.peak = c.peak_flops_s
        # the engine's kernels: one fitted factor on compute efficiency (capped at ETA_CAP of peak), and on the
        # bandwidth only where it is below 1: an engine's kernels can read below what our probe measured
        # (2024 ROCm builds on MI300X: Llama-3.1-405B at batch 1 decodes at 43-50 ms, DSTKTGI-*-short-b1,
        # where the derived bandwidth says 27) but a memory-bound step never reads faster than the HBM
        # sustains. GPUStack's Qwen3-8B / H100 BF16 at concurrency 4 (serving_under_load.csv
        # GPS-qwen3-8b-h100-latency-0/1/2) decodes at 7.38 / 7.19 / 7.67 ms on vLLM / SGLang / TensorRT-LLM,
        # within 7%: vLLM's factor 1.25 on the bandwidth too made it 5.7 ms
        self.ef = c.get("eng_eta_factor", 1.0)
        self.eta_max = np.minimum(c.gemm_eta_max * serving["gemm_eta_scale"] * self.ef, ETA_CAP)
        self.eta_bf16 = np.minimum(c.gemm_eta_max_bf16 * serving["gemm_eta_scale"] * self.ef, ETA_CAP)
        self.hbm_ef = np.minimum(self.ef, 1.0)
        self.hbm = np.minimum(c.gemm_hbm_eta * self.hbm_ef, ETA_CAP)
        self.zero = np.zeros_like(self.tokens)
        self._eta: list[tuple] = []  # `_efficiency`'s
        self._finite: bool | None = None  # `vanishes`'s
        self.out = {k: self.zero.copy() for k in (("time_s",) if time_only else (
            "time_s", "flops", "bytes", "compute_busy_s", "memory_busy_s", *BUCKETS))}
        if breakdown:
            if time_only:  # _op keeps no per-op figures then: an empty breakdown would read as no ops
                raise ValueError("breakdown needs the full step model (time_only=False)")
            self.out["ops"] = {}

    def gemm(self, name, m, params, n_layers, wbytes, pk=None, emax=None) -> None:
        if m is self.t_rank and self.vanishes(params * n_layers, wbytes):
            return
        pk = self.peak if pk is None else pk
        emax = self.eta_max if emax is None else emax
        flops = 2.0 * m * params * n_layers
        eta, den = self._efficiency(m, emax, pk)
        _op(self.out, flops, params * n_layers * wbytes, pk, self.bw, eta, self.hbm, emax, name, den)

    def vanishes(self, per_row, finite=1.0) -> bool:
        """Whether an op whose FLOPs and bytes are the pass's token counts (`tokens`, `t_rank`: all finite) times
        per-row factors, `per_row` 0 on every row and `finite` finite, adds exactly nothing (a dense FFN on MoE
        rows without dense layers, a shared expert where there is none, routed experts on dense rows: whole
        step-table chunks, steptable._grid_points_shared orders its groups so). Each of its terms is then +0.0
        (0 / den is 0 in _safe_div whatever den) and a sum (never -0.0) plus +0.0 keeps its bits, so it may be
        skipped. Not with a per-op breakdown (it lists every op), nor where a factor would widen the sums."""
        if "ops" in self.out or np.any(per_row):  # NaN counts as nonzero
            return False
        shape = self.zero.shape
        if np.broadcast_shapes(shape, np.shape(per_row), np.shape(finite)) != shape:
            return False
        if self._finite is None:
            self._finite = bool(np.isfinite(self.t_rank).all() and np.isfinite(self.tokens).all())
        return self._finite and bool(np.isfinite(finite).all())

    def _efficiency(self, m, emax, pk) -> tuple[np.ndarray, np.ndarray]:
        """gemm_efficiency(m, emax) and pk x its clipped value, computed once for the GEMMs of a pass that share
        the same three arrays (attention projections, dense FFN and shared experts: the same rows m on the same
        peak; ~12 whole-size operations a pass of the step tables). The arrays are held in the cache, so an
        identity is never that of another array."""
        for hit in self._eta:
            if hit[0] is m and hit[1] is emax and hit[2] is pk:
                return hit[3], hit[4]
        eta = gemm_efficiency(m, emax, self.c.gemm_m_half_tokens)
        self._eta.append((m, emax, pk, eta, pk * _clip_eta(eta)))
        return eta, self._eta[-1][4]


def _weights(p: _Pass) -> None:
    """The GEMMs: attention projections, dense FFN, shared and routed experts, lm_head."""
    c, s, A = p.c, p.s, ASSUMPTIONS
    wne = non_expert_weight_bytes(c)
    p.gemm("attn_proj", p.t_rank, attention_params_per_gpu(c), s["all"], wne)
    p.gemm("dense_ffn", p.t_rank, c.dense_ffn_params / p.tp, s["dense"], wne)
    p.gemm("shared_expert", p.t_rank, c.shared_params / p.tp, s["moe"], wne)
    # weight-only expert GEMMs (4-bit experts dequantized into bf16 grouped GEMMs, e.g. MXFP4 on Hopper) run
    # below the plain GEMM's efficiency up to ASSUMPTIONS.weight_only_dequant_rows rows per expert; above it the
    # once-per-weight dequantization is shared by more rows (its share falls as rows / m). Dense weight-only
    # GEMMs (Marlin-class kernels) are taken at par
    slot = expert_slot_factor(c)
    if p.vanishes(c.expert_params / p.g * s["moe"],
                  c.top_k * c.w_bytes * slot * c.num_experts * (1.0 - c.top_k / c.num_experts)):
        return _lm_head(p)
    wo = np.where(c.weight_only > 0, p.serving["weight_only_moe_eta_scale"], 1.0)
    # routed experts: FLOPs of every routed token, spread over the stage; weights of touched experts only
    touched = expected_experts_touched(c.num_experts, c.top_k, p.tokens)
    m_expert = _safe_div(p.tokens * c.top_k, np.maximum(touched, 1e-9))
    e_flops = 2.0 * p.tokens * c.top_k * c.expert_params / p.g * s["moe"]
    e_bytes = touched * c.expert_params / p.g * s["moe"] * c.w_bytes * slot  # + replicas
    amortized = np.minimum(1.0, A.weight_only_dequant_rows / np.maximum(m_expert, 1e-9))
    # x the engine's fused-MoE kernels, which can recover part of the dequantization but never run the experts
    # faster than the plain GEMM would (factors above 1 only act on weight-only experts)
    wo = np.minimum(c.get("eng_moe_factor", 1.0) / (1.0 + (1.0 / wo - 1.0) * amortized), 1.0)
    wo = wo * block_fp8_moe_scale(c, p.serving)
    _op(p.out, e_flops, e_bytes, p.peak, p.bw, gemm_efficiency(m_expert, p.eta_max * wo, c.gemm_m_half_tokens),
        p.hbm * wo, p.eta_max * wo, "experts")
    _lm_head(p)


def _lm_head(p: _Pass) -> None:
    """lm_head in bf16 on the last stage (the worst stage is charged with it)."""
    c, A = p.c, ASSUMPTIONS
    p.gemm("lm_head", p.n_logits / p.dp, c.lm_head_params / p.tp, 1.0, A.embedding_bytes_per_param,
           c.peak_bf16_flops_s, p.eta_bf16)


def block_fp8_moe_scale(c: Cols, serving: dict[str, float]) -> np.ndarray:
    """Efficiency of routed-expert GEMMs on FP8 weights with block scales (DeepSeek's 128 x 128, models.yaml
    `fp8_weight_block`) relative to the plain FP8 grouped GEMM, on GPUs whose tensor cores cannot apply block
    scales: `block_fp8_moe_eta_scale` (efficiency.yaml `serving`; held at 1.0 for now, fit.py SERVING_GRID says
    why), else 1.

    Hopper's FP8 MMA has one scale per operand, so each 128-deep K block's partial sum is promoted and scaled
    on the CUDA cores (DeepGEMM's two-level accumulation; the Triton w8a8 block kernels vLLM and SGLang run for
    tensor-parallel experts, vllm 0.11 fused_moe.fused_experts: DeepGEMM only where the expert slice is wider
    than 512, DeepSeek's 2048 / TP8 = 256 is not). Parts with microscaled FP4 tensor cores (Blackwell, MI355X:
    `flops_fp4` > 0) scale blocks inside the MMA and keep 1. With plain FP8 experts the model put NVIDIA's own
    H200 DEP8 DeepSeek-R1 maxima 50-85% too high (generic engine; published_benchmarks.csv TRTDG-DSR1-3/6/9/12,
    the rows the scale is fitted on) and GPUStack's 8x H200 decode steps 2.5-2.7x too short on vLLM at 4 and at
    ~310 running sequences, on TensorRT-LLM (EP8) at ~250 (serving_under_load.csv GPS-deepseek-r1-h200-*,
    benchmarks/deepseek_anatomy.py), where the other MoE runs (gpt-oss MXFP4, Qwen3-235B BF16) sit near 1x."""
    block = block_fp8_rows(c) & (c.flops_fp4 <= 0)
    return np.where(block, serving.get("block_fp8_moe_eta_scale", 1.0), 1.0)


def _attention(p: _Pass, ctx_dec, pairs_global, pairs_local) -> None:
    """Decode attention (KV reads) and prefill attention (causal FLOPs)."""
    c, s, A = p.c, p.s, ASSUMPTIONS
    # decode attention: read every context token's KV once per layer; FLOPs over the local heads
    kv_frac = kv_head_fraction(c)
    ctx = np.asarray(ctx_dec, dtype=float)
    # sparse attention (DeepSeek-V3.2 DSA): the main attention reads top-k keys per query; the indexer reads
    # its small key of every context token (O(context), a few FP8 heads); dense models: topk inf, indexer 0
    topk = c.get("sparse_topk", np.inf)
    idx_units, idx_flops = c.get("idx_key_units", 0.0), c.get("idx_flops_per_ctx", 0.0)
    held = s["global"] * np.minimum(ctx, topk) + s["local"] * np.minimum(ctx, c.window_tokens)
    every = s["all"] * ctx
    kv_read = p.n_seq / p.dp * c.kv_bytes * kv_frac * ((c.kv_layer_token_units - idx_units) * held
                                                       + idx_units * every)
    kv_read = kv_read * kv_reads_per_head(c, p.tp)
    a_flops = p.n_dec / p.dp / p.tp * (c.dec_attn_flops_per_ctx * held + idx_flops * every)
    attn_eta = np.minimum(c.attn_prefill_eta_max * p.ef, ETA_CAP)
    # the kernel's tile rows are the query rows sharing a KV head (one latent head for MLA): a partly filled
    # tile computes padding (assumptions.attn_decode_tile_rows)
    rows = p.q_dec * c.heads / np.maximum(p.tp, np.where(c.is_mla > 0, 1.0, c.kv_heads))
    tile = float(A.attn_decode_tile_rows)
    fill = rows / (np.ceil(rows / tile) * tile)
    _op(p.out, a_flops, kv_read, c.peak_bf16_flops_s, p.bw, attn_eta * fill,
        np.minimum(c.attn_decode_hbm_eta * p.hbm_ef, ETA_CAP), attn_eta * fill, "attn_decode")
    # prefill attention: causal FLOPs, efficiency growing with the prompt length
    rank_share = _safe_div(p.pre_rank, np.maximum(p.n_pre, 1e-9))
    # sparse attention: at most top-k keys per prompt token (an upper bound below 2 top-k tokens of context)
    main = np.where(np.isinf(topk), pairs_global, np.minimum(pairs_global, p.n_pre * np.minimum(topk, 1e30)))
    pairs = s["global"] * main + s["local"] * pairs_local
    p_flops = c.pre_attn_flops_per_pair / p.tp * rank_share * pairs
    p_eta = attention_prefill_efficiency(p.pre_seq, c.attn_prefill_eta_max, c.attn_prefill_seq_half_tokens)
    _op(p.out, p_flops, p.zero, c.peak_bf16_flops_s, p.bw, prompt_attention_efficiency(c, p.pre_seq, p_eta),
        p.hbm, attn_eta, "attn_prefill", nil="bytes")
    if np.any(idx_flops):  # the indexer scores every causal pair, at the precision's (FP8) peak
        i_flops = idx_flops / p.tp * rank_share * s["all"] * pairs_global
        _op(p.out, i_flops, p.zero, p.peak, p.bw, p_eta, p.hbm, attn_eta, "attn_indexer", nil="bytes")


def _activations(p: _Pass) -> None:
    """Activation traffic: residual stream, norms, FFN intermediates, KV-cache writes, top-k routing."""
    c, s, A = p.c, p.s, ASSUMPTIONS
    ffn_tokens = (p.t_rank * c.ffn_width / p.tp * s["dense"]
                  + (p.tokens * c.top_k / p.g * c.expert_width + p.t_rank * c.shared_width / p.tp) * s["moe"])
    act = A.act_bytes * (p.serving["act_hidden_values"] * c.hidden * p.t_rank * s["all"]
                         + p.serving["act_ffn_values"] * ffn_tokens)
    act += p.t_rank * c.kv_layer_token_units * c.kv_bytes * kv_head_fraction(c) * s["all"]
    # top-k routing: each routed (token, expert) row is gathered, written and combined hidden-wide on the GPU
    # holding the expert (every GPU when experts are TP-sliced, ep = 1)
    act += A.act_bytes * A.moe_routed_hidden_values * p.tokens * c.top_k / c.ep * c.hidden * s["moe"]
    _op(p.out, p.zero, act, p.peak, p.bw, p.eta_max, p.hbm, p.eta_max, "activations", nil="flops")


def forward_stage(c: Cols, serving: dict[str, float], n_dec, ctx_dec, n_pre, pairs_global, pairs_local,
                  pre_seq, n_logits, breakdown: bool = False, q_dec=1.0, time_only: bool = False
                  ) -> dict[str, np.ndarray]:
    """One pass of the worst pipeline stage.

    n_dec: decode sequences attending to ctx_dec tokens, each with q_dec query tokens (1, or 1 + draft
    tokens when a speculative step verifies a draft); n_pre: prefill tokens, whose causal attention has
    pairs_global (per full-attention layer) and pairs_local (per windowed layer) pairs; pre_seq: the prompt
    length (sets flash-attention efficiency); n_logits: tokens that need logits. time_only: time_s, comm_s,
    overhead_s and kernels only.
    """
    p = _Pass(c, serving, n_dec, n_pre, pre_seq, n_logits, q_dec, breakdown, time_only)
    _weights(p)
    _attention(p, ctx_dec, pairs_global, pairs_local)
    _activations(p)
    out = p.out
    out["comm_s"] = communication(p)
    kernels = stage_kernels(c, serving)
    out["overhead_s"] = kernels * c.kernel_overhead_s
    out["kernels"] = kernels
    if breakdown:
        out["ops"]["communication"] = out["comm_s"]
        out["ops"]["kernel_overhead"] = out["overhead_s"]
    out["time_s"] = out["time_s"] + out["comm_s"] + out["overhead_s"]
    return out


def stage_kernels(c: Cols, serving: dict[str, float]) -> np.ndarray:
    """Kernels one pass of the worst pipeline stage launches (a whole step launches pp times as many)."""
    s = stage_layers(c)
    return (s["all"] * serving["kernels_per_layer"] + s["moe"] * serving["kernels_per_moe_layer_extra"]
            + architecture_kernels(c, s))


def eager_launch_s(c: Cols, serving: dict[str, float], prompt_chunk=True) -> np.ndarray:
    """Least seconds of a step whose kernels the host launches one by one (outside a CUDA graph): their launch
    time, kernel_launch_s each (the launches run ahead of the GPU, so a step lasts the longer of the two). A
    step carrying a prompt chunk launches the unfused op count (`eager_kernels_per_layer`, measured by the GPU
    probe); a decode-only step above the graph batch runs the same compiled, fused kernels as the graph would
    (`kernels_per_layer`): with 28 kernels there too, LOSO throughput above the knee went 38.4% -> 45.5% off.

    The one home of the eager floor. A named engine's step runs eagerly (a) above its CUDA-graph batch
    (`eng_graph_max` sequences per attention-DP rank) and (b) whenever it carries a prompt chunk: the engines
    replay graphs captured for decode-only batches (TensorRT-LLM's PyTorch backend and SGLang capture
    generation batches only; vLLM V1 runs attention outside its piecewise graphs). (b) is the admission step
    running decoders see as an inter-token spike at light load: GPUStack's Qwen3-8B / H100 runs at concurrency
    4 (serving_under_load.csv GPS-qwen3-8b-h100-latency-*) show p99 ITL 41 / 24 ms (vLLM / TensorRT-LLM)
    against a 7-8 ms decode step, while p99 ITL at concurrency 1-2 (an admission every 100-220 steps, under 1%
    of the gaps) stays at the decode step. The generic engine (no `engine`) captures every batch: no floor.
    `architecture_kernels` (MLA, shared experts, block-FP8 activation quantization) are not added here: the
    floor counts the probe's unfused llama layer, and GPUStack's DeepSeek-R1 / vLLM at concurrency 4
    (GPS-deepseek-r1-h200-10) shows p99 ITL 48.6 ms against this floor's 50.2 (76 ms with 1,080 more launches):
    vLLM V1 replays mixed steps as piecewise graphs, so only the attention op launches from the host."""
    s = stage_layers(c)
    per_layer = np.where(prompt_chunk, serving["eager_kernels_per_layer"], serving["kernels_per_layer"])
    return (s["all"] * per_layer + s["moe"] * serving["kernels_per_moe_layer_extra"]) * c.pp * c.kernel_launch_s


def mixed_step_floor_s(c: Cols, serving: dict[str, float]) -> np.ndarray:
    """`eager_launch_s` where a step carrying prompt tokens runs eagerly (named engines), else 0: the floor the
    step tables keep so that interpolating between 0 and the first prompt grid point cannot smear it out."""
    named = np.isfinite(c.get("eng_graph_max", np.full_like(c.isl, np.inf)))
    if not named.any():  # the generic engine only: no floor
        return np.zeros(np.broadcast_shapes(named.shape, np.shape(c.isl), np.shape(c.kernel_launch_s)))
    return np.where(named, eager_launch_s(c, serving), 0.0)


def _combine(stage: dict[str, np.ndarray], factor, extra) -> dict[str, np.ndarray]:
    """Scale a stage pass to a whole step (factor passes) and add per-step overhead `extra`."""
    out = {k: (v * factor if k != "ops" else {n: t * factor for n, t in v.items()}) for k, v in stage.items()}
    out["overhead_s"] = out["overhead_s"] + extra
    out["time_s"] = out["time_s"] + extra
    return out


def decode_step(c: Cols, serving: dict[str, float], n_dec, ctx_dec, n_pre=0.0, pairs_global=0.0,
                pairs_local=0.0, pre_seq=1.0, breakdown: bool = False, q_dec=1.0,
                prompt_chunk=False, time_only: bool = False) -> dict[str, np.ndarray]:
    """One decode step of the whole replica: every one of n_dec sequences gains a token (or is verified with
    q_dec tokens when speculating). `prompt_chunk` (bool, per row or point): the step is a real step carrying
    a prompt chunk (not the average of a steady state), so a named engine launches it eagerly. `time_only`:
    time_s and overhead_s (forward_stage's), for callers that read the time alone (the step tables).

    With PP the batch runs as pp micro-batches, each through every stage, so a step costs pp stage passes
    of n/pp tokens (weights are read once per micro-batch: PP does not speed up small-batch decode)."""
    pp = c.pp
    n_dec = np.asarray(n_dec, dtype=float)
    q = np.asarray(q_dec, dtype=float)
    st = forward_stage(c, serving, n_dec / pp, ctx_dec, np.asarray(n_pre) / pp, np.asarray(pairs_global) / pp,
                       np.asarray(pairs_local) / pp, pre_seq, n_dec * q / pp, breakdown, q_dec=q,
                       time_only=time_only)
    out = _combine(st, pp, c.step_overhead_s)
    # above the engine's CUDA-graph batch or context (a step that decodes), or carrying a prompt chunk, every
    # kernel is launched from the host
    graph_max = c.get("eng_graph_max", np.inf)
    chunk = np.asarray(prompt_chunk, dtype=bool) & np.isfinite(graph_max)
    eager = (n_dec / c.attn_dp > graph_max) | chunk | (graph_context_exceeded(c) & (n_dec > 0))
    launch = np.where(eager, eager_launch_s(c, serving, chunk), 0.0)
    gpu = np.maximum(out["time_s"], launch)
    # the engine's fixed time per step outside the forward pass (eng_step_s: sampling and logits processing,
    # input preparation and the step's synchronisation) is on the step's critical path even where the host
    # schedules ahead: the next step's inputs need this step's sampled tokens. GPUStack's Qwen3-8B / H100 BF16
    # decodes at 7.2-7.7 ms on all three engines at concurrency 1-8 (GPS-qwen3-8b-h100-latency-*), 1.0-1.4 ms
    # above the forward pass, on SGLang and TensorRT-LLM (overlap scheduling) as on vLLM (none)
    gpu = gpu + c.get("eng_step_s", 0.0)
    # host scheduling + sampling per running sequence: each attention-DP rank runs its own scheduler over
    # its own sequences, so it scales with the per-rank batch; engines that overlap scheduling hide it
    # behind the GPU step
    per_seq = serving["seq_overhead_s"] * c.get("eng_seq_factor", 1.0)
    host = per_seq * n_dec / c.attn_dp
    overlap = c.get("eng_overlap", 0.0) > 0
    total = np.where(overlap, np.maximum(gpu, host), gpu + host)
    out["overhead_s"] = out["overhead_s"] + (total - out["time_s"])
    out["time_s"] = total
    return out


def prefill_pass(c: Cols, serving: dict[str, float], n_requests, isl) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A prefill forward of n_requests prompts of isl tokens (no decode). Returns (latency through all
    stages, interval between passes when pipelined)."""
    n = np.asarray(n_requests, dtype=float)
    isl = np.asarray(isl, dtype=float)
    pg = n * causal_pairs(isl)
    pl = n * causal_pairs(isl, c.window_tokens)
    st = forward_stage(c, serving, 0.0, 0.0, n * isl, pg, pl, isl, n)
    latency = _combine(st, c.pp, c.step_overhead_s)
    interval = st["time_s"] + c.step_overhead_s
    return latency, interval
