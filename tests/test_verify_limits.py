"""verify's limit checks, each at its edge: a genuine plan passes a problem whose limit it meets exactly and fails
one whose limit is just under what it uses (a check dropped, or a limit read a unit off, passes every plan)."""

from __future__ import annotations

import dataclasses

import pytest
from optimize_fixtures import cand, instance, rack, system, table, workload

from planner.optimize.pipeline import solve_candidates
from planner.optimize.verify import verify_plan


@pytest.fixture(scope="module")
def solved():
    # 3000 tok/s from 1000 tok/s servers: one rented ($0.5/GPU-h, the cheapest, but only one on offer) and two
    # bought ($250k each) in one $10k rack; 10 kW each, PUE 1.3.
    inst = instance([workload("chat", 3000, min_replicas=2)],
                    [system("h100", "h100", price=250_000, kw=10, rent=0.5)], power_limit_kw=100, capex=1e6)
    inst.systems = {k: dataclasses.replace(v, rent_supply=1) for k, v in inst.systems.items()}
    inst.racks = {"air": rack("air", 40, 42, count=2, price=10_000)}
    cands = table(cand("chat", "h100", "h100", gpus=8, out=1000, watts=5000),
                  cand("chat", "h100", "h100", gpus=8, out=1000, watts=5000, mode="rent"))
    plan = solve_candidates(inst, cands).plan
    fl = plan.fleet
    assert (fl.servers_new, fl.servers_rented, len(fl.racks)) == ({"h100": 2}, {"h100": 1}, 1)
    assert fl.capex_usd == pytest.approx(2 * 250_000 + 10_000)
    assert fl.facility_power_kw == pytest.approx(2 * 10 * 1.3)
    return plan, inst


def _violations(solved, **changes) -> list[str]:
    """verify's findings against the problem changed by `changes`, less the plan's record of the old limits."""
    plan, inst = solved
    found = verify_plan(plan, dataclasses.replace(inst, **changes)).violations
    return [v for v in found if not v.startswith("limits.")]


def _system(solved, **changes) -> dict:
    _, inst = solved
    return {k: dataclasses.replace(v, **changes) for k, v in inst.systems.items()}


def test_the_plan_passes_at_its_limits(solved):
    assert _violations(solved) == []
    racks = {"air": rack("air", 20, 16, count=1, price=10_000)}  # 2 x 10 kW, 2 x 8U: exactly full
    assert _violations(solved, budget_capex_usd=510_000, power_limit_kw=26, racks=racks,
                       systems=_system(solved, rent_supply=1, supply=2)) == []


@pytest.mark.parametrize("changes, words", [
    ({"budget_capex_usd": 509_000}, "capex 510,000 > budget"),
    ({"power_limit_kw": 25.9}, "site power 26 kW (IT x PUE) > limit"),  # 20 kW IT passes; x PUE 1.3 does not
    ({"racks": {"air": rack("air", 40, 15, count=1, price=10_000)}}, "16U > 15U"),
    ({"racks": {"air": rack("air", 19.9, 42, count=1, price=10_000)}}, "20 kW > 19.9 kW"),
])
def test_each_limit_just_under_the_plan_is_caught(solved, changes, words):
    found = _violations(solved, **changes)
    assert any(words in v for v in found), found


def test_rack_count_supply_and_replica_floor_just_under_the_plan_are_caught(solved):
    _, inst = solved
    racks = {"air": rack("air", 40, 42, count=0, price=10_000)}
    assert any("racks air: 1 used > 0 available" in v for v in _violations(solved, racks=racks))
    rent_none = _system(solved, rent_supply=0)
    assert any("1 rented > rental supply 0" in v for v in _violations(solved, systems=rent_none))
    assert any("2 bought > supply 1" in v for v in _violations(solved, systems=_system(solved, supply=1)))
    wl = {w: dataclasses.replace(x, min_replicas=4) for w, x in inst.workloads.items()}
    # verify's own family (verify_economics repeats it per hour class, under a tag)
    assert "workload chat: 3 replicas < minimum 4" in _violations(solved, workloads=wl)
