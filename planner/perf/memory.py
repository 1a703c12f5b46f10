"""Memory per GPU: weights, KV cache, activation/workspace reserve, and the largest batch that fits.

Layout (GPUs of one pipeline stage = tp * attn_dp):
- attention, dense-FFN, shared-expert, embedding and lm_head weights are split by TP (MLA's down-projections
  excepted: every TP rank holds them whole) and replicated over attention-DP ranks; routed experts are spread
  over all tp * attn_dp GPUs of the stage (EP groups x expert-TP);
- layers are split by PP; the worst stage holds ceil(layers / pp) layers plus one vocabulary table;
- KV: GQA heads split by TP, replicated when TP > KV heads (each GPU keeps one); the MLA latent is not split
  by TP (every rank needs all of it); sequences are split over attention-DP ranks; local (sliding/chunked)
  layers keep at most their window.
"""

from __future__ import annotations

import numpy as np

from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.resolve import Cols


def stage_layers(c: Cols) -> dict[str, np.ndarray]:
    """Layers on the worst pipeline stage, by kind (fractions of each kind kept proportional)."""
    per_stage = np.ceil(c.layers / c.pp)
    f = per_stage / c.layers
    return {
        "all": per_stage,
        "local": c.local_layers * f,
        "global": (c.layers - c.local_layers) * f,
        "moe": c.moe_layers * f,
        "dense": c.dense_layers * f,
    }


def non_expert_weight_bytes(c: Cols) -> np.ndarray:
    """Bytes per weight outside routed experts: 4-bit MoE checkpoints keep these at >= 8 bits."""
    return np.where(c.is_moe > 0, np.maximum(c.w_bytes, ASSUMPTIONS.moe_non_expert_min_bytes), c.w_bytes)


def attention_params_per_gpu(c: Cols) -> np.ndarray:
    """Attention projection parameters one TP rank holds per layer: the split share plus the replicated part."""
    return (c.attn_params - c.attn_replicated_params) / c.tp + c.attn_replicated_params


def weight_bytes_per_gpu(c: Cols) -> np.ndarray:
    s = stage_layers(c)
    tp, stage_gpus = c.tp, c.tp * c.attn_dp
    wne = non_expert_weight_bytes(c)
    per_tp = (attention_params_per_gpu(c) * s["all"]
              + (c.dense_ffn_params * s["dense"] + c.shared_params * s["moe"]) / tp)
    experts = c.expert_params * c.num_experts * s["moe"] / stage_gpus
    router = c.router_params * s["moe"]
    # pp = 1: embedding + lm_head (one table if tied); pp > 1: the worst stage holds one of them.
    tables = np.where(c.pp > 1, 1.0, np.where(c.tied > 0, 1.0, 2.0))
    vocab = tables * c.embed_params / tp * ASSUMPTIONS.embedding_bytes_per_param
    extra = c.extra_params / tp * ASSUMPTIONS.embedding_bytes_per_param  # vision encoder etc., kept in bf16
    return (per_tp + router) * wne + experts * c.w_bytes + vocab + extra


def kv_head_fraction(c: Cols) -> np.ndarray:
    """Share of a layer's KV one GPU holds: GQA max(1, KV/tp)/KV (heads replicated when tp > KV); MLA 1."""
    gqa = np.maximum(1.0, c.kv_heads / c.tp) / c.kv_heads
    return np.where(c.is_mla > 0, 1.0, gqa)


def kv_bytes_per_seq_per_gpu(c: Cols, context_tokens) -> np.ndarray:
    """KV bytes one sequence of `context_tokens` occupies on one GPU of the worst stage."""
    s = stage_layers(c)
    ctx = np.asarray(context_tokens, dtype=float)
    held = s["global"] * ctx + s["local"] * np.minimum(ctx, c.window_tokens)
    return c.kv_layer_token_units * c.kv_bytes * kv_head_fraction(c) * held


def activation_reserve_bytes(c: Cols) -> np.ndarray:
    """Fixed workspace + activation buffers for one forward of the engine's token budget."""
    A = ASSUMPTIONS
    ffn_local = np.maximum(c.ffn_width, c.top_k * c.expert_width + c.shared_width) / c.tp
    per_token = A.act_bytes * (A.activation_values_per_token_hidden * c.hidden
                               + A.activation_values_per_token_ffn * ffn_local)
    return A.fixed_reserve_bytes + A.activation_token_budget * per_token


def logits_bytes_per_seq(c: Cols) -> np.ndarray:
    """fp32 logits of one decode sequence, gathered on one rank for sampling."""
    return c.vocab * ASSUMPTIONS.logits_bytes_per_vocab


def memory(c: Cols) -> dict[str, np.ndarray]:
    """Weights, reserve, KV per sequence and the largest batch (sequences per replica) that fits."""
    usable = c.hbm_bytes * ASSUMPTIONS.usable_hbm_fraction
    weights = weight_bytes_per_gpu(c)
    reserve = activation_reserve_bytes(c)
    ctx = c.isl + c.osl  # whole context reserved per sequence: no eviction, no OOM
    kv_seq = kv_bytes_per_seq_per_gpu(c, ctx)
    per_seq = kv_seq + logits_bytes_per_seq(c)
    free = usable - weights - reserve
    with np.errstate(divide="ignore", invalid="ignore"):
        per_rank = np.floor(np.where(free > 0, free / per_seq, 0.0))
    return {
        "usable_bytes": usable,
        "weight_bytes_per_gpu": weights,
        "reserve_bytes_per_gpu": reserve,
        "kv_bytes_per_seq_per_gpu": kv_seq,
        "per_seq_bytes_per_gpu": per_seq,
        "max_batch_memory": per_rank * c.attn_dp,
    }
