"""Problem files (`problems/*.yaml`): strict schemas and loading.

A problem names the services to run (workloads), what may be bought or rented (fleet), where it goes (site), how
money is counted (economics), limits (budget) and what to optimize (objective). Every field is validated like a
catalog entry: unknown fields are errors, and every error names the file and the field path
(`problems/x.yaml: workloads[chat].tpot_ms: must be > 0, got 0`), exit code 2.
Catalog references (archetypes, models, systems, racks, sites) are checked in `planner.optimize.instance`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from planner.catalog.schema_base import ID_PATTERN, KvDtype, NonNegFloat, plausible, unit
from planner.catalog.schema_base import Strict as _CatalogStrict
from planner.catalog.schema_prices import RentalTerm
from planner.catalog.schemas import QualityFloor
from planner.errors import InputError
from planner.inputs import display_path, format_validation_error, ids_in_path, parse_yaml, read_text
from planner.limits import check
from planner.optimize.value_spec import DemandProfile, TokenValue, check_value_fields
from planner.power import DEFAULT_NON_GPU_LOAD_FRACTION

Id = Annotated[str, Field(pattern=ID_PATTERN)]
Serving = Literal["aggregated", "disaggregated"]
NonNegInt = Annotated[int, Field(ge=0)]


def _no_repeats(items: list) -> list:
    twice = sorted({str(x) for x in items if items.count(x) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} listed more than once")
    return items


Ids = Annotated[list[Id], AfterValidator(_no_repeats)]
KvList = Annotated[list[KvDtype], AfterValidator(_no_repeats)]
ServingList = Annotated[list[Serving], AfterValidator(_no_repeats)]
SpecChoice = Literal["none", "mtp", "eagle3", "auto"]
SpecList = Annotated[list[SpecChoice], AfterValidator(_no_repeats)]


class Strict(_CatalogStrict):
    """Unknown fields, `.inf`/`.nan` and true/false where a number belongs are errors (as in the catalog)."""


# Upper ends of a workload's demand: ASSUMED guards against unit slips (a day's or a minute's tokens typed as
# tokens/s: 86,400x or 60x; thousands as units: 1,000x), not measured figures; a value past them is refused with
# the range named rather than planned. One limit in three units:
DEMAND_MAX_OUTPUT_TOK_S = 1e10  # assumed round figure: a million replicas of 10,000 output tokens/s
DEMAND_MAX_REQUESTS_S = 1e7  # the output-token limit at ~1,000 output tokens a request (assumed)
DEMAND_MAX_TOKENS_PER_DAY = 1e16  # that x 86,400 s x ~10 tokens an output token: 8.64e15, rounded up


class Demand(Strict):
    """Peak demand of one workload: give exactly one of requests_per_s, output_tokens_per_s or tokens_per_day."""

    requests_per_s: Annotated[float | None, plausible(0, DEMAND_MAX_REQUESTS_S, " requests/s")] = Field(
        None, gt=0, description="peak requests per second", json_schema_extra=unit("1/s")
    )
    output_tokens_per_s: Annotated[float | None, plausible(0, DEMAND_MAX_OUTPUT_TOK_S, " tokens/s")] = Field(
        None, gt=0, description="peak generated tokens per second", json_schema_extra=unit("tokens/s")
    )
    tokens_per_day: Annotated[float | None, plausible(0, DEMAND_MAX_TOKENS_PER_DAY, " tokens/day")] = Field(
        None, gt=0, description="input + output tokens per day (average)", json_schema_extra=unit("tokens/day")
    )
    peak_factor: float = Field(1.0, ge=1, le=20, description="peak / average rate, applied to tokens_per_day")

    @model_validator(mode="after")
    def _one(self) -> Demand:
        given = [f for f in ("requests_per_s", "output_tokens_per_s", "tokens_per_day") if getattr(self, f)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of requests_per_s, output_tokens_per_s, tokens_per_day"
                f" (got {', '.join(given) or 'none'})"
            )
        if self.peak_factor != 1.0 and not self.tokens_per_day:
            raise ValueError("peak_factor applies to tokens_per_day only")
        return self


class Survive(Strict):
    """Failure domains the fleet must survive: after losing any `servers` servers (or any `racks` racks), every
    workload still serves its peak demand with the replicas left (each within its latency targets)."""

    servers: int | None = Field(None, ge=0, le=100, description="servers that may fail at once")
    racks: int | None = Field(None, ge=0, le=100, description="racks that may fail at once")

    @model_validator(mode="after")
    def _one(self) -> Survive:
        if (self.servers is None) == (self.racks is None):
            raise ValueError("give exactly one of servers, racks (e.g. survive: {servers: 1})")
        return self

    @property
    def level(self) -> str:
        return "servers" if self.servers is not None else "racks"

    @property
    def count(self) -> int:
        return int(self.servers if self.servers is not None else self.racks)  # type: ignore[arg-type]


EffortName = Literal["low", "medium", "high", "non-thinking", "thinking"]


class Limits(Strict):
    """Simplicity limits a buyer would ask for (defaults in the field descriptions)."""

    max_configs_per_workload: int | None = Field(
        2, ge=1, le=1000, description="distinct configurations (model, precision, system, parallelism, batch, "
        "serving, own/rent) per workload; default 2, null for no limit"
    )
    max_platforms_per_workload: int | None = Field(
        None, ge=1, le=100, description="distinct system types per workload (default: no limit)"
    )
    max_platforms: int | None = Field(None, ge=1, le=100, description="distinct system types in the fleet")
    min_deployment_share: float | None = Field(
        None, ge=0, le=1, description="each configuration serves at least this share of its workload's demand "
        "(e.g. 0.1), unless it is the workload's only one"
    )
    complexity_usd_per_hour: float = Field(
        0.0, ge=0, json_schema_extra=unit("USD/h"),
        description="operating cost charged per distinct configuration in use (default 0)",
    )


class WorkloadSpec(Strict):
    """One service. `archetype` copies a catalog workload; every field given here overrides it."""

    id: Id
    archetype: Id | None = Field(None, description="catalog workload id to start from")
    demand: Demand | None = Field(None, description="peak demand; required except for max_throughput")
    isl_tokens: int | None = Field(None, gt=0, le=1_000_000, json_schema_extra=unit("tokens"))
    osl_tokens: int | None = Field(None, gt=0, le=1_000_000, json_schema_extra=unit("tokens"))
    ttft_ms: float | Literal["none"] | None = Field(
        None, json_schema_extra=unit("ms"), description="time-to-first-token target; absent: the archetype's; "
        "`none` (or none from the archetype): no TTFT target, each replica planned at 90% of its saturation "
        "rate (assumed)"
    )
    tpot_ms: float | None = Field(
        None, gt=0, json_schema_extra=unit("ms"), description="time-per-output-token target"
    )
    slo_percentile: float | None = Field(
        None, ge=1, lt=100, description="percentile at which ttft_ms/tpot_ms must hold (default: the problem's; "
        "99 for p99: 0.99 is a fraction, refused)"
    )
    quality_floor: QualityFloor | None = Field(
        None, description="benchmark and minimum score (after quantization)"
    )
    no_quality_floor: bool = Field(False, description="drop the archetype's quality floor")
    models: Ids | None = Field(
        None, min_length=1, description="allowed models (default: any meeting the floor)"
    )
    precisions: Ids | None = Field(None, min_length=1, description="allowed weight precisions (default: any)")
    kv_precisions: KvList | None = Field(None, min_length=1, description="KV-cache formats to consider")
    serving: ServingList = Field(["aggregated", "disaggregated"], min_length=1)
    engines: Ids | None = Field(
        None, min_length=1, description="serving engines to search (catalog ids, e.g. [vllm, sglang, trtllm], or "
        "`all`: every catalog engine that serves the accelerator and precision); default: the generic "
        "calibrated engine (see the README for why engine search is opt-in)")
    speculative: SpecList | None = Field(
        None, min_length=1, description="speculative decoding to search: `auto` (none plus every method whose "
        "draft the model and engine have) or a list of none, mtp, eagle3; default: none (opt-in, see README)")
    prefill_layouts: Literal["shared", "search"] = Field(
        "shared", description="disaggregated serving: `search` gives prefill instances their own layouts "
        "(TP/PP/EP/attention-DP); default `shared`: one layout for both phases (opt-in, see README)")
    effort: EffortName | list[EffortName] | None = Field(
        None, description="reasoning effort level, or the levels allowed (default: any the model has)"
    )
    survive: Survive | None = Field(
        None, description="failure domains for this workload (overrides the top level)"
    )
    average_demand: Demand | None = Field(
        None, description="average demand beside the peak `demand` (for figures at average load)"
    )
    peak_factor: float | None = Field(
        None, ge=1, le=100, description="peak / average demand (alternative to average_demand)"
    )
    allow_quantization: bool = Field(
        False, description="allow precisions the model has no published checkpoint in (a named quantization step "
        "with its quality delta); default: published checkpoints only"
    )
    headroom: float = Field(0.0, ge=0, le=5, description="extra capacity above peak demand, e.g. 0.2 = 20%")
    min_replicas: int = Field(1, ge=0, le=10000, description="replicas kept for availability, whatever the demand")
    value: TokenValue | None = Field(None, description="what its tokens earn (default: the problem's `value`)")
    priority: float | None = Field(
        None, gt=0, le=1e6, description="weight of its tokens in max_throughput (instead of a value)"
    )
    demand_profile: DemandProfile | None = Field(
        None, description="24 hourly multipliers of peak demand, or {weekday: [...], weekend: [...]}"
    )

    @field_validator("speculative", mode="before")
    @classmethod
    def _speculative_word(cls, v):
        return _word_as_list(v, "auto", "give `auto` or a list of none, mtp, eagle3 (one method: [mtp])")

    @field_validator("engines", mode="before")
    @classmethod
    def _engines_word(cls, v):
        return _word_as_list(v, "all", "give a list of engine ids or `all` (one engine: [vllm])")

    @field_validator("ttft_ms", mode="before")
    @classmethod
    def _ttft_or_none(cls, v):
        """One clear message for a bad value (the union's members would each report one)."""
        ok = v is None or v == "none" or (isinstance(v, int | float) and not isinstance(v, bool) and v > 0)
        if not ok:
            raise ValueError(f"give a target in ms > 0, or none (no TTFT target), got {v!r}")
        return float(v) if isinstance(v, int | float) else v

    @model_validator(mode="after")
    def _floor_or_not(self) -> WorkloadSpec:
        if self.no_quality_floor and self.quality_floor is not None:
            raise ValueError("give quality_floor or no_quality_floor: true, not both")
        if self.average_demand is not None and self.peak_factor is not None:
            raise ValueError("give average_demand or peak_factor, not both")
        if self.peak_factor is not None and self.demand is not None and self.demand.peak_factor != 1.0:
            raise ValueError("give peak_factor once: on the workload, or in demand (tokens_per_day)")
        if isinstance(self.effort, list):
            _no_repeats(self.effort)
            if not self.effort:
                raise ValueError("effort: give a level or a non-empty list of levels")
        return self


class Existing(Strict):
    system: Id
    count: int = Field(gt=0, description="servers (or whole racks) already owned; their capex is sunk")


class Fleet(Strict):
    systems: Ids | None = Field(
        None, min_length=1, description="allowed systems (default: every catalog system)"
    )
    acquire: Annotated[list[Literal["buy", "rent"]], AfterValidator(_no_repeats)] = Field(
        ["buy"], min_length=1, description="how new capacity is obtained"
    )
    existing: list[Existing] = Field(default_factory=list, description="inventory to reuse (brownfield)")
    supply: dict[Id, NonNegInt] = Field(
        default_factory=dict, description="most new servers that can be bought, per system"
    )
    rent_supply: dict[Id, NonNegInt] = Field(
        default_factory=dict, description="most servers that can be rented, per system"
    )
    rental_provider: Literal["hyperscaler", "neocloud"] | None = Field(
        None, description="rental provider class to use (default: the cheapest listed per system)"
    )
    rental_terms: Annotated[list[RentalTerm], AfterValidator(_no_repeats)] = Field(
        ["on_demand", "1y", "3y"], min_length=1,
        description="rental terms allowed (on_demand, 1y, 3y, spot); the cheapest allowed product per system is "
        "used and the plan names its term. spot is out by default: preemptible capacity cannot carry a service",
    )
    engines: Ids | None = Field(
        None, min_length=1, description="serving engines every workload without its own `engines` searches "
        "(catalog ids or `all`); default: the generic calibrated engine")

    @field_validator("engines", mode="before")
    @classmethod
    def _engines_word(cls, v):
        return _word_as_list(v, "all", "give a list of engine ids or `all` (one engine: [vllm])")


class RackAvailability(Strict):
    type: Id = Field(description="catalog rack type id")
    count: int | None = Field(None, ge=0, description="racks of this type available (default: unlimited)")


class SiteSpec(Strict):
    id: Id | None = Field(None, description="catalog site id (PUE and facility cost)")
    pue: float | None = Field(None, ge=1.0, le=3.0, description="facility power / IT power (overrides the site's)")
    power_limit_mw: Annotated[float | None, plausible(0.001, 10_000, " MW")] = Field(
        None,
        gt=0,
        json_schema_extra=unit("MW"),
        description="facility power available, IT x PUE (default: unlimited)",
    )
    cooling: Annotated[list[Literal["air", "liquid"]], AfterValidator(_no_repeats)] = Field(
        ["air", "liquid"], min_length=1, description="cooling the site supports"
    )
    racks: list[RackAvailability] | None = Field(
        None, min_length=1,
        description="rack types and counts available (default: every catalog rack type, unlimited); an empty "
        "list is an error rather than a silent 'no racks'",
    )
    facility_usd_per_kw_month: Annotated[float | None, plausible(0, 5000, " USD/kW/month")] = Field(
        None, ge=0, json_schema_extra=unit("USD/kW/month"))


class EconomicsSpec(Strict):
    id: Id = Field("default", description="catalog economics entry to start from")
    amortization_years: Annotated[float | None, plausible(0.5, 15, " years")] = Field(
        None, gt=0, description="horizon over which capex is recovered"
    )
    cost_of_capital: float | None = Field(None, ge=0, le=0.5)
    maintenance_fraction_per_year: float | None = Field(None, ge=0, le=0.5)
    electricity_usd_per_kwh: float | None = Field(None, ge=0, le=2)
    network_fraction_of_capex: float | None = Field(None, ge=0, le=1)
    price_case: Literal["low", "base", "high"] = Field("base", description="which catalog price to use")
    system_prices_usd: dict[Id, Annotated[NonNegFloat, plausible(0, 100e6, " USD")]] = Field(
        default_factory=dict, description="purchase price overrides"
    )
    rack_prices_usd: dict[Id, Annotated[NonNegFloat, plausible(0, 10e6, " USD")]] = Field(default_factory=dict)
    rental_usd_per_gpu_hour: dict[Id, Annotated[NonNegFloat, plausible(0, 1000, " USD/GPU-hour")]] = Field(
        default_factory=dict, description="rental price overrides"
    )
    software_licence: Id | None = Field(
        None, description="catalog licence charged per GPU-hour (e.g. nvidia-ai-enterprise); default none"
    )
    non_gpu_load_fraction: float = Field(
        DEFAULT_NON_GPU_LOAD_FRACTION,
        ge=0,
        le=1,
        description="average draw of a server's non-GPU parts (CPUs, fans, NICs) as a share of "
        "nameplate minus the GPUs' TDP",
    )


class Budget(Strict):
    capex_usd: Annotated[float | None, plausible(1, 1e13, " USD")] = Field(
        None, gt=0, description="most that may be spent on new hardware")
    usd_per_hour: Annotated[float | None, plausible(0.01, 1e10, " USD/h")] = Field(
        None, gt=0, description="most the fleet may cost per hour, all in")


class Objective(Strict):
    kind: Literal["min_cost", "max_tokens_per_dollar", "max_throughput", "max_profit"] = "min_cost"
    demand_cap_multiple: float | None = Field(
        None, ge=1, description="credit served tokens up to demand x this (ratio and throughput objectives)"
    )

    @model_validator(mode="after")
    def _cap_needs_ratio_or_throughput(self) -> Objective:
        if self.demand_cap_multiple is not None and self.kind == "min_cost":
            raise ValueError(
                "demand_cap_multiple applies to max_throughput and max_tokens_per_dollar (and max_profit), "
                "not min_cost"
            )
        return self


class SolverSpec(Strict):
    time_limit_s: float = Field(60, gt=0, le=86400)
    gap: float = Field(1e-4, ge=0, le=0.5, description="relative optimality gap at which the solver stops")


class Problem(Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    workloads: list[WorkloadSpec] = Field(min_length=1)
    survive: Survive | None = Field(None, description="failure domains for every workload (default: none)")
    limits: Limits = Limits()
    value: TokenValue | None = Field(None, description="what tokens earn, for every workload without its own")
    fleet: Fleet = Fleet()
    site: SiteSpec = SiteSpec()
    economics: EconomicsSpec = EconomicsSpec()
    budget: Budget = Budget()
    objective: Objective = Objective()
    solver: SolverSpec = SolverSpec()
    slo_percentile: float = Field(
        90.0, ge=1, lt=100, description="percentile at which every workload's TTFT/TPOT targets must hold (p90; "
        "99 for p99: 0.99 is a fraction, refused)"
    )

    @model_validator(mode="before")
    @classmethod
    def _objective_shorthand(cls, data):
        if isinstance(data, dict) and isinstance(data.get("objective"), str):
            data = {**data, "objective": {"kind": data["objective"]}}
        return data

    @model_validator(mode="after")
    def _cross(self) -> Problem:
        ids = [w.id for w in self.workloads]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate workload ids: {', '.join(dup)}")
        if self.objective.kind not in ("max_throughput", "max_profit"):
            missing = [w.id for w in self.workloads if w.demand is None]
            if missing:
                raise ValueError(
                    f"objective {self.objective.kind} needs a demand for every workload "
                    f"(missing: {', '.join(missing)})"
                )
        return self


def parse_problem(data: object, where: str = "<problem>") -> Problem:
    if not isinstance(data, dict):
        raise InputError(f"{where}: top level must be a mapping (name, workloads, fleet, site, ...)")
    if isinstance(data.get("workloads"), list):  # before validation, which is quadratic in duplicates checks
        check("workloads", len(data["workloads"]), f"{where}: workloads")
    fleet = data.get("fleet")
    if isinstance(fleet, dict) and isinstance(fleet.get("systems"), list):
        check("systems", len(fleet["systems"]), f"{where}: fleet.systems")
    try:
        problem = Problem.model_validate(data)
    except ValidationError as err:
        lines = [
            ids_in_path(x, where, data).replace(
                "`planner catalog schema` lists the fields", "see problems/README.md"
            )
            for x in format_validation_error(where, "@", err)
        ]
        raise InputError("\n".join(lines)) from None
    value_errors = check_value_fields(problem)
    if value_errors:
        raise InputError("\n".join(f"{where}: {e}" for e in value_errors))
    return problem


def load_problem(path: str | Path) -> Problem:
    """Read and validate one problem file (exit code 2 on any error, naming file and field)."""
    p = Path(path)
    where = display_path(p)
    text, problem = read_text(p)
    if problem:
        raise InputError(f"{where}: {problem}")
    return problem_from_text(text, where)


def problem_from_text(text: str, where: str) -> Problem:
    """Validate a problem given as YAML text (a file's content, or the copy a plan.json carries)."""
    if not text.strip():
        raise InputError(f"{where}: the file is empty (a problem needs a name and workloads)")
    return parse_problem(parse_yaml(text, where), where)


def _word_as_list(v, word: str, hint: str):
    """A field that takes a list, or one keyword standing for it (`speculative: auto`, `engines: all`)."""
    if isinstance(v, str):
        if v != word:
            raise ValueError(f"{hint}, got {v!r}")
        return [word]
    return v
