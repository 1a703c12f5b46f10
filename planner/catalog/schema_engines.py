"""The serving-engine catalog kind: what an engine runs (accelerators, precisions, parallel modes, speculative
decoding) and its scheduler defaults, each with its source."""

from __future__ import annotations

from typing import Annotated, Literal, get_args, get_origin

from pydantic import Field, model_validator

from planner.catalog.schema_base import Entry, Id, PositiveInt, Strict, Vendor, unit

# ------------------------------------------------------------------------------------------------- engines
SpeculativeMethod = Literal["mtp", "eagle3"]
SPECULATIVE_METHODS: tuple[str, ...] = ("mtp", "eagle3")


MAX_DRAFT_TOKENS = 16  # tokens drafted per verification step: a catalog entry and a predict row alike


class SpeculativeSupport(Strict):
    """A speculative-decoding method an engine runs, for the models that have a draft (MTP head or EAGLE-3).
    The draft's cost is not stated here: it follows from the draft's architecture (models.yaml `drafts:`)."""

    method: SpeculativeMethod
    model_families: list[str] = Field(min_length=1, description="model families or ids with a published draft")
    draft_tokens: PositiveInt = Field(le=MAX_DRAFT_TOKENS, description="tokens drafted per verification step (k)")
    acceptance_length: dict[str, Annotated[float, Field(ge=1, le=MAX_DRAFT_TOKENS + 1)]] = Field(
        description="mean tokens emitted per verification step (incl. the bonus token) by workload class "
        "(a workload id, or 'default')", json_schema_extra=unit("tokens/step"))
    max_batch: PositiveInt | None = Field(None, description="running sequences the engine admits with "
                                          "speculation on (CUDA graphs captured up to it); none = max_batch")
    overlap_scheduling: bool | None = Field(None, description="whether the engine keeps its overlap scheduler "
                                            "with this draft on (SGLang turns it off for EAGLE/MTP drafts); "
                                            "none = the engine's overlap_scheduling")
    source: str = Field(min_length=3)
    measured_on: list[Id] = Field(default_factory=list, description="model ids whose draft the source measured "
                                  "the acceptance lengths of (at draft_tokens)")
    assumed: bool = Field(False, description="the acceptance lengths were not measured on these models' drafts "
                          "(copied from measured_on or another model); a measured entry (false) applies to its "
                          "measured_on model ids only")
    assumed_reason: str | None = Field(None, min_length=3, description="why the figures are taken as they are "
                                       "(required with assumed: true)")

    def acceptance(self, workload_class: str) -> float:
        """Mean tokens a verification step emits for this workload class (the 'default' entry otherwise)."""
        return self.acceptance_length.get(workload_class, self.acceptance_length["default"])

    @model_validator(mode="after")
    def _default_class(self) -> SpeculativeSupport:
        if "default" not in self.acceptance_length:
            raise ValueError("acceptance_length needs a 'default' entry")
        too_long = {k: v for k, v in self.acceptance_length.items() if v > self.draft_tokens + 1}
        if too_long:
            raise ValueError(f"acceptance_length {too_long} exceeds draft_tokens + 1 = {self.draft_tokens + 1}")
        return self

    @model_validator(mode="after")
    def _measured_or_assumed(self) -> SpeculativeSupport:
        """An acceptance is either measured on the models the entry names, or marked assumed with a reason."""
        if self.assumed and not self.assumed_reason:
            raise ValueError("assumed: true needs assumed_reason (why the acceptance is taken from elsewhere)")
        if not self.assumed:
            if self.assumed_reason:
                raise ValueError("assumed_reason is given but assumed is false")
            if not self.measured_on:
                raise ValueError("acceptance_length needs measured_on (the model ids it was measured on) or "
                                 "assumed: true with assumed_reason")
            other = [m for m in self.model_families if m not in self.measured_on]
            if other:
                raise ValueError(f"model_families {other} are not in measured_on {self.measured_on}: a measured "
                                 "acceptance applies to the measured model ids only; list the others in an "
                                 "entry with assumed: true")
        return self

    def matches(self, family: str, model_id: str) -> bool:
        """Whether the entry covers this model: a measured one by model id only, an assumed one by id or family."""
        return model_id in self.model_families or (self.assumed and family in self.model_families)


class EngineDefaults(Strict):
    """Scheduler defaults an engine picks differently on some accelerators (e.g. vLLM on A100 / small GPUs)."""

    max_batch: PositiveInt | None = Field(None, description="max_num_seqs there; none = the engine's")
    max_num_batched_tokens: PositiveInt | None = Field(None, description="tokens per step there; none = the "
                                                       "engine's")
    source: str = Field(min_length=3)


class ChunkedPrefillDefault(Strict):
    """An engine that turns chunked prefill on by default only for long-context models (vLLM V0): the others
    run each prompt whole, in prompt-only steps (decode waits), with a larger step budget."""

    above_context: PositiveInt = Field(description="chunked prefill is on for models whose max context exceeds "
                                       "this many tokens", json_schema_extra=unit("tokens"))
    unchunked_min_tokens: PositiveInt = Field(description="without it the step budget is the larger of the "
                                              "model's max context and this", json_schema_extra=unit("tokens"))
    source: str = Field(min_length=3)


class UnsupportedPath(Strict):
    """A (precision, accelerators) pair the engine runs only through a fallback path, read in its code: the
    planner refuses to plan it and calibrate lists its rows as not expressible, with this reason."""

    precision: Id = Field(description="precision id (one the engine serves elsewhere)")
    accelerators: list[Id] = Field(min_length=1, description="accelerator ids on which that precision takes "
                                   "the fallback path")
    reason: str = Field(min_length=3, description="what the engine runs there instead, and why nobody would "
                        "deploy it")
    source: str = Field(min_length=3, description="file + function + version where the path is chosen")


class Scheduler(Strict):
    """How the engine's scheduler admits requests against the KV cache (its documented default policy)."""

    kv_reserve_output: float = Field(ge=0, le=1, description="share of each running request's remaining "
                                     "output tokens (max_tokens) whose KV stays reserved when a new request is "
                                     "admitted: 0 = prompt only, KV on demand, preemption when full (vLLM); 1 = "
                                     "the whole request up front, never evicted (TensorRT-LLM "
                                     "GUARANTEED_NO_EVICT)")
    kv_reserve_min: float | None = Field(None, ge=0, le=1, description="floor the reserve share decays to "
                                         "while no request is retracted: one (kv_reserve_output - floor) / "
                                         "kv_reserve_decay_steps per decode step; when a decode step finds the "
                                         "cache full the scheduler retracts requests and restarts the share from "
                                         "what the running ones have left (SGLang new_token_ratio); none = the "
                                         "share stays at kv_reserve_output")
    kv_reserve_decay_steps: PositiveInt = Field(600, description="decode steps from kv_reserve_output to "
                                                "kv_reserve_min")
    kv_reserve_min_source: str | None = Field(None, min_length=3, description="where the decay and the "
                                              "retraction are stated")
    prefill_first: bool = Field(False, description="a prompt step, whenever one can be formed, runs alone "
                                "before the running requests' next decode step (SGLang without mixed chunks); "
                                "false = each step decodes every running request and fills the token budget "
                                "with prompt chunks (vLLM V1, TensorRT-LLM in-flight batching)")
    prefill_first_source: str | None = Field(None, min_length=3, description="where prefill_first is stated")
    source: str = Field(min_length=3)
    assumed: bool = False
    reason: str | None = None

    @model_validator(mode="after")
    def _prefill_first_has_a_source(self) -> Scheduler:
        if self.prefill_first and not self.prefill_first_source:
            raise ValueError("prefill_first: true needs prefill_first_source (where the schedule says so)")
        if self.kv_reserve_min is not None:
            if not self.kv_reserve_min_source:
                raise ValueError("kv_reserve_min needs kv_reserve_min_source (where the decay is stated)")
            if self.kv_reserve_min > self.kv_reserve_output:
                raise ValueError(f"kv_reserve_min {self.kv_reserve_min} is above kv_reserve_output "
                                 f"{self.kv_reserve_output} (the share decays toward it)")
        return self


KV_SIZING_POLICIES: tuple[str, ...] = ("utilization", "free_fraction", "static_fraction")


class KvSizing(Strict):
    """How the engine sizes its KV cache at start-up with its default flags (what the KV pool is left with).

    utilization      fraction x HBM holds weights, KV and the peak of a profiling forward pass at the engine's
                     token budget (vLLM gpu_memory_utilization); with `sampler_warmup` the profile also samples
                     max_num_seqs rows of logits, and the larger of the two peaks is kept free
    free_fraction    fraction x (HBM - weights - activations) (TensorRT-LLM kv_cache_free_gpu_memory_fraction)
    static_fraction  HBM - weights - a reserve the engine derives from its chunk size, CUDA-graph batch and
                     parallel size (SGLang mem_fraction_static when not set)"""

    policy: Literal["utilization", "free_fraction", "static_fraction"]
    fraction: float = Field(0.9, gt=0, le=1, description="share of HBM (utilization) or of the free memory "
                            "(free_fraction); unused by static_fraction")
    sampler_warmup: bool = Field(False, description="the memory profile samples max_num_seqs rows of fp32 "
                                 "logits (vLLM V1 _dummy_sampler_run)")
    fp4_moe_pad_hidden: PositiveInt = Field(1, le=4096, description="multiple the weight-only FP4 MoE kernel pads "
                                            "the hidden size of expert matrices to (vLLM Marlin: 256); 1 = none")
    fp4_moe_pad_width: PositiveInt = Field(1, le=4096, description="multiple it pads each GPU's expert width "
                                           "to (vLLM Marlin: 128); 1 = none")
    full_window_families: list[str] = Field(default_factory=list, description="model families whose local "
                                            "(sliding / chunked) layers this engine's KV cache holds at full "
                                            "context (its hybrid pool is off for them)")
    source: str = Field(min_length=3)
    assumed: bool = False
    reason: str | None = None


class Engine(Entry):
    """A serving engine (vLLM, SGLang, TensorRT-LLM, TGI): what it runs and how its scheduler behaves.

    Capabilities and scheduler knobs are stated here with sources; the fitted efficiency factors per engine and
    vendor live in catalogs/calibration/efficiency.yaml (`engines:`), generated by `python -m planner.perf.fit`.
    """

    version: str = Field(min_length=1, description="the version these figures describe")
    date: str = Field(min_length=4, description="release date of that version, e.g. 2025-10")
    superseded_by: Id | None = Field(None, description="a newer engine id that replaces this version: kept to "
                                     "read measurements taken with it (calibration), left out of `engines: all`")
    vendors: list[Vendor] = Field(min_length=1)
    accelerators: list[Id] | None = Field(None, description="accelerator ids it supports; none = every "
                                          "accelerator of its vendors")
    precisions: list[Id] = Field(min_length=1, description="precision ids it serves")
    attention_dp: bool = Field(description="attention data parallel with shared experts (MoE)")
    wide_ep: bool = Field(description="expert parallel across attention-DP ranks / beyond one node")
    pipeline_parallel: bool
    chunked_prefill: bool
    chunked_prefill_default: ChunkedPrefillDefault | None = Field(
        None, description="where chunked prefill (max_num_batched_tokens, prompt_attention_eta_scale) holds only "
        "for long-context models; none = for every model")
    max_batch: PositiveInt = Field(description="default cap on running sequences per instance (max_num_seqs)")
    max_num_batched_tokens: PositiveInt = Field(description="default tokens per forward step (prefill chunk)")
    attention_dp_token_budget: Literal["per_rank", "divided"] = Field(
        "per_rank", description="with attention DP, whose budget max_num_batched_tokens is: each rank's own "
        "scheduler's (per_rank: a replica's step carries up to attn_dp times it, as its seats are attn_dp x "
        "max_batch), or the replica's, divided among the ranks (divided: SGLang's chunked_prefill_size // "
        "dp_size); needs provenance")
    cuda_graph_max_batch: PositiveInt = Field(description="largest decode batch replayed from a CUDA graph; "
                                              "larger batches launch every kernel eagerly")
    cuda_graph_max_context: PositiveInt | None = Field(
        None, description="longest sequence (prompt + generated tokens) a decode batch may hold and still "
        "replay its CUDA/HIP graph; a batch holding a longer one launches every kernel eagerly (vLLM V0 "
        "max_seq_len_to_capture); none = graphs at any context")
    stream_tokens_per_chunk: Annotated[float, Field(ge=1, le=16)] = Field(
        1.0, description="output tokens delivered per streamed chunk by the scheduler (multi-step "
        "scheduling bursts): median ITL = this x TPOT")
    overlap_scheduling: bool = Field(description="the host schedules step n+1 while the GPU runs step n, "
                                     "hiding per-sequence host time behind the step")
    decode_attention_kv_reads: Literal["per_kv_head", "per_query_head"] = Field(
        "per_kv_head", description="how often the decode-attention kernel reads a KV head per step: once for "
        "its whole query group (FlashAttention, FlashInfer, XQA), or once per query head (legacy paged "
        "attention, one thread block per query head)")
    grouped_kv_decode_max_context: dict[Vendor, PositiveInt] = Field(
        default_factory=dict, description="per vendor, the longest sequence the grouped-KV decode-attention "
        "kernel (one KV-head read for its query group) serves; a batch holding a longer one falls back to a "
        "kernel that reads each KV head once per query head (vLLM V0's ROCm paged_attention_rocm: 32,768); "
        "a vendor not listed has no limit")
    prompt_attention_eta_scale: dict[Vendor, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=dict, description="per vendor, the efficiency of the kernel the engine runs prompt "
        "attention with, as a share of the accelerator's flash-attention prefill efficiency (efficiency.yaml "
        "attn_prefill_eta_max at the prompt's length): below 1 where prompts go through a slower path (vLLM V0 "
        "with chunked prefill on ROCm: every prompt chunk through the Triton prefix-prefill kernel); needs "
        "provenance (a measurement, or assumed with its reason); a vendor not listed: 1",
        json_schema_extra=unit("fraction"))
    architecture_kernels: list[Vendor] = Field(
        default_factory=list, description="vendors on which the engine's decode step launches MLA's extra "
        "kernels, a shared expert's own MLP and one activation-quantization kernel before each block-scaled "
        "FP8 GEMM as kernels of their own (step.architecture_kernels, counted in the engine's source); a "
        "vendor not listed: the generic fused layer's count only")
    shared_expert_in_routed_moe: list[Vendor] = Field(
        default_factory=list, description="vendors on which the engine runs a shared expert as one more "
        "routed expert of the fused MoE kernel when the experts are tensor-parallel (no EP), so it launches "
        "no kernels of its own (SGLang's shared-experts fusion)")
    speculative: list[SpeculativeSupport] = Field(default_factory=list)
    accelerator_defaults: dict[Id, EngineDefaults] = Field(
        default_factory=dict, description="scheduler defaults that differ on these accelerator ids")
    unsupported_paths: list[UnsupportedPath] = Field(
        default_factory=list, description="precisions that run on some accelerators only through a fallback "
        "path nobody would deploy (read in the engine's code): not planned, not calibrated")
    scheduler: Scheduler | None = Field(None, description="KV admission policy; none = on demand (as vLLM)")
    kv_sizing: KvSizing | None = Field(None, description="how the KV pool is sized; none = utilization 0.9 "
                                       "without the sampler warm-up (the generic engine)")

    @model_validator(mode="after")
    def _vendor_fields_name_the_engines_vendors(self) -> Engine:
        """Every per-vendor field (a list or dict keyed by Vendor, `vendor_fields`) names only vendors the
        engine runs on: a figure for another vendor would never be read."""
        for name in vendor_fields(type(self)):
            other = sorted(set(getattr(self, name)) - set(self.vendors))
            if other:
                raise ValueError(f"{name} names vendors {other} the engine does not run on")
        return self

    @model_validator(mode="after")
    def _grouped_limit_needs_a_grouped_kernel(self) -> Engine:
        if self.grouped_kv_decode_max_context and self.decode_attention_kv_reads != "per_kv_head":
            raise ValueError("grouped_kv_decode_max_context needs decode_attention_kv_reads: per_kv_head (the "
                             "kernel already reads each KV head once per query head at every context)")
        return self

    @model_validator(mode="after")
    def _unsupported_paths_name_served_precisions(self) -> Engine:
        other = sorted({u.precision for u in self.unsupported_paths} - set(self.precisions))
        if other:
            raise ValueError(f"unsupported_paths name precisions {other} the engine does not serve anyway")
        return self

    @model_validator(mode="after")
    def _prompt_attention_scale_has_provenance(self) -> Engine:
        if not self.prompt_attention_eta_scale:
            return self
        prov = self.provenance.get("prompt_attention_eta_scale")
        if prov is None or not (prov.source or prov.assumed):
            raise ValueError("prompt_attention_eta_scale needs provenance: a source that measured it, or "
                             "assumed: true with the reason")
        return self

    @model_validator(mode="after")
    def _attention_dp_budget_has_provenance(self) -> Engine:
        prov = self.provenance.get("attention_dp_token_budget")
        if self.attention_dp and (prov is None or not (prov.source or prov.assumed)):
            raise ValueError("an engine with attention_dp states attention_dp_token_budget with provenance: a "
                             "source that read it, or assumed: true with the reason")
        return self

    @model_validator(mode="after")
    def _draft_overlap_has_provenance(self) -> Engine:
        prov = self.provenance.get("speculative")
        if any(sp.overlap_scheduling is not None for sp in self.speculative) and (
                prov is None or not (prov.source or prov.assumed)):
            raise ValueError("a speculative entry that sets overlap_scheduling states it with provenance: "
                             "speculative: a source that read it, or assumed: true with the reason")
        return self

    def unsupported_reason(self, accelerator_id: str, precision: str) -> str:
        """Why this engine is not planned for `precision` on `accelerator_id` (`unsupported_paths`), or ''."""
        hit = next((u for u in self.unsupported_paths
                    if u.precision == precision and accelerator_id in u.accelerators), None)
        return f"engine {self.id} runs {precision} on {accelerator_id} only through a fallback path: " \
               f"{hit.reason}" if hit else ""

    def supports(self, accelerator_id: str, vendor: str) -> bool:
        if self.accelerators is not None:
            return accelerator_id in self.accelerators
        return vendor in self.vendors

    def speculative_for(self, method: str, family: str, model_id: str) -> SpeculativeSupport | None:
        """The entry for `method` on this model: a measured one for the model id before an assumed one (whose
        figures were copied from another model's draft)."""
        hits = [s for s in self.speculative if s.method == method and s.matches(family, model_id)]
        return next((s for s in hits if not s.assumed), hits[0] if hits else None)


def vendor_fields(model: type[Strict]) -> tuple[str, ...]:
    """The fields of `model` keyed by vendor (list[Vendor] or dict[Vendor, ...]) other than `vendors` itself:
    read from the annotations, so a new per-vendor field is checked without a validator of its own. Only plain
    list / dict annotations count: a per-vendor field that may be None (`dict[Vendor, X] | None`) would not be
    found (give it an empty default instead, as every one of them has)."""
    return tuple(name for name, f in model.model_fields.items()
                 if name != "vendors" and get_origin(f.annotation) in (list, dict)
                 and get_args(f.annotation)[:1] == (Vendor,))
