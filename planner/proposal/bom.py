"""Bill of materials and TCO by year, from the plan and the prices the solve used (`Instance`).

One-time lines (systems, racks, network) add up to the plan's capex: the optimizer budgets the scale-out
fabric as `network_fraction_of_capex` of the server price; the BOM itemizes it (planner.proposal.network) and
carries the difference as the allowance balance, so the total stays the plan's. Per-year lines (energy,
facility, maintenance, rentals) add up to the plan's opex.
"""

from __future__ import annotations

import math
from collections import Counter

from planner.catalog.catalog import Catalog
from planner.economics import HOURS_PER_YEAR
from planner.optimize.instance import Instance
from planner.plan import Plan
from planner.proposal.model import ONE_TIME, PER_YEAR, BomLine, TcoYear
from planner.proposal.network import estimate_network, nic_ports

PROBLEM_SOURCE = "problem file (economics override)"
KNOWN_COSTS = ("capital", "maintenance", "facility", "energy", "rental")


def _price_fields(price, overridden: bool) -> dict:
    if overridden or price is None:
        return dict(source=PROBLEM_SOURCE if overridden else "not in the catalog", date="", assumed=not overridden)
    return dict(source=price.source, date=price.date, unit_low_usd=price.low_usd, unit_high_usd=price.high_usd,
                assumed=price.assumed)


def system_lines(plan: Plan, inst: Instance, catalog: Catalog, overrides: dict) -> list[BomLine]:
    out = []
    fl = plan.fleet
    for sid in sorted(set(fl.servers_new) | set(fl.servers_existing)):
        s, sd = catalog.systems[sid], inst.systems[sid]
        size = "whole rack" if s.whole_rack else f"{s.rack_units or '?'}U"
        desc = f"{s.name}: {s.accelerator_count} x {s.accelerator}, {size}, {s.nameplate_power_kw:g} kW nameplate"
        if fl.servers_new.get(sid):
            out.append(BomLine("Systems", sid, desc, fl.servers_new[sid], "server", sd.price_usd, ONE_TIME,
                               **_price_fields(s.price, sid in overrides)))
        if fl.servers_existing.get(sid):
            out.append(BomLine("Systems", f"{sid} (existing)", desc + "; already owned, capex sunk",
                               fl.servers_existing[sid], "server", 0.0, ONE_TIME, "existing inventory", ""))
    return out


def rack_lines(plan: Plan, inst: Instance, catalog: Catalog, overrides: dict) -> list[BomLine]:
    out = []
    for rid, n in sorted(Counter(r.rack_type for r in plan.fleet.racks).items()):
        if rid not in inst.racks:
            continue
        r = catalog.racks[rid]
        desc = (f"{r.rack_units}U rack for {r.max_power_kw:g} kW, {r.cooling}-cooled: enclosure, PDUs and in-rack "
                "cooling")
        out.append(BomLine("Racks, power and cooling", rid, desc, n, "rack", inst.racks[rid].price_usd, ONE_TIME,
                           **_price_fields(r.price, rid in overrides)))
    return out


def network_lines(plan: Plan, inst: Instance, catalog: Catalog) -> tuple[list[BomLine], list[str]]:
    new = plan.fleet.servers_new
    counts, notes = estimate_network(new, catalog)
    out = []
    for sid, n in sorted(new.items()):
        parsed = nic_ports(catalog.systems[sid].scale_out_nics)
        if parsed:
            out.append(BomLine("Scale-out network", f"NICs on {sid}", f"{catalog.systems[sid].scale_out_nics} per "
                               "system; included in the system price", parsed[0] * n, "port", 0.0, ONE_TIME,
                               "systems catalog", ""))
    for c in counts:
        p = c.item.price
        role = {"leaves": "leaf", "spines": "spine"}.get(c.why.split(":")[0])
        item = f"{c.item.id} ({role})" if role else c.item.id
        out.append(BomLine("Scale-out network", item, f"{c.item.name}; {c.why}", c.quantity, "unit",
                           p.base_usd, ONE_TIME, p.source, p.date, p.low_usd, p.high_usd, p.assumed))
    allowance = sum(inst.systems[s].price_usd * n for s, n in new.items()) * inst.network_fraction
    itemized = sum(b.extended_usd for b in out)
    if allowance or itemized:
        balance = allowance - itemized
        what = "unallocated (contingency)" if balance >= 0 else "shortfall: the itemized estimate exceeds it"
        out.append(BomLine(
            "Scale-out network", "network allowance balance",
            f"the plan prices the fabric at {inst.network_fraction:.0%} of server price (${allowance:,.0f}); "
            f"itemized above ${itemized:,.0f}; balance {what}",
            1, "lot", balance, ONE_TIME, "economics.network_fraction_of_capex", "", assumed=True,
        ))
    return out, notes


def profiled(plan: Plan) -> bool:
    """A plan over hour classes (demand profiles): its fleet figures are the peak class's, its year averages
    are in `plan.economics`."""
    return bool(plan.hourly) and plan.economics is not None and bool(plan.economics.cost_breakdown_usd_per_hour)


def year_costs_usd_per_hour(plan: Plan) -> dict[str, float]:
    """The plan's cost per hour by component, averaged over the year as the optimizer prices it: with hour
    classes, each class's cost weighted by its hours (`plan.economics`); else the fleet's."""
    if profiled(plan):
        return dict(plan.economics.cost_breakdown_usd_per_hour)
    return dict(plan.fleet.cost_breakdown_usd_per_hour)


def year_cost_usd_per_hour(plan: Plan) -> float:
    return plan.economics.cost_usd_per_hour if profiled(plan) else plan.fleet.cost_usd_per_hour


def opex_usd_per_year(plan: Plan) -> float:
    return plan.economics.opex_usd_per_year if profiled(plan) else plan.fleet.opex_usd_per_year


def most_rented(plan: Plan) -> dict[str, tuple[int, str]]:
    """Per rented system: the most servers rented at once and the hours that need them (with hour classes, the
    busiest class for that system, which need not be the peak class the fleet figures hold: diurnal-own-rent
    rents 1 H100 server at its peak and 4 in the weekday shoulders); without them, the fleet's count ('')."""
    if not profiled(plan):
        return {s: (n, "") for s, n in sorted(plan.fleet.servers_rented.items())}
    out: dict[str, tuple[int, str]] = {}
    for r in plan.hourly:
        for s, n in r.servers_rented.items():
            if n > out.get(s, (0, ""))[0]:
                out[s] = (n, r.hours)
    return dict(sorted(out.items()))


def rented_hours_per_year(plan: Plan) -> dict[str, float]:
    """Server-hours a year rented per system: with hour classes, each class's rented servers for its hours of
    the year (the hours `planner.economics` prices them for); else the plan's rented servers all year."""
    if not profiled(plan):
        return {s: n * HOURS_PER_YEAR for s, n in plan.fleet.servers_rented.items()}
    out: dict[str, float] = {}
    for r in plan.hourly:
        for s, n in r.servers_rented.items():
            out[s] = out.get(s, 0.0) + n * r.share_of_year * HOURS_PER_YEAR
    return dict(sorted(out.items()))


def recurring_lines(plan: Plan, inst: Instance, catalog: Catalog) -> list[BomLine]:
    fl = plan.fleet
    out = []
    h = HOURS_PER_YEAR
    avg_kw, over = fl.it_power_avg_kw, ""
    energy_h = year_costs_usd_per_hour(plan).get("energy", 0.0)
    if profiled(plan) and inst.pue * inst.electricity_usd_per_kwh > 0:  # owned replicas follow the profile
        avg_kw, over = energy_h / (inst.pue * inst.electricity_usd_per_kwh), " (year average over the profile)"
    if avg_kw:
        kwh = avg_kw * inst.pue * h
        out.append(BomLine(
            "Operations", "electricity",
            f"{avg_kw:,.1f} kW average IT draw{over} x PUE {inst.pue:g} x {h:,.0f} h", kwh, "kWh",
            inst.electricity_usd_per_kwh, PER_YEAR, "economics.electricity_usd_per_kwh", "",
        ))
    if fl.it_power_kw and inst.facility_usd_per_kw_month:
        out.append(BomLine(
            "Operations", "facility power and cooling capacity",
            f"{fl.it_power_kw:,.1f} kW nameplate IT x 12 months (space, power and cooling provisioning)",
            fl.it_power_kw * 12, "kW-month", inst.facility_usd_per_kw_month, PER_YEAR, "site facility cost", "",
        ))
    owned = sum(inst.systems[s].capex_usd * n for s, n in fl.servers_new.items())
    owned += sum(inst.systems[s].capex_usd * n for s, n in fl.servers_existing.items())
    owned += sum(inst.racks[r.rack_type].price_usd for r in fl.racks if r.rack_type in inst.racks)
    maint = owned * inst.maintenance_fraction
    if maint:
        out.append(BomLine(
            "Operations", "hardware maintenance and support",
            f"{inst.maintenance_fraction:.0%} a year of owned hardware value (servers incl. network, racks)",
            1, "year", maint, PER_YEAR, "economics.maintenance_fraction_per_year", "",
        ))
    for key, usd_h in sorted(year_costs_usd_per_hour(plan).items()):
        if key not in KNOWN_COSTS and usd_h:
            # a cost component this module does not itemize yet (e.g. software licences): the plan's own figure
            out.append(BomLine("Operations", key.replace("_", " "), "as priced in the plan", 1, "year", usd_h * h,
                               PER_YEAR, "plan cost breakdown", ""))
    for sid, hours in rented_hours_per_year(plan).items():
        sd = inst.systems[sid]
        what = (f"{fl.servers_rented.get(sid, 0)} x {sd.gpus} GPUs x {h:,.0f} h a year" if not profiled(plan) else
                f"{sd.gpus} GPUs x {hours:,.0f} server-hours a year (per hour class: servers rented x its hours)")
        out.append(BomLine(
            "Rentals", f"{sid} (rented)", what, hours * sd.gpus,
            "GPU-hour", sd.rent_usd_per_gpu_hour or 0.0, PER_YEAR, *_rental_source(catalog, sid, sd),
        ))
    return out


def _rental_source(catalog: Catalog, sid: str, sd) -> tuple[str, str]:
    for r in sorted(catalog.rental_prices.values(), key=lambda r: r.id):
        p = r.usd_per_gpu_hour
        if r.system == sid and sd.rent_usd_per_gpu_hour in (p.low_usd, p.base_usd, p.high_usd):
            return f"{r.id}: {p.source}", p.date
    return PROBLEM_SOURCE, ""


def build_bom(plan: Plan, inst: Instance, catalog: Catalog, econ_overrides) -> tuple[list[BomLine], list[str]]:
    lines = system_lines(plan, inst, catalog, econ_overrides.system_prices_usd)
    net, notes = network_lines(plan, inst, catalog)
    lines += net + rack_lines(plan, inst, catalog, econ_overrides.rack_prices_usd)
    lines += recurring_lines(plan, inst, catalog)
    return lines, notes


def tco_by_year(plan: Plan, years: int) -> list[TcoYear]:
    """Year 0: the purchase (capex); years 1..N: the plan's yearly operating cost by component."""
    b = {k: v * HOURS_PER_YEAR for k, v in year_costs_usd_per_hour(plan).items()}
    other = sum(v for k, v in b.items() if k not in KNOWN_COSTS)
    out = [TcoYear(0, plan.fleet.capex_usd, 0.0, 0.0, 0.0, 0.0)]
    out += [TcoYear(y, 0.0, b.get("energy", 0.0), b.get("facility", 0.0), b.get("maintenance", 0.0),
                    b.get("rental", 0.0), other) for y in range(1, years + 1)]
    return out


def horizon_years(inst: Instance) -> int:
    return max(1, math.ceil(inst.amortization_years - 1e-9))
