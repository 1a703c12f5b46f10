"""Strict schemas of every catalog kind.

Catalog YAML uses human units and the field name says which (`hbm_gb`, `tdp_w`, `dense_tflops`); the loader
converts them once into SI (see `planner.catalog.tables`). Every entry carries `sources`; a figure that had to
be assumed is listed under `provenance` with `assumed: true` and a reason; where sources disagree the range
goes there too. Models are frozen and forbid unknown fields, so a typo is an error, not a silent default.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9.\-]*$"
Id = Annotated[str, Field(pattern=ID_PATTERN, description="stable lower-case id, e.g. h100-sxm")]
PositiveFloat = Annotated[float, Field(gt=0)]


def plausible(lo: float, hi: float, unit_: str = "") -> AfterValidator:
    """A physical-plausibility range: legal-looking numbers far outside it are typos or the wrong unit
    (a 340,000 MW site, a 0.7 W accelerator); the message gives the range."""

    def check(v):
        if v is not None and not lo <= v <= hi:
            raise ValueError(f"{v:,g}{unit_} is outside the plausible range {lo:,g}..{hi:,g}{unit_} "
                             "(check the unit in the field name)")
        return v

    return AfterValidator(check)


def in_range(name: str, v: float, lo: float, hi: float, unit_: str = "") -> None:
    """plausible() inside a model validator, for values nested in a shared type (prices)."""
    if not lo <= v <= hi:
        raise ValueError(f"{name} {v:,g}{unit_} is outside the plausible range {lo:,g}..{hi:,g}{unit_}")
PositiveInt = Annotated[int, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]

# Datatypes a tensor core computes in; dense FLOP/s (TOPS for int8) per accelerator are keyed by these.
ComputeDtype = Literal["bf16", "fp8", "int8", "fp4"]
COMPUTE_DTYPES: tuple[str, ...] = ("bf16", "fp8", "int8", "fp4")
KvDtype = Literal["bf16", "fp8", "fp4"]
KV_BYTES: dict[str, float] = {"bf16": 2.0, "fp8": 1.0, "fp4": 0.5625}  # fp4: 4 bits + one fp8 scale per 16


def unit(u: str) -> dict:
    """`json_schema_extra` carrying a field's unit into the generated JSON Schema."""
    return {"unit": u}


def _admits_bool(tp) -> bool:
    """Whether a field annotation can legitimately hold a YAML true/false somewhere (bool, a model, Any)."""
    if tp is bool or tp is Any or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return True
    return any(_admits_bool(a) for a in get_args(tp) if a is not None)


def _mentions(tp, types: tuple[type, ...]) -> bool:
    return tp in types or any(_mentions(a, types) for a in get_args(tp))


def _has_bool(v) -> bool:
    if isinstance(v, bool):
        return True
    if isinstance(v, dict):
        return any(_has_bool(x) for x in v.values())
    if isinstance(v, list | tuple):
        return any(_has_bool(x) for x in v)
    return False


class Strict(BaseModel):
    # allow_inf_nan=False: `.inf` / `.nan` in YAML is a mistake, not a figure.
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=False, populate_by_name=False, allow_inf_nan=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, v, info):
        # Lax mode would read `hbm_gb: true` as 1.0 and `count: yes` as 1; a true/false where a number or text
        # belongs is a mistake.
        if _has_bool(v):
            field = cls.model_fields.get(info.field_name) if info.field_name else None
            if field is not None and not _admits_bool(field.annotation):
                what = "a number" if _mentions(field.annotation, (int, float)) else "text"
                raise ValueError(f"must be {what}, not true/false, got {v!r}")
        return v


class Source(Strict):
    """Where a figure comes from: a URL or a citation, plus what exactly was read there."""

    url: str = Field(min_length=3, description="URL, document or 'measured: <file>'")
    note: str | None = Field(None, description="what was read there, conditions, date")


class Provenance(Strict):
    """Per-field provenance: overrides the entry's sources for one field, gives ranges and assumptions."""

    source: str | None = Field(None, description="URL or citation for this field alone")
    range: tuple[float, float] | None = Field(None, description="[low, high] where sources disagree")
    assumed: bool = Field(False, description="true when no source gives this figure")
    reason: str | None = Field(None, description="why the assumed value is reasonable")

    @model_validator(mode="after")
    def _assumed_needs_reason(self) -> Provenance:
        if self.assumed and not self.reason:
            raise ValueError("assumed: true needs a reason")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"range low {self.range[0]} is above high {self.range[1]}")
        return self


class Entry(Strict):
    """Fields every catalog entry has."""

    id: Id
    name: str = Field(min_length=1)
    sources: list[Source] = Field(min_length=1, description="at least one source per entry")
    provenance: dict[str, Provenance] = Field(
        default_factory=dict, description="per-field sources, ranges and assumptions, keyed by field path"
    )
    notes: str | None = None
    confidence: Literal["high", "medium", "low"] = "medium"

    @field_validator("sources", mode="before")
    @classmethod
    def _sources_from_strings(cls, v):
        if isinstance(v, list):
            return [{"url": s} if isinstance(s, str) else s for s in v]
        return v

    @model_validator(mode="after")
    def _provenance_names_fields(self):
        for path in self.provenance:
            top = path.split(".")[0]
            if top not in type(self).model_fields:
                raise ValueError(f"provenance names unknown field {path!r}")
        return self

    def assumed_fields(self) -> dict[str, str]:
        return {k: p.reason or "" for k, p in self.provenance.items() if p.assumed}


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
    vendor: Literal["nvidia", "amd", "intel", "google"]
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
class PriceRange(Strict):
    """A dated price with low/base/high (sweeps vary it)."""

    low_usd: NonNegFloat
    base_usd: NonNegFloat
    high_usd: NonNegFloat
    date: str = Field(min_length=4, description="when the price was quoted, e.g. 2025-06")
    source: str = Field(min_length=3)
    assumed: bool = False
    reason: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PriceRange:
        if not self.low_usd <= self.base_usd <= self.high_usd:
            raise ValueError(f"needs low <= base <= high, got {self.low_usd}, {self.base_usd}, {self.high_usd}")
        if self.assumed and not self.reason:
            raise ValueError("assumed: true needs a reason")
        return self


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
    moe: MoE | None = None
    mla: MLA | None = None
    local_attention: LocalAttention | None = None
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
        return self

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
    ttft_ms: PositiveFloat = Field(json_schema_extra=unit("ms"), description="time-to-first-token target (p50)")
    tpot_ms: PositiveFloat = Field(json_schema_extra=unit("ms"), description="time-per-output-token target")
    quality_floor: QualityFloor | None = None
    rationale: str


# ------------------------------------------------------------------------------------------------- prices
RentalTerm = Literal["on_demand", "1y", "3y", "spot"]
RENTAL_TERMS: tuple[str, ...] = ("on_demand", "1y", "3y", "spot")


class RentalPrice(Entry):
    """A rental product: one system, one provider class, one term (commitment), one $/GPU-hour range.

    Terms are distinct products: `on_demand` (no commitment, incl. short-term capacity blocks), `1y` and `3y`
    commitments, `spot` (preemptible). `lease_unit: whole_rack` marks rack-scale systems leased only as whole
    racks (NVL72); one rented 'server' of such a system is then the whole rack.
    """

    system: Id
    term: RentalTerm = Field(description="on_demand | 1y | 3y | spot")
    provider_class: Literal["hyperscaler", "neocloud"] = Field(description="who sells it")
    lease_unit: Literal["server", "whole_rack"] = Field("server", description="smallest unit that can be leased")
    usd_per_gpu_hour: PriceRange = Field(description="$/GPU-hour for this term (fields *_usd)")

    @model_validator(mode="after")
    def _plausible_price(self) -> RentalPrice:
        in_range("usd_per_gpu_hour.high_usd", self.usd_per_gpu_hour.high_usd, 0, 1000, " USD/GPU-hour")
        return self


class SoftwareLicence(Entry):
    """An optional software licence charged per GPU (e.g. NVIDIA AI Enterprise); a problem opts in by id."""

    vendors: list[Literal["nvidia", "amd", "intel", "google"]] = Field(
        min_length=1, description="accelerator vendors whose GPUs need it"
    )
    usd_per_gpu_year: PriceRange = Field(description="owned GPUs: subscription per GPU per year (*_usd fields)")
    rented_usd_per_gpu_hour: PriceRange | None = Field(
        None, description="rented GPUs: marketplace price per GPU-hour (default: the yearly price / 8760)"
    )
    bundled_with_systems: list[Id] = Field(
        default_factory=list, description="systems whose purchase includes the licence (no extra charge)"
    )


class Economics(Entry):
    """Default financial assumptions; a problem references one by id and may override any field."""

    amortization_years: Annotated[PositiveFloat, plausible(0.5, 15, " years")]
    cost_of_capital: NonNegFloat = Field(le=0.5, description="annual rate, e.g. 0.08")
    maintenance_fraction_per_year: NonNegFloat = Field(le=0.5, description="of capex, per year")
    electricity_usd_per_kwh: PriceRange = Field(description="low/base/high ($/kWh in the *_usd fields)")
    network_fraction_of_capex: NonNegFloat = Field(0, le=1, description="scale-out fabric, as a share of servers")

    @model_validator(mode="after")
    def _plausible_price(self) -> Economics:
        in_range("electricity_usd_per_kwh.high_usd", self.electricity_usd_per_kwh.high_usd, 0, 2, " USD/kWh")
        return self


# ------------------------------------------------------------------------------------------------- engines
SpeculativeMethod = Literal["mtp", "eagle3"]
SPECULATIVE_METHODS: tuple[str, ...] = ("mtp", "eagle3")


class SpeculativeSupport(Strict):
    """A speculative-decoding method an engine runs, for the models that have a draft (MTP head or EAGLE-3)."""

    method: SpeculativeMethod
    model_families: list[str] = Field(min_length=1, description="model families or ids with a published draft")
    draft_tokens: PositiveInt = Field(le=16, description="tokens drafted per verification step (k)")
    acceptance_length: dict[str, Annotated[float, Field(ge=1, le=17)]] = Field(
        description="mean tokens emitted per verification step (incl. the bonus token) by workload class "
        "(a workload id, or 'default')", json_schema_extra=unit("tokens/step"))
    draft_cost_fraction: float = Field(gt=0, le=1, description="one draft token's forward cost as a share of "
                                       "one target decode step at the same batch")
    max_batch: PositiveInt | None = Field(None, description="running sequences the engine admits with "
                                          "speculation on (CUDA graphs captured up to it); none = max_batch")
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _default_class(self) -> SpeculativeSupport:
        if "default" not in self.acceptance_length:
            raise ValueError("acceptance_length needs a 'default' entry")
        too_long = {k: v for k, v in self.acceptance_length.items() if v > self.draft_tokens + 1}
        if too_long:
            raise ValueError(f"acceptance_length {too_long} exceeds draft_tokens + 1 = {self.draft_tokens + 1}")
        return self


class EngineDefaults(Strict):
    """Scheduler defaults an engine picks differently on some accelerators (e.g. vLLM on A100 / small GPUs)."""

    max_batch: PositiveInt | None = Field(None, description="max_num_seqs there; none = the engine's")
    max_num_batched_tokens: PositiveInt | None = Field(None, description="tokens per step there; none = the "
                                                       "engine's")
    source: str = Field(min_length=3)


class Engine(Entry):
    """A serving engine (vLLM, SGLang, TensorRT-LLM, TGI): what it runs and how its scheduler behaves.

    Capabilities and scheduler knobs are stated here with sources; the fitted efficiency factors per engine and
    vendor live in catalogs/calibration/efficiency.yaml (`engines:`), generated by `python -m planner.perf.fit`.
    """

    version: str = Field(min_length=1, description="the version these figures describe")
    date: str = Field(min_length=4, description="release date of that version, e.g. 2025-10")
    vendors: list[Literal["nvidia", "amd", "intel", "google"]] = Field(min_length=1)
    accelerators: list[Id] | None = Field(None, description="accelerator ids it supports; none = every "
                                          "accelerator of its vendors")
    precisions: list[Id] = Field(min_length=1, description="precision ids it serves")
    attention_dp: bool = Field(description="attention data parallel with shared experts (MoE)")
    wide_ep: bool = Field(description="expert parallel across attention-DP ranks / beyond one node")
    pipeline_parallel: bool
    chunked_prefill: bool
    max_batch: PositiveInt = Field(description="default cap on running sequences per instance (max_num_seqs)")
    max_num_batched_tokens: PositiveInt = Field(description="default tokens per forward step (prefill chunk)")
    cuda_graph_max_batch: PositiveInt = Field(description="largest decode batch replayed from a CUDA graph; "
                                              "larger batches launch every kernel eagerly")
    stream_tokens_per_chunk: Annotated[float, Field(ge=1, le=16)] = Field(
        1.0, description="output tokens delivered per streamed chunk by the scheduler (multi-step "
        "scheduling bursts): median ITL = this x TPOT")
    overlap_scheduling: bool = Field(description="the host schedules step n+1 while the GPU runs step n, "
                                     "hiding per-sequence host time behind the step")
    speculative: list[SpeculativeSupport] = Field(default_factory=list)
    accelerator_defaults: dict[Id, EngineDefaults] = Field(
        default_factory=dict, description="scheduler defaults that differ on these accelerator ids")

    def supports(self, accelerator_id: str, vendor: str) -> bool:
        if self.accelerators is not None:
            return accelerator_id in self.accelerators
        return vendor in self.vendors

    def speculative_for(self, method: str, family: str, model_id: str) -> SpeculativeSupport | None:
        for s in self.speculative:
            if s.method == method and (family in s.model_families or model_id in s.model_families):
                return s
        return None


class NetworkItem(Entry):
    """One scale-out fabric part (switch, optic, cable) with its price: the proposal's BOM counts them from the
    fleet's NIC ports (planner.proposal.network); the optimizer itself prices the fabric as
    `network_fraction_of_capex`."""

    role: Literal["switch", "optic", "cable"]
    port_speed_gbps: PositiveFloat = Field(le=3200, json_schema_extra=unit("Gb/s"))
    ports: PositiveInt | None = Field(None, le=1024, description="switch ports at port_speed_gbps (switches only)")
    price: PriceRange = Field(description="price of one unit")

    @model_validator(mode="after")
    def _ports_for_switches(self) -> NetworkItem:
        if (self.role == "switch") != (self.ports is not None):
            raise ValueError("ports is required for a switch and applies to switches only")
        return self


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
