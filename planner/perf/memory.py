"""Memory per GPU: weights, KV cache, activation/workspace reserve, and the largest batch that fits.

Layout (GPUs of one pipeline stage = tp * attn_dp):
- attention, dense-FFN, shared-expert, embedding and lm_head weights are split by TP (MLA's down-projections
  excepted: every TP rank holds them whole) and replicated over attention-DP ranks; routed experts are spread
  over all tp * attn_dp GPUs of the stage (EP groups x expert-TP);
- layers are split by PP; the worst stage holds ceil(layers / pp) layers plus one vocabulary table;
- KV: GQA heads split by TP, replicated when TP > KV heads (each GPU keeps one); the MLA latent is not split
  by TP (every rank needs all of it); sequences are split over attention-DP ranks; local (sliding/chunked)
  layers keep at most their window.
Speculative drafts (rows with spec_k > 0): the draft's weights and its layers' KV for every token join the
target's (draft_weight_bytes_per_gpu, draft_kv_bytes_per_seq_per_gpu), so they take from the KV pool.
KV pool (`kv_budget`): what the engine leaves for KV with its default flags (engines.yaml `kv_sizing:`):
vLLM 0.9 x HBM less weights and its profiled peak (a forward at its token budget, or the sampler warm-up over
max_num_seqs rows of logits); TensorRT-LLM 0.9 of the memory weights and activations leave; SGLang HBM less
weights and the reserve behind its default mem_fraction_static; the generic engine 0.9 x HBM less weights and
an 8192-token forward.
"""

from __future__ import annotations

import numpy as np

from planner.catalog.schema_engines import KV_SIZING_POLICIES
from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.draft_cols import DraftCols, drafting
from planner.perf.engines import rank_chunk_tokens
from planner.perf.resolve import Cols


def _layers_by_kind(c: Cols, per_stage: np.ndarray) -> dict[str, np.ndarray]:
    """`per_stage` layers of a stage, by kind (fractions of each kind kept proportional)."""
    f = per_stage / c.layers
    return {
        "all": per_stage,
        "local": c.local_layers * f,
        "global": (c.layers - c.local_layers) * f,
        "moe": c.moe_layers * f,
        "dense": c.dense_layers * f,
    }


def stage_layers(c: Cols) -> dict[str, np.ndarray]:
    """Layers on the worst pipeline stage, by kind: ceil(layers / pp)."""
    return _layers_by_kind(c, np.ceil(c.layers / c.pp))


def last_stage_layers(c: Cols) -> dict[str, np.ndarray]:
    """Layers on the last pipeline stage, by kind: floor(layers / pp) (vLLM's get_pp_indices gives the
    remainder to the stages before the last, which holds the output head; all of them at pp = 1)."""
    return _layers_by_kind(c, np.floor(c.layers / c.pp))


def draft_placed(c: Cols, target: np.ndarray, draft: np.ndarray, target_last) -> np.ndarray:
    """A per-GPU figure (weights, or KV bytes per sequence) with the speculative draft's `draft` placed as
    ASSUMPTIONS.draft_pp_stage says: on the worst stage (`target` + `draft`), or on the last stage, stage by
    stage: the larger of the worst stage without it and the last stage (`target_last()`, called only then) with
    it. The same where pp = 1 or nothing drafts."""
    mode = ASSUMPTIONS.draft_pp_stage
    if mode not in ("worst", "last"):
        raise ValueError(f"ASSUMPTIONS.draft_pp_stage must be 'worst' or 'last', got {mode!r}")
    if mode == "worst" or not np.any((c.pp > 1) & (draft > 0)):
        return target + draft
    return np.where(c.pp > 1, np.maximum(target, target_last() + draft), target + draft)


def non_expert_weight_bytes(c: Cols) -> np.ndarray:
    """Bytes per weight outside routed experts: 4-bit MoE checkpoints keep these at >= 8 bits."""
    return np.where(c.is_moe > 0, np.maximum(c.w_bytes, ASSUMPTIONS.moe_non_expert_min_bytes), c.w_bytes)


def attention_params_per_gpu(c: Cols) -> np.ndarray:
    """Attention projection parameters one TP rank holds per layer: the split share plus the replicated part."""
    return (c.attn_params - c.attn_replicated_params) / c.tp + c.attn_replicated_params


def expert_slot_factor(c: Cols) -> np.ndarray:
    """Expert slots a layer holds over its experts: ceil(E / ep) x ep / E. 1 where the EP size divides the
    experts; otherwise every EP rank holds ceil(E / ep) slots and the spare ones carry replicas of the busiest
    experts (expert-parallel load balancing: DeepSeek-V3's 32 redundant experts, SGLang
    `--ep-num-redundant-experts 32`, TensorRT-LLM's MoE load balancer `num_slots: 288`), so DeepSeek's 256
    experts run at EP 36, 48 or 72 as 288 slots, 8, 6 or 4 a GPU. Each slot costs the memory and, whenever its
    expert is touched, the weight reads of one expert (both scaled by this factor); the routed FLOPs are the
    tokens' and do not change."""
    e = np.maximum(np.asarray(c.num_experts, dtype=float), 1.0)
    ep = np.maximum(np.asarray(c.ep, dtype=float), 1.0)
    return np.where(c.is_moe > 0, np.ceil(e / ep) * ep / e, 1.0)


def fp4_moe_pad_factor(c: Cols) -> np.ndarray:
    """Expert bytes a weight-only FP4 MoE kernel allocates over the checkpoint's: vLLM's Marlin path (MXFP4/NVFP4
    on GPUs without FP4) pads the hidden size and each GPU's expert width up to multiples (engines.yaml
    `kv_sizing: fp4_moe_pad_*`); 1 elsewhere (native FP4, 8/16-bit weights, other engines)."""
    shape = np.shape(c.hidden)
    ph = c.get("eng_fp4_pad_hidden", np.ones(shape))
    pw = c.get("eng_fp4_pad_width", np.ones(shape))
    applies = (c.is_moe > 0) & (c.weight_only > 0) & (c.w_bytes < 1.0) & ((ph > 1) | (pw > 1))
    if not np.any(applies):
        return np.ones(shape)
    # expert-TP degree: the stage's GPUs over the EP groups (each GPU holds expert_width / etp of its experts)
    etp = np.maximum(c.tp * c.attn_dp / np.maximum(c.ep, 1.0), 1.0)
    width = np.maximum(c.expert_width / etp, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (np.ceil(c.hidden / ph) * ph / c.hidden) * (np.ceil(width / pw) * pw / width)
    return np.where(applies & np.isfinite(f), f, 1.0)


def layer_weight_bytes_per_gpu(c: Cols, s: dict[str, np.ndarray]) -> np.ndarray:
    """Bytes of the decoder layers `s` (stage_layers' counts) on one GPU of the stage."""
    tp, stage_gpus = c.tp, c.tp * c.attn_dp
    wne = non_expert_weight_bytes(c)
    per_tp = (attention_params_per_gpu(c) * s["all"]
              + (c.dense_ffn_params * s["dense"] + c.shared_params * s["moe"]) / tp)
    experts = (c.expert_params * c.num_experts * s["moe"] / stage_gpus * fp4_moe_pad_factor(c)
               * expert_slot_factor(c))
    router = c.router_params * s["moe"]
    return (per_tp + router) * wne + experts * c.w_bytes


def target_weight_bytes_per_gpu(c: Cols, s: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The target model's weights on one GPU of the worst stage (of stage `s`, stage_layers' counts, if given:
    every stage with pp > 1 holds one vocabulary table, the first the embedding, the last the head)."""
    s = stage_layers(c) if s is None else s
    # pp = 1: embedding + lm_head (one table if tied); pp > 1: the worst stage holds one of them.
    tables = np.where(c.pp > 1, 1.0, np.where(c.tied > 0, 1.0, 2.0))
    vocab = tables * c.embed_params / c.tp * ASSUMPTIONS.embedding_bytes_per_param
    extra = c.extra_params / c.tp * ASSUMPTIONS.embedding_bytes_per_param  # vision encoder etc., kept in bf16
    return layer_weight_bytes_per_gpu(c, s) + vocab + extra


def draft_weight_bytes_per_gpu(c: Cols, d: DraftCols | None = None) -> np.ndarray:
    """The speculative draft's weights on one GPU (0 where the row does not speculate), from its architecture
    (models.yaml `drafts:`, draft_cols.DraftCols, `d` if built already): its decoder layers and fusion FC
    sharded as the target's layers are (TP, attention-DP replicas, experts over the stage's GPUs; the FC whole
    on every rank), in its precision (EAGLE-3: BF16; MTP: the target's), plus its own output head where it has
    one (EAGLE-3's draft_vocab_size rows, vocabulary-parallel over TP like the target's head, BF16). The token
    embedding and MTP's output head are the target's at pp = 1, an embedding copy with pipeline stages
    (ASSUMPTIONS.draft_shares_target_tables). Where it sits with pipeline stages: draft_placed."""
    on = drafting(c)
    if on is None:
        return np.zeros(np.shape(c.hidden))
    d = DraftCols(c) if d is None else d
    emb, shared = ASSUMPTIONS.embedding_bytes_per_param, ASSUMPTIONS.draft_shares_target_tables
    head = (d.own_head if shared else 1.0) * d.lm_head_params / c.tp * emb
    # c: the target's vocabulary
    embedding = np.where((c.pp > 1) | (not shared), c.embed_params / c.tp * emb, 0.0)
    return np.where(on, layer_weight_bytes_per_gpu(d, stage_layers(d)) + head + embedding, 0.0)


def weight_bytes_per_gpu(c: Cols, draft: np.ndarray | None = None) -> np.ndarray:
    """Weights one GPU of the worst stage holds: the target's, and its speculative draft's where it drafts
    (placed as ASSUMPTIONS.draft_pp_stage says; `draft`: draft_weight_bytes_per_gpu, if computed already)."""
    draft = draft_weight_bytes_per_gpu(c) if draft is None else draft
    return draft_placed(c, target_weight_bytes_per_gpu(c), draft,
                        lambda: target_weight_bytes_per_gpu(c, last_stage_layers(c)))


def kv_head_fraction(c: Cols) -> np.ndarray:
    """Share of a layer's KV one GPU holds: GQA max(1, KV/tp)/KV (heads replicated when tp > KV); MLA 1."""
    gqa = np.maximum(1.0, c.kv_heads / c.tp) / c.kv_heads
    return np.where(c.is_mla > 0, 1.0, gqa)


def target_kv_bytes_per_seq_per_gpu(c: Cols, context_tokens, s: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """KV bytes the target's layers keep for one sequence of `context_tokens` on one GPU of the worst stage (of
    stage `s` if given)."""
    s = stage_layers(c) if s is None else s
    ctx = np.asarray(context_tokens, dtype=float)
    # an engine whose hybrid pool is off for this model (engines.yaml `kv_sizing: full_window_families`) keeps
    # the local layers' whole context too; their attention still reads only the window (step.py)
    full = c.get("eng_kv_full_window", np.zeros(np.shape(c.hidden))) > 0
    held = s["global"] * ctx + s["local"] * np.where(full, ctx, np.minimum(ctx, c.window_tokens))
    return c.kv_layer_token_units * c.kv_bytes * kv_head_fraction(c) * held


def draft_kv_bytes_per_seq_per_gpu(c: Cols, context_tokens, d: DraftCols | None = None) -> np.ndarray:
    """KV bytes the speculative draft's layers keep for one sequence of `context_tokens` on one GPU (0 where
    the row does not speculate): the engines give the draft's attention layers KV for every token of the
    sequence, in the target's KV format and pool (vLLM v1: the draft's layers join the KV-cache spec, so the
    pool's blocks are sized over target + draft layers; SGLang: a draft token pool of the target's size), so
    an EAGLE-3 draft adds one GQA layer's KV (its KV heads split by TP like the target's) and an MTP module
    one MLA layer's latent (every rank holds it), per token (`d`: the DraftCols, if built already)."""
    on = drafting(c)
    ctx = np.asarray(context_tokens, dtype=float)
    if on is None:
        return np.zeros(np.broadcast_shapes(np.shape(c.hidden), np.shape(ctx)))
    return np.where(on, target_kv_bytes_per_seq_per_gpu(DraftCols(c) if d is None else d, ctx), 0.0)


def kv_bytes_per_seq_per_gpu(c: Cols, context_tokens, draft: np.ndarray | None = None) -> np.ndarray:
    """KV bytes one sequence of `context_tokens` occupies on one GPU of the worst stage: the target's layers
    and, where the row speculates, its draft's (`draft`: draft_kv_bytes_per_seq_per_gpu, if computed already)."""
    draft = draft_kv_bytes_per_seq_per_gpu(c, context_tokens) if draft is None else draft
    return draft_placed(c, target_kv_bytes_per_seq_per_gpu(c, context_tokens), draft,
                        lambda: target_kv_bytes_per_seq_per_gpu(c, context_tokens, last_stage_layers(c)))


# vLLM V1 profiles its peak memory with a forward pass at max_num_batched_tokens and then a sampler pass over
# max_num_seqs rows of logits (gpu_model_runner.profile_run -> _dummy_sampler_run, whose OOM message asks to
# lower max_num_seqs); the peak of either stays out of the KV pool. Bytes per (row x vocab) at the sampler's
# peak with FlashInfer's sampler (the default where FlashInfer is installed, as in vLLM's images, 0.10-0.11):
# the caller's bf16 logits 2 + the sampler's fp32 copy 4 + top_k_mask_logits' fp32 output 4 + the softmax
# 4 (flashinfer/sampling.py top_k_top_p_sampling_from_logits, top_k_first). The PyTorch path (sort values and
# int64 indices) would take ~24. Read in the 0.11.0 wheel (h44): profile_run's sampler pass covers
# min(max_num_batched_tokens, max_num_seqs) rows, Sampler.forward's fp32 copy is divided by the temperature in
# place, and FlashInfer (an optional extra of the wheel) is assumed installed: engines.yaml vllm `kv_sizing`.
SAMPLER_BYTES_PER_LOGIT = 14.0
# vLLM's snapshot for gpu_memory_utilization is taken after the CUDA context exists (gpu_worker.init_device),
# so the context is outside the fraction; what its profile adds outside torch (NCCL communicators, custom
# all-reduce buffers; on one GPU the code builds neither) stays in: assumed 0.5 GiB (not read from a log), in place
# of the generic fixed reserve (context + workspace) for engines sized by a profiling run (`sampler_warmup`).
VLLM_NON_TORCH_BYTES = 0.5 * 2.0 ** 30
# SGLang (0.5 series, server_args._handle_gpu_memory_settings) sets mem_fraction_static = (HBM - reserved) / HBM
# when it is not given, reserved (MiB) = 512 + 1.5 x max(chunked_prefill_size, 2048) + 2 x cuda_graph_max_bs
# + 1024 x tp x pp / 8 (+ 3 x cuda_graph_max_bs x dp with DP attention, + 1.5 x cuda_graph_max_bs x dp more when
# cuda_graph_max_bs > 300), at least 10 GiB on GPUs over 60 GiB; weights and KV share the static fraction,
# activations and CUDA graphs live in the reserve (assumed: the constants as read from that source; engines.yaml
# sglang `kv_sizing` says so and why). tp is SGLang's tp_size, the whole group (attention-DP ranks included).
MIB = 2.0 ** 20
SGLANG_RESERVE_MIB = {"fixed": 512.0, "per_chunk_token": 1.5, "min_chunk": 2048.0, "per_graph_seq": 2.0,
                      "per_rank_of_8": 1024.0, "per_graph_seq_dp": 3.0, "per_graph_seq_dp_large": 1.5,
                      "large_graph": 300.0, "floor": 10240.0, "floor_above_hbm": 60.0 * 1024.0}
# ...with chunked_prefill_size and cuda_graph_max_bs, when not given, by GPU memory (MiB below the bound) and
# tp_size, from the same function: (HBM bound, chunk, graph batch at tp < 4, graph batch at tp >= 4)
SGLANG_GPU_DEFAULTS = ((20 * 1024, 2048, 8, 8), (35 * 1024, 2048, 16, 80), (60 * 1024, 4096, 32, 160),
                       (90 * 1024, 8192, 256, 512), (160 * 1024, 8192, 256, 512), (np.inf, 16384, 512, 512))


def sglang_gpu_defaults(c: Cols) -> tuple[np.ndarray, np.ndarray]:
    """(chunked_prefill_size, cuda_graph_max_bs) SGLang picks by GPU memory and tp_size when not given."""
    bounds, chunk, graph_small_tp, graph_large_tp = np.array(SGLANG_GPU_DEFAULTS, dtype=float).T
    k = np.minimum(np.searchsorted(bounds, c.hbm_bytes / MIB, side="right"), len(bounds) - 1)
    return chunk[k], np.where(c.tp * c.attn_dp < 4, graph_small_tp[k], graph_large_tp[k])


def activation_reserve_bytes(c: Cols) -> np.ndarray:
    """Fixed workspace + the engine's profiled peak: activations of one forward at its token budget (one
    attention-DP rank's chunk, engines.rank_chunk_tokens; 8192 for the generic engine), or, where the profile
    samples max_num_seqs rows of logits (engines.yaml `kv_sizing: sampler_warmup`), that pass when it needs
    more."""
    A = ASSUMPTIONS
    ffn_local = np.maximum(c.ffn_width, c.top_k * c.expert_width + c.shared_width) / c.tp
    per_token = A.act_bytes * (A.activation_values_per_token_hidden * c.hidden
                               + A.activation_values_per_token_ffn * ffn_local)
    forward = rank_chunk_tokens(c) * per_token  # a rank's GPUs hold the activations of that rank's chunk
    warm = c.get("eng_sampler_warmup", np.zeros(np.shape(c.hidden))) > 0
    if not np.any(warm):
        return A.fixed_reserve_bytes + forward
    rows = c.get("eng_max_batch", np.full(np.shape(c.hidden), np.inf))
    rows = np.where(warm & np.isfinite(rows), rows, 0.0)  # no sampler pass without a max_num_seqs
    sampler = rows * c.vocab * SAMPLER_BYTES_PER_LOGIT
    fixed = np.where(warm, VLLM_NON_TORCH_BYTES, A.fixed_reserve_bytes)
    return fixed + np.maximum(forward, sampler)


def static_reserve_bytes(c: Cols) -> np.ndarray:
    """Memory SGLang keeps outside its static pool (weights + KV) when mem_fraction_static is not set, with its
    chunked_prefill_size and cuda_graph_max_bs defaults for the GPU's memory and the TP size."""
    k = SGLANG_RESERVE_MIB
    chunk, graph = sglang_gpu_defaults(c)
    dp = c.attn_dp
    mib = (k["fixed"] + k["per_chunk_token"] * np.maximum(chunk, k["min_chunk"]) + k["per_graph_seq"] * graph
           + k["per_rank_of_8"] * c.tp * dp * c.pp / 8.0
           + np.where(dp > 1, k["per_graph_seq_dp"] * graph * dp
                      + np.where(graph > k["large_graph"], k["per_graph_seq_dp_large"] * graph * dp, 0.0), 0.0))
    mib = np.where(c.hbm_bytes / MIB > k["floor_above_hbm"], np.maximum(mib, k["floor"]), mib)
    return mib * MIB


def logits_bytes_per_seq(c: Cols) -> np.ndarray:
    """fp32 logits of one decode sequence, gathered on one rank for sampling."""
    return c.vocab * ASSUMPTIONS.logits_bytes_per_vocab


FREE_FRACTION = KV_SIZING_POLICIES.index("free_fraction")  # eng_kv_policy codes (perf/engines.py)
STATIC_FRACTION = KV_SIZING_POLICIES.index("static_fraction")


def kv_budget(c: Cols, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(usable, reserve) bytes per GPU such that usable - weights - reserve is the engine's KV pool, by its
    sizing policy (engines.yaml `kv_sizing:`, planner.catalog.schema_engines.KvSizing): utilization f x HBM
    (vLLM, the generic engine), f x (HBM - weights - activations) (TensorRT-LLM), or HBM - SGLang's reserve."""
    shape = np.shape(c.hidden)
    policy = c.get("eng_kv_policy", np.zeros(shape))
    frac = c.get("eng_kv_fraction", np.full(shape, ASSUMPTIONS.usable_hbm_fraction))
    act = activation_reserve_bytes(c)
    free, static = policy == FREE_FRACTION, policy == STATIC_FRACTION
    usable = np.where(free, frac * c.hbm_bytes + (1.0 - frac) * (weights + act),
                      np.where(static, c.hbm_bytes, frac * c.hbm_bytes))
    reserve = np.where(static, static_reserve_bytes(c), act) if np.any(static) else act
    return usable, reserve


def held_context_tokens(isl, osl, kv_reserve) -> np.ndarray:
    """KV tokens a running sequence holds on average, by its engine's admission policy: its prompt, half its
    output (a steady batch's sequences are spread over their lives) and the share `kv_reserve` of the other
    half the scheduler keeps free for it (engines.yaml `scheduler: kv_reserve_output`): 0 where blocks are
    taken step by step and the newest request is preempted when none is left (vLLM V1
    KVCacheManager.allocate_slots: the mean occupancy is what runs, at the cost of preemptions near a full
    pool), 0.7 for SGLang's PrefillAdder (new_token_ratio times the remaining max_new_tokens, a new request's
    whole), 1 where every request's max_tokens are held from admission (TensorRT-LLM GUARANTEED_NO_EVICT, TGI;
    the generic engine, whose check always held the whole context and whose serving factors are fitted on
    published maxima mostly run so): the whole context.
    The one rule of a replica's seats (queueing.service) and of evaluate's memory check (`memory`), so a batch
    the planner plans from the seats passes the check."""
    return isl + osl / 2.0 * (1.0 + kv_reserve)


def memory(c: Cols) -> dict[str, np.ndarray]:
    """Weights, reserve, KV per sequence (at `held_context_tokens`) and the largest batch (sequences per
    replica) that fits."""
    d = DraftCols(c) if drafting(c) is not None else None  # built once for the draft's weights and KV
    draft_w = draft_weight_bytes_per_gpu(c, d)
    weights = weight_bytes_per_gpu(c, draft_w)
    usable, reserve = kv_budget(c, weights)
    ctx = held_context_tokens(c.isl, c.osl, c.get("eng_kv_reserve", 1.0))  # 1: the generic engine's
    draft_kv = draft_kv_bytes_per_seq_per_gpu(c, ctx, d)
    # the larger weights and the larger KV per sequence of the two stages: at most as many sequences as either
    kv_seq = kv_bytes_per_seq_per_gpu(c, ctx, draft_kv)
    per_seq = kv_seq + logits_bytes_per_seq(c)
    free = usable - weights - reserve
    with np.errstate(divide="ignore", invalid="ignore"):
        per_rank = np.floor(np.where(free > 0, free / per_seq, 0.0))
    return {
        "usable_bytes": usable,
        "weight_bytes_per_gpu": weights,  # the draft's included
        "draft_weight_bytes_per_gpu": draft_w,
        "reserve_bytes_per_gpu": reserve,
        "kv_bytes_per_seq_per_gpu": kv_seq,  # the draft's included
        "draft_kv_bytes_per_seq_per_gpu": draft_kv,
        "per_seq_bytes_per_gpu": per_seq,
        "max_batch_memory": per_rank * c.attn_dp,
    }
