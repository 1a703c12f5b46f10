"""Strict schemas of every catalog kind.

Catalog YAML uses human units and the field name says which (`hbm_gb`, `tdp_w`, `dense_tflops`); the loader
converts them once into SI (see `planner.catalog.tables`). Every entry carries `sources`; a figure that had to
be assumed is listed under `provenance` with `assumed: true` and a reason; where sources disagree the range
goes there too. Models are frozen and forbid unknown fields, so a typo is an error, not a silent default.
The foundation (strict models, entries, provenance, price ranges, datatypes) is `schema_base`; money kinds are
`schema_prices`, serving engines `schema_engines`; this module holds hardware, models, precisions and workloads,
and `KINDS`, the registry of every kind.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from planner.catalog.schema_base import (
    ComputeDtype,
    Entry,
    Id,
    KvDtype,
    NonNegFloat,
    PositiveFloat,
    PositiveInt,
    PriceRange,
    Provenance,
    Strict,
    Vendor,
    architecture_family,
    in_range,
    plausible,
    unit,
)
from planner.catalog.schema_drafts import Draft
from planner.catalog.schema_engines import Engine
from planner.catalog.schema_prices import Economics, NetworkItem, RentalPrice, SoftwareLicence


# --------------------------------------------------------------------------------------------- accelerators
class MeasuredEfficiency(Strict):
    """Efficiency figures we or others measured on this part (fraction of the datasheet peak)."""

    gemm_bf16_peak_fraction: float | None = Field(None, gt=0, le=1, description="best bf16 GEMM / dense peak")
    gemm_fp8_peak_fraction: float | None = Field(None, gt=0, le=1, description="best fp8 GEMM / dense peak")
    copy_bandwidth_fraction: float | None = Field(None, gt=0, le=1, description="D2D copy / datasheet HBM")
    power_compute_bound_w: float | None = Field(None, gt=0, json_schema_extra=unit("W"))
    power_memory_bound_w: float | None = Field(None, gt=0, json_schema_extra=unit("W"))
    power_idle_w: float | None = Field(None, gt=0, json_schema_extra=unit("W"))
    source: str = Field(description="measurement file or publication")


class Accelerator(Entry):
    vendor: Vendor
    architecture: str
    form_factor: Literal["sxm", "pcie", "oam", "superchip"]
    hbm_gb: PositiveFloat = Field(description="memory the driver exposes", json_schema_extra=unit("GB"))
    hbm_bandwidth_tb_s: PositiveFloat = Field(le=50, json_schema_extra=unit("TB/s"))
    tdp_w: Annotated[PositiveFloat, plausible(50, 5000, " W")] = Field(json_schema_extra=unit("W"))
    idle_w: PositiveFloat | None = Field(None, json_schema_extra=unit("W"), description="board power at idle")
    dense_tflops: dict[ComputeDtype, PositiveFloat] = Field(
        description="dense (no 2:4 sparsity) tensor throughput per compute datatype; int8 in TOPS",
        json_schema_extra=unit("TFLOP/s"),
    )
    native_precisions: list[str] = Field(
        min_length=1, description="precision ids (see precisions) computed natively by the tensor cores"
    )
    scale_up_bandwidth_gb_s: PositiveFloat = Field(
        le=10000, description="scale-up link bandwidth per GPU, per direction", json_schema_extra=unit("GB/s")
    )
    scale_up_domain: PositiveInt = Field(description="GPUs in one scale-up (NVLink/xGMI) domain")
    scale_up_tech: str
    measured: MeasuredEfficiency | None = None

    @property
    def family(self) -> str:
        """Architecture family key (schema_base.ARCHITECTURE_FAMILIES): 'hopper', 'blackwell', 'cdna3', ..."""
        return architecture_family(self.architecture)

    @model_validator(mode="after")
    def _consistent(self) -> Accelerator:
        if "bf16" not in self.dense_tflops:
            raise ValueError("dense_tflops needs a bf16 figure")
        if self.dense_tflops["bf16"] > 20000:
            raise ValueError(f"dense_tflops.bf16 {self.dense_tflops['bf16']} is implausible (> 20,000 TFLOP/s)")
        if self.hbm_gb > 2000:
            raise ValueError(f"hbm_gb {self.hbm_gb} is implausible (> 2,000 GB per accelerator)")
        if self.idle_w is not None and self.idle_w >= self.tdp_w:
            raise ValueError(f"idle_w {self.idle_w} must be below tdp_w {self.tdp_w}")
        return self


# ------------------------------------------------------------------------------------------------- systems
class System(Entry):
    """What is bought and racked: a server or a rack-scale system."""

    accelerator: Id
    accelerator_count: PositiveInt = Field(le=576)
    scale_up_domain: PositiveInt = Field(description="GPUs sharing one NVLink/xGMI domain inside the system")
    nameplate_power_kw: Annotated[PositiveFloat, plausible(0.1, 300, " kW")] = Field(json_schema_extra=unit("kW"))
    rack_units: PositiveInt | None = Field(None, le=60, description="height; null for a whole-rack system")
    whole_rack: bool = Field(False, description="the system is a rack of its own (e.g. NVL72)")
    cooling: Literal["air", "liquid"]
    scale_out_nics: str = Field(description="e.g. 8x ConnectX-7 400G")
    network_power_kw: NonNegFloat = Field(
        0.0, le=300, json_schema_extra=unit("kW"),
        description="scale-out fabric, storage and management power per system outside the chassis (switches, "
        "optics); all-in power = chassis nameplate + this (see planner.power)",
    )
    price: PriceRange = Field(description="purchase price of the whole system")

    @model_validator(mode="after")
    def _domain(self) -> System:
        if self.scale_up_domain > self.accelerator_count:
            raise ValueError(
                f"scale_up_domain {self.scale_up_domain} exceeds accelerator_count {self.accelerator_count}"
            )
        if self.whole_rack == (self.rack_units is not None):
            raise ValueError("give rack_units for a server, or whole_rack: true (and no rack_units) for a rack")
        in_range("price.high_usd", self.price.high_usd, 0, 100e6, " USD")
        return self


class RackType(Entry):
    max_power_kw: PositiveFloat = Field(le=500, json_schema_extra=unit("kW"))
    rack_units: PositiveInt = Field(le=60)
    cooling: Literal["air", "liquid"]
    price: PriceRange | None = Field(None, description="rack, PDUs, in-rack cooling; not the servers")


class Site(Entry):
    """A facility profile: PUE and what a kW of capacity costs."""

    pue: float = Field(ge=1.0, le=3.0, description="facility power / IT power")
    facility_usd_per_kw_month: PriceRange = Field(
        description="facility (colocation) cost per IT kW per month, in the *_usd fields"
    )

    @model_validator(mode="after")
    def _plausible_price(self) -> Site:
        in_range("facility_usd_per_kw_month.high_usd", self.facility_usd_per_kw_month.high_usd, 0, 5000,
                 " USD/kW/month")
        return self


# -------------------------------------------------------------------------------------------------- models
class MoE(Strict):
    num_experts: PositiveInt
    experts_per_token: PositiveInt
    shared_experts: int = Field(0, ge=0)
    expert_intermediate: PositiveInt = Field(description="FFN width of one routed expert")
    shared_expert_intermediate: PositiveInt | None = Field(None, description="defaults to expert_intermediate")
    dense_layers: int = Field(0, ge=0, description="leading layers with a dense FFN instead of experts")
    moe_layer_interval: PositiveInt = Field(1, description="every n-th layer is MoE (Llama 4 Maverick: 2)")

    @model_validator(mode="after")
    def _topk(self) -> MoE:
        if self.experts_per_token > self.num_experts:
            raise ValueError(f"experts_per_token {self.experts_per_token} > num_experts {self.num_experts}")
        return self


class MLA(Strict):
    """Multi-head latent attention (DeepSeek): the KV cache holds one compressed latent per token and layer."""

    q_lora_rank: PositiveInt | None
    kv_lora_rank: PositiveInt
    qk_nope_head_dim: PositiveInt
    qk_rope_head_dim: PositiveInt
    v_head_dim: PositiveInt


class SparseAttention(Strict):
    """Token-sparse attention (DeepSeek Sparse Attention, DeepSeek-V3.2): a lightning indexer scores every
    context token with a few small heads, and the main attention of each query reads only the top_k_tokens
    keys it selects. The KV cache still holds every token (plus the indexer's one key per token and layer)."""

    index_heads: PositiveInt = Field(description="indexer heads (HF index_n_heads)")
    index_head_dim: PositiveInt = Field(description="indexer head width (HF index_head_dim)")
    top_k_tokens: PositiveInt = Field(description="keys the main attention reads per query (HF index_topk)")


class LocalAttention(Strict):
    """Layers that attend only to a recent window (sliding window or chunked attention)."""

    window_tokens: PositiveInt
    local_layers: PositiveInt = Field(description="how many of the layers are local")


class QualityScore(Strict):
    benchmark: str
    score: float = Field(ge=0, le=100)
    setting: str | None = None
    source: str


class Model(Entry):
    hf_id: str
    family: str = Field(description="groups models for quantization deltas, e.g. llama-3, qwen3, deepseek-v3")
    total_params_b: PositiveFloat = Field(le=10000, description="published total", json_schema_extra=unit("1e9"))
    active_params_b: PositiveFloat = Field(description="published active per token", json_schema_extra=unit("1e9"))
    layers: Annotated[PositiveInt, plausible(1, 1000)]
    hidden_size: Annotated[PositiveInt, plausible(1, 200_000)]
    num_heads: Annotated[PositiveInt, plausible(1, 4096)]
    num_kv_heads: PositiveInt
    head_dim: Annotated[PositiveInt, plausible(1, 4096)]
    ffn_intermediate: Annotated[PositiveInt, plausible(1, 1_000_000)] = Field(
        description="dense FFN width (dense layers, or dense MLP in MoE models)")
    vocab_size: Annotated[PositiveInt, plausible(1, 10_000_000)]
    tied_embeddings: bool = False
    max_context: Annotated[PositiveInt, plausible(1, 100_000_000, " tokens")]
    native_precision: str = Field(description="precision id of the released weights")
    fp8_weight_block: PositiveInt | None = Field(
        None, description="edge of the square weight blocks that share one scale in the released FP8 weights "
        "(DeepSeek-V3's 128 x 128: config.json quantization_config.weight_block_size); None where the FP8 "
        "weights are scaled per tensor or channel, or the weights are not FP8")
    moe: MoE | None = None
    mla: MLA | None = None
    local_attention: LocalAttention | None = None
    sparse_attention: SparseAttention | None = None
    params_excluded_b: NonNegFloat = Field(
        0, description="parameters in the published total that the architecture fields do not describe "
        "(vision encoder, MTP head)", json_schema_extra=unit("1e9")
    )
    quality: list[QualityScore] = Field(default_factory=list)
    checkpoints: list[Checkpoint] = Field(
        default_factory=list,
        description="published weights per precision (the native precision is always published); other "
        "precisions need a quantization step",
    )
    effort_levels: list[EffortLevel] = Field(
        default_factory=list, description="reasoning effort settings (empty: the model has none)"
    )
    default_effort: str | None = Field(None, description="effort level the model runs at unless told otherwise")
    drafts: list[Draft] = Field(default_factory=list, description="speculative-decoding drafts published for "
                                "this model, one per method, as architecture (their cost per draft token)")

    @model_validator(mode="after")
    def _shapes(self) -> Model:
        if self.active_params_b > self.total_params_b:
            raise ValueError(f"active_params_b {self.active_params_b} > total_params_b {self.total_params_b}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}")
        if self.local_attention and self.local_attention.local_layers > self.layers:
            raise ValueError("local_attention.local_layers exceeds layers")
        if self.moe and self.moe.dense_layers > self.layers:
            raise ValueError("moe.dense_layers exceeds layers")
        levels = [e.level for e in self.effort_levels]
        if len(set(levels)) != len(levels):
            raise ValueError(f"effort_levels lists a level twice: {levels}")
        if (self.default_effort is None) != (not levels):
            raise ValueError("give default_effort exactly when effort_levels are listed")
        if self.default_effort is not None and self.default_effort not in levels:
            raise ValueError(f"default_effort {self.default_effort!r} is not one of the effort_levels {levels}")
        precs = [c.precision for c in self.checkpoints]
        if len(set(precs)) != len(precs):
            raise ValueError(f"checkpoints list a precision twice: {precs}")
        methods = [d.method for d in self.drafts]
        if len(set(methods)) != len(methods):
            raise ValueError(f"drafts list a method twice: {methods}")
        return self

    def draft(self, method: str) -> Draft | None:
        """The model's draft for a speculative method, or None."""
        return next((d for d in self.drafts if d.method == method), None)

    def published_precisions(self) -> set[str]:
        """Precisions with published weights: the native one and every listed checkpoint."""
        return {self.native_precision, *(c.precision for c in self.checkpoints)}

    def effort(self, level: str | None) -> EffortLevel | None:
        return next((e for e in self.effort_levels if e.level == level), None)

    def score(self, benchmark: str) -> float | None:
        for q in self.quality:
            if _norm(q.benchmark) == _norm(benchmark):
                return q.score
        return None


class Checkpoint(Strict):
    """A published set of weights of a model in one precision (anything else needs a quantization step)."""

    precision: str = Field(description="precision id of the published weights")
    url: str = Field(min_length=3, description="where the weights are published (model hub page)")
    publisher: str = Field(min_length=1, description="who publishes them (model vendor, NVIDIA, AMD, community)")
    assumed: bool = Field(False, description="true when the checkpoint is recalled, not read in a source")
    reason: str | None = None

    @model_validator(mode="after")
    def _assumed_needs_reason(self) -> Checkpoint:
        if self.assumed and not self.reason:
            raise ValueError("assumed: true needs a reason")
        return self


EFFORT_LEVELS: tuple[str, ...] = ("low", "medium", "high", "non-thinking", "thinking")


class EffortLevel(Strict):
    """One reasoning effort setting of a reasoning model: its scores and how much longer its outputs run.

    `output_multiplier` = generated tokens (hidden reasoning + answer) per visible answer token: hidden reasoning
    tokens are generated like any other, so they count for cost and latency (the answer starts only after them).
    """

    level: Literal["low", "medium", "high", "non-thinking", "thinking"]
    output_multiplier: float = Field(ge=1, le=100, description="generated tokens per visible output token")
    quality: list[QualityScore] = Field(default_factory=list, description="scores at this effort level")
    provenance: dict[str, Provenance] = Field(default_factory=dict, description="sources/assumptions per field")

    def score(self, benchmark: str) -> float | None:
        for q in self.quality:
            if _norm(q.benchmark) == _norm(benchmark):
                return q.score
        return None


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


# ---------------------------------------------------------------------------------------------- precisions
class QualityDelta(Strict):
    """Published accuracy recovery of a quantized model relative to its baseline."""

    family: str = Field(description="model family or model id this applies to; '*' for the default")
    recovery: float = Field(gt=0, le=1.05, description="quantized / baseline score")
    benchmark: str
    source: str
    assumed: bool = False
    reason: str | None = None


class Precision(Entry):
    weight_bits: PositiveFloat = Field(le=32)
    bytes_per_weight: PositiveFloat = Field(le=4, description="incl. scale overhead", json_schema_extra=unit("B"))
    compute_dtype: ComputeDtype = Field(description="datatype of the GEMMs where the format is native")
    weight_only_fallback: ComputeDtype | None = Field(
        None, description="where not native, weights are dequantized and the GEMMs run in this datatype"
    )
    activation_bits: PositiveInt = Field(le=32)
    kv_formats: list[KvDtype] = Field(min_length=1, description="KV-cache datatypes this precision allows")
    quantization_step: str | None = Field(
        None, description="how weights are brought to this precision where no checkpoint is published "
        "(tool and method), named in the plan"
    )
    quality_deltas: list[QualityDelta] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bytes_match_bits(self) -> Precision:
        # the bytes carry the bits plus scales/zero points: at least bits/8, and not more than half again
        lo, hi = self.weight_bits / 8, self.weight_bits / 8 * 1.5
        if not lo <= self.bytes_per_weight <= hi + 1e-12:
            raise ValueError(
                f"bytes_per_weight {self.bytes_per_weight:g} does not match weight_bits {self.weight_bits:g}: "
                f"expected {lo:g}..{hi:g} (bits / 8, plus up to 50% for scales)"
            )
        return self

    def recovery_for(self, family: str, model_id: str) -> tuple[float, str]:
        """Best-matching recovery factor: model id, then family, then default '*'."""
        for key in (model_id, family, "*"):
            for d in self.quality_deltas:
                if d.family == key:
                    return d.recovery, d.source
        return 1.0, "no published delta; assumed lossless"


# ----------------------------------------------------------------------------------------------- workloads
class QualityFloor(Strict):
    benchmark: str
    min_score: float = Field(ge=0, le=100)


class Workload(Entry):
    """A serving archetype: request shape, latency targets, quality floor."""

    isl_tokens: PositiveInt = Field(json_schema_extra=unit("tokens"))
    osl_tokens: PositiveInt = Field(json_schema_extra=unit("tokens"))
    ttft_ms: PositiveFloat | None = Field(
        None, json_schema_extra=unit("ms"), description="time-to-first-token target at the SLO percentile; none: "
        "no TTFT target, each replica planned at 90% of its saturation rate (assumed, as for a problem's "
        "workload without one)")
    tpot_ms: PositiveFloat = Field(json_schema_extra=unit("ms"), description="time-per-output-token target")
    quality_floor: QualityFloor | None = None
    rationale: str


KINDS: dict[str, type[Entry]] = {
    "accelerators": Accelerator,
    "systems": System,
    "racks": RackType,
    "sites": Site,
    "models": Model,
    "precisions": Precision,
    "workloads": Workload,
    "rental_prices": RentalPrice,
    "economics": Economics,
    "licences": SoftwareLicence,
    "engines": Engine,
    "network": NetworkItem,
}
