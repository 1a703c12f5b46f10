"""Resolve a `Problem` against the catalog into the numbers the formulation needs (an `Instance`).

Everything is converted once to the units the model uses: tokens/s, watts, kW, US dollars per hour. The money
comes from `planner.economics` (capital via the CRF, maintenance, facility, energy, rental):

    fixed $/h of a new server      = capital(capex) + maintenance(capex) + facility(provisioned kW) + base energy
                                     + licence                          capex = price x (1 + network fraction)
    fixed $/h of an existing one   = the same without capital
    base energy = energy(host average W + network W + GPUs x idle W)    (all-in power: planner.power)
    licence     = GPUs x licence $/GPU-hour (optional `economics.software_licence`, unless bundled)
and each replica on an owned server adds energy(its average board power - its GPUs x idle W).
A rented server costs GPUs x ($/GPU-hour of the cheapest allowed rental product + licence) and nothing else
(power, space and facility are the provider's); the product's term (on_demand, 1y, 3y, spot) goes in the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner import economics as money
from planner import power
from planner.catalog.catalog import Catalog
from planner.economics import price_usd
from planner.errors import InputError
from planner.optimize.input_errors import InputErrors
from planner.optimize.instance import Instance, RackData, SystemData
from planner.optimize.problem import Problem
from planner.optimize.resolve_workloads import resolve_workload
from planner.optimize.value_data import resolve_values
from planner.perf import load_efficiency

# Where a problem names neither a site nor a PUE: the catalog's new-ai-facility figure (Uptime Institute: new
# large builds <= 1.3), said in the plan's notes.
DEFAULT_PUE = 1.3


@dataclass(frozen=True)
class _Money:
    """The economics and site figures every cost below is computed from."""

    case: str  # low | base | high catalog prices
    amortization_years: float
    cost_of_capital: float  # a year
    maintenance_fraction: float  # of capex, a year
    electricity_usd_per_kwh: float
    network_fraction: float  # of a server's price, added to its capex
    crf: float  # capital recovery factor, a year
    pue: float
    facility_usd_per_kw_month: float
    usd_per_w_hour: float  # energy of one average watt for an hour, PUE included


ECON_OVERRIDES = (
    "amortization_years",
    "cost_of_capital",
    "maintenance_fraction_per_year",
    "electricity_usd_per_kwh",
    "network_fraction_of_capex",
)


def _resolve_money(problem: Problem, catalog: Catalog, err: InputErrors, notes: list[str]) -> _Money:
    econ_spec = problem.economics
    econ = catalog.economics.get(econ_spec.id)
    if econ is None and any(getattr(econ_spec, f) is None for f in ECON_OVERRIDES):
        err.bad(
            "economics.id",
            f"unknown economics {econ_spec.id!r} (known: {err.known(catalog.economics)}); "
            "without it give every field: " + ", ".join(ECON_OVERRIDES),
        )
    case = econ_spec.price_case

    def pick(name: str) -> float:
        v = getattr(econ_spec, name)
        if v is not None:
            return float(v)
        return 0.0 if econ is None else price_usd(getattr(econ, name), case)

    years = pick("amortization_years") or 1.0
    rate = pick("cost_of_capital")
    elec = pick("electricity_usd_per_kwh")
    site_spec = problem.site
    site = None
    if site_spec.id is not None:
        site = catalog.sites.get(site_spec.id)
        if site is None:
            err.bad("site.id", f"unknown site {site_spec.id!r} (known: {err.known(catalog.sites)})")
    pue = site_spec.pue or (site.pue if site else None)
    if pue is None:
        pue = DEFAULT_PUE
        notes.append(f"no site PUE given: assumed {DEFAULT_PUE}")
    if site_spec.facility_usd_per_kw_month is not None:
        facility = site_spec.facility_usd_per_kw_month
    elif site is not None:
        facility = price_usd(site.facility_usd_per_kw_month, case)
    else:
        facility = 0.0
        notes.append("no site facility cost given: assumed 0 $/kW-month")
    return _Money(
        case=case, amortization_years=years, cost_of_capital=rate,
        maintenance_fraction=pick("maintenance_fraction_per_year"), electricity_usd_per_kwh=elec,
        network_fraction=pick("network_fraction_of_capex"), crf=money.capital_recovery_factor(rate, years),
        pue=float(pue), facility_usd_per_kw_month=float(facility),
        usd_per_w_hour=money.energy_usd_per_w_hour(pue, elec),
    )


def _allowed_systems(problem: Problem, catalog: Catalog, err: InputErrors) -> tuple[list[str], dict[str, int]]:
    """The systems the problem allows (its list, else all; plus those it already owns) and existing counts."""
    fleet, econ_spec = problem.fleet, problem.economics
    if fleet.systems is not None:
        for i, s in enumerate(fleet.systems):
            if s not in catalog.systems:
                err.bad(f"fleet.systems[{i}]", err.unknown_system(s))
    for i, e in enumerate(fleet.engines or []):
        if e != "all" and e not in catalog.engines:
            err.bad(f"fleet.engines[{i}]", f"unknown engine {e!r} (known: {err.known(catalog.engines)})")
    allowed = list(fleet.systems) if fleet.systems is not None else sorted(catalog.systems)
    existing: dict[str, int] = {}
    for i, e in enumerate(fleet.existing):
        if e.system not in catalog.systems:
            err.bad(f"fleet.existing[{i}].system", err.unknown_system(e.system))
        else:
            existing[e.system] = existing.get(e.system, 0) + e.count
            if e.system not in allowed:
                allowed.append(e.system)
    for name in ("supply", "rent_supply"):
        for s in getattr(fleet, name):
            if s not in catalog.systems:
                err.bad(f"fleet.{name}.{s}", err.unknown_system(s))
    for s in econ_spec.system_prices_usd:
        if s not in catalog.systems:
            err.bad(f"economics.system_prices_usd.{s}", f"unknown system {s!r}")
    for s in econ_spec.rental_usd_per_gpu_hour:
        if s not in catalog.systems:
            err.bad(f"economics.rental_usd_per_gpu_hour.{s}", f"unknown system {s!r}")
    for r in econ_spec.rack_prices_usd:
        if r not in catalog.racks:
            err.bad(f"economics.rack_prices_usd.{r}",
                    f"unknown rack type {r!r} (known: {err.known(catalog.racks)})")
    return allowed, existing


def _rent_offer(problem: Problem, catalog: Catalog, sid: str, case: str):
    """($/GPU-hour, term, product id): the problem's rental price for a system (term `custom`), else the
    cheapest catalog product of an allowed term (and provider class); (None, None, None) when none is offered."""
    rent_price = problem.economics.rental_usd_per_gpu_hour.get(sid)
    if rent_price is not None:
        return float(rent_price), "custom", None
    fleet = problem.fleet
    # the hour-class model rents by the hour (burst): only on-demand products can be rented that way
    terms = ("on_demand",) if _is_hourly(problem) else fleet.rental_terms
    offers = [
        r for r in catalog.rental_prices.values()
        if r.system == sid and r.term in terms
        and (fleet.rental_provider is None or r.provider_class == fleet.rental_provider)
    ]
    best = money.cheapest_rental(offers, case)
    return (best[0], best[1].term, best[1].id) if best else (None, None, None)


def _licence(problem: Problem, catalog: Catalog, err: InputErrors):
    lid = problem.economics.software_licence
    if lid is None:
        return None
    lic = catalog.licences.get(lid)
    if lic is None:
        err.bad("economics.software_licence", f"unknown licence {lid!r} (known: {err.known(catalog.licences)})")
    return lic


def _resolve_systems(problem: Problem, catalog: Catalog, m: _Money, err: InputErrors) -> dict[str, SystemData]:
    allowed, existing = _allowed_systems(problem, catalog, err)
    fleet, econ_spec = problem.fleet, problem.economics
    idle_w = load_efficiency(catalog).accel["power_idle_w"]
    licence = _licence(problem, catalog, err)
    systems: dict[str, SystemData] = {}
    for sid in allowed:
        sysd = catalog.systems.get(sid)
        acc = catalog.accelerators.get(sysd.accelerator) if sysd is not None else None
        if sysd is None or acc is None:
            continue
        price = float(econ_spec.system_prices_usd.get(sid, price_usd(sysd.price, m.case)))
        capex = price * (1 + m.network_fraction)
        # The performance model's idle power (measured, catalog, or its stated fraction of TDP): one source.
        idle = float(idle_w[sysd.accelerator])
        non_gpu = power.overhead_avg_w(sysd, acc.tdp_w, econ_spec.non_gpu_load_fraction)
        rent_price, rent_term, rent_product = _rent_offer(problem, catalog, sid, m.case)
        lic_owned, lic_rented = money.licence_usd_per_gpu_hour(licence, sysd.id, acc.vendor, m.case)
        base_energy = (non_gpu + sysd.accelerator_count * idle) * m.usd_per_w_hour
        fac = money.facility_usd_per_hour(power.provisioned_kw(sysd), m.facility_usd_per_kw_month)
        maint_h = money.maintenance_usd_per_hour(capex, m.maintenance_fraction)
        lic_h = money.rental_usd_per_hour(sysd.accelerator_count, lic_owned)
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
            new_usd_per_hour=money.capital_usd_per_hour(capex, m.crf) + maint_h + fac + base_energy + lic_h,
            existing_usd_per_hour=maint_h + fac + base_energy + lic_h,
            usd_per_w_hour=m.usd_per_w_hour,
            network_kw=sysd.network_power_kw,
            rent_term=rent_term,
            rent_product=rent_product,
            licence_usd_per_gpu_hour_owned=lic_owned,
            licence_usd_per_gpu_hour_rented=lic_rented,
        )
    return systems


def _resolve_racks(problem: Problem, catalog: Catalog, m: _Money, err: InputErrors) -> dict[str, RackData]:
    site_spec = problem.site
    if site_spec.racks is None:
        avail_list = [(r, None) for r in sorted(catalog.racks)]
    else:
        avail_list = []
        for i, ra in enumerate(site_spec.racks):
            if ra.type not in catalog.racks:
                err.bad(f"site.racks[{i}].type",
                        f"unknown rack type {ra.type!r} (known: {err.known(catalog.racks)})")
            elif catalog.racks[ra.type].cooling not in site_spec.cooling:
                err.bad(
                    f"site.racks[{i}].type",
                    f"rack type {ra.type!r} is {catalog.racks[ra.type].cooling}-cooled but site.cooling allows "
                    f"only {', '.join(site_spec.cooling)}",
                )
            else:
                avail_list.append((ra.type, ra.count))
    racks: dict[str, RackData] = {}
    for rid, count in avail_list:
        r = catalog.racks[rid]
        if r.cooling not in site_spec.cooling:
            continue
        price = problem.economics.rack_prices_usd.get(rid)
        if price is None:
            price = price_usd(r.price, m.case) if r.price else 0.0
        price = float(price)
        usd_h = (money.capital_usd_per_hour(price, m.crf)
                 + money.maintenance_usd_per_hour(price, m.maintenance_fraction))
        racks[rid] = RackData(rid, r.max_power_kw, r.rack_units, r.cooling, count, price, usd_h)
    return racks


def _survive_errors(problem: Problem, systems: dict, racks: dict, err: InputErrors) -> None:
    """`survive` of at least as many servers (racks) as could ever exist is a mistake, not an infeasibility."""
    specs = [("survive", problem.survive)] + [(f"workloads[{w.id}].survive", w.survive) for w in problem.workloads]
    servers = 0.0
    for sd in systems.values():
        servers += sd.existing
        servers += 0 if not sd.buy else (sd.supply if sd.supply is not None else float("inf"))
        servers += 0 if not sd.rent else (sd.rent_supply if sd.rent_supply is not None else float("inf"))
    rack_total = sum(float("inf") if r.count is None else r.count for r in racks.values())
    levels = {sv.level for _, sv in specs if sv is not None and sv.count > 0}
    if len(levels) > 1:
        err.bad("survive", "give every survive at one level (servers or racks), not both")
    for path, sv in specs:
        if sv is None or sv.count == 0:
            continue
        have = servers if sv.level == "servers" else rack_total
        if sv.level == "racks" and not racks:
            err.bad(f"{path}.racks", "the site has no rack types to fail (give site.racks)")
        elif sv.count >= have:
            what = "fleet.existing + supply + rent_supply" if sv.level == "servers" else "site.racks counts"
            err.bad(
                f"{path}.{sv.level}",
                f"surviving the loss of {sv.count} {sv.level} needs more than {sv.count}, but at most {have:g} "
                f"can exist ({what})",
            )


def _is_hourly(problem: Problem) -> bool:
    ws = problem.workloads
    return (
        problem.objective.kind == "max_profit"
        or any(w.demand_profile is not None for w in ws)
        or (problem.objective.kind == "max_throughput"
            and (problem.value is not None or any(w.value is not None or w.priority is not None for w in ws)))
    )


def _hourly_requirement_errors(problem: Problem, err: InputErrors) -> bool:
    """Whether the problem goes through the hour-class model (max_profit, demand profiles, priorities or
    values under max_throughput; planner.optimize.solve_hourly). Its hourly rented burst deployments sit
    outside the replica placement and the configuration limits, so `survive` and explicit `limits` are not
    supported there yet: said as an input error rather than half-applied."""
    ws = problem.workloads
    if not _is_hourly(problem):
        return False
    if problem.survive is not None or any(w.survive is not None for w in ws):
        err.bad("survive", "not supported yet with max_profit, demand profiles or priced max_throughput")
    if "limits" in problem.model_fields_set:
        err.bad("limits", "not supported yet with max_profit, demand profiles or priced max_throughput")
    return True


def build_instance(problem: Problem, catalog: Catalog, where: str = "<problem>") -> Instance:
    """Resolve every catalog reference and price; all input errors at once (InputError, exit 2)."""
    err = InputErrors(where, catalog)
    notes: list[str] = []
    m = _resolve_money(problem, catalog, err, notes)
    systems = _resolve_systems(problem, catalog, m, err)
    racks = _resolve_racks(problem, catalog, m, err)
    workloads = {}
    for w in problem.workloads:
        wd = resolve_workload(w, catalog, err, problem)
        if wd is not None:
            workloads[w.id] = wd
    _survive_errors(problem, systems, racks, err)
    hourly = _hourly_requirement_errors(problem, err)
    if err.lines:
        raise InputError("\n".join(err.lines))
    b, site_spec, lim = problem.budget, problem.site, problem.limits
    if hourly:  # the default max_configs_per_workload does not apply to the hour-class model (see below)
        lim = lim.model_copy(update={"max_configs_per_workload": None})
    return Instance(
        name=problem.name,
        workloads=workloads,
        systems=systems,
        racks=racks,
        pue=m.pue,
        power_limit_kw=site_spec.power_limit_mw * 1000 if site_spec.power_limit_mw else None,
        electricity_usd_per_kwh=m.electricity_usd_per_kwh,
        facility_usd_per_kw_month=m.facility_usd_per_kw_month,
        crf=m.crf,
        maintenance_fraction=m.maintenance_fraction,
        network_fraction=m.network_fraction,
        amortization_years=m.amortization_years,
        cost_of_capital=m.cost_of_capital,
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
        value=resolve_values(problem),
    )
