"""Stated assumptions of the performance model: constants that are not fitted, each with its reason.

They are deliberately few and physically meaningful. `ASSUMPTIONS` lists them for reports; the fitted
per-accelerator parameters live in `catalogs/calibration/efficiency.yaml` (see `planner.perf.params`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Assumptions:
    # ------------------------------------------------------------------ memory
    usable_hbm_fraction: float = 0.90
    """Share of HBM the engine may use for weights + KV + activations (vLLM gpu_memory_utilization and
    TensorRT-LLM's KV free-memory fraction both default to 0.9); the rest is fragmentation and headroom."""
    fixed_reserve_bytes: float = 2.0e9
    """CUDA context, cuBLAS/NCCL workspaces and CUDA-graph pools per GPU (typically 1.5-3 GB)."""
    activation_token_budget: int = 8192
    """Tokens per forward pass the engine sizes its activation buffers for (max_num_tokens default 8192);
    also the chunked-prefill budget per step."""
    logits_bytes_per_vocab: float = 4.0
    """Logits are kept in fp32 for sampling: vocab * 4 bytes per decode sequence."""
    embedding_bytes_per_param: float = 2.0
    """Quantized checkpoints (FP8, NVFP4, MXFP4, AWQ) keep the embedding table and lm_head in bf16."""
    moe_non_expert_min_bytes: float = 1.0
    """4-bit MoE checkpoints (DeepSeek-R1-FP4, gpt-oss) quantize the routed experts only; attention, dense and
    shared-expert weights stay at >= 8 bits."""
    kv_context: str = "isl+osl"
    """KV reserved per sequence covers its whole context (TensorRT-LLM's guaranteed-no-evict policy): no OOM."""
    draft_shares_target_tables: bool = True
    """A speculative draft reads the target's token embedding instead of loading its own copy (vLLM v1
    EagleProposer.load_model points the draft's embed_tokens at the target's when pp = 1 and the shapes match;
    SGLang's EAGLE worker set_embed / set_embed_and_head), and a draft without its own vocabulary (MTP) the
    target's output head too (SGLang's EAGLE worker shares DeepSeek NextN's head): the checkpoint's copies of
    both, 1.85B of DeepSeek-V3's 14B MTP module, are not counted. With pipeline stages the draft keeps an
    embedding copy (vLLM shares it only at pp = 1). Assumed: these engine paths were read from memory, not from
    code this repo holds (memory.draft_weight_bytes_per_gpu)."""
    draft_pp_stage: str = "worst"
    """With pipeline stages the draft runs on the last stage (after the target's last layer). 'worst': its
    weights and KV are added to the worst stage's (ceil(layers / pp) layers and one vocabulary table), as if the
    last stage were as full as the worst: conservative by at most one target layer's weights and KV where the
    layers do not divide by pp (DeepSeek-R1's 61 at pp 2: 31 + 30), none where they do. 'last': stage by stage,
    the larger of the worst stage without the draft and the last stage (floor(layers / pp) layers, vLLM's
    get_pp_indices) with it, for weights and for KV per sequence each (memory.draft_placed). Assumed: that the
    engines run drafts beside pipeline stages at all was not checked in their code."""

    # ------------------------------------------------------------------ kernels
    activation_values_per_token_hidden: float = 12.0
    """Non-GEMM (elementwise) traffic per token and layer of a fused engine, in hidden_size-wide bf16 vectors:
    fused residual+RMSNorm twice (read x and residual, write both: 8), RoPE + KV write + misc (4). GEMM inputs
    and outputs are not counted (they hide under the GEMM's own roofline)."""
    activation_values_per_token_ffn: float = 3.0
    """Elementwise traffic per token and layer in local-FFN-width vectors: SiLU*mul reads gate and up, writes
    one (3)."""
    moe_routed_hidden_values: float = 3.0
    """Hidden-wide bf16 vectors moved per routed (token, expert) row of an MoE layer, on the GPU that holds
    the expert (or its TP slice): the grouped GEMM gathers the token's row (1), writes the expert's down-projection
    output row (1), and the weighted combine reads it back (1) (vLLM/SGLang fused_moe: sorted-token gather,
    intermediate cache, moe_sum; TensorRT-LLM: permute, grouped GEMM, finalize). Top-k routing makes this k
    times the token's own hidden traffic: 8 rows of 7,168 for DeepSeek-R1, i.e. more than the 12 hidden-wide
    values the rest of the layer moves. Assumed (counted from those kernels, not measured)."""
    attn_decode_tile_rows: int = 64
    """Rows of one tensor-core tile in a decode-attention kernel. The kernels put the query rows that share a KV
    head (query tokens x query heads per KV head) on the GEMM's M dimension, and a Hopper warpgroup MMA
    (wgmma.m64nNk16) computes 64 rows at a time (FlashMLA, FlashInfer and TensorRT-LLM's XQA/MLA decode kernels
    on Hopper; Blackwell's tcgen05 runs 64- or 128-row tiles: 64 taken for both). MLA keeps one latent KV head
    for all heads: DeepSeek's 128 heads fill two tiles on one rank (attention-DP), but TP8 leaves 16 heads per
    rank, a quarter of a tile, so absorbed MLA decode (compute-bound: ~480 FLOPs per fp8 KV byte) does 4x the
    work it needs. GQA decode (4-16 rows) stays memory-bound despite the padding. Assumed (tile shape of the
    instruction, not measured end to end)."""
    kernels_per_layer: int = 9
    """Kernels per transformer layer in a fused engine's decode step (2 fused norms, QKV GEMM, RoPE+KV write,
    attention, O GEMM (+all-reduce), gate/up GEMM with fused SiLU, down GEMM, residual)."""
    eager_kernels_per_layer: int = 28
    """Kernels per transformer layer of a step carrying a prompt chunk, which runs eagerly (outside the decode
    CUDA graphs; a decode batch above the graph size keeps the fused count), step.eager_launch_s. Measured:
    catalogs/measured/gpu_probe.py's eager llama-shape layer launches 28 kernels (measured.PROBE_SOFTWARE; the
    fused norms, RoPE and activations of the graph-captured step come apart into their elementwise ops). With
    kernel_launch_s (22.6 us on H100) a 36-layer Qwen3-8B eager step lasts >= 23 ms: GPUStack's closed-loop
    Qwen3-8B / H100 runs at concurrency 4-8 show a p99 inter-token gap (the admission step) of 24.4 ms on
    TensorRT-LLM, 41-45 ms on vLLM and 11.5-22.2 ms on SGLang, against 8-9 ms at concurrency 1-2
    (serving_under_load.csv GPS-qwen3-8b-h100-latency-*). Assumed to hold for every engine (the per-engine
    spread is one source's rows: not fitted). The engines' own counts (vLLM V1 replays mixed steps of <= 512
    tokens as piecewise graphs, SGLang launches its fused kernels eagerly) tried and not kept (h101,
    benchmarks/ttft_light_load.py): the runs' admission steps are as long as this floor or longer (vLLM Qwen3-8B
    41-46 ms, DeepSeek-R1 49; SGLang FP8 22, EAGLE-3 34-39 ms), and at the fused count, request_s refitted, TTFT
    p50 below the knee went 11.2 -> 14.3% and p99 ITL below the knee 22.9 -> 53.7% in sample."""
    kernels_per_moe_layer_extra: int = 6
    """Extra kernels per MoE layer (router GEMM, top-k, permute, second grouped GEMM, un-permute, combine)."""
    weight_only_dequant_rows: float = 256.0
    """Rows (tokens per expert) up to which a weight-only (4-bit, dequantizing) expert GEMM pays its whole
    dequantization cost, `weight_only_moe_eta_scale`. The kernel dequantizes each weight once per step
    whatever the number of rows that reuse it, so above this width the cost's share falls as rows / m and
    prompt chunks (thousands of rows per expert) run near the plain GEMM's efficiency. Assumed (not measured):
    256 = two 128-row M tiles of a Hopper grouped GEMM; of 64, 128, 256, 500 and 2,000 rows it fit the gpt-oss
    rows best. With the scale on every row, vLLM's 20k-token gpt-oss-20b prefills on H100 (serving_under_load.csv
    VKV-gpt-oss-*, TTFT p50) came out 1.55-1.60x too slow; amortized (after the refit) 1.18-1.22x, and the
    published gpt-oss rows' median error 19.1% -> 16.3%."""
    act_bytes: float = 2.0
    """Activations and collectives move bf16 values."""

    # ------------------------------------------------------------------ communication
    collective_latency_s: float = 8e-6
    """Latency of one small all-reduce / all-to-all inside an NVLink/xGMI domain (custom one-shot kernels
    reach 5-10 us; NCCL rings 10-20 us)."""
    link_efficiency: float = 0.80
    """Achieved share of the per-direction scale-up bandwidth in bandwidth-bound collectives."""
    scale_out_bytes_s_per_gpu: float = 50e9
    """One 400 Gb/s NIC per GPU for traffic that leaves the scale-up domain (PP stages, KV transfer)."""
    network_latency_s: float = 10e-6
    """One RDMA message across the scale-out network."""

    # ------------------------------------------------------------------ serving
    max_disagg_instances: int = 8
    """Disaggregated units are built from at most this many prefill and decode instances each."""

    # ------------------------------------------------------------------ load (queueing, simulation)
    max_running_sequences: int = 1024
    """Sequences an engine runs at once when the query does not say, per attention-DP rank (vLLM V1 max_num_seqs
    1024 on 80+ GB GPUs; TensorRT-LLM max_batch_size 2048; each a limit of one rank's scheduler, so a replica
    seats attn_dp x this, evaluate.engine_seats_of): the KV cache usually binds first."""
    min_length_tokens: int = 4
    """Shortest prompt or output of `length_dist=variable` (vLLM's `vllm bench serve` drops ShareGPT sequences
    under 4 tokens, benchmarks/datasets.py is_valid_sequence min_len=4): the floor under ShareGPT's length
    shapes scaled to a small mean (sharegpt_lengths.py; they replaced this floor plus an exponential, whose
    outputs had a third of ShareGPT's mass within 5% of the mean). The short outputs matter: in a burst they
    spend their few steps beside the prompt flood, which sets per-request TPOT p99 and mean TPOT above mean ITL
    (GPUStack bursts of 1,000 ShareGPT prompts: TPOT mean / ITL mean median 1.9, 1.0-4.4 without
    speculation)."""
    steady_state_requests: int = 1500
    """Requests the simulator runs for a steady-state answer (no num_requests); the first 20% and the last 10%
    (warm-up and drain) are discarded."""
    slo_percentile: float = 90.0
    """Percentile at which TTFT/TPOT targets must hold when a query or problem does not say (p90; MLPerf's
    server scenario uses p99)."""
    no_ttft_target_utilization: float = 0.90
    """Share of a replica's saturation request rate a workload WITHOUT a TTFT target is planned at. Toward
    saturation the queue's waits grow without bound (the rate searches' top, 0.999, gave p90 waits of hundreds
    of service times: a capacity no operator could run), and without a target nothing else stops the search
    there. At 90% an M/D/1 prefill queue's p90 wait is ~11 prompt times and a replica of many seats barely
    waits; the other 10% is the queueing margin every online service keeps. Assumed (a common planning ceiling
    for online serving, not fitted); a stated TTFT target replaces it."""

    # ------------------------------------------------------- defaults for accelerators we did not measure
    default_gemm_bf16_fraction: float = 0.70
    """Best bf16 GEMM / dense peak where the catalog has no measured MAMF fraction (H100 0.79, B200 0.78,
    GB200 0.73, MI325X 0.60, MI300X 0.51 measured): a middle value."""
    default_power_memory_bound_share: float = 0.53
    """(memory-bound power - idle) / (TDP - idle): 0.46 on our H100, 0.60 on our H200; their mean."""
    default_idle_fraction_of_tdp: float = 0.17
    """Idle board power / TDP where the catalog has no idle_w: 126/700 on H100, 116/700 on H200."""


ASSUMPTIONS = Assumptions()


def describe() -> dict[str, dict[str, object]]:
    """{name: {value, reason}} of every stated assumption, for reports and the fidelity summary."""
    import inspect

    src = inspect.getsource(Assumptions)
    out: dict[str, dict[str, object]] = {}
    for name, value in asdict(ASSUMPTIONS).items():
        marker = f"    {name}:"
        start = src.find(marker)
        doc = ""
        if start >= 0:
            q = src.find('"""', start)
            end = src.find('"""', q + 3)
            doc = " ".join(src[q + 3 : end].split())
        out[name] = {"value": value, "reason": doc}
    return out
