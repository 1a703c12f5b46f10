"""Vectorized op-level time models: roofline with calibrated efficiency.

Every op time is max(FLOPs / (peak * eta_c), bytes / (bandwidth * eta_m)) with 0 < eta <= 1, so no op is ever
predicted faster than the datasheet roofline max(FLOPs / peak, bytes / bandwidth). Arguments are numpy arrays
(or scalars) in SI units; nothing here loops over rows.
"""

from __future__ import annotations

import numpy as np

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
    if base.ndim == t.ndim == 2 and base.shape != t.shape:  # (rows, 1) base, (rows, points) tokens (step
        # tables): both made whole, so every element goes through the power kernel it takes on flat arrays
        base, t = (np.ascontiguousarray(x) for x in np.broadcast_arrays(base, t))
    return e * (1.0 - np.power(base, t))


def allreduce_time(bytes_, n_gpus, link_bytes_s, latency_s):
    """Ring all-reduce of `bytes_` over n GPUs: latency + 2 (n-1)/n * bytes / link bandwidth; 0 for n = 1."""
    n = np.asarray(n_gpus, dtype=float)
    t = latency_s + 2.0 * (n - 1.0) / np.maximum(n, 1.0) * _safe_div(bytes_, link_bytes_s)
    return np.where(n > 1, t, 0.0)


def alltoall_time(bytes_per_gpu, n_gpus, link_bytes_s, latency_s):
    """All-to-all where each GPU sends `bytes_per_gpu`, a share (n-1)/n of it to other GPUs; 0 for n = 1."""
    n = np.asarray(n_gpus, dtype=float)
    t = latency_s + (n - 1.0) / np.maximum(n, 1.0) * _safe_div(bytes_per_gpu, link_bytes_s)
    return np.where(n > 1, t, 0.0)


def causal_pairs(seq_tokens, window_tokens=np.inf):
    """(query, key) pairs of causal attention over S tokens, each query seeing at most W keys."""
    s = np.asarray(seq_tokens, dtype=float)
    w = np.minimum(np.asarray(window_tokens, dtype=float), s)
    # queries 1..W see themselves and all before; the rest see W keys each
    return w * (w + 1.0) / 2.0 + (s - w) * w
