"""Vectorized op-level time models: roofline with calibrated efficiency.

Every op time is max(FLOPs / (peak * eta_c), bytes / (bandwidth * eta_m)) with 0 < eta <= 1, so no op is ever
predicted faster than the datasheet roofline max(FLOPs / peak, bytes / bandwidth). Arguments are numpy arrays
(or scalars) in SI units; nothing here loops over rows.
"""

from __future__ import annotations

import numpy as np

from planner.catalog.schema_base import COMPUTE_DTYPES
from planner.perf.row_hash import row_hash

FP8_CODE = float(COMPUTE_DTYPES.index("fp8"))
ETA_CAP = 0.98  # no efficiency may reach the datasheet peak: guards the roofline when factors are scaled


def _safe_div(num, den):
    """num / den with 0 / 0 = 0 and x / 0 = inf (an op that needs a unit the part lacks never completes)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    zero = num == 0
    if out.ndim and out.shape == zero.shape:  # a new array: zeroed in place (np.where would copy it again)
        np.copyto(out, 0.0, where=zero)
        return out
    return np.where(zero, 0.0, out)


def gemm_efficiency(m_tokens, eta_max, m_half_tokens):
    """eta(M) = eta_max * M / (M + M_half): small-M GEMMs waste tensor-core tiles (a 64/128-row tile computes
    the same work for 1 row as for 128) and cannot fill every SM."""
    m = np.maximum(np.asarray(m_tokens, dtype=float), 0.0)
    eta = np.minimum(np.asarray(eta_max, dtype=float), ETA_CAP) * m / (m + m_half_tokens)
    return np.maximum(eta, 1e-6)


def roofline_time(flops, bytes_, peak_flops_s, bandwidth_bytes_s, eta_compute, eta_memory):
    """max(FLOPs / (peak * eta_c), bytes / (bw * eta_m)); eta are clipped into (0, ETA_CAP]."""
    eta_c = np.clip(eta_compute, 1e-6, ETA_CAP)
    eta_m = np.clip(eta_memory, 1e-6, ETA_CAP)
    return np.maximum(_safe_div(flops, np.asarray(peak_flops_s) * eta_c),
                      _safe_div(bytes_, np.asarray(bandwidth_bytes_s) * eta_m))


def gemm_time(m_tokens, flops, weight_bytes, peak_flops_s, bandwidth_bytes_s, eta_max, m_half_tokens, hbm_eta):
    """Time of the GEMMs of one kind (weights streamed from HBM once, M tokens wide)."""
    eta_c = gemm_efficiency(m_tokens, eta_max, m_half_tokens)
    return roofline_time(flops, weight_bytes, peak_flops_s, bandwidth_bytes_s, eta_c, hbm_eta)


def attention_prefill_efficiency(seq_tokens, eta_max, seq_half_tokens):
    """Flash-attention prefill efficiency grows with sequence length (fewer, fuller tiles): S / (S + S_half)."""
    s = np.maximum(np.asarray(seq_tokens, dtype=float), 1.0)
    return np.minimum(np.asarray(eta_max, dtype=float), ETA_CAP) * s / (s + seq_half_tokens)


def expected_experts_touched(num_experts, top_k, tokens):
    """Expected distinct experts that T tokens, each routed to k of E experts uniformly, touch:
    E * (1 - (1 - k/E)^T). 0 tokens touch none; many tokens touch all."""
    e = np.asarray(num_experts, dtype=float)
    k = np.asarray(top_k, dtype=float)
    t = np.maximum(np.asarray(tokens, dtype=float), 0.0)
    base = np.clip(1.0 - k / e, 0.0, 1.0)
    if base.ndim == t.ndim >= 2 and base.shape != t.shape:  # (rows, 1) base, (rows, points) tokens (step
        # tables; (groups, 1, 1) and (groups, 1, points) where rows share a table's points): both made whole,
        # so every element goes through the power kernel it takes on flat arrays
        base, t = (np.ascontiguousarray(x) for x in np.broadcast_arrays(base, t))
    elif base.ndim == 1 and t.ndim > 1 and t.shape[-1] == len(base) > 1:  # rows on the last axis (step tables)
        return e * (1.0 - _power_by_row(base, t))
    return e * (1.0 - np.power(base, t))


def _power_by_row(base: np.ndarray, t: np.ndarray) -> np.ndarray:
    """np.power(base, t), base (g,) and t (..., g) a row on the last axis: computed once per distinct row
    (base and every t of it equal bit for bit: rows of one routing and the same token counts, ~1/30 of a
    step-table chunk's rows on the examples) and gathered back, so the same values. The power costs ~50 ns an
    element (libm's pow), ~20 times an add. Rows are told apart by a hash of their bits, then compared whole
    (a collision computes every row)."""
    g = len(base)
    flat = t.reshape(-1, g)
    cols = np.empty((flat.shape[0] + 1, g))  # a row's fields down a column: each field's bits contiguous
    cols[0] = base
    cols[1:] = flat
    bits = cols.view(np.uint64)
    _, first, back = np.unique(row_hash(bits, g), return_index=True, return_inverse=True)
    back = back.ravel()
    # few repeats (under half the rows: an assumed threshold, not measured), or a collision
    if 2 * len(first) > g or not (bits[:, first[back]] == bits).all():
        return np.power(base, t)
    return np.power(base[first], flat[:, first])[:, back].reshape(t.shape)


def allreduce_time(bytes_, n_gpus, link_bytes_s, latency_s):
    """Ring all-reduce of `bytes_` over n GPUs: latency + 2 (n-1)/n * bytes / link bandwidth; 0 for n = 1."""
    n = np.asarray(n_gpus, dtype=float)
    if not np.any(n > 1):
        return _none(n, bytes_, link_bytes_s, latency_s)
    t = latency_s + 2.0 * (n - 1.0) / np.maximum(n, 1.0) * _safe_div(bytes_, link_bytes_s)
    return np.where(n > 1, t, 0.0)


def alltoall_time(bytes_per_gpu, n_gpus, link_bytes_s, latency_s):
    """All-to-all where each GPU sends `bytes_per_gpu`, a share (n-1)/n of it to other GPUs; 0 for n = 1."""
    n = np.asarray(n_gpus, dtype=float)
    if not np.any(n > 1):
        return _none(n, bytes_per_gpu, link_bytes_s, latency_s)
    t = latency_s + (n - 1.0) / np.maximum(n, 1.0) * _safe_div(bytes_per_gpu, link_bytes_s)
    return np.where(n > 1, t, 0.0)


def _none(*args) -> np.ndarray:
    """The zeros a collective over one GPU takes on every row, in the shape `np.where(n > 1, t, 0.0)` would have
    had (rows of one kind together: the step tables' chunks, steptable_groups.kind_order)."""
    return np.zeros(np.broadcast_shapes(*(np.shape(a) for a in args)))


def causal_pairs(seq_tokens, window_tokens=np.inf):
    """(query, key) pairs of causal attention over S tokens, each query seeing at most W keys."""
    s = np.asarray(seq_tokens, dtype=float)
    w = np.minimum(np.asarray(window_tokens, dtype=float), s)
    # queries 1..W see themselves and all before; the rest see W keys each
    return w * (w + 1.0) / 2.0 + (s - w) * w


# Kernels a layer launches beyond the generic fused layer (assumptions.kernels_per_layer, + kernels_per_moe_layer_
# extra on MoE layers), counted in vLLM 0.12.0's DeepSeek path (the GPUStack DeepSeek runs used 0.11.0; the
# wheel's model_executor/models/deepseek_v2.py, layers/mla.py, v1/attention/backends/mla/common.py,
# layers/quantization/utils/fp8_utils.py, layers/fused_moe/fused_moe.py), each costing the accelerator's
# measured kernel_overhead_s like every other kernel of the step (no new fitted number).
MLA_EXTRA_KERNELS = 7.0
"""MLA over a GQA layer's QKV GEMM / RoPE / attention / O GEMM (layers/mla.py forward_native, mla/common.py
forward): the q_a and kv_a latent RMSNorms (2), the q_b up-projection GEMM (1), the absorbed W_UK and W_UV
batched GEMMs (2, torch.bmm), the copy of W_UV's head-major output back to token-major (1, _v_up_proj
out.copy_), and the split-KV combine of the decode kernel (1, FlashMLA's mla_combine / the engines'
reduction over KV splits)."""
SHARED_EXPERT_KERNELS = 4.0
"""A shared expert beside the routed ones runs as its own MLP (deepseek_v2.py DeepseekV2MLP inside
SharedFusedMoE): gate/up GEMM, SiLU-and-mul, down GEMM, and the add of its output into the routed sum."""

# Block-scaled FP8 GEMMs whose input each layer quantizes in a kernel of its own (one input_quant_op per GEMM,
# fp8_utils.W8A8BlockFp8LinearOp.apply; fused_moe.fused_experts quantizes the input of both expert GEMMs):
QUANT_GEMMS_MLA_ATTENTION = 3.0
"""MLA: the fused q_a/kv_a down-projection, q_b, o (the absorbed W_UK / W_UV bmm run in bf16)."""
QUANT_GEMMS_GQA_ATTENTION = 2.0
"""GQA / MHA: the fused QKV projection, o."""
QUANT_GEMMS_DENSE_FFN = 2.0
"""A dense FFN layer: the fused gate/up GEMM, down."""
QUANT_GEMMS_ROUTED_EXPERTS = 2.0
"""The routed experts: w13 (gate/up), w2 (down)."""
QUANT_GEMMS_SHARED_EXPERT = 2.0
"""A shared expert run as its own MLP: gate/up, down (none apart when fused into the routed MoE)."""


def block_fp8_rows(c) -> np.ndarray:
    """Rows with block-scaled FP8 weights (models.yaml `fp8_weight_block`) run at fp8, not weight-only."""
    return (c.get("fp8_block", 0.0) > 0) & (c.dtype_code == FP8_CODE) & (c.weight_only <= 0)


def architecture_kernels(c, s: dict[str, np.ndarray]) -> np.ndarray:
    """Kernels of the stage's layers that the generic count leaves out: MLA's (`MLA_EXTRA_KERNELS` a layer),
    a shared expert's (`SHARED_EXPERT_KERNELS` a MoE layer), and one activation-quantization kernel before each
    GEMM whose FP8 weights carry block scales (models.yaml `fp8_weight_block`, run at fp8): its input is
    quantized per token and 128-wide group at run time (fp8_utils.W8A8BlockFp8LinearOp.apply: input_quant_op,
    then the GEMM; fused_moe.fused_experts quantizes the input of both expert GEMMs), which no norm or
    activation kernel fuses in these engines' decode paths. The GEMMs with such inputs: the QUANT_GEMMS_*
    constants above (attention 3 with MLA / 2 with GQA, dense FFN 2, routed experts 2, shared expert 2).
    DeepSeek-R1 FP8: 33 kernels a MoE layer against the generic 15 (1,080 more a 61-layer step: 3.0 ms at
    H200's 2.8 us).

    Counted only where the row's engine lists the row's vendor in engines.yaml `architecture_kernels` (read in
    vLLM 0.12's and SGLang 0.5.3's CUDA paths; SGLang runs the shared expert inside the routed MoE kernel while
    experts are tensor-parallel, `shared_expert_in_routed_moe`: 732 more for DeepSeek-R1 at TP8). The generic
    engine is the fused ideal; TensorRT-LLM's source was not read (its DeepSeek path fuses RoPE with the KV
    write and overlaps the shared expert on an auxiliary stream), so it keeps the generic count. A step that
    launches from the host (step.eager_launch_s) does not add these: see there."""
    counted = np.asarray(c.get("eng_arch_kernels", 0.0)) > 0
    mla = c.is_mla > 0
    # a shared expert fused into the routed MoE kernel (SGLang, experts tensor-parallel) launches nothing apart
    fused = (np.asarray(c.get("eng_shared_in_moe", 0.0)) > 0) & (c.ep <= 1)
    shared = (c.shared_params > 0) & ~fused
    block = block_fp8_rows(c)
    attn_quant = np.where(mla, QUANT_GEMMS_MLA_ATTENTION, QUANT_GEMMS_GQA_ATTENTION)
    moe_quant = QUANT_GEMMS_ROUTED_EXPERTS + np.where(shared, QUANT_GEMMS_SHARED_EXPERT, 0.0)
    quant = np.where(block, attn_quant * s["all"] + QUANT_GEMMS_DENSE_FFN * s["dense"] + moe_quant * s["moe"], 0.0)
    extra = (np.where(mla, MLA_EXTRA_KERNELS, 0.0) * s["all"]
             + np.where(shared, SHARED_EXPERT_KERNELS, 0.0) * s["moe"] + quant)
    return np.where(counted, extra, 0.0)
