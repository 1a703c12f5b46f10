"""The Instance: a problem resolved against the catalog into the numbers the formulation needs (tokens/s,
watts, kW, US dollars per hour), per workload, system and rack type. `planner.optimize.resolve_problem` builds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner import economics as money
from planner.optimize.value_data import ValueData


@dataclass(frozen=True)
class WorkloadData:
    id: str
    isl: int
    osl: int
    ttft_target_s: float  # inf: no TTFT target (planned at an assumed utilization, perf.capacity; has_ttft_target)
    tpot_target_s: float
    floor_benchmark: str | None
    floor_score: float | None
    demand_out_tok_s: float | None  # peak, without headroom
    headroom: float
    min_replicas: int
    models: tuple[str, ...] | None
    precisions: tuple[str, ...] | None
    kv_precisions: tuple[str, ...] | None
    serving: tuple[str, ...]
    allow_quantization: bool = False
    effort: tuple[str, ...] | None = None  # allowed reasoning effort levels (None: any the model has)
    survive_level: str | None = None  # "servers" | "racks" | None
    survive_count: int = 0
    average_out_tok_s: float | None = None  # average demand (None: not given)
    slo_percentile: float = 90.0  # ttft/tpot targets hold at this percentile
    engines: tuple[str, ...] | None = None  # None: the generic engine
    speculative: tuple[str, ...] | None = None  # choices to search (None: none; ("auto",): every draft)
    prefill_layouts: str = "shared"  # disaggregated: "search" gives prefill instances their own layouts

    @property
    def required_out_tok_s(self) -> float:
        return (self.demand_out_tok_s or 0.0) * (1 + self.headroom)

    @property
    def has_ttft_target(self) -> bool:
        """Whether the workload gives a TTFT target (`ttft_target_s` is inf where it does not)."""
        return math.isfinite(self.ttft_target_s)

    @property
    def ttft_target_or_none_s(self) -> float | None:
        """The TTFT target as a plan records it: None where the workload gives none."""
        return self.ttft_target_s if self.has_ttft_target else None


@dataclass(frozen=True)
class SystemData:
    id: str
    accelerator: str
    gpus: int
    domain: int
    nameplate_kw: float
    rack_units: int | None
    whole_rack: bool
    cooling: str
    price_usd: float
    capex_usd: float  # price incl. scale-out network share
    buy: bool
    rent: bool
    existing: int
    supply: int | None
    rent_supply: int | None
    rent_usd_per_gpu_hour: float | None
    idle_w: float  # per GPU
    tdp_w: float
    non_gpu_avg_w: float  # host and network: everything beyond the GPU boards (planner.power)
    new_usd_per_hour: float  # fixed $/h of one new server (capital, maintenance, facility, base energy, licence)
    existing_usd_per_hour: float  # same without capital
    usd_per_w_hour: float  # energy $/h per average watt drawn (PUE included)
    network_kw: float = 0.0  # scale-out network share outside the chassis (planner.power)
    rent_term: str | None = None  # term of the rental product used (on_demand, 1y, 3y, spot; custom: override)
    rent_product: str | None = None
    licence_usd_per_gpu_hour_owned: float = 0.0
    licence_usd_per_gpu_hour_rented: float = 0.0

    @property
    def provisioned_kw(self) -> float:
        """All-in power to provision: chassis nameplate + network share (planner.power.provisioned_kw)."""
        return self.nameplate_kw + self.network_kw

    @property
    def rent_usd_per_hour(self) -> float:
        """Rental plus licence, per rented server."""
        return money.rental_usd_per_hour(self.gpus, self.rent_usd_per_gpu_hour) + money.rental_usd_per_hour(
            self.gpus, self.licence_usd_per_gpu_hour_rented
        )

    @property
    def licence_usd_per_hour_owned(self) -> float:
        return self.gpus * self.licence_usd_per_gpu_hour_owned

    def domain_capacity(self, t: int) -> int:
        """GPUs one server offers to groups of size >= t that must sit inside one scale-up domain."""
        full, rest = divmod(self.gpus, self.domain)
        return full * (self.domain // t) * t + (rest // t) * t


@dataclass(frozen=True)
class RackData:
    id: str
    max_kw: float
    units: int
    cooling: str
    count: int | None
    price_usd: float
    usd_per_hour: float  # capital + maintenance of one rack


@dataclass
class Instance:
    name: str
    workloads: dict[str, WorkloadData]
    systems: dict[str, SystemData]
    racks: dict[str, RackData]
    pue: float
    power_limit_kw: float | None  # facility power (IT x PUE)
    electricity_usd_per_kwh: float
    facility_usd_per_kw_month: float
    crf: float
    maintenance_fraction: float
    network_fraction: float
    amortization_years: float
    cost_of_capital: float
    budget_capex_usd: float | None
    budget_usd_per_hour: float | None
    objective: str
    demand_cap_multiple: float | None
    time_limit_s: float
    gap: float
    notes: list[str] = field(default_factory=list)
    max_configs_per_workload: int | None = None
    max_platforms_per_workload: int | None = None
    max_platforms: int | None = None
    min_deployment_share: float | None = None
    complexity_usd_per_hour: float = 0.0
    value: ValueData = field(default_factory=lambda: ValueData({}, {}, ()))  # prices, priorities, hour classes
