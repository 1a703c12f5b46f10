"""Serving engines and speculative decoding as per-row columns of the performance model.

A grid may carry an `engine` column (a catalog engine id; empty = the generic fused engine the model had
before engines existed, fitted on published TensorRT-LLM/vLLM maxima) and a `speculative` column (`none`,
`auto`, or a method such as `mtp`, `eagle3`). `engine_columns` turns them into per-row arrays:

  eng_eta_factor   multiplies GEMM and attention compute efficiency (fitted per engine x architecture family
                   where a family has the evidence, else per engine x vendor; capped at 0.98
                   of peak); not the bandwidth, which a memory-bound step reads at what the HBM sustains
  eng_moe_factor   multiplies the routed-expert GEMMs' efficiency on top (the engine's fused-MoE kernels; fitted),
                   at most up to the plain GEMM's (above 1 it recovers part of a weight-only dequantization)
  eng_seq_factor   multiplies the per-sequence host time per step (fitted)
  eng_step_s       time per step outside the forward pass that overlap cannot hide (sampling, logits,
                   input preparation), added to the GPU step (fitted)
  eng_request_s    API-server time per request outside the GPU scheduler (HTTP, chat template, tokenization,
                   first-token detokenize and stream), added to TTFT and end-to-end latency (fitted)
  eng_overlap      1 where the host schedules the next step while the GPU runs this one (stated; a speculative
                   entry may turn it off: SGLang runs its drafts without the overlap scheduler). An optional
                   `overlap_scheduling` column (1/0, empty = the engine's) sets it for a named engine's row as
                   the run was served (vLLM --async-scheduling); a draft's own setting still applies after it
  eng_graph_max    largest per-rank decode batch replayed from a CUDA graph; above it kernels launch eagerly
  eng_max_batch    running sequences one instance admits (x attn_dp ranks); with speculation the method's cap
  eng_chunk        tokens per forward step (chunked-prefill budget)
  eng_chunk_ranks  1 where each attention-DP rank schedules eng_chunk tokens of its own (engines.yaml
                   `attention_dp_token_budget: per_rank`; the replica's step budget is then attn_dp x eng_chunk,
                   steptable.py; the generic engine too), 0 where the ranks share it (`divided`)
  eng_stream       output tokens per streamed chunk (multi-step bursts): median ITL = stream x TPOT
  eng_kv_reserve   share of running requests' remaining output KV kept free at admission (scheduler policy;
                   1 for the generic engine: no eviction)
  eng_kv_reserve_min, eng_kv_reserve_decay  floor of that share and its decay per decode step (SGLang
                   new_token_ratio; floor = share, decay 0 where it stays fixed)
  eng_prefill_first  1 where a prompt step runs alone while decode waits (scheduler policy), else 0
  eng_kv_policy    how the KV pool is sized (engines.yaml `kv_sizing:`): index into KV_SIZING_POLICIES
                   (0 utilization, 1 free_fraction, 2 static_fraction); eng_kv_fraction its fraction;
                   eng_sampler_warmup 1 where the memory profile samples max_num_seqs rows of logits
                   eng_fp4_pad_hidden / eng_fp4_pad_width: multiples weight-only FP4 MoE experts are padded to
                   eng_kv_full_window 1 where the KV cache holds the model's local layers at full context
  eng_attn_qhead_reads  1 where the decode-attention kernel reads each KV head once per query head
                   (engines.yaml `decode_attention_kv_reads: per_query_head`; step.kv_reads_per_head)
  eng_graph_max_ctx  longest sequence a decode batch may hold and still replay its graph (engines.yaml
                   `cuda_graph_max_context`; inf = none; step.graph_context_exceeded)
  eng_grouped_kv_max_ctx  longest sequence the grouped-KV decode kernel serves on this row's vendor, beyond
                   which KV heads are read once per query head (`grouped_kv_decode_max_context`; inf = none)
  eng_prompt_attn_scale  efficiency of the engine's prompt-attention kernel on this row's vendor as a share
                   of flash-attention prefill (`prompt_attention_eta_scale`; 1 = flash attention;
                   step.prompt_attention_efficiency); 1 also where `chunked_prefill_default` leaves a model
                   unchunked (its eng_chunk is then max(max context, unchunked_min_tokens), eng_prefill_first 1)
  eng_arch_kernels  1 where the engine launches MLA's, a shared expert's and block-FP8 activation
                   quantization kernels apart on this row's vendor (`architecture_kernels`;
                   step.architecture_kernels); eng_shared_in_moe 1 where a shared expert rides in the
                   routed MoE kernel when experts are tensor-parallel (`shared_expert_in_routed_moe`)
  spec_k, spec_accept, spec_draft_id   draft tokens per step, mean accepted tokens per step (incl. bonus),
                   the row of the model's draft in draft_arch.draft_table (-1 none; its arrays ride along as
                   `spec_draft_table`, priced by serving.draft_time_s); spec_k = 0 without speculation.
                   An optional `draft_tokens` column runs the draft at another length than engines.yaml states
                   (a served run's --speculative-num-steps / num_speculative_tokens): its acceptance follows
                   from the stated one by the geometric model (each draft token accepted with the same
                   probability, simulate.acceptance_rate)
  spec_assumed     1 where the acceptance is engines.yaml's `assumed: true` figure (another model's draft)

The generic engine (no `engine`) reproduces the model's behaviour from before engines: factors 1, no extra
host time, no overlap, CUDA graphs at every batch, no batch cap in `evaluate` (the load model seats its
assumed ASSUMPTIONS.max_running_sequences per attention-DP rank, evaluate.engine_seats_of), the stated
8192-token step budget.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.schema_engines import KV_SIZING_POLICIES, MAX_DRAFT_TOKENS, SPECULATIVE_METHODS
from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.draft_arch import draft_arrays, draft_index
from planner.perf.speculative_acceptance import acceptance_at

# per engine x architecture family or vendor, in efficiency.yaml `engines:` (engine_params)
ENGINE_FITTED = ("eta_factor", "moe_factor", "seq_factor", "step_s", "request_s")
ENGINE_NEUTRAL = {"eta_factor": 1.0, "moe_factor": 1.0, "seq_factor": 1.0, "step_s": 0.0, "request_s": 0.0}
SPEC_CHOICES = ("none", "auto", *SPECULATIVE_METHODS)


def engine_params(eff_engines: dict, engine_id: str, vendor: str, family: str = "") -> dict[str, float]:
    """Fitted factors of one engine on one accelerator: its architecture family's entry (efficiency.yaml
    `engines: {engine: {family: ...}}`, written where the family had the evidence of its own, engine_fit.py),
    else its vendor's (the pooled fit of the engine's rows on that vendor), else neutral."""
    by_key = (eff_engines or {}).get(engine_id, {}) or {}
    entry = (by_key.get(family) if family else None) or by_key.get(vendor) or {}
    return {k: float(entry[k]["value"] if isinstance(entry.get(k), dict) else entry.get(k, ENGINE_NEUTRAL[k]))
            for k in ENGINE_FITTED}


def neutral_distance(f: dict[str, float]) -> float:
    """How far a set of engine factors is from the neutral engine (log distance of the efficiency factors,
    linear for the host-time ones): the tie-break of `nearest_neutral_best`."""
    return (abs(np.log(f["eta_factor"])) + abs(np.log(f["moe_factor"])) + abs(f["seq_factor"] - 1.0)
            + f["step_s"] / 1e-3)


def nearest_neutral_best(loss: np.ndarray, far: np.ndarray, tol: float = 1e-9) -> int:
    """The grid point of least loss; among points the rows cannot tell apart (within `tol`), the one nearest
    neutral. A factor the rows do not inform stays neutral: vLLM on AMD has only dense-model rows (AMDDOC,
    OCI), so its moe_factor was the grid's first value (0.25) by argmin order, which a user's MoE model on
    MI300X would then have run at a quarter of its expert-GEMM efficiency; likewise a group refitted without
    its MoE rows (leave one source out)."""
    lowest = np.nanmin(loss)
    ties = np.flatnonzero(loss <= lowest + tol * max(1.0, abs(lowest)))
    return int(ties[np.argmin(far[ties])])


def spec_support(catalog: Catalog, engine_id: str, method: str, family: str, model_id: str):
    """The engine's support for `method` on this model; for the generic engine, the first engine that has one
    (acceptance is a property of the model's draft, not of the engine)."""
    engines = [catalog.engines[engine_id]] if engine_id else [catalog.engines[e] for e in sorted(catalog.engines)]
    for e in engines:
        s = e.speculative_for(method, family, model_id)
        if s is not None:
            return s
    return None


def acceptance_is_assumed(catalog: Catalog, engine: str, method: str, model: str) -> bool:
    """Whether the engine's acceptance for `method` on `model` is copied from another model (or missing)."""
    if method in ("none", "", "nan") or model not in catalog.models or engine not in catalog.engines:
        return False
    sup = catalog.engines[engine].speculative_for(method, catalog.models[model].family, model)
    return sup is None or sup.assumed


def rank_chunk_tokens(c) -> np.ndarray:
    """Prompt tokens one attention-DP rank's scheduler puts in one step (its chunked-prefill chunk), the one rule
    every reader of `eng_chunk` uses (step, serving, memory; replica_token_budget is ranks x this):
    eng_chunk where each rank schedules a budget of its own (engines.yaml `attention_dp_token_budget: per_rank`:
    vLLM, TensorRT-LLM, the generic engine), else the replica's budget divided among its ranks, floored
    (`divided`: SGLang 0.5.3 server_args chunked_prefill_size // dp_size). Without attention DP both are
    eng_chunk."""
    chunk = np.asarray(c.get("eng_chunk", float(ASSUMPTIONS.activation_token_budget)), dtype=float)
    dp = np.asarray(c.get("attn_dp", 1.0), dtype=float)
    own = np.asarray(c.get("eng_chunk_ranks", 1.0), dtype=float) > 0  # 1: the generic engine's
    return np.where(own | (dp <= 1), chunk, np.maximum(np.floor(chunk / np.maximum(dp, 1.0)), 1.0))


def replica_token_budget(c) -> np.ndarray:
    """Tokens a replica steps at once: its attention-DP ranks' chunks together (rank_chunk_tokens x ranks): where
    each rank schedules its own (vLLM, TensorRT-LLM, the generic engine fitted on them), one budget of the replica
    left 1-token prompt chunks beside full seats; where they share one (SGLang) the division's floor."""
    return rank_chunk_tokens(c) * np.asarray(c.get("attn_dp", 1.0), dtype=float)


def _defaults(n: int) -> dict:
    """The generic engine's per-row arrays: neutral factors, no caps, no speculation."""
    return {
        "eng_eta_factor": np.ones(n), "eng_moe_factor": np.ones(n), "eng_seq_factor": np.ones(n),
        "eng_step_s": np.zeros(n), "eng_request_s": np.zeros(n),
        "eng_overlap": np.zeros(n), "eng_graph_max": np.full(n, np.inf), "eng_max_batch": np.full(n, np.inf),
        "eng_chunk": np.full(n, float(ASSUMPTIONS.activation_token_budget)), "eng_stream": np.ones(n),
        # each attention-DP rank its own budget, as TensorRT-LLM and vLLM (per_rank), whose published maxima the
        # generic engine is fitted on: dividing it (h37's first try) moved the serving factors' fit and LOSO
        # output throughput 18.9% -> 23.6%
        "eng_chunk_ranks": np.ones(n),
        # no eviction: every request's whole output held from admission (memory.held_context_tokens), as the
        # memory check always had it and as the published maxima the generic engine is fitted on mostly ran
        # (TensorRT-LLM GUARANTEED_NO_EVICT); a mean-occupancy pool over-stated their batches (h37)
        "eng_kv_reserve": np.ones(n), "eng_kv_reserve_min": np.ones(n), "eng_kv_reserve_decay": np.zeros(n),
        "eng_prefill_first": np.zeros(n), "eng_kv_policy": np.zeros(n),
        "eng_kv_fraction": np.full(n, ASSUMPTIONS.usable_hbm_fraction), "eng_sampler_warmup": np.zeros(n),
        "eng_fp4_pad_hidden": np.ones(n), "eng_fp4_pad_width": np.ones(n), "eng_kv_full_window": np.zeros(n),
        "eng_attn_qhead_reads": np.zeros(n), "eng_graph_max_ctx": np.full(n, np.inf),
        "eng_grouped_kv_max_ctx": np.full(n, np.inf), "eng_prompt_attn_scale": np.ones(n),
        "eng_arch_kernels": np.zeros(n), "eng_shared_in_moe": np.zeros(n),
        "spec_k": np.zeros(n), "spec_accept": np.ones(n), "spec_draft_id": np.full(n, -1.0),
        "spec_assumed": np.zeros(n),
        "spec_method": np.full(n, "none", dtype=object),
    }


def _grid_choices(grid: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(engine, speculative, workload class) per row, normalised ('' = generic engine, 'none' = no draft)."""
    n = len(grid)
    engines = grid["engine"].fillna("").astype(str).str.strip().to_numpy() if "engine" in grid \
        else np.full(n, "", dtype=object)
    specs = grid["speculative"].fillna("none").astype(str).str.strip().str.lower().to_numpy() \
        if "speculative" in grid else np.full(n, "none", dtype=object)
    specs = np.where(np.isin(specs, ("", "nan", "none")), "none", specs)
    klass = (grid["workload_class"].astype(str).to_numpy() if "workload_class" in grid
             else np.full(n, "default"))
    return engines, specs, klass


def _draft_choices(grid: pd.DataFrame) -> np.ndarray:
    """Draft tokens per step asked per row (`draft_tokens`; 0 = the engine's stated length, NaN = invalid)."""
    if "draft_tokens" not in grid:
        return np.zeros(len(grid))
    k = pd.to_numeric(grid["draft_tokens"], errors="coerce").to_numpy(dtype=float)
    given = grid["draft_tokens"].notna().to_numpy() & (grid["draft_tokens"].astype(str).str.strip() != "")
    ok = (k >= 1) & (k <= MAX_DRAFT_TOKENS) & (k == np.round(k))
    return np.where(~given, 0.0, np.where(ok, k, np.nan))



def _overlap_choices(grid: pd.DataFrame) -> np.ndarray:
    """Overlap scheduling asked per row (`overlap_scheduling`): 1 or 0, NaN = the engine's; -1 = invalid."""
    if "overlap_scheduling" not in grid:
        return np.full(len(grid), np.nan)
    raw = grid["overlap_scheduling"]
    given = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "")
    v = raw.map(lambda x: {"true": 1.0, "false": 0.0}.get(str(x).strip().lower(), x))
    num = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
    return np.where(~given, np.nan, np.where(np.isin(num, (0.0, 1.0)), num, -1.0))


def _engine_values(vals: dict, j: int, catalog: Catalog, eff_engines: dict, e: str, a: str, p: str,
                   m: str, overlap: float = np.nan) -> str:
    """Fill lookup j with engine e's data on accelerator a at precision p for model m (`overlap`: the run's
    overlap scheduling, NaN = the engine's); the reason it cannot run, or ''."""
    acc = catalog.accelerators[a]
    eng = catalog.engines[e]
    if not eng.supports(a, acc.vendor):
        return f"engine {e} does not run on {a} ({acc.vendor}; {e} supports {', '.join(eng.vendors)})"
    if p not in eng.precisions:
        return f"engine {e} does not serve {p} (it serves {', '.join(eng.precisions)})"
    if why := eng.unsupported_reason(a, p):  # a fallback path read in the engine's code (engines.yaml)
        return why
    fit = engine_params(eff_engines, e, acc.vendor, acc.family)
    vals["eng_eta_factor"][j], vals["eng_seq_factor"][j] = fit["eta_factor"], fit["seq_factor"]
    vals["eng_moe_factor"][j] = fit["moe_factor"]
    vals["eng_step_s"][j] = fit["step_s"]
    vals["eng_request_s"][j] = fit["request_s"]
    vals["eng_overlap"][j] = float(eng.overlap_scheduling) if np.isnan(overlap) else overlap
    vals["eng_graph_max"][j] = float(eng.cuda_graph_max_batch)
    here = eng.accelerator_defaults.get(a)  # e.g. vLLM's smaller defaults on A100 / < 70 GiB GPUs
    vals["eng_max_batch"][j] = float(here.max_batch if here and here.max_batch else eng.max_batch)
    vals["eng_chunk"][j] = float(here.max_num_batched_tokens if here and here.max_num_batched_tokens
                                 else eng.max_num_batched_tokens)
    vals["eng_chunk_ranks"][j] = float(eng.attention_dp_token_budget == "per_rank")
    vals["eng_stream"][j] = float(eng.stream_tokens_per_chunk)
    vals["eng_attn_qhead_reads"][j] = float(eng.decode_attention_kv_reads == "per_query_head")
    # kernel paths that depend on the batch's longest sequence (vLLM V0: graphs up to 8,192, ROCm grouped KV
    # decode up to 32,768)
    vals["eng_graph_max_ctx"][j] = float(eng.cuda_graph_max_context or np.inf)
    vals["eng_grouped_kv_max_ctx"][j] = float(eng.grouped_kv_decode_max_context.get(acc.vendor, np.inf))
    vals["eng_prompt_attn_scale"][j] = float(eng.prompt_attention_eta_scale.get(acc.vendor, 1.0))
    vals["eng_arch_kernels"][j] = float(acc.vendor in eng.architecture_kernels)
    vals["eng_shared_in_moe"][j] = float(acc.vendor in eng.shared_expert_in_routed_moe)
    if eng.scheduler is not None:  # KV admission policy (engines.yaml `scheduler:`)
        sch = eng.scheduler
        vals["eng_kv_reserve"][j] = sch.kv_reserve_output
        floor = sch.kv_reserve_output if sch.kv_reserve_min is None else sch.kv_reserve_min
        vals["eng_kv_reserve_min"][j] = floor  # SGLang new_token_ratio: decays, retracts when full
        vals["eng_kv_reserve_decay"][j] = (sch.kv_reserve_output - floor) / sch.kv_reserve_decay_steps
        vals["eng_prefill_first"][j] = float(sch.prefill_first)
    unchunked = eng.chunked_prefill_default
    if unchunked is not None and catalog.models[m].max_context <= unchunked.above_context:
        # vLLM V0 chunks prompts only for models longer than 32K: the others prefill whole prompts in
        # prompt-only steps (scheduler _schedule_default) on flash attention (block tables left empty)
        vals["eng_chunk"][j] = float(max(catalog.models[m].max_context, unchunked.unchunked_min_tokens))
        vals["eng_prefill_first"][j] = 1.0
        vals["eng_prompt_attn_scale"][j] = 1.0
    if eng.kv_sizing is not None:  # how the KV pool is sized (engines.yaml `kv_sizing:`)
        vals["eng_kv_policy"][j] = float(KV_SIZING_POLICIES.index(eng.kv_sizing.policy))
        vals["eng_kv_fraction"][j] = eng.kv_sizing.fraction
        vals["eng_sampler_warmup"][j] = float(eng.kv_sizing.sampler_warmup)
        vals["eng_fp4_pad_hidden"][j] = float(eng.kv_sizing.fp4_moe_pad_hidden)
        vals["eng_fp4_pad_width"][j] = float(eng.kv_sizing.fp4_moe_pad_width)
        vals["eng_kv_full_window"][j] = float(catalog.models[m].family in eng.kv_sizing.full_window_families)
    return ""


def _spec_values(vals: dict, method_u: np.ndarray, j: int, catalog: Catalog, e: str, m: str, s: str,
                 w: str, k_row: float = 0.0) -> str:
    """Fill lookup j with the draft of speculative choice s (not 'none') for model m on engine e (workload
    class w), at k_row draft tokens (0: the stated length); the reason there is none, or ''. `auto` without a
    draft quietly runs without one."""

    family = catalog.models[m].family
    methods = SPECULATIVE_METHODS if s == "auto" else (s,)
    sups = [x for x in (spec_support(catalog, e, mm, family, m) for mm in methods) if x]
    # the draft's cost comes from its architecture (models.yaml `drafts:`): a method without one cannot run
    drawn = [x for x in sups if catalog.models[m].draft(x.method) is not None]
    sup = drawn[0] if drawn else None
    if sup is None:
        if s == "auto":
            return ""
        if sups:
            return f"{m} has no {s} draft architecture in models.yaml (drafts:), so its cost is unknown"
        if e:
            return f"engine {e} has no {s} draft for {m} (family {family})"
        return f"no engine in the catalog has a {s} draft for {m} (family {family})"
    method_u[j] = sup.method
    k = int(k_row) if k_row > 0 else sup.draft_tokens
    a0 = sup.acceptance(w)
    vals["spec_k"][j] = float(k)
    # at another draft length: AL(k) = 1 + a + ... + a^k with a solved from the stated AL(k0)
    vals["spec_accept"][j] = acceptance_at(a0, sup.draft_tokens, k)
    vals["spec_draft_id"][j] = float(draft_index(catalog, m, sup.method))
    vals["spec_assumed"][j] = float(sup.assumed)  # acceptance copied from another model's draft (engines.yaml)
    if sup.max_batch is not None and e:  # the engine's own cap; the generic engine has none
        vals["eng_max_batch"][j] = min(vals["eng_max_batch"][j], float(sup.max_batch))
    if sup.overlap_scheduling is not None and e:  # SGLang runs its drafts without the overlap scheduler
        vals["eng_overlap"][j] = float(sup.overlap_scheduling)
    return ""


def engine_columns(grid: pd.DataFrame, catalog: Catalog, eff_engines: dict, fail, workload_class=None) -> dict:
    """Per-row engine and speculative-decoding arrays (see the module docstring); rows the engine cannot run
    get a reason through `fail(kind, mask, keys, make)`: 'config' for an input that names nothing known, 'engine'
    for what the engine lacks."""
    n = len(grid)
    out = _defaults(n)
    if n == 0 or ("engine" not in grid and "speculative" not in grid):
        return out  # the generic engine: nothing per row to look up
    engines, specs, klass = _grid_choices(grid)
    drafts = _draft_choices(grid)
    raw_drafts = grid["draft_tokens"].astype(str).to_numpy() if "draft_tokens" in grid else drafts
    fail("config", np.isnan(drafts), [raw_drafts],
         lambda k: f"draft_tokens {k} is not a whole number of tokens from 1 to {MAX_DRAFT_TOKENS}")
    drafts = np.nan_to_num(drafts)
    overlaps = _overlap_choices(grid)
    raw_overlaps = grid["overlap_scheduling"].astype(str).to_numpy() if "overlap_scheduling" in grid else overlaps
    fail("config", overlaps == -1.0, [raw_overlaps],
         lambda v: f"overlap_scheduling {v} is not 1/0 (true/false) or empty (the engine's)")
    bad_engine = ~np.isin(engines, ["", *catalog.engines])
    known = ", ".join(sorted(catalog.engines))
    fail("config", bad_engine, [engines], lambda e: f"unknown engine {e!r} (known: {known})")
    bad_spec = ~np.isin(specs, SPEC_CHOICES)
    fail("config", bad_spec, [specs], lambda s: f"unknown speculative {s!r} (one of: {', '.join(SPEC_CHOICES)})")
    models = grid["model"].astype(str).to_numpy()
    accs = grid["accelerator"].astype(str).to_numpy()
    precs = grid["precision"].astype(str).to_numpy()
    # one lookup per distinct (engine, model, accelerator, precision, speculative, class): a grid repeats few
    codes = np.zeros(n, dtype=np.int64)
    for col in (engines, models, accs, precs, specs, klass, drafts, overlaps):
        c, u = pd.factorize(col, use_na_sentinel=False)
        codes = codes * (len(u) + 1) + c
    _, first, codes = np.unique(codes, return_index=True, return_inverse=True)
    codes = codes.reshape(-1)
    uniq = list(zip(engines[first], models[first], accs[first], precs[first], specs[first], klass[first],
                    drafts[first], overlaps[first], strict=True))
    why = np.full(len(uniq), "", dtype=object)
    vals = {k: np.full(len(uniq), out[k][0]) for k in out if k != "spec_method"}
    method_u = np.full(len(uniq), "none", dtype=object)
    for j, (e, m, a, p, s, w, k, o) in enumerate(uniq):
        if (e and e not in catalog.engines) or s not in SPEC_CHOICES or m not in catalog.models \
                or a not in catalog.accelerators:
            continue  # reported above or by resolve
        why[j] = _engine_values(vals, j, catalog, eff_engines, e, a, p, m, o if o >= 0 else np.nan) if e else ""
        if not why[j] and s != "none":
            why[j] = _spec_values(vals, method_u, j, catalog, e, m, s, w, k)
    for k, v in vals.items():
        out[k] = v[codes]
    out["spec_method"] = method_u[codes]
    if (out["spec_draft_id"] >= 0).any():  # the drafts' architecture, gathered per row where priced
        out["spec_draft_table"] = draft_arrays(catalog)
    row_why = why[codes]
    fail("engine", row_why != "", [row_why], lambda r: r)
    return out


def check_engine_parallelism(c, engines: np.ndarray, catalog: Catalog, fail) -> None:
    """Parallel modes the named engine must support: attention-DP, pipeline parallel, wide EP (> 8 ranks)."""
    for e_id, eng in catalog.engines.items():
        mine = engines == e_id
        if not mine.any():
            continue
        if not eng.attention_dp:
            fail("engine", mine & (c.attn_dp > 1), [c.attn_dp],
                 lambda d, e=e_id: f"engine {e} has no attention data parallel (attn_dp {d:.0f})")
        if not eng.pipeline_parallel:
            fail("engine", mine & (c.pp > 1), [c.pp],
                 lambda p, e=e_id: f"engine {e} has no pipeline parallel (pp {p:.0f})")
        if not eng.wide_ep:
            fail("engine", mine & (c.ep > 8), [c.ep],
                 lambda x, e=e_id: f"engine {e} has no wide expert parallel (ep {x:.0f} > 8)")
