"""Money: what an hour of an owned or rented system costs. Pure functions, US dollars, hours, watts.

The one home of the cost arithmetic: the instance (MIP coefficients), the plan's cost breakdown and the
frontier's cost view all call these. `optimize/verify.py` keeps its own copy on purpose (the independent check).

    CRF(r, n)   = r (1+r)^n / ((1+r)^n - 1)   capital recovery factor: the level annual payment that repays a
                                              capex of 1 over n years at interest r (1/n when r = 0)
    capital     = capex x CRF / 8760                                   $/h
    maintenance = capex x maintenance fraction per year / 8760          $/h
    facility    = nameplate kW x $/kW-month x 12 / 8760                 $/h
    energy      = average W x PUE x $/kWh / 1000                        $/h
    rental      = GPUs x $/GPU-hour                                     $/h
"""

from __future__ import annotations

import math

HOURS_PER_YEAR = 8760.0
PRICE_CASES = ("low", "base", "high")


def capital_recovery_factor(rate: float, years: float) -> float:
    if years <= 0:
        raise ValueError("years must be > 0")
    if rate == 0:
        return 1.0 / years
    growth = (1.0 + rate) ** years
    if growth - 1.0 < 1e-9:  # tiny r*n: (1+r)^n rounds to 1; expm1/log1p keeps it exact and non-zero
        growth_minus_1 = math.expm1(years * math.log1p(rate))
        return rate * (growth_minus_1 + 1.0) / growth_minus_1
    return rate * growth / (growth - 1.0)


def price_usd(price, case: str) -> float:
    """The `case` (low | base | high) figure of a catalog price range (PriceRange: low_usd, base_usd, high_usd);
    a plain number is returned as is."""
    if case not in PRICE_CASES:
        raise ValueError(f"price case must be one of {', '.join(PRICE_CASES)}, got {case!r}")
    if hasattr(price, "base_usd"):
        return float(getattr(price, f"{case}_usd"))
    return float(price)


def capital_usd_per_hour(capex_usd, crf: float):
    return capex_usd * crf / HOURS_PER_YEAR


def maintenance_usd_per_hour(capex_usd, fraction_per_year: float):
    return capex_usd * fraction_per_year / HOURS_PER_YEAR


def facility_usd_per_hour(nameplate_kw, usd_per_kw_month: float):
    return usd_per_kw_month * nameplate_kw * 12 / HOURS_PER_YEAR


def energy_usd_per_w_hour(pue: float, electricity_usd_per_kwh: float) -> float:
    """$/h of one average watt drawn by IT equipment, cooling and distribution included (PUE)."""
    return pue * electricity_usd_per_kwh / 1000.0


def energy_usd_per_hour(avg_power_w, pue: float, electricity_usd_per_kwh: float):
    return avg_power_w * energy_usd_per_w_hour(pue, electricity_usd_per_kwh)


def rental_usd_per_hour(gpus, usd_per_gpu_hour: float | None):
    return gpus * (usd_per_gpu_hour or 0.0)


def owned_cost_usd_per_hour(
    capex_usd: float,
    avg_power_kw: float,
    nameplate_kw: float,
    *,
    amortization_years: float,
    cost_of_capital: float,
    maintenance_fraction_per_year: float,
    electricity_usd_per_kwh: float,
    pue: float,
    facility_usd_per_kw_month: float,
) -> float:
    """Hourly cost of owning and running one system: capital + maintenance + energy + facility."""
    crf = capital_recovery_factor(cost_of_capital, amortization_years)
    return (
        capital_usd_per_hour(capex_usd, crf)
        + maintenance_usd_per_hour(capex_usd, maintenance_fraction_per_year)
        + energy_usd_per_hour(avg_power_kw * 1000.0, pue, electricity_usd_per_kwh)
        + facility_usd_per_hour(nameplate_kw, facility_usd_per_kw_month)
    )


def cheapest_rental(offers, case: str):
    """(price, product) of the cheapest rental product in `offers` at price case `case` (ties: by id), or None."""
    priced = sorted((price_usd(r.usd_per_gpu_hour, case), r.id, r) for r in offers)
    return (priced[0][0], priced[0][2]) if priced else None


def licence_usd_per_gpu_hour(licence, system_id: str, vendor: str, case: str) -> tuple[float, float]:
    """Software licence $/GPU-hour on (owned, rented) GPUs of a system: the yearly per-GPU price over the hours
    of a year when owned, the marketplace hourly price when rented (else the same); 0 where the licence does
    not apply to the vendor, is bundled with the system, or none is chosen."""
    if licence is None or vendor not in licence.vendors or system_id in licence.bundled_with_systems:
        return 0.0, 0.0
    owned = price_usd(licence.usd_per_gpu_year, case) / HOURS_PER_YEAR
    rented = licence.rented_usd_per_gpu_hour
    return owned, price_usd(rented, case) if rented is not None else owned
