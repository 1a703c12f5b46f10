"""Money: what an hour of an owned or rented system costs. Pure functions, USD and hours.

Owned cost per hour = capex x (CRF(r, n) + maintenance) / 8760
                      + average IT power (kW) x PUE x electricity ($/kWh)
                      + nameplate kW x facility ($/kW-month) x 12 / 8760
CRF(r, n) = r (1+r)^n / ((1+r)^n - 1), the capital recovery factor: the level annual payment that repays a
capex of 1 over n years at interest r (1/n when r = 0).
"""

from __future__ import annotations

import math

HOURS_PER_YEAR = 8760.0


def capital_recovery_factor(rate: float, years: float) -> float:
    if years <= 0:
        raise ValueError("years must be > 0")
    if rate == 0:
        return 1.0 / years
    # expm1/log1p: (1+r)^n - 1 stays exact (and non-zero) for tiny r*n, where the direct form divides by 0
    growth_minus_1 = math.expm1(years * math.log1p(rate))
    return rate * (growth_minus_1 + 1.0) / growth_minus_1


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
    """Hourly cost of owning and running one system (see module docstring for the formula)."""
    crf = capital_recovery_factor(cost_of_capital, amortization_years)
    capital = capex_usd * (crf + maintenance_fraction_per_year) / HOURS_PER_YEAR
    energy = avg_power_kw * pue * electricity_usd_per_kwh
    facility = nameplate_kw * facility_usd_per_kw_month * 12.0 / HOURS_PER_YEAR
    return capital + energy + facility
