"""What every catalog schema builds on: strict models (no unknown field, no true/false for a number, no
.inf), entries with their sources and per-field provenance, plausibility ranges, units, dated price ranges,
and the compute and KV datatypes."""

from __future__ import annotations

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
# Accelerator vendors: an accelerator names one; engines, prices and per-vendor limits key by them
Vendor = Literal["nvidia", "amd", "intel", "google"]
# Architecture families an accelerator's free-text `architecture` names (its words before the compiler target in
# parentheses): the engine fit keys its factors per engine x family where a family has the evidence
# (engine_fit.py), since one vendor's generations run different kernels (Hopper's FP8 MMA without block scales,
# Blackwell's microscaled FP4). Blackwell Ultra (sm_103) is Blackwell's family: the same tensor-core generation
ARCHITECTURE_FAMILIES: dict[str, str] = {
    "Ampere": "ampere", "Ada Lovelace": "ada", "Hopper": "hopper", "Blackwell": "blackwell",
    "Blackwell Ultra": "blackwell", "CDNA 3": "cdna3", "CDNA 4": "cdna4", "Gaudi 3": "gaudi3",
}


def architecture_family(architecture: str) -> str:
    """The family key of an accelerator's `architecture` text ('Hopper (sm_90)' -> 'hopper'); a name the table
    does not know (a user's own part) is a family of its own, its words lower-cased and joined ('Toy Chip' ->
    'toy_chip'): no engine entry has that key, so its engines run with their vendor's factors."""
    name = architecture.split("(")[0].strip()
    return ARCHITECTURE_FAMILIES.get(name) or "_".join(name.lower().split())
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
