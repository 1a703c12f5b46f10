"""Return on investment: what a fleet earns over its planning horizon. Pure functions; USD, hours, years.

Conventions (the same as the hourly cost model in `planner.economics`):
- All capex is spent at year 0 (servers bought, their network share, racks); existing servers are sunk.
- The horizon is the amortization period n (years, not necessarily whole); the discount rate r is the
  problem's cost of capital.
- Opex is the cash cost of running the fleet per hour: energy, maintenance, facility, rentals = the all-in
  hourly cost minus its capital charge  capex x CRF(r, n) / 8760.
- Annual net cash A = 8760 x (revenue - opex) per hour.

    NPV(r)        = -capex + A x AF(r, n),      AF(r, n) = (1 - (1+r)^-n) / r = 1 / CRF(r, n)   (n when r = 0)
    IRR           = the rate x > -1 with NPV(x) = 0 (exists when capex > 0 and A > 0; unique, NPV falls in x)
    payback       = capex / A  (simple);  discounted payback t: A x AF(r, t) = capex
    gross margin  = (revenue - all-in cost) / revenue: the cost of serving includes the capital charge, as an
                    inference provider's cost of revenue includes GPU depreciation

Because the hourly all-in cost charges capex x CRF / 8760, NPV = 8760 x profit per hour x AF(r, n): a plan
that makes money per hour in the optimizer's terms has NPV > 0 and IRR > r, and the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from planner.economics import HOURS_PER_YEAR

TOKENS_PER_MTOK = 1e6
SECONDS_PER_HOUR = 3600.0
_IRR_TOL = 1e-12


# ------------------------------------------------------------------------------------------------ tokens
def token_revenue_usd_per_hour(
    output_tok_s: float,
    usd_per_mtok_output: float,
    input_tok_s: float = 0.0,
    usd_per_mtok_input: float = 0.0,
) -> float:
    """What served tokens earn per hour: tok/s x 3600 / 1e6 x $/Mtok, output and input priced apart."""
    per_mtok = SECONDS_PER_HOUR / TOKENS_PER_MTOK
    return (output_tok_s * usd_per_mtok_output + input_tok_s * usd_per_mtok_input) * per_mtok


def tier_price_usd_per_mtok(
    tok_s_per_user: float, base_usd_per_mtok: float, tiers: Sequence[tuple[float, float]] = ()
) -> float:
    """Output price for a service running at `tok_s_per_user` (1 / TPOT): the price of the fastest tier whose
    threshold it reaches, else the base price. `tiers`: (min_tok_s_per_user, usd_per_mtok_output) pairs."""
    price = base_usd_per_mtok
    best = -math.inf
    for threshold, tier_price in tiers:
        # the 1e-9 keeps a service exactly at a threshold (1 / TPOT round-off) in that tier
        if tok_s_per_user >= threshold * (1 - 1e-9) and threshold > best:
            price, best = tier_price, threshold
    return price


# ------------------------------------------------------------------------------------------------ discounting
def annuity_factor(rate: float, years: float) -> float:
    """Present value of 1 USD a year for `years` years at `rate`: (1 - (1+r)^-n) / r, n when r = 0."""
    if years < 0:
        raise ValueError("years must be >= 0")
    if rate <= -1:
        raise ValueError("rate must be > -1")
    if rate == 0:
        return float(years)
    # expm1/log1p keep full precision for rates near 0 (where IRR searches)
    return -math.expm1(-years * math.log1p(rate)) / rate


def capital_charge_usd_per_hour(capex_usd: float, rate: float, years: float) -> float:
    """The level hourly payment that repays `capex_usd` over `years` at `rate`: capex x CRF / 8760."""
    return capex_usd / annuity_factor(rate, years) / HOURS_PER_YEAR


def npv_usd(capex_usd: float, annual_net_cash_usd: float, rate: float, years: float) -> float:
    """Net present value: -capex at year 0 plus a level annual net cash flow for `years`, discounted at `rate`."""
    return -capex_usd + annual_net_cash_usd * annuity_factor(rate, years)


def irr(capex_usd: float, annual_net_cash_usd: float, years: float) -> float | None:
    """Internal rate of return: the rate at which the NPV is 0. None when it is not defined: no capex (nothing
    to earn a return on), no positive cash flow (never repaid), or no horizon; also when the cash flow is so small
    against the capex that the rate lies within 1e-12 of -100% (the bisection's lower end: it would return that
    end, a rate at which the NPV is not 0)."""
    if capex_usd <= 0 or annual_net_cash_usd <= 0 or years <= 0:
        return None
    target = capex_usd / annual_net_cash_usd  # AF(x, n) = target; AF falls from +inf (x -> -1) to 0 (x -> inf)
    lo, hi = -1.0 + 1e-12, 1.0
    if annuity_factor(lo, years) < target:
        return None
    while annuity_factor(hi, years) > target:
        hi *= 2.0
        if hi > 1e12:
            return None
    for _ in range(400):
        mid = (lo + hi) / 2.0
        if annuity_factor(mid, years) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= _IRR_TOL * max(1.0, abs(mid)):
            break
    return (lo + hi) / 2.0


def payback_years(capex_usd: float, annual_net_cash_usd: float) -> float | None:
    """Simple payback: years of net cash that repay the capex (0 with no capex, None if never repaid)."""
    if capex_usd <= 0:
        return 0.0
    if annual_net_cash_usd <= 0:
        return None
    return capex_usd / annual_net_cash_usd


def discounted_payback_years(capex_usd: float, annual_net_cash_usd: float, rate: float) -> float | None:
    """The t at which discounted net cash repays capex: A x AF(r, t) = capex (None if it never does)."""
    if capex_usd <= 0:
        return 0.0
    if annual_net_cash_usd <= 0:
        return None
    if abs(rate) < 1e-12:
        return capex_usd / annual_net_cash_usd
    left = 1.0 - capex_usd * rate / annual_net_cash_usd  # (1+r)^-t
    if left <= 0:
        return None
    return -math.log(left) / math.log1p(rate)


def gross_margin(revenue_usd: float, cost_usd: float) -> float | None:
    """(revenue - all-in cost) / revenue; None without revenue."""
    if revenue_usd <= 0:
        return None
    return (revenue_usd - cost_usd) / revenue_usd


# ------------------------------------------------------------------------------------------------ the view
@dataclass(frozen=True)
class YearFlow:
    """One year of the cash-flow table (year 0 is the purchase; the last year may be partial)."""

    year: int
    capex_usd: float
    revenue_usd: float
    opex_usd: float
    net_usd: float
    cumulative_usd: float
    discounted_usd: float  # this year's net, discounted to year 0


def cash_flows(
    capex_usd: float, revenue_usd_per_year: float, opex_usd_per_year: float, rate: float, years: float
) -> list[YearFlow]:
    """Year-by-year table. Year k (1..ceil(n)) holds min(1, n - k + 1) of a year; its discount factor is
    AF(r, t_k) - AF(r, t_{k-1}) with t_k = min(k, n), i.e. (1+r)^-k for whole years, so the discounted column
    sums to the NPV exactly, partial last year included."""
    flows = [YearFlow(0, capex_usd, 0.0, 0.0, -capex_usd, -capex_usd, -capex_usd)]
    cumulative = -capex_usd
    for k in range(1, math.ceil(years - 1e-9) + 1):
        share = min(1.0, years - (k - 1))
        net = (revenue_usd_per_year - opex_usd_per_year) * share
        cumulative += net
        discount = (annuity_factor(rate, min(k, years)) - annuity_factor(rate, k - 1)) / share
        flows.append(
            YearFlow(
                k,
                0.0,
                revenue_usd_per_year * share,
                opex_usd_per_year * share,
                net,
                cumulative,
                net * discount,
            )
        )
    return flows


@dataclass(frozen=True)
class Investment:
    """The investment view of one plan over its horizon."""

    years: float
    discount_rate: float
    capex_usd: float
    revenue_usd_per_year: float
    opex_usd_per_year: float  # cash operating cost (all-in cost minus the capital charge)
    capital_charge_usd_per_year: float
    profit_usd_per_year: float  # revenue - all-in cost
    gross_margin: float | None
    payback_years: float | None
    discounted_payback_years: float | None
    npv_usd: float
    irr: float | None
    cash_flows: tuple[YearFlow, ...]


def investment(
    revenue_usd_per_hour: float,
    cost_usd_per_hour: float,
    capex_usd: float,
    *,
    rate: float,
    years: float,
) -> Investment:
    """The investment view from a plan's hourly revenue, all-in hourly cost (capital charge included) and
    capex; opex is the cost minus the capital charge (see the module docstring)."""
    capital = capital_charge_usd_per_hour(capex_usd, rate, years) * HOURS_PER_YEAR
    revenue = revenue_usd_per_hour * HOURS_PER_YEAR
    cost = cost_usd_per_hour * HOURS_PER_YEAR
    opex = cost - capital
    net = revenue - opex
    return Investment(
        years=years,
        discount_rate=rate,
        capex_usd=capex_usd,
        revenue_usd_per_year=revenue,
        opex_usd_per_year=opex,
        capital_charge_usd_per_year=capital,
        profit_usd_per_year=revenue - cost,
        gross_margin=gross_margin(revenue, cost),
        payback_years=payback_years(capex_usd, net),
        discounted_payback_years=discounted_payback_years(capex_usd, net, rate),
        npv_usd=npv_usd(capex_usd, net, rate, years),
        irr=irr(capex_usd, net, years),
        cash_flows=tuple(cash_flows(capex_usd, revenue, opex, rate, years)),
    )


@dataclass(frozen=True)
class Intensity:
    """Earnings per unit of power and per rack: what decides a power-limited site."""

    provisioned_mw: float  # nameplate IT power x PUE
    revenue_usd_per_mw_year: float | None
    profit_usd_per_mw_year: float | None
    output_tok_s_per_mw: float | None
    output_tok_s_per_w: float | None  # per average IT watt drawn
    racks: int
    revenue_usd_per_rack_year: float | None
    profit_usd_per_rack_year: float | None
    output_tok_s_per_rack: float | None


def provisioned_mw(nameplate_it_kw: float, pue: float) -> float:
    """Facility power a fleet needs provisioned: nameplate IT power x PUE, in MW."""
    return nameplate_it_kw * pue / 1000.0


def _per(x: float, unit: float) -> float | None:
    return x / unit if unit > 0 else None


def intensity(
    revenue_usd_per_hour: float,
    profit_usd_per_hour: float,
    output_tok_s: float,
    *,
    nameplate_it_kw: float,
    pue: float,
    avg_it_w: float,
    racks: int,
) -> Intensity:
    """Revenue, profit and tokens per provisioned MW (per year), per average IT watt and per rack."""
    mw = provisioned_mw(nameplate_it_kw, pue)
    h = HOURS_PER_YEAR
    return Intensity(
        provisioned_mw=mw,
        revenue_usd_per_mw_year=_per(revenue_usd_per_hour * h, mw),
        profit_usd_per_mw_year=_per(profit_usd_per_hour * h, mw),
        output_tok_s_per_mw=_per(output_tok_s, mw),
        output_tok_s_per_w=_per(output_tok_s, avg_it_w),
        racks=racks,
        revenue_usd_per_rack_year=_per(revenue_usd_per_hour * h, racks),
        profit_usd_per_rack_year=_per(profit_usd_per_hour * h, racks),
        output_tok_s_per_rack=_per(output_tok_s, racks),
    )
