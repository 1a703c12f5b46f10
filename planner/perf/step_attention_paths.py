"""The decode and prompt attention kernels an engine runs for a row (the paths step.py's attention ops are
costed on): the prompt-attention kernel, KV reads per head, and the context limits of the CUDA graphs and the
grouped-KV decode kernel. Apart from step.py so that the pass's ops read on their own."""

from __future__ import annotations

import numpy as np

from planner.perf.kernels import attention_prefill_efficiency
from planner.perf.resolve import Cols

PREFIX_TILE_TOKENS = 128.0  # vLLM 0.6 ops/prefix_prefill.py: BLOCK_M = BLOCK_N = 128 (device capability >= 8.0)


def prompt_attention_efficiency(c: Cols, seq_tokens, flash_eta) -> np.ndarray:
    """Efficiency of a row's prompt attention: flash-attention prefill (`flash_eta`, growing with the prompt as
    its grid fills), or where the engine runs prompts through a slower kernel on this vendor (engines.yaml
    `prompt_attention_eta_scale` < 1) that share of the accelerator's attn_prefill_eta_max, less the causal
    tiles' padding, S / (S + 128).

    The one such path: vLLM V0 with chunked prefill on (its default for models longer than 32K tokens) fills
    the block tables of every prompt, so on ROCm each chunk, the first one included, attends through
    PagedAttention.forward_prefix -> ops/prefix_prefill.py context_attention_fwd: a Triton kernel whose grid
    is set by the chunk (prompts x query heads x ceil(chunk / 128), 64 programs for one 512-token chunk of
    Llama-3.1-405B at TP8), each program walking the cached context in 128-token tiles, so its efficiency does
    not grow with the prompt as flash attention's does; the tiles on the diagonal compute the masked half too
    (a prompt of S tokens computes S (S + 128) / 2 pairs for its S^2 / 2 causal ones)."""
    scale = np.asarray(c.get("eng_prompt_attn_scale", 1.0), dtype=float)
    tiled = scale * attention_prefill_efficiency(seq_tokens, c.attn_prefill_eta_max, PREFIX_TILE_TOKENS)
    return np.where(scale < 1.0, tiled, flash_eta)


def kv_reads_per_head(c: Cols, tp) -> np.ndarray:
    """Times a decode step reads each KV head: once where the engine's decode-attention kernel serves the whole
    query group of a KV head from one read (FlashAttention / FlashInfer / XQA / MLA kernels), once per query head
    of the group where it runs one thread block per query head (vLLM's legacy paged_attention_v1/v2 grid,
    (num_heads, num_seqs, partitions): `kv_head_idx = head_idx / num_queries_per_kv`; engines.yaml
    `decode_attention_kv_reads: per_query_head`). dstack's TGI 2.3 ROCm on 8x MI300X, Llama-3.1-405B TP8, one
    request: TPOT 47.56 / 51.19 / 59.20 / 70.17 ms at 16k / 32k / 64k / 128k context (serving_under_load.csv
    DSTKTGI-tgi-single-*), 2.0e-4 ms per context token where one read of its 64.5 kB per token per GPU at the
    HBM's 5.3 TB/s is 1.3e-5: 16x, the 128 / 8 query heads per KV head."""
    per_q = (np.asarray(c.get("eng_attn_qhead_reads", 0.0)) > 0) | grouped_kv_context_exceeded(c)
    group = c.heads / np.maximum(tp, c.kv_heads)  # query heads per KV head on one GPU
    return np.where(per_q & (c.is_mla <= 0), np.maximum(group, 1.0), 1.0)


def longest_sequence_tokens(c: Cols) -> np.ndarray:
    """Tokens of the longest sequence a row's decode batches hold, isl + osl: the kernel choices below key on
    the batch's longest sequence (vLLM V0 passes max_decode_seq_len), not its mean context. A batch of requests
    of one length holds, step after step, one near its end, so every decode step of the row is charged; a lone
    request that crosses a limit partway is charged from its first step (an upper bound on its TPOT)."""
    return np.asarray(c.isl, dtype=float) + np.asarray(c.osl, dtype=float)


def graph_context_exceeded(c: Cols) -> np.ndarray:
    """Whether the row's decode steps run outside the engine's CUDA/HIP graphs because a sequence is longer
    than it captured them for (engines.yaml `cuda_graph_max_context`; vLLM V0 max_seq_len_to_capture = 8192,
    worker/model_runner.py _use_captured_graph). Such a step launches every kernel from the host, as one above
    the graph batch does (decode_step's eager floor)."""
    return longest_sequence_tokens(c) > c.get("eng_graph_max_ctx", np.inf)


def grouped_kv_context_exceeded(c: Cols) -> np.ndarray:
    """Whether the row's decode attention falls back from the grouped-KV kernel to one that reads each KV head
    once per query head, the batch's longest sequence being beyond what the grouped kernel serves on this
    vendor (engines.yaml `grouped_kv_decode_max_context`; vLLM V0 on ROCm: paged_attention_rocm up to 32,768
    tokens, then paged_attention_v1/v2, rocm_flash_attn.py _use_rocm_custom_paged_attention)."""
    return longest_sequence_tokens(c) > c.get("eng_grouped_kv_max_ctx", np.inf)
