"""A profiled plan (demand profiles -> hour classes): the proposal prices rentals, energy and the TCO for the
hours the optimizer priced them (each class's servers for its share of the year), as plan.json records them,
not the peak class's fleet for 8,760 h."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_proposal_content import energy_above_idle_usd_per_year

from planner.catalog import load_catalog
from planner.economics import HOURS_PER_YEAR
from planner.plan import plan_json
from planner.proposal.alternatives import _utilization
from planner.proposal.bom import build_bom, horizon_years, tco_by_year
from planner.proposal.solver import solve_for_proposal

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def diurnal():
    cat = load_catalog()
    s = solve_for_proposal(ROOT / "problems" / "diurnal-own-rent.yaml", cat)
    lines, _ = build_bom(s.plan, s.instance, cat, s.problem.economics)
    return s, json.loads(plan_json(s.plan)), lines


def test_rentals_are_priced_for_each_hour_class_hours(diurnal):
    s, plan, lines = diurnal
    assert len(plan["hourly"]) > 1
    by_hand = sum(  # from plan.json: each class's rented servers x GPUs x $/GPU-hour x its hours of the year
        r["share_of_year"] * HOURS_PER_YEAR * n * s.instance.systems[sid].gpus
        * s.instance.systems[sid].rent_usd_per_gpu_hour
        for r in plan["hourly"] for sid, n in r["servers_rented"].items()
    )
    peak_all_year = sum(n * s.instance.systems[sid].gpus * s.instance.systems[sid].rent_usd_per_gpu_hour
                        for sid, n in plan["fleet"]["servers_rented"].items()) * HOURS_PER_YEAR
    assert by_hand < 0.5 * peak_all_year  # the peak is rented for a quarter of the week: the test can tell
    bom = sum(b.extended_usd for b in lines if b.section == "Rentals")
    assert bom == pytest.approx(by_hand, rel=1e-5)
    assert bom == pytest.approx(plan["economics"]["cost_breakdown_usd_per_hour"]["rental"] * HOURS_PER_YEAR,
                                rel=1e-5)
    tco = tco_by_year(s.plan, horizon_years(s.instance))
    assert tco[1].rental_usd == pytest.approx(by_hand, rel=1e-5)


def test_yearly_lines_and_tco_add_up_to_the_plans_year_average_opex(diurnal):
    s, plan, lines = diurnal
    opex = plan["economics"]["opex_usd_per_year"]
    assert opex < 0.9 * plan["fleet"]["opex_usd_per_year"]  # the peak class's fleet would overstate it
    assert sum(b.extended_usd for b in lines if b.recurrence == "per year") == pytest.approx(opex, rel=1e-5)
    tco = tco_by_year(s.plan, horizon_years(s.instance))
    assert all(y.total_usd == pytest.approx(opex, rel=1e-5) for y in tco[1:])
    parts = plan["economics"]["cost_breakdown_usd_per_hour"]
    assert sum(parts.values()) == pytest.approx(plan["economics"]["cost_usd_per_hour"], rel=1e-5)


def test_utilization_bar_leaves_rented_servers_alone(diurnal):
    # the peak class rents as well as owns: half the load halves the owned GPUs' energy above idle; a rented
    # server's energy is the provider's (its rent is per GPU-hour whatever it draws)
    s, _, _ = diurnal
    assert any(d.mode == "rent" and d.replicas for d in s.plan.deployments)
    bar = _utilization(s.plan, s.instance)
    saved = 0.5 * energy_above_idle_usd_per_year(s.plan, s.instance)
    assert bar.high_usd_per_year - bar.low_usd_per_year == pytest.approx(saved, rel=1e-9)
