"""Parameter counts and KV-cache sizes derived from a `Model`'s architecture fields.

Pure functions, absolute numbers (parameters, bytes). Norms, biases and attention sinks are ignored (< 0.1%).
Feed-forward blocks are gated (SwiGLU/GeGLU): three matrices, `3 * hidden * width` parameters.
"""

from __future__ import annotations

from planner.catalog.schemas import Model


def moe_layer_indices(model: Model) -> list[int]:
    """0-based indices of MoE layers: i >= dense_layers and (i - dense_layers) % moe_layer_interval == 0.

    Llama 4 Maverick (HF `interleave_moe_layer_step: 2`, MoE on layers 1, 3, 5, ...) is dense_layers 1,
    interval 2; DeepSeek-V3 (`first_k_dense_replace: 3`) is dense_layers 3, interval 1.
    """
    moe = model.moe
    if moe is None:
        return []
    first, step = moe.dense_layers, moe.moe_layer_interval
    return [i for i in range(first, model.layers) if (i - first) % step == 0]


def attention_params_per_layer(model: Model) -> float:
    """Attention projections of one layer.

    GQA: q = h*H*d, k = v = h*KV*d, o = H*d*h (h hidden, H heads, KV kv heads, d head_dim).
    MLA: q_a = h*r_q, q_b = r_q*H*(nope+rope) (q = h*H*(nope+rope) without q_lora), kv_a = h*(r_kv+rope),
    kv_b = r_kv*H*(nope+v), o = H*v*h. Plus the sparse-attention indexer where there is one.
    """
    h, heads = model.hidden_size, model.num_heads
    mla = model.mla
    if mla is None:
        return 2.0 * h * heads * model.head_dim + 2.0 * h * model.num_kv_heads * model.head_dim \
            + indexer_params_per_layer(model)
    qk = mla.qk_nope_head_dim + mla.qk_rope_head_dim
    q = h * heads * qk if mla.q_lora_rank is None else h * mla.q_lora_rank + mla.q_lora_rank * heads * qk
    kv_a = h * (mla.kv_lora_rank + mla.qk_rope_head_dim)
    kv = kv_a + mla.kv_lora_rank * heads * (mla.qk_nope_head_dim + mla.v_head_dim)
    return float(q + kv + heads * mla.v_head_dim * h) + indexer_params_per_layer(model)


def indexer_params_per_layer(model: Model) -> float:
    """DeepSeek Sparse Attention's lightning indexer in one layer (0 without one): query heads from the q
    latent (wq_b: r_q*H_i*d_i; h*H_i*d_i without q_lora), one shared key (wk: h*d_i) and per-head weights
    (weights_proj: h*H_i) (DeepSeek-V3.2 inference/model.py `Indexer`). DeepSeek-V3.2: 61 x 13.96M = 0.85B."""
    sa = model.sparse_attention
    if sa is None:
        return 0.0
    h = model.hidden_size
    q_in = model.mla.q_lora_rank if model.mla is not None and model.mla.q_lora_rank else h
    return float(q_in * sa.index_heads * sa.index_head_dim + h * sa.index_head_dim + h * sa.index_heads)


def param_counts(model: Model) -> tuple[float, float]:
    """(total, active) parameters per token, computed from the architecture.

    total = embeddings (vocab*h, twice if untied) + layers * attention + dense layers * 3*h*ffn_intermediate
            + MoE layers * (E*3*h*w_e + S*3*h*w_s + h*E) + params_excluded_b * 1e9
    active = the same with only experts_per_token routed experts (shared experts and router always run) and
             without params_excluded_b (vision encoder, MTP head). Active includes both embedding tables.
    """
    h = model.hidden_size
    embeddings = float(model.vocab_size * h * (1 if model.tied_embeddings else 2))
    attention = model.layers * attention_params_per_layer(model)
    moe_layers = len(moe_layer_indices(model))
    dense = (model.layers - moe_layers) * 3.0 * h * model.ffn_intermediate
    total = active = embeddings + attention + dense
    if model.moe is not None:
        moe = model.moe
        expert = 3.0 * h * moe.expert_intermediate
        always = moe.shared_experts * 3.0 * h * (moe.shared_expert_intermediate or moe.expert_intermediate)
        always += h * moe.num_experts  # router
        total += moe_layers * (moe.num_experts * expert + always)
        active += moe_layers * (moe.experts_per_token * expert + always)
    return total + model.params_excluded_b * 1e9, active


def kv_bytes_per_layer_token(model: Model, kv_bytes: float) -> float:
    """KV bytes one layer stores per token: GQA 2*kv_heads*head_dim*kv_bytes; MLA (kv_lora_rank+rope)*kv_bytes;
    plus the sparse-attention indexer's key (index_head_dim values) where there is one."""
    return indexer_key_values(model) * kv_bytes + (
        (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * kv_bytes if model.mla is not None
        else 2.0 * model.num_kv_heads * model.head_dim * kv_bytes)


def indexer_key_values(model: Model) -> float:
    """Values the sparse-attention indexer caches per token and layer (one key of index_head_dim; 0 without).

    Counted at the KV cache's datatype: DeepSeek's reference code and vLLM keep it in FP8 with one fp32 scale
    per 128 values (132 B), so with a 16-bit cache this over-counts 124 B of the 1,284 B a layer holds per
    token (~10%); with an FP8 cache it is within the scale's 4 B."""
    return float(model.sparse_attention.index_head_dim) if model.sparse_attention is not None else 0.0


def kv_bytes_per_sequence(model: Model, kv_bytes: float, context_tokens: int) -> float:
    """KV bytes of one sequence of C tokens: per_layer * (global_layers * C + local_layers * min(C, window)).

    Local layers (sliding window, chunked attention) hold at most window_tokens per sequence; for chunked
    attention this is an upper bound (the current chunk holds <= window tokens).
    """
    if context_tokens <= 0:
        raise ValueError(f"context_tokens must be > 0, got {context_tokens}")
    per_layer = kv_bytes_per_layer_token(model, kv_bytes)
    local = model.local_attention
    if local is None:
        return per_layer * model.layers * context_tokens
    held = (model.layers - local.local_layers) * context_tokens
    held += local.local_layers * min(context_tokens, local.window_tokens)
    return per_layer * held


def kv_bytes_per_token(model: Model, kv_bytes: float, context_tokens: int | None = None) -> float:
    """Average KV bytes per token of one sequence.

    C None: layers * per_layer (windows ignored, the upper bound). Otherwise kv_bytes_per_sequence / C, i.e.
    local layers count min(C, window)/C of their per-token size.
    """
    if context_tokens is None:
        return kv_bytes_per_layer_token(model, kv_bytes) * model.layers
    return kv_bytes_per_sequence(model, kv_bytes, context_tokens) / context_tokens
