"""Model architecture as numbers the vectorized model needs: one row per model, whole-model (unsplit) counts.

Parameter and KV sizes come from `planner.catalog.architecture` (the one place they are defined); this module
only arranges them per layer kind and adds the FLOP coefficients of attention.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.architecture import (
    attention_params_per_layer,
    indexer_key_values,
    kv_bytes_per_layer_token,
    moe_layer_indices,
    param_counts,
)
from planner.catalog.catalog import Catalog
from planner.catalog.schemas import Model

MODEL_COLUMNS: tuple[str, ...] = (
    "layers", "hidden", "heads", "kv_heads", "head_dim", "vocab", "max_context",
    "attn_params",  # attention projection parameters per layer
    "attn_replicated_params",  # of which every tensor-parallel rank holds whole (MLA's down-projections)
    "is_mla", "kv_layer_token_units",  # KV elements per layer per token (bytes at 1 byte per element)
    "dec_attn_flops_per_ctx",  # decode attention FLOPs per layer, per query token, per context token
    "pre_attn_flops_per_pair",  # prefill attention FLOPs per layer per causal (query, key) pair
    "local_layers", "window_tokens",  # sliding/chunked layers and their window (inf where none)
    # sparse attention (DeepSeek-V3.2): keys the main attention reads per query (inf where dense), the indexer's
    # cached values per layer per token (inside kv_layer_token_units) and its FLOPs per (query, context token)
    "sparse_topk", "idx_key_units", "idx_flops_per_ctx",
    "fp8_block",  # 1 where the released FP8 weights carry block scales (DeepSeek's 128 x 128), else 0
    "moe_layers", "dense_layers", "dense_ffn_params", "ffn_width",
    "is_moe", "num_experts", "top_k", "expert_params", "expert_width", "shared_params", "shared_width",
    "router_params", "embed_params", "lm_head_params", "tied", "extra_params",
    "total_params", "active_params",
)


def model_row(m: Model) -> dict[str, float]:
    """The numbers of one model (see MODEL_COLUMNS)."""
    h = m.hidden_size
    moe = m.moe
    n_moe = len(moe_layer_indices(m))
    total, active = param_counts(m)
    if m.mla is not None:
        mla = m.mla
        qk, v = mla.qk_nope_head_dim + mla.qk_rope_head_dim, mla.v_head_dim
        # Decode runs MLA "absorbed": scores and values over the compressed latent, for every head.
        dec = 2.0 * m.num_heads * (2 * mla.kv_lora_rank + mla.qk_rope_head_dim)
        # The engines keep MLA's down-projections whole on every TP rank (vLLM and SGLang deepseek_v2.py:
        # q_a_proj and kv_a_proj_with_mqa, fused as fused_qkv_a_proj_with_mqa, are ReplicatedLinear; TensorRT-LLM
        # modeling_deepseekv3 `fused_a` is not split): each rank reads and computes all of them for its tokens
        replicated = m.hidden_size * ((mla.q_lora_rank or 0) + mla.kv_lora_rank + mla.qk_rope_head_dim)
    else:
        qk = v = m.head_dim
        dec = 2.0 * m.num_heads * (qk + v)  # QK^T and PV: 2 FLOPs per multiply-add
        replicated = 0.0
    pre = 2.0 * m.num_heads * (qk + v)
    local = m.local_attention
    sa = m.sparse_attention
    row = {
        "layers": m.layers, "hidden": h, "heads": m.num_heads, "kv_heads": m.num_kv_heads,
        "head_dim": m.head_dim, "vocab": m.vocab_size, "max_context": m.max_context,
        "attn_params": attention_params_per_layer(m), "attn_replicated_params": float(replicated),
        "is_mla": float(m.mla is not None),
        "kv_layer_token_units": kv_bytes_per_layer_token(m, 1.0),
        "dec_attn_flops_per_ctx": dec, "pre_attn_flops_per_pair": pre,
        "local_layers": local.local_layers if local else 0,
        "window_tokens": float(local.window_tokens) if local else np.inf,
        "sparse_topk": float(sa.top_k_tokens) if sa else np.inf, "idx_key_units": indexer_key_values(m),
        "idx_flops_per_ctx": 2.0 * sa.index_heads * sa.index_head_dim if sa else 0.0,  # q.k per index head
        "fp8_block": float(m.fp8_weight_block is not None),
        "moe_layers": n_moe, "dense_layers": m.layers - n_moe,
        "dense_ffn_params": 3.0 * h * m.ffn_intermediate, "ffn_width": float(m.ffn_intermediate),
        "is_moe": float(moe is not None),
        "num_experts": moe.num_experts if moe else 1,
        "top_k": moe.experts_per_token if moe else 1,
        "expert_params": 3.0 * h * moe.expert_intermediate if moe else 0.0,
        "expert_width": float(moe.expert_intermediate) if moe else 0.0,
        "shared_params": (moe.shared_experts * 3.0 * h
                          * (moe.shared_expert_intermediate or moe.expert_intermediate)
                          if moe else 0.0),
        "shared_width": (moe.shared_experts * float(moe.shared_expert_intermediate or moe.expert_intermediate)
                         if moe else 0.0),
        "router_params": float(h * moe.num_experts) if moe else 0.0,
        "embed_params": float(m.vocab_size * h),
        "lm_head_params": float(m.vocab_size * h),
        "tied": float(m.tied_embeddings),
        "extra_params": m.params_excluded_b * 1e9,
        "total_params": total, "active_params": active,
    }
    return {k: float(row[k]) for k in MODEL_COLUMNS}


def model_table(catalog: Catalog) -> pd.DataFrame:
    """One row per catalog model, columns MODEL_COLUMNS (floats)."""
    rows = {mid: model_row(m) for mid, m in catalog.models.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(MODEL_COLUMNS)).astype(float)
