"""The investment view (planner.investment): hand-computed cases, and invariants that tie it to the hourly cost
model (NPV = 8760 x profit per hour x annuity factor; IRR above the discount rate exactly when profit > 0)."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from planner.economics import HOURS_PER_YEAR, capital_recovery_factor
from planner.investment import (
    annuity_factor,
    capital_charge_usd_per_hour,
    cash_flows,
    discounted_payback_years,
    gross_margin,
    intensity,
    investment,
    irr,
    npv_usd,
    payback_years,
    tier_price_usd_per_mtok,
    token_revenue_usd_per_hour,
)


def explicit_npv(capex: float, annual: float, rate: float, years: int) -> float:
    """Textbook NPV, year by year: an independent formula for whole-year horizons."""
    return -capex + sum(annual / (1 + rate) ** t for t in range(1, years + 1))


# ------------------------------------------------------------------------------------------- hand-computed
def test_token_revenue_by_hand():
    # 10,000 output tok/s = 36 Mtok/h at $2 = $72/h; 30,000 input tok/s = 108 Mtok/h at $0.50 = $54/h
    assert token_revenue_usd_per_hour(10_000, 2.0) == pytest.approx(72.0)
    assert token_revenue_usd_per_hour(10_000, 2.0, 30_000, 0.5) == pytest.approx(126.0)
    assert token_revenue_usd_per_hour(0, 2.0) == 0.0


def test_tier_price_picks_the_fastest_tier_reached():
    tiers = [(50.0, 3.0), (100.0, 6.0)]
    assert tier_price_usd_per_mtok(20.0, 1.0, tiers) == 1.0  # below every tier: base price
    assert tier_price_usd_per_mtok(50.0, 1.0, tiers) == 3.0  # exactly at a threshold: that tier
    assert tier_price_usd_per_mtok(99.9, 1.0, tiers) == 3.0
    assert tier_price_usd_per_mtok(250.0, 1.0, tiers) == 6.0
    assert tier_price_usd_per_mtok(250.0, 1.0, list(reversed(tiers))) == 6.0  # order does not matter
    assert tier_price_usd_per_mtok(250.0, 1.0) == 1.0


def test_tier_price_at_a_tpot_of_exactly_one_over_the_threshold():
    # a service whose TPOT is 1/93 s serves 93 tok/s per user, but 1 / (1 / 93) rounds to 92.99999999999999:
    # the value model prices output at 1 / TPOT, so without the round-off allowance it would miss its tier
    tok_s_per_user = 1.0 / (1.0 / 93.0)
    assert tok_s_per_user < 93.0
    assert tier_price_usd_per_mtok(tok_s_per_user, 1.0, [(93.0, 4.0)]) == 4.0
    assert tier_price_usd_per_mtok(92.9, 1.0, [(93.0, 4.0)]) == 1.0  # genuinely slower: base price


def test_npv_irr_payback_by_hand():
    # capex 1000 at year 0, 300 a year for 5 years, 10%:
    # AF = (1 - 1.1^-5) / 0.1 = (1 - 0.6209213) / 0.1 = 3.7907868;  NPV = -1000 + 300 x 3.7907868 = 137.236
    assert annuity_factor(0.10, 5) == pytest.approx(3.7907868, rel=1e-7)
    assert npv_usd(1000, 300, 0.10, 5) == pytest.approx(137.2360, abs=1e-3)
    assert npv_usd(1000, 300, 0.10, 5) == pytest.approx(explicit_npv(1000, 300, 0.10, 5), rel=1e-12)
    # IRR: 300 x AF(x, 5) = 1000 -> x = 15.2382% (table value); at it the explicit NPV is 0
    x = irr(1000, 300, 5)
    assert x == pytest.approx(0.152382, abs=1e-6)
    assert explicit_npv(1000, 300, x, 5) == pytest.approx(0.0, abs=1e-6)
    # simple payback 1000 / 300 = 3.333 years; discounted: (1.1)^-t = 1 - 1000 x 0.1 / 300 -> t = 4.2542
    assert payback_years(1000, 300) == pytest.approx(10 / 3)
    assert discounted_payback_years(1000, 300, 0.10) == pytest.approx(math.log(1.5) / math.log(1.1))
    assert discounted_payback_years(1000, 300, 0.10) == pytest.approx(4.2542, abs=1e-4)


def test_zero_rate_and_undefined_cases():
    assert annuity_factor(0.0, 4) == 4.0
    assert npv_usd(1000, 300, 0.0, 4) == pytest.approx(200.0)
    assert irr(1000, 250, 4) == pytest.approx(0.0, abs=1e-9)  # repaid exactly: 0%
    assert irr(1000, 200, 4) < 0  # repaid 80%: negative return
    assert explicit_npv(1000, 200, irr(1000, 200, 4), 4) == pytest.approx(0.0, abs=1e-6)
    assert irr(0, 300, 5) is None  # nothing invested
    assert irr(1000, -5, 5) is None  # never repaid
    assert payback_years(1000, -5) is None
    assert payback_years(0, -5) == 0.0
    assert discounted_payback_years(1000, 50, 0.10) is None  # 50/yr never repays 1000 at 10% (perpetuity 500)
    assert gross_margin(100.0, 80.0) == pytest.approx(0.2)
    assert gross_margin(100.0, 130.0) == pytest.approx(-0.3)
    assert gross_margin(0.0, 10.0) is None


def test_cash_flow_table_whole_and_partial_years():
    flows = cash_flows(1000, 500, 200, 0.10, 5)
    assert [f.year for f in flows] == [0, 1, 2, 3, 4, 5]
    assert flows[0].net_usd == -1000
    assert flows[1].net_usd == pytest.approx(300)
    assert flows[2].discounted_usd == pytest.approx(300 / 1.1**2)
    assert flows[-1].cumulative_usd == pytest.approx(500)
    assert sum(f.discounted_usd for f in flows) == pytest.approx(npv_usd(1000, 300, 0.10, 5))
    half = cash_flows(1000, 500, 200, 0.10, 2.5)
    assert [f.year for f in half] == [0, 1, 2, 3]
    assert half[-1].revenue_usd == pytest.approx(250) and half[-1].net_usd == pytest.approx(150)
    assert sum(f.discounted_usd for f in half) == pytest.approx(npv_usd(1000, 300, 0.10, 2.5))


def test_investment_view_by_hand():
    # capex 876,000 over 4 years at 0% -> capital charge 876,000 / 4 / 8760 = 25 $/h. All-in cost 40 $/h,
    # so opex 15 $/h; revenue 60 $/h -> profit 20 $/h, net cash 45 $/h = 394,200 $/yr.
    v = investment(60.0, 40.0, 876_000.0, rate=0.0, years=4)
    assert v.capital_charge_usd_per_year == pytest.approx(25 * 8760)
    assert v.opex_usd_per_year == pytest.approx(15 * 8760)
    assert v.profit_usd_per_year == pytest.approx(20 * 8760)
    assert v.gross_margin == pytest.approx(20 / 60)
    assert v.payback_years == pytest.approx(876_000 / (45 * 8760))
    assert v.npv_usd == pytest.approx(-876_000 + 4 * 45 * 8760)
    assert v.npv_usd == pytest.approx(20 * 8760 * 4)  # = 8760 x profit x AF
    assert len(v.cash_flows) == 5


def test_intensity_by_hand():
    # 800 kW nameplate x PUE 1.25 = 1 MW provisioned; 100 $/h revenue = 876,000 $/MW-yr; 4 racks
    k = intensity(100.0, 25.0, 50_000.0, nameplate_it_kw=800.0, pue=1.25, avg_it_w=500_000.0, racks=4)
    assert k.provisioned_mw == pytest.approx(1.0)
    assert k.revenue_usd_per_mw_year == pytest.approx(876_000)
    assert k.profit_usd_per_mw_year == pytest.approx(219_000)
    assert k.output_tok_s_per_mw == pytest.approx(50_000)
    assert k.output_tok_s_per_w == pytest.approx(0.1)
    assert k.revenue_usd_per_rack_year == pytest.approx(219_000)
    assert k.output_tok_s_per_rack == pytest.approx(12_500)
    none = intensity(0.0, -5.0, 0.0, nameplate_it_kw=0.0, pue=1.3, avg_it_w=0.0, racks=0)
    assert none.revenue_usd_per_mw_year is None and none.output_tok_s_per_rack is None


# ------------------------------------------------------------------------------------------- invariants
# (economics.capital_recovery_factor loses digits for rates below ~1e-6; the rates that occur are >= 0.1%)
RATES = st.one_of(st.just(0.0), st.floats(1e-3, 0.4))
YEARS = st.floats(0.5, 12.0)


@given(rate=RATES, years=st.integers(1, 12))
def test_annuity_factor_is_the_inverse_capital_recovery_factor(rate, years):
    assert annuity_factor(rate, years) == pytest.approx(1 / capital_recovery_factor(rate, years), rel=1e-9)
    assert npv_usd(1000, 250, rate, years) == pytest.approx(explicit_npv(1000, 250, rate, years), rel=1e-9)


@given(
    revenue=st.floats(0.0, 1e4),
    cost=st.floats(1.0, 1e4),
    capex_share=st.floats(0.0, 0.95),
    rate=RATES,
    years=YEARS,
)
@example(revenue=0.5000000000000001, cost=1.0, capex_share=0.5, rate=0.0, years=1.0)  # IRR near -100%
def test_npv_is_hourly_profit_times_the_annuity_factor(revenue, cost, capex_share, rate, years):
    """The hourly cost charges capex x CRF / 8760, so NPV = 8760 x profit x AF(r, n), and IRR > r exactly when
    the plan makes a profit per hour (when IRR is defined)."""
    capex = capex_share * cost * HOURS_PER_YEAR * annuity_factor(rate, years)
    assert capital_charge_usd_per_hour(capex, rate, years) == pytest.approx(capex_share * cost, rel=1e-9)
    v = investment(revenue, cost, capex, rate=rate, years=years)
    profit = revenue - cost
    assert v.npv_usd == pytest.approx(HOURS_PER_YEAR * profit * annuity_factor(rate, years), rel=1e-6, abs=1e-3)
    if v.irr is not None and abs(profit) > 1e-3 * cost:
        assert (v.irr > rate) == (profit > 0)
        assert npv_usd(capex, v.revenue_usd_per_year - v.opex_usd_per_year, v.irr, years) == pytest.approx(
            0.0, abs=1e-6 * capex + 1e-6
        )


def test_irr_is_undefined_when_the_cash_barely_exists():
    """Found by hypothesis: revenue 0.5000000000000001 against a cost of 1.0 with half of it capital leaves ~1e-13
    $/year of net cash on 4,380 $ of capex; the rate lies within 1e-12 of -100%, below the search's range."""
    assert irr(4380.0, 1e-13, 1.0) is None
    assert irr(4380.0, 4380.0 * 1e-6, 1.0) == pytest.approx(1e-6 - 1, rel=1e-6)
