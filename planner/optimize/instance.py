"""Resolve a `Problem` against the catalog into the numbers the formulation needs (an `Instance`).

Everything is converted once to the units the model uses: tokens/s, watts, kW, US dollars per hour.
Cost of owning a server for one hour (capex amortized with the capital recovery factor):

    CRF = i (1+i)^n / ((1+i)^n - 1)           (1/n when i = 0; i cost of capital, n amortization years)
    capital    = capex * CRF / 8760           capex = price * (1 + network_fraction_of_capex); 0 if existing
    maintenance = price * (1 + network) * maintenance_fraction / 8760
    facility   = facility_usd_per_kw_month * provisioned all-in kW * 12 / 8760  (nameplate + network)
    base energy = (host average W + network W + GPUs * idle W) * PUE * $/kWh / 1000
    licence    = GPUs * licence $/GPU-hour (optional `economics.software_licence`, unless bundled with the system)
and each replica on an owned server adds (its average board power - its GPUs * idle W) * PUE * $/kWh / 1000.
A rented server costs GPUs * ($/GPU-hour of the cheapest allowed rental product + licence) and nothing else
(power, space and facility are the provider's); the product's term (on_demand, 1y, 3y, spot) goes in the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner import power
from planner.catalog.catalog import Catalog
from planner.economics import HOURS_PER_YEAR, capital_recovery_factor
from planner.errors import InputError
from planner.optimize.problem import Problem
from planner.perf import load_efficiency

# Where a problem names neither a site nor a PUE: the catalog's new-ai-facility figure (Uptime Institute: new
# large builds <= 1.3), said in the plan's notes.
DEFAULT_PUE = 1.3


@dataclass(frozen=True)
class WorkloadData:
    id: str
    isl: int
    osl: int
    ttft_s: float
    tpot_s: float
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

    @property
    def required_out_tok_s(self) -> float:
        return (self.demand_out_tok_s or 0.0) * (1 + self.headroom)


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
    new_usd_per_hour: float  # fixed $/h of one new server (capital, maintenance, facility, base energy)
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
        return self.gpus * ((self.rent_usd_per_gpu_hour or 0.0) + self.licence_usd_per_gpu_hour_rented)

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
    usd_per_hour: float


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


def build_instance(problem: Problem, catalog: Catalog, where: str = "<problem>") -> Instance:
    errors: list[str] = []

    def bad(path: str, msg: str) -> None:
        errors.append(f"{where}: {path}: {msg}")

    def known(table: dict) -> str:
        return ", ".join(sorted(table)) or "none in the catalog"

    def unknown_system(s: str) -> str:
        holding = sorted(k for k, v in catalog.systems.items() if v.accelerator == s)
        if holding:
            return f"{s!r} is an accelerator, not a system; systems holding it: {', '.join(holding)}"
        return f"unknown system {s!r} (known: {known(catalog.systems)})"

    # ---------------------------------------------------------------- economics and site
    econ_spec = problem.economics
    econ = catalog.economics.get(econ_spec.id)
    overrides = (
        "amortization_years",
        "cost_of_capital",
        "maintenance_fraction_per_year",
        "electricity_usd_per_kwh",
        "network_fraction_of_capex",
    )
    if econ is None and any(getattr(econ_spec, f) is None for f in overrides):
        bad(
            "economics.id",
            f"unknown economics {econ_spec.id!r} (known: {known(catalog.economics)}); "
            "without it give every field: " + ", ".join(overrides),
        )
    case = econ_spec.price_case

    def pick(name: str) -> float:
        v = getattr(econ_spec, name)
        if v is not None:
            return float(v)
        if econ is None:
            return 0.0
        v = getattr(econ, name)
        return float(getattr(v, f"{case}_usd")) if hasattr(v, "base_usd") else float(v)

    years = pick("amortization_years") or 1.0
    rate = pick("cost_of_capital")
    maint = pick("maintenance_fraction_per_year")
    elec = pick("electricity_usd_per_kwh")
    network = pick("network_fraction_of_capex")
    crf = capital_recovery_factor(rate, years)

    site_spec = problem.site
    site = None
    if site_spec.id is not None:
        site = catalog.sites.get(site_spec.id)
        if site is None:
            bad("site.id", f"unknown site {site_spec.id!r} (known: {known(catalog.sites)})")
    pue = site_spec.pue or (site.pue if site else None)
    notes: list[str] = []
    if pue is None:
        pue = DEFAULT_PUE
        notes.append(f"no site PUE given: assumed {DEFAULT_PUE}")
    if site_spec.facility_usd_per_kw_month is not None:
        facility = site_spec.facility_usd_per_kw_month
    elif site is not None:
        facility = getattr(site.facility_usd_per_kw_month, f"{case}_usd")
    else:
        facility = 0.0
        notes.append("no site facility cost given: assumed 0 $/kW-month")
    usd_per_w_hour = pue * elec / 1000.0

    # ---------------------------------------------------------------- systems
    fleet = problem.fleet
    if fleet.systems is not None:
        for i, s in enumerate(fleet.systems):
            if s not in catalog.systems:
                bad(f"fleet.systems[{i}]", unknown_system(s))
    allowed = list(fleet.systems) if fleet.systems is not None else sorted(catalog.systems)
    existing: dict[str, int] = {}
    for i, e in enumerate(fleet.existing):
        if e.system not in catalog.systems:
            bad(f"fleet.existing[{i}].system", unknown_system(e.system))
        else:
            existing[e.system] = existing.get(e.system, 0) + e.count
            if e.system not in allowed:
                allowed.append(e.system)
    for name in ("supply", "rent_supply"):
        for s in getattr(fleet, name):
            if s not in catalog.systems:
                bad(f"fleet.{name}.{s}", unknown_system(s))
    for s in econ_spec.system_prices_usd:
        if s not in catalog.systems:
            bad(f"economics.system_prices_usd.{s}", f"unknown system {s!r}")
    for s in econ_spec.rental_usd_per_gpu_hour:
        if s not in catalog.systems:
            bad(f"economics.rental_usd_per_gpu_hour.{s}", f"unknown system {s!r}")
    for r in econ_spec.rack_prices_usd:
        if r not in catalog.racks:
            bad(f"economics.rack_prices_usd.{r}", f"unknown rack type {r!r} (known: {known(catalog.racks)})")
    licence = None
    if econ_spec.software_licence is not None:
        licence = catalog.licences.get(econ_spec.software_licence)
        if licence is None:
            bad("economics.software_licence",
                f"unknown licence {econ_spec.software_licence!r} (known: {known(catalog.licences)})")

    idle_w = load_efficiency(catalog).accel["power_idle_w"]
    systems: dict[str, SystemData] = {}
    for sid in allowed:
        sysd = catalog.systems.get(sid)
        if sysd is None:
            continue
        acc = catalog.accelerators.get(sysd.accelerator)
        if acc is None:
            continue
        price = float(econ_spec.system_prices_usd.get(sid, getattr(sysd.price, f"{case}_usd")))
        capex = price * (1 + network)
        # The performance model's idle power (measured, catalog, or its stated fraction of TDP): one source.
        idle = float(idle_w[sysd.accelerator])
        non_gpu = power.overhead_avg_w(sysd, acc.tdp_w, econ_spec.non_gpu_load_fraction)
        rent_price, rent_term, rent_product = _rental_offer(catalog, sid, fleet, econ_spec, case)
        lic_owned, lic_rented = _licence_usd_per_gpu_hour(licence, sysd, acc.vendor, case)
        base_energy = (non_gpu + sysd.accelerator_count * idle) * usd_per_w_hour
        fac = facility * power.provisioned_kw(sysd) * 12 / HOURS_PER_YEAR
        maint_h = capex * maint / HOURS_PER_YEAR
        systems[sid] = SystemData(
            id=sid,
            accelerator=sysd.accelerator,
            gpus=sysd.accelerator_count,
            domain=sysd.scale_up_domain,
            nameplate_kw=sysd.nameplate_power_kw,
            rack_units=sysd.rack_units,
            whole_rack=sysd.whole_rack,
            cooling=sysd.cooling,
            price_usd=price,
            capex_usd=capex,
            buy="buy" in fleet.acquire,
            rent="rent" in fleet.acquire and rent_price is not None,
            existing=existing.get(sid, 0),
            supply=fleet.supply.get(sid),
            rent_supply=fleet.rent_supply.get(sid),
            rent_usd_per_gpu_hour=rent_price,
            idle_w=idle,
            tdp_w=acc.tdp_w,
            non_gpu_avg_w=non_gpu,
            new_usd_per_hour=capex * crf / HOURS_PER_YEAR + maint_h + fac + base_energy
            + lic_owned * sysd.accelerator_count,
            existing_usd_per_hour=maint_h + fac + base_energy + lic_owned * sysd.accelerator_count,
            usd_per_w_hour=usd_per_w_hour,
            network_kw=sysd.network_power_kw,
            rent_term=rent_term,
            rent_product=rent_product,
            licence_usd_per_gpu_hour_owned=lic_owned,
            licence_usd_per_gpu_hour_rented=lic_rented,
        )

    # ---------------------------------------------------------------- racks
    racks: dict[str, RackData] = {}
    avail = site_spec.racks
    if avail is None:
        avail_list = [(r, None) for r in sorted(catalog.racks)]
    else:
        avail_list = []
        for i, ra in enumerate(avail):
            if ra.type not in catalog.racks:
                bad(f"site.racks[{i}].type", f"unknown rack type {ra.type!r} (known: {known(catalog.racks)})")
            elif catalog.racks[ra.type].cooling not in site_spec.cooling:
                bad(
                    f"site.racks[{i}].type",
                    f"rack type {ra.type!r} is {catalog.racks[ra.type].cooling}-cooled but site.cooling allows "
                    f"only {', '.join(site_spec.cooling)}",
                )
            else:
                avail_list.append((ra.type, ra.count))
    for rid, count in avail_list:
        r = catalog.racks[rid]
        if r.cooling not in site_spec.cooling:
            continue
        price = econ_spec.rack_prices_usd.get(rid)
        if price is None:
            price = getattr(r.price, f"{case}_usd") if r.price else 0.0
        racks[rid] = RackData(
            rid,
            r.max_power_kw,
            r.rack_units,
            r.cooling,
            count,
            float(price),
            float(price) * (crf + maint) / HOURS_PER_YEAR,
        )

    # ---------------------------------------------------------------- workloads
    workloads: dict[str, WorkloadData] = {}
    for w in problem.workloads:
        path = f"workloads[{w.id}]"
        arch = None
        if w.archetype is not None:
            arch = catalog.workloads.get(w.archetype)
            if arch is None:
                bad(
                    f"{path}.archetype",
                    f"unknown workload archetype {w.archetype!r} (known: {known(catalog.workloads)})",
                )
                continue
        vals = {}
        for f in ("isl_tokens", "osl_tokens", "ttft_ms", "tpot_ms"):
            v = getattr(w, f)
            if v is None and arch is not None:
                v = getattr(arch, f)
            if v is None:
                bad(f"{path}.{f}", "required field is missing (give it, or an archetype)")
            vals[f] = v
        if any(v is None for v in vals.values()):
            continue
        floor = None if w.no_quality_floor else (w.quality_floor or (arch.quality_floor if arch else None))
        if w.quality_floor is not None and not any(
            m.score(w.quality_floor.benchmark) is not None for m in catalog.models.values()
        ):
            benchmarks = sorted({q.benchmark for m in catalog.models.values() for q in m.quality})
            bad(
                f"{path}.quality_floor.benchmark",
                f"no catalog model has a score on {w.quality_floor.benchmark!r} "
                f"(benchmarks: {', '.join(benchmarks) or 'none'})",
            )
        for key, ids, table in (
            ("models", w.models, catalog.models),
            ("precisions", w.precisions, catalog.precisions),
        ):
            for i, x in enumerate(ids or []):
                if x not in table:
                    bad(f"{path}.{key}[{i}]", f"unknown {key[:-1]} {x!r} (known: {known(table)})")
        isl, osl = int(vals["isl_tokens"]), int(vals["osl_tokens"])
        demand, average = _demands(w, isl, osl)
        survive = w.survive or problem.survive
        workloads[w.id] = WorkloadData(
            id=w.id,
            isl=isl,
            osl=osl,
            ttft_s=vals["ttft_ms"] / 1000,
            tpot_s=vals["tpot_ms"] / 1000,
            floor_benchmark=floor.benchmark if floor else None,
            floor_score=floor.min_score if floor else None,
            demand_out_tok_s=demand,
            headroom=w.headroom,
            min_replicas=w.min_replicas,
            models=tuple(w.models) if w.models else None,
            precisions=tuple(w.precisions) if w.precisions else None,
            kv_precisions=tuple(w.kv_precisions) if w.kv_precisions else None,
            serving=tuple(w.serving),
            allow_quantization=w.allow_quantization,
            effort=(w.effort,) if isinstance(w.effort, str) else tuple(w.effort) if w.effort else None,
            survive_level=survive.level if survive and survive.count > 0 else None,
            survive_count=survive.count if survive else 0,
            average_out_tok_s=average,
        )
    errors.extend(_survive_errors(problem, systems, racks, where))
    if errors:
        raise InputError("\n".join(errors))
    b = problem.budget
    lim = problem.limits
    return Instance(
        name=problem.name,
        workloads=workloads,
        systems=systems,
        racks=racks,
        pue=float(pue),
        power_limit_kw=site_spec.power_limit_mw * 1000 if site_spec.power_limit_mw else None,
        electricity_usd_per_kwh=elec,
        facility_usd_per_kw_month=float(facility),
        crf=crf,
        maintenance_fraction=maint,
        network_fraction=network,
        amortization_years=years,
        cost_of_capital=rate,
        budget_capex_usd=b.capex_usd,
        budget_usd_per_hour=b.usd_per_hour,
        objective=problem.objective.kind,
        demand_cap_multiple=problem.objective.demand_cap_multiple,
        time_limit_s=problem.solver.time_limit_s,
        gap=problem.solver.gap,
        notes=notes,
        max_configs_per_workload=lim.max_configs_per_workload,
        max_platforms_per_workload=lim.max_platforms_per_workload,
        max_platforms=lim.max_platforms,
        min_deployment_share=lim.min_deployment_share,
        complexity_usd_per_hour=lim.complexity_usd_per_hour,
    )


def _rental_offer(catalog: Catalog, sid: str, fleet, econ_spec, case: str):
    """($/GPU-hour, term, product id) of the cheapest rental product of `sid` the problem allows; a price given
    in `economics.rental_usd_per_gpu_hour` wins (term `custom`). (None, None, None) when nothing is offered."""
    override = econ_spec.rental_usd_per_gpu_hour.get(sid)
    if override is not None:
        return float(override), "custom", None
    offers = [
        (float(getattr(r.usd_per_gpu_hour, f"{case}_usd")), r.id, r.term)
        for r in catalog.rental_prices.values()
        if r.system == sid
        and r.term in fleet.rental_terms
        and (fleet.rental_provider is None or r.provider_class == fleet.rental_provider)
    ]
    if not offers:
        return None, None, None
    price, product, term = min(offers)
    return price, term, product


def _licence_usd_per_gpu_hour(licence, sysd, vendor: str, case: str) -> tuple[float, float]:
    """Licence $/GPU-hour on (owned, rented) GPUs of a system: 0 where no licence applies or it is bundled."""
    if licence is None or vendor not in licence.vendors or sysd.id in licence.bundled_with_systems:
        return 0.0, 0.0
    owned = float(getattr(licence.usd_per_gpu_year, f"{case}_usd")) / HOURS_PER_YEAR
    rented = licence.rented_usd_per_gpu_hour
    return owned, float(getattr(rented, f"{case}_usd")) if rented is not None else owned


def _rate_out_tok_s(d, isl: int, osl: int) -> float:
    """Output tokens/s of a demand figure (tokens_per_day counts input + output tokens)."""
    if d.output_tokens_per_s:
        return float(d.output_tokens_per_s)
    if d.requests_per_s:
        return float(d.requests_per_s) * osl
    return d.tokens_per_day / (isl + osl) / 86400 * osl


def _demands(w, isl: int, osl: int) -> tuple[float | None, float | None]:
    """(peak, average) output tokens/s of a workload. tokens_per_day is an average (peak = x peak_factor);
    requests_per_s and output_tokens_per_s are peaks (average = / peak_factor, or `average_demand`)."""
    if w.demand is None:
        return None, None
    d = w.demand
    rate = _rate_out_tok_s(d, isl, osl)
    factor = w.peak_factor if w.peak_factor is not None else d.peak_factor
    if d.tokens_per_day:
        peak, average = rate * factor, rate
    else:
        peak, average = rate, (rate / w.peak_factor if w.peak_factor is not None else None)
    if w.average_demand is not None:
        average = _rate_out_tok_s(w.average_demand, isl, osl)
    return peak, average


def _survive_errors(problem: Problem, systems: dict, racks: dict, where: str) -> list[str]:
    """`survive` of at least as many servers (racks) as could ever exist is a mistake, not an infeasibility."""
    out = []
    specs = [("survive", problem.survive)] + [(f"workloads[{w.id}].survive", w.survive) for w in problem.workloads]
    servers = 0.0
    for sd in systems.values():
        servers += sd.existing
        servers += 0 if not sd.buy else (sd.supply if sd.supply is not None else float("inf"))
        servers += 0 if not sd.rent else (sd.rent_supply if sd.rent_supply is not None else float("inf"))
    rack_total = sum(float("inf") if r.count is None else r.count for r in racks.values())
    for path, sv in specs:
        if sv is None or sv.count == 0:
            continue
        have = servers if sv.level == "servers" else rack_total
        if sv.level == "racks" and not racks:
            out.append(f"{where}: {path}.racks: the site has no rack types to fail (give site.racks)")
        elif sv.count >= have:
            what = "fleet.existing + supply + rent_supply" if sv.level == "servers" else "site.racks counts"
            out.append(
                f"{where}: {path}.{sv.level}: surviving the loss of {sv.count} {sv.level} needs more than "
                f"{sv.count}, but at most {have:g} can exist ({what})"
            )
    return out
