"""planner.economics: hand-computed figures (a CRF replaced by 1/years, or a lost factor, fails them)."""

from __future__ import annotations

import pytest

from planner import economics as money
from planner.catalog import load_catalog


def test_crf_by_hand():
    # 8% over 5 years: 1.08^5 = 1.4693280768; CRF = 0.08 x 1.4693280768 / 0.4693280768 = 0.2504564546
    assert money.capital_recovery_factor(0.08, 5) == pytest.approx(0.2504564546, rel=1e-9)
    assert money.capital_recovery_factor(0.08, 5) != pytest.approx(1 / 5, rel=1e-3)
    assert money.capital_recovery_factor(0.0, 4) == 0.25  # no interest: straight line
    with pytest.raises(ValueError):
        money.capital_recovery_factor(0.08, 0)


def test_crf_at_a_rate_too_small_for_plain_powers():
    # For r -> 0, CRF(r, n) = 1/n + r (n + 1) / (2n) + O(r^2): 0.2 + 6e-14 at r = 1e-13, n = 5. The plain
    # formula reads 0.20016 there ((1+r)^n - 1 keeps 3 digits) and divides by zero at r = 1e-17.
    assert money.capital_recovery_factor(1e-13, 5) == pytest.approx(0.2 + 6e-14, rel=1e-12)
    assert money.capital_recovery_factor(1e-17, 5) == pytest.approx(0.2, rel=1e-12)


def test_owned_cost_by_hand():
    # capex $300,000 at 8% over 5 years, 5%/yr maintenance, 8 kW average, 10 kW nameplate, PUE 1.2, $0.10/kWh,
    # $150/kW-month: capital 300000 x 0.2504564546 / 8760 = 8.577276; maintenance 15000 / 8760 = 1.712329;
    # energy 8 x 1.2 x 0.10 = 0.96; facility 10 x 150 x 12 / 8760 = 2.054795 -> 13.304399 $/h.
    cost = money.owned_cost_usd_per_hour(
        300_000, 8.0, 10.0, amortization_years=5, cost_of_capital=0.08, maintenance_fraction_per_year=0.05,
        electricity_usd_per_kwh=0.10, pue=1.2, facility_usd_per_kw_month=150,
    )
    assert cost == pytest.approx(13.304399, rel=1e-6)
    assert money.capital_usd_per_hour(300_000, money.capital_recovery_factor(0.08, 5)) == pytest.approx(
        8.577276, rel=1e-6
    )
    assert money.maintenance_usd_per_hour(300_000, 0.05) == pytest.approx(1.712329, rel=1e-6)
    assert money.energy_usd_per_hour(8000, 1.2, 0.10) == pytest.approx(0.96)
    assert money.facility_usd_per_hour(10, 150) == pytest.approx(2.054795, rel=1e-6)
    assert money.rental_usd_per_hour(8, 2.5) == 20.0
    assert money.rental_usd_per_hour(8, None) == 0.0


def test_price_lookup():
    cat = load_catalog()
    sys_ = next(iter(cat.systems.values()))
    assert money.price_usd(sys_.price, "low") == sys_.price.low_usd
    assert money.price_usd(sys_.price, "high") == sys_.price.high_usd
    assert money.price_usd(0.12, "base") == 0.12
    with pytest.raises(ValueError):
        money.price_usd(sys_.price, "median")
