"""The typed result of a solve (`Plan`) and its JSON form (`plan.json`).

`plan_json()` is deterministic: keys sorted, floats rounded to 6 significant digits, lists in a fixed order.
The only fields that vary from run to run are `solve_time_s` and `timing` (wall-clock seconds): tests that
compare plans byte for byte drop those two keys (see `deterministic_view`).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Count = Annotated[int, Field(ge=0)]
Size = Annotated[int, Field(gt=0)]
VARYING_KEYS = ("solve_time_s", "timing")
# plan.json's format: `verify` refuses a newer one; a plan.json without the field predates versioning (0)
PLAN_FORMAT_VERSION = 1


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rack(_M):
    rack_type: str
    systems: dict[str, Count]
    power_kw: float
    rack_units_used: int = 0


class Fleet(_M):
    servers: dict[str, Count] = Field(default_factory=dict, description="all servers in use, owned and rented")
    servers_new: dict[str, Count] = Field(default_factory=dict)
    servers_existing: dict[str, Count] = Field(default_factory=dict)
    servers_rented: dict[str, Count] = Field(default_factory=dict)
    gpus: dict[str, Count] = Field(default_factory=dict, description="GPUs per accelerator, owned and rented")
    racks: list[Rack] = Field(default_factory=list)
    it_power_kw: float = Field(
        0.0, description="provisioned all-in IT power of owned servers (nameplate + network, planner.power)"
    )
    it_power_avg_kw: float = Field(0.0, description="modelled average all-in IT power of owned servers")
    facility_power_kw: float = Field(0.0, description="provisioned IT power x PUE (what the site must supply)")
    capex_usd: float = 0.0
    opex_usd_per_year: float = 0.0
    cost_usd_per_hour: float = 0.0
    cost_breakdown_usd_per_hour: dict[str, float] = Field(default_factory=dict)
    output_tok_s: float = 0.0
    total_tok_s: float = 0.0
    tokens_per_usd: float | None = None
    usd_per_mtok: float | None = None
    tokens_per_kwh: float | None = Field(
        None, description="owned output tokens per kWh of all-in IT energy (GPUs + host + network, before PUE)"
    )
    output_tok_s_per_provisioned_mw: float | None = Field(
        None, description="owned output tokens/s per MW of provisioned all-in IT power (before PUE)"
    )
    usd_per_mtok_at_average: float | None = Field(
        None, description="$ per million output tokens at the workloads' average demand (the fleet costs the same "
        "per hour; it serves fewer tokens than at capacity)"
    )
    tokens_per_usd_at_average: float | None = Field(None, description="output tokens per $ at average demand")
    headline: str = Field(
        "at_capacity", description="which $/Mtok the report prints first: at_average when every workload states "
        "an average demand, else at_capacity"
    )
    rental_terms: dict[str, str] = Field(
        default_factory=dict, description="rented system -> rental term used (on_demand, 1y, 3y, spot; custom)"
    )


GENERIC_ENGINE = "generic"  # Deployment.engine of the model's own calibrated engine (perf grid engine '')


class Deployment(_M):
    key: str
    workload: str
    model: str
    precision: str
    kv_precision: str
    system: str
    accelerator: str
    mode: str = Field(description="own (bought or existing servers) or rent")
    tp: Size
    pp: Size
    ep: Size
    dp: Count = Field(description="data-parallel copies of the replica (= replicas), as in `planner predict`")
    attn_dp: Size = Field(description="attention data-parallel ranks inside one replica")
    serving: str
    batch: Size
    replicas: Count
    gpus: Count = Field(description="GPUs of all replicas")
    gpus_per_replica: Size
    group_gpus: Size
    output_tok_s: float = Field(description="all replicas")
    output_tok_s_per_replica: float
    total_tok_s: float
    ttft_s: float
    tpot_s: float
    avg_power_w_per_replica: float
    quality: float | None = None
    engine: str = Field("", description="serving engine id (catalog), or `generic`: the performance model's "
                        "calibrated engine without engine-specific factors (fitted on published TensorRT-LLM and "
                        "vLLM maxima); empty in plans written before engines were named")
    speculative: str = Field("none", description="speculative decoding the replicas run: none, mtp or eagle3")
    acceptance_length: float | None = Field(
        None, description="speculative decoding: mean tokens emitted per decode step (incl. the bonus token)")
    prefill_tp: Size | None = Field(None, description="disaggregated: the prefill instances' tensor parallel")
    prefill_pp: Size | None = Field(None, description="disaggregated: the prefill instances' pipeline stages")
    prefill_ep: Size | None = Field(None, description="disaggregated: the prefill instances' expert parallel")
    prefill_attn_dp: Size | None = Field(None, description="disaggregated: the prefill instances' attention DP")
    prefill_instances: Count | None = Field(None, description="disaggregated: prefill instances per replica unit "
                                            "(rate-matched to the decode instances)")
    decode_instances: Count | None = Field(None, description="disaggregated: decode instances per replica unit; "
                                           "tp/pp/ep/attn_dp above are the decode layout")
    checkpoint: str = Field(
        "published", description="`published` weights, `upcast from X`, or the quantization step used"
    )
    effort: str | None = Field(None, description="reasoning effort level; null where the model has none")


class Server(_M):
    """One physical server (or whole-rack system) and the replicas on it (a replica larger than one server is
    listed on every server it spans, and dies with any of them)."""

    server_id: str = Field(description="system#n (owned) or system#rent-n (rented)")
    system: str
    rack: str | None = Field(None, description="rack_type#n of fleet.racks; null when racks are not modelled "
                             "or the server is rented")
    deployments: dict[str, Count] = Field(default_factory=dict, description="deployment key -> replicas here")


class PriceOf(_M):
    """What a requirement costs: the plan's cost against the optimum without it (same objective)."""

    without_usd_per_hour: float | None
    add_usd_per_hour: float | None
    add_pct: float | None
    message: str = ""


class WorkloadResult(_M):
    """One workload: the targets it was solved against beside what the plan achieves."""

    workload: str
    demand_output_tok_s: float | None = Field(description="target: peak demand, without headroom")
    headroom: float = Field(0.0, description="target: capacity margin over the demand")
    required_output_tok_s: float | None = Field(description="target: demand x (1 + headroom)")
    capacity_output_tok_s: float = Field(description="achieved: output tok/s of all its replicas")
    replicas: int
    ttft_target_s: float | None = None
    tpot_target_s: float | None = None
    slo_percentile: float | None = Field(None, description="target: the percentile at which TTFT/TPOT hold")
    slo_basis: str | None = Field(
        None, description="what the capacity holds the targets to, in words (planner.perf.slo_policy.slo_basis): "
        "the percentile; for disaggregated deployments TTFT at it and TPOT as the full batch's decode step; "
        "without a TTFT target, the assumed utilization bound; null in plans written before it")
    utilization_cap: float | None = Field(
        None, description="the share of saturation each replica's request rate was held to, where the workload "
        "has no TTFT target to bound it (assumed: planner.perf.assumptions no_ttft_target_utilization); null "
        "where a TTFT target bounds the rate, the workload has no deployment, or the plan was written before it")
    ttft_s: float | None = Field(None, description="achieved: the slowest deployment's TTFT at that percentile")
    tpot_s: float | None = Field(None, description="achieved: the slowest deployment's TPOT at that percentile")
    quality_floor_benchmark: str | None = None
    quality_floor_score: float | None = Field(None, description="target: the least score allowed")
    quality: float | None = Field(None, description="achieved: the lowest score among its deployments")


class Limits(_M):
    """The fleet-wide limits the plan was solved against (None: no such limit)."""

    site_power_kw: float | None = Field(None, description="facility power (IT nameplate x PUE)")
    pue: float | None = None
    budget_capex_usd: float | None = None
    budget_usd_per_hour: float | None = None
    rack_power_kw: dict[str, float] = Field(default_factory=dict, description="max power per rack type")
    rack_count: dict[str, Count] = Field(default_factory=dict, description="racks available per type")


class Binding(_M):
    constraint: str
    family: str
    message: str


class RunnerUp(_M):
    excluded_accelerator: str
    status: str
    objective_value: float | None = None
    difference: float | None = None
    difference_pct: float | None = None
    accelerators: list[str] = Field(default_factory=list)
    message: str = ""


class CashFlowYear(_M):
    year: int
    capex_usd: float
    revenue_usd: float
    opex_usd: float
    net_usd: float
    cumulative_usd: float
    discounted_usd: float


class Economics(_M):
    """What the fleet earns (issue 10): year-average figures (from the demand profile when there is one).
    Revenue-based fields are null when no workload has a `value`."""

    revenue_usd_per_hour: float | None = None
    cost_usd_per_hour: float = Field(0.0, description="all-in, capital charge included")
    cost_breakdown_usd_per_hour: dict[str, float] = Field(
        default_factory=dict, description="cost_usd_per_hour by component (capital, energy, rental, ...), year "
        "average: with a demand profile, each hour class's fleet cost weighted by its hours"
    )
    profit_usd_per_hour: float | None = None
    gross_margin: float | None = Field(None, description="(revenue - all-in cost) / revenue")
    payback_years: float | None = Field(None, description="capex / annual net cash (revenue - opex)")
    discounted_payback_years: float | None = None
    npv_usd: float | None = Field(None, description="at the cost of capital over the amortization horizon")
    irr: float | None = None
    revenue_usd_per_mw_year: float | None = None
    profit_usd_per_mw_year: float | None = None
    output_tok_s_per_mw: float | None = Field(
        None, description="output tok/s served per provisioned MW (per-MW figures count rented servers in the "
        "hours they are rented)"
    )
    output_tok_s_per_w: float | None = Field(None, description="output tok/s served per average IT watt")
    provisioned_mw: float = Field(
        0.0, description="servers' nameplate IT power x PUE: owned, plus rented ones averaged over their hours"
    )
    racks: int = 0
    revenue_usd_per_rack_year: float | None = None
    profit_usd_per_rack_year: float | None = None
    output_tok_s_per_rack: float | None = None
    horizon_years: float = 0.0
    discount_rate: float = 0.0
    capex_usd: float = 0.0
    revenue_usd_per_year: float | None = None
    opex_usd_per_year: float = Field(0.0, description="cash operating cost: all-in cost minus capital charge")
    capital_charge_usd_per_year: float = 0.0
    profit_usd_per_year: float | None = None
    served_output_tok_s: float = Field(0.0, description="output tok/s sold (at most the demand), year average")
    capacity_output_tok_s: float = Field(0.0, description="output tok/s the running replicas offer, year average")
    utilization: float | None = Field(None, description="served / capacity")
    usd_per_mtok_served: float | None = Field(None, description="all-in cost per million output tokens served")
    revenue_by_workload_usd_per_hour: dict[str, float] = Field(default_factory=dict)
    served_by_workload_output_tok_s: dict[str, float] = Field(
        default_factory=dict, description="output tok/s sold per workload (at most its demand), year average"
    )
    cash_flows: list[CashFlowYear] = Field(default_factory=list)


class HourClassResult(_M):
    """One hour class of a demand profile: the hours of the week that share one demand level per workload."""

    hours: str = Field(description="e.g. 'daily 09-17' or 'weekday 09-17; weekend 12-14' (hours starting)")
    hours_per_week: int
    share_of_year: float
    demand_multipliers: dict[str, float]
    replicas: dict[str, Count] = Field(description="deployment key -> replicas running in these hours")
    owned_replicas: Count
    rented_replicas: Count
    servers_rented: dict[str, Count] = Field(default_factory=dict)
    capacity_output_tok_s: dict[str, float] = Field(default_factory=dict)
    served_output_tok_s: dict[str, float] = Field(default_factory=dict)
    cost_usd_per_hour: float
    revenue_usd_per_hour: float | None = None
    profit_usd_per_hour: float | None = None
    utilization: float | None = None


class PlatformResult(_M):
    """The best plan on one accelerator alone (max_profit): the AI-factory comparison at equal site power."""

    accelerator: str
    status: str
    profit_usd_per_hour: float | None = None
    profit_usd_per_mw_year: float | None = None
    revenue_usd_per_mw_year: float | None = None
    output_tok_s_per_mw: float | None = None
    provisioned_mw: float | None = None
    gpus: int = 0
    systems: list[str] = Field(default_factory=list)
    precisions: list[str] = Field(default_factory=list)
    difference_usd_per_hour: float | None = Field(None, description="profit minus the best platform's profit")
    difference_pct: float | None = None


class Plan(_M):
    problem: str
    status: str
    objective: str
    objective_unit: str
    objective_value: float | None
    best_bound: float | None
    gap: float | None
    backend: str
    solve_time_s: float
    iterations: int = 1
    candidates: int = 0
    fleet: Fleet = Fleet()
    deployments: list[Deployment] = Field(default_factory=list)
    placement: list[Server] = Field(default_factory=list, description="one entry per physical server")
    price_of: dict[str, PriceOf] = Field(
        default_factory=dict, description="cost of the simplicity limits ('limits') and failure domains "
        "('survive'), each against a re-solve without it"
    )
    workloads: list[WorkloadResult] = Field(default_factory=list)
    binding: list[Binding] = Field(default_factory=list)
    runner_up: RunnerUp | None = None
    notes: list[str] = Field(default_factory=list)
    timing: dict[str, float] = Field(default_factory=dict)
    message: str = ""
    problem_yaml: str | None = Field(
        None, description="the problem file the plan was solved from, verbatim: `planner verify plan.json` "
        "re-checks against it when no problem file is given"
    )
    catalog_dirs: list[str] = Field(default_factory=list, description="--catalog folders used, as given")
    economics: Economics | None = Field(None, description="revenue, profit and the investment view")
    platforms: list[PlatformResult] = Field(
        default_factory=list, description="max_profit: the best plan on each accelerator alone, best first"
    )
    hourly: list[HourClassResult] = Field(
        default_factory=list, description="with a demand profile: each hour class (the peak first)"
    )
    limits: Limits = Limits()
    catalog_fingerprint: str = Field("", description="hash of the catalog entries the plan was solved with")
    planner_version: str = ""
    format_version: int = Field(PLAN_FORMAT_VERSION, description="plan.json format (0: written before versions)")
    problem_sha256: str | None = Field(
        None, description="SHA-256 of problem_yaml: verify tells an edited embedded problem from the one solved"
    )

    def servings_of(self, workload: str) -> set[str]:
        """The serving modes of a workload's deployments."""
        return {d.serving for d in self.deployments if d.workload == workload}


def _round(x: Any) -> Any:
    if isinstance(x, float):
        if not math.isfinite(x) or x == 0:
            return x if math.isfinite(x) else None
        return float(f"{x:.6g}")
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v) for v in x]
    return x


def plan_dict(plan: Plan) -> dict:
    return _round(plan.model_dump(mode="json"))


def plan_json(plan: Plan) -> str:
    return json.dumps(plan_dict(plan), indent=2, sort_keys=True) + "\n"


def deterministic_view(data: dict) -> dict:
    """The plan without the wall-clock fields (what must be identical run after run)."""
    return {k: v for k, v in data.items() if k not in VARYING_KEYS}


def load_plan(text: str) -> Plan:
    return Plan.model_validate(json.loads(text))
