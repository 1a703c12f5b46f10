"""The proposal's content against what can be derived independently: TCO vs the optimizer's annual cost
(present-value identity), tornado monotonicity (a min-cost optimum cannot fall when a price or the demand
rises), the rent-everything alternative priced by hand, and the network allowance balance."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from planner.catalog import load_catalog
from planner.economics import HOURS_PER_YEAR
from planner.proposal.alternatives import RESOLVE_GAP
from planner.proposal.bom import horizon_years, recurring_lines, tco_by_year
from planner.proposal.build import build_proposal
from planner.proposal.solver import EXACT_GAP, one_mode, resolve, solve_for_proposal

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick():
    cat = load_catalog()
    s = solve_for_proposal(ROOT / "problems" / "quickstart.yaml", cat)
    return cat, s, build_proposal(s, cat, title=None, date="2026-11-30", workers=1)


def test_tco_present_value_equals_the_annual_cost_the_optimizer_minimizes(quick):
    _, s, p = quick
    r, n = s.instance.cost_of_capital, s.instance.amortization_years
    assert n == p.horizon_years  # 4 years: an integer horizon, so the identity is exact
    pv = sum(y.total_usd / (1 + r) ** y.year for y in p.tco)
    annuity = (1 - (1 + r) ** -n) / r
    assert pv == pytest.approx(s.plan.fleet.cost_usd_per_hour * HOURS_PER_YEAR * annuity, rel=1e-9)
    assert p.tco[0].total_usd == pytest.approx(s.plan.fleet.capex_usd)
    assert all(y.total_usd == pytest.approx(s.plan.fleet.opex_usd_per_year) for y in p.tco[1:])


@pytest.mark.parametrize(("amortization_years", "years"), [(4.0, 4), (4.5, 5), (4.2, 5), (0.5, 1), (4 + 1e-12, 4)])
def test_tco_table_covers_a_partial_last_year(amortization_years, years):
    # a 4.5-year horizon has a fifth year of running costs: the TCO table rounds the horizon up (4 + 1e-12 is
    # 4 years read back from a float, not a fifth year)
    assert horizon_years(SimpleNamespace(amortization_years=amortization_years)) == years


def test_maintenance_covers_owned_servers_bought_before_and_racks():
    # the optimizer charges maintenance on every owned server, sunk or not (extract._cost_parts): 23 existing
    # H100 at $275k + 2 new B200 at $506k + 8 racks at $25k, 5% a year = 316,250 + 50,600 + 10,000 = $376,850
    fleet = SimpleNamespace(servers_new={"b200": 2}, servers_existing={"h100": 23}, servers_rented={},
                            racks=[SimpleNamespace(rack_type="air")] * 8, it_power_avg_kw=0.0, it_power_kw=0.0,
                            cost_breakdown_usd_per_hour={})
    plan = SimpleNamespace(fleet=fleet, hourly=[], economics=None)
    inst = SimpleNamespace(
        systems={"h100": SimpleNamespace(capex_usd=275_000.0), "b200": SimpleNamespace(capex_usd=506_000.0)},
        racks={"air": SimpleNamespace(price_usd=25_000.0)}, maintenance_fraction=0.05, pue=1.3,
        electricity_usd_per_kwh=0.1, facility_usd_per_kw_month=0.0)
    lines = {b.item: b for b in recurring_lines(plan, inst, None)}
    assert lines["hardware maintenance and support"].extended_usd == pytest.approx(376_850.0)


def test_tco_years_carry_the_costs_the_proposal_does_not_name():
    # a software licence of $2/h is $17,520 a year on top of $1/h of energy ($8,760): each year's TCO is $26,280
    fleet = SimpleNamespace(capex_usd=100_000.0, cost_breakdown_usd_per_hour={"energy": 1.0, "licence": 2.0})
    tco = tco_by_year(SimpleNamespace(fleet=fleet, hourly=[], economics=None), 2)
    assert [y.total_usd for y in tco] == pytest.approx([100_000.0, 26_280.0, 26_280.0])
    assert tco[1].other_usd == pytest.approx(17_520.0)


def test_tornado_moves_cost_the_way_the_driver_does(quick):
    _, _, p = quick
    base = p.base_usd_per_year
    tol = RESOLVE_GAP * base
    bars = {b.driver: b for b in p.tornado}
    assert set(bars) == {"electricity price", "system prices", "demand", "utilization"}
    for name in ("electricity price", "system prices", "demand"):
        b = bars[name]
        assert b.low_usd_per_year <= base + tol and b.high_usd_per_year >= base - tol, b
    assert bars["system prices"].swing_usd > bars["electricity price"].swing_usd > 0
    assert bars["utilization"].high_usd_per_year == pytest.approx(base)
    assert [b.swing_usd for b in p.tornado] == sorted((b.swing_usd for b in p.tornado), reverse=True)


def energy_above_idle_usd_per_year(plan, inst) -> float:
    """The owned fleet's energy a year above what its servers draw idle (each GPU's idle watts and the rest of
    the server): the fleet's average IT power less the idle draw, at PUE x $/kWh all year."""
    fl = plan.fleet
    owned = {**fl.servers_new}
    for sid, n in fl.servers_existing.items():
        owned[sid] = owned.get(sid, 0) + n
    idle_w = sum(n * (inst.systems[sid].non_gpu_avg_w + inst.systems[sid].gpus * inst.systems[sid].idle_w)
                 for sid, n in owned.items())
    above_idle_kw = fl.it_power_avg_kw - idle_w / 1000
    assert above_idle_kw > 0
    return above_idle_kw * inst.pue * inst.electricity_usd_per_kwh * HOURS_PER_YEAR


def test_utilization_bar_saves_half_the_energy_above_idle(quick):
    # at half the modelled load only the GPUs' draw above idle halves
    _, s, p = quick
    bar = {b.driver: b for b in p.tornado}["utilization"]
    saved = 0.5 * energy_above_idle_usd_per_year(s.plan, s.instance)
    assert bar.high_usd_per_year - bar.low_usd_per_year == pytest.approx(saved, rel=1e-9)


def test_rent_everything_is_priced_per_gpu_hour(quick):
    cat, s, p = quick
    inst, cands = one_mode(s.instance, s.candidates, "rent")
    assert set(cands["mode"]) == {"rent"} and all(k.endswith("/rent") for k in cands["key"])
    got = resolve(inst, cands, cat)
    assert not isinstance(got, str)
    fl = got.fleet
    assert fl.capex_usd == 0 and fl.servers_new == {} and fl.servers_rented
    by_hand = sum(n * inst.systems[sid].gpus * inst.systems[sid].rent_usd_per_gpu_hour
                  for sid, n in fl.servers_rented.items())
    assert fl.cost_usd_per_hour == pytest.approx(by_hand)
    row = next(a for a in p.alternatives if a.name == "rent everything")
    assert row.annual_cost_usd == pytest.approx(by_hand * HOURS_PER_YEAR, rel=RESOLVE_GAP)
    assert row.delta_usd_per_year == pytest.approx(row.annual_cost_usd - p.base_usd_per_year)
    # the difference in percent is of the chosen plan's cost (what renting adds to it), not of the rental's
    assert row.delta_pct == pytest.approx(100 * row.delta_usd_per_year / p.base_usd_per_year)


def test_chosen_family_row_is_the_chosen_plan_and_runner_up_is_listed(quick):
    _, s, p = quick
    hopper = next(a for a in p.alternatives if a.name == "best on Hopper")
    assert hopper.annual_cost_usd == pytest.approx(p.base_usd_per_year) and hopper.delta_usd_per_year == 0
    assert any(a.kind == "runner-up" for a in p.alternatives) == (s.plan.runner_up is not None)


def test_network_lines_and_balance_add_up_to_the_allowance(quick):
    _, s, p = quick
    net = [b for b in p.bom if b.section == "Scale-out network"]
    allowance = sum(s.instance.systems[k].price_usd * n for k, n in s.plan.fleet.servers_new.items()) \
        * s.instance.network_fraction
    assert sum(b.extended_usd for b in net) == pytest.approx(allowance)


def test_tornado_runs_through_the_sweep_engine_on_the_solves_cache(quick):
    """Money and demand drivers reuse the solve's performance evaluation (one evaluation in all), and a bar's end
    equals a fresh solve of the problem file with that change (a price driver's: to the proven optimum)."""
    from planner.optimize import solve_problem
    from planner.proposal.alternatives import drivers

    cat, s, p = quick
    assert s.cache.misses == 1 and s.cache.hits >= 1 + 6  # the main solve, then 3 drivers x (low, high)
    elec = next(d for d in drivers(s, cat) if d.name == "electricity price")
    (path, high), = elec.high.items()
    assert path == "economics.electricity_usd_per_kwh"
    econ = s.problem.economics.model_copy(update={"electricity_usd_per_kwh": high})
    solver = s.problem.solver.model_copy(update={"gap": EXACT_GAP})
    fresh = solve_problem(s.problem.model_copy(update={"economics": econ, "solver": solver}), cat, runner_up=False)
    bar = next(b for b in p.tornado if b.driver == "electricity price")
    assert bar.high_usd_per_year == pytest.approx(fresh.fleet.cost_usd_per_hour * HOURS_PER_YEAR, rel=1e-12)


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_keeps_job_order_and_skips_what_is_not_needed(workers, tmp_path):
    """Jobs are closures (inherited by the forked workers, never pickled); results come back in job order; a
    skipped job is not run where it has not started (serially: never)."""
    import time

    from planner.proposal.solver import Batch

    def job(i):
        def run():
            time.sleep(0.3 if i == 0 else 0.0)  # job 4 is still queued when results() is asked
            (tmp_path / f"ran-{i}").touch()
            return i * i
        return run

    got = Batch([job(i) for i in range(5)], workers=workers).results(skip={4})
    assert got == [0, 1, 4, 9, None]
    ran = sorted(p.name for p in tmp_path.iterdir())
    assert ran == [f"ran-{i}" for i in range(4)] or (workers > 1 and ran == [f"ran-{i}" for i in range(5)])
    if workers == 1:
        assert "ran-4" not in ran


def test_targets_are_shown_at_the_percentile_they_were_solved_at(quick):
    """quickstart takes the default slo_percentile 90: every deployment row says p90 (not the catalog's old p50),
    and the year-average $/Mtok and utilization are the plan's own (average demand = peak / 2.5)."""
    _, s, p = quick
    assert {d.percentile for d in p.deployments} == {"p90"}
    figs = {f.key: f.value for f in p.figures}
    average = s.plan.workloads[0].demand_output_tok_s / 2.5  # quickstart's peak_factor
    assert s.plan.economics.served_output_tok_s == pytest.approx(average)
    assert figs["usd_per_mtok_at_average"] == pytest.approx(
        s.plan.fleet.cost_usd_per_hour / (average * 3600) * 1e6)


def test_a_plan_without_economics_still_has_its_average_load_figure(quick):
    """`propose --plan` takes a plan.json that verifies without `economics` (an older planner's; a min-cost plan
    without profiles has nothing there to verify): its $/Mtok at average load is then the fleet's, the same as
    the economics figure. The proposal's own sum took quickstart's peak rate as its average (1.62 $/Mtok, 2.5x
    below the plan's 4.06: the peak factor divided only a tokens_per_day demand)."""
    import dataclasses

    from planner.proposal.build import figures

    _, s, _ = quick
    bare = dataclasses.replace(s, plan=s.plan.model_copy(update={"economics": None}))
    at_avg = {f.key: f.value for f in figures(bare)}["usd_per_mtok_at_average"]
    assert at_avg == pytest.approx(s.plan.economics.usd_per_mtok_served, rel=1e-9)

def test_generic_engine_is_named_as_the_plan_names_it(quick):
    """A plan without an engine search runs the calibrated `generic` engine (plan.json, solve and predict say so);
    the proposal called it "TRT-LLM-like", which reads as a recommendation to run TensorRT-LLM."""
    _, s, p = quick
    assert {d.engine for d in s.plan.deployments} == {"generic"}
    assert {d.engine for d in p.deployments} == {"generic"}


def test_quality_floor_assumption_is_the_deployed_effort_level_s_score(quick):
    """quickstart deploys qwen3-32b non-thinking (GPQA Diamond 55.0 x fp8 recovery = 54.7 in the table); the
    assumptions listed the model's default (thinking) score, 68.4, for it."""
    cat, s, p = quick
    d = s.plan.deployments[0]
    assert (d.model, d.effort) == ("qwen3-32b", "non-thinking")
    rows = [a for a in p.assumptions if "(quality floor)" in a.item]
    assert [a.item for a in rows] == ["qwen3-32b (non-thinking): GPQA Diamond (quality floor)"]
    assert float(rows[0].value) == cat.models["qwen3-32b"].effort("non-thinking").score("GPQA Diamond") == 55.0


def test_what_to_rent_is_each_system_s_busiest_hour_class(quick):
    """With demand profiles the fleet holds the peak class, but a system can be rented most in other hours:
    diurnal-own-rent rents 1 H100 server at its peak and 4 in the weekday shoulders, and "What to buy" said
    "rent 1 x hgx-h100"; the rental price assumption listed only systems rented at the peak."""
    from planner.plan import HourClassResult
    from planner.proposal.build import buy_summary

    cat, s, _ = quick

    def hours(label: str, rented: dict[str, int]) -> HourClassResult:
        return HourClassResult(hours=label, hours_per_week=84, share_of_year=0.5, demand_multipliers={},
                               replicas={}, owned_replicas=0, rented_replicas=0, servers_rented=rented,
                               cost_usd_per_hour=1.0)

    plan = s.plan.model_copy(deep=True, update={"hourly": [hours("daily 09-17", {"hgx-h100": 1}),
                                                           hours("daily 18-21", {"hgx-h100": 4, "hgx-b200": 1})]})
    plan.fleet.servers_rented.update({"hgx-h100": 1})
    lines = buy_summary(plan, cat)
    assert "rent up to 4 x hgx-h100 (32 x h100-sxm; most in daily 18-21)" in lines
    assert "rent up to 1 x hgx-b200 (8 x b200; most in daily 18-21)" in lines
    assert not any(x.startswith("rent 1 x") for x in lines)


def test_deployment_rows_state_the_disaggregated_unit_and_the_draft(quick):
    """The proposal's Serving cell said "disaggregated" (diurnal-own-rent: 2 replicas of TP1 on 14 GPUs, with no
    word of its 5 prefill + 2 decode instances) and nothing of speculative decoding."""
    from dataclasses import replace

    from planner.proposal.build import deployment_rows

    _, s, _ = quick
    plan = s.plan.model_copy(deep=True)
    d = plan.deployments[0]
    plan.deployments[0] = d.model_copy(update={"serving": "disaggregated", "prefill_instances": 5,
                                               "decode_instances": 2, "prefill_tp": 1, "prefill_pp": 1,
                                               "speculative": "eagle3"})
    row = deployment_rows(replace(s, plan=plan))[0]
    assert row.serving.startswith("disaggregated (5 prefill TP1 PP1 + 2 decode instances a replica), "
                                  "speculative eagle3, effort non-thinking")



def test_peak_class_deployments_are_said_to_be_the_peak_class_s(quick):
    """A profiled plan's deployment rows hold the peak class's replicas, some 0 (configurations that run only
    off-peak); the proposal showed them without a word. A plan without hour classes says nothing more."""
    from dataclasses import replace

    from planner.plan import HourClassResult
    from planner.proposal.build import deployments_note
    from planner.report.proposal_md import md, render_md

    _, s, p = quick
    assert p.deployments_note == "" and "peak hour class" not in render_md(p, "0")
    hour = HourClassResult(hours="daily 00-23", hours_per_week=168, share_of_year=1.0, demand_multipliers={},
                           replicas={}, owned_replicas=0, rented_replicas=0, cost_usd_per_hour=1.0)
    note = deployments_note(s.plan.model_copy(deep=True, update={"hourly": [hour]}))
    assert note.startswith("Replicas, GPUs and output tok/s are the peak hour class's; a row with 0 replicas")
    assert md(note) in render_md(replace(p, deployments_note=note), "0")
