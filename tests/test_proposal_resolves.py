"""The proposal's re-solves after a price change start from the chosen plan and stop at the proven optimum: the
start changes how fast, never what (a start that is not feasible is dropped), and the start read from a plan is
that plan in the MIP's variables."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from planner.catalog import load_catalog
from planner.optimize import backends
from planner.optimize.formulation import build_model
from planner.optimize.model import MipModel
from planner.proposal import alternatives as alt
from planner.proposal.solver import Batch, chosen_start, plan_start, solve_for_proposal, start_values

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick():
    cat = load_catalog()
    return cat, solve_for_proposal(ROOT / "problems" / "quickstart.yaml", cat)


def _knapsack() -> MipModel:
    """max 5a + 4b + 3c  s.t.  2a + 3b + c <= 5, binaries: by hand, a = b = 1 (weight 5, value 9) beats a = c = 1
    (8) and b = c = 1 (7); a = b = c = 1 weighs 6."""
    m = MipModel()
    a, b, c = (m.add_var(n, 0, 1, integer=True) for n in "abc")
    m.add("weight", "weight", {a: 2, b: 3, c: 1}, hi=5)
    m.set_objective({a: 5, b: 4, c: 3}, maximize=True)
    return m


@pytest.mark.parametrize("backend", ["scip", "highs"])
@pytest.mark.parametrize("start", [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]],
                         ids=["optimal", "feasible", "infeasible"])
def test_a_start_changes_nothing_but_the_path(backend, start):
    res = backends.solve(_knapsack(), backend, gap=1e-9, start=start)
    assert res.status is backends.SolveStatus.OPTIMAL
    assert res.objective == pytest.approx(9.0) and [round(x) for x in res.values] == [1, 1, 0]


@pytest.mark.parametrize("problem", ["quickstart", "simplicity-and-failure-domains"])
def test_the_start_is_the_chosen_plan(problem, quick):
    """The main model with the start's values fixed (rack patterns left free) still has the plan's cost as its
    optimum: the start names the model's variables and the plan is a solution of it."""
    cat = quick[0]
    s = quick[1] if problem == "quickstart" else solve_for_proposal(ROOT / "problems" / f"{problem}.yaml", cat)
    m, _ = build_model(s.instance, s.candidates, objective="min_cost")
    start = plan_start(s.plan)
    assert {k for k in start if not k.startswith("platform[")} <= set(m.by_name)
    values = start_values(m, start)
    assert sum(values[m.by_name[f"x[{d.key}]"]] for d in s.plan.deployments) == sum(
        d.replicas for d in s.plan.deployments) > 0
    for i, x in enumerate(values):  # NaN: left to the solver
        if x == x:
            m.fix(i, x, x)
    res = backends.solve(m, "scip", gap=1e-9)
    assert res.status is backends.SolveStatus.OPTIMAL
    # the objective adds a tie-break of 1e-6 $/h per GPU to the plan's $/h
    assert res.objective == pytest.approx(s.plan.fleet.cost_usd_per_hour, abs=1e-3)


def test_price_ends_are_the_proven_optimum_whatever_the_start(quick):
    """From the chosen plan, from nothing and from a start that is not feasible: the same plan."""
    cat, s = quick
    jobs = [j for j in alt.tornado_jobs(s, cat) if j.from_plan]
    prices = {d.name for d in alt.drivers(s, cat) if d.objective_only}
    assert {j.name for j in jobs} == prices == {"electricity price", "system prices"} and len(jobs) == 4
    start = chosen_start(s)
    nonsense = dataclasses.replace(start, values={name: 0.0 for name in start.values})  # serves no demand
    for j in jobs:
        got = [j.run(start=x) for x in (start, None, nonsense)]
        assert not any(isinstance(p, str) for p in got), got
        costs = [p.fleet.cost_usd_per_hour for p in got]
        assert costs == pytest.approx([costs[0]] * 3, rel=1e-9, abs=1e-6)
        assert len({tuple(sorted(p.fleet.servers.items())) for p in got}) == 1
        assert all(p.gap is not None and p.gap <= 1e-6 for p in got)


def test_demand_and_alternatives_do_not_wait_for_the_plan(quick):
    cat, s = quick
    jobs = alt.tornado_jobs(s, cat) + alt.alternative_jobs(s, cat)
    assert [j.name for j in jobs if not j.from_plan] == ["demand", "demand"] + [
        j.name for j in jobs if j.section == "alternative"]


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_workers_yield_by_their_niceness(workers):
    def niceness():
        return os.nice(0)

    here = os.nice(0)
    got = Batch([niceness, niceness], workers=workers, nice=3).results()
    assert got == ([here + 3] * 2 if workers > 1 else [here] * 2)  # serial jobs run in this process


def test_only_the_plans_own_mip_is_solved_from_the_plan(monkeypatch):
    """A solve strategy may solve other models first (a relaxation, the model with some deployments cut off):
    those keep the caller's gap and get no start; the plan's MIP gets the start and EXACT_GAP."""
    from planner.proposal.solver import EXACT_GAP, FromSolution, Start

    seen = []
    monkeypatch.setattr(backends, "solve", lambda model, backend, **kw: seen.append(kw))
    knap = _knapsack()
    hook = FromSolution(Start({"a": 1.0, "b": 1.0, "c": 0.0}, frozenset("abc")))
    hook(knap, "scip", gap=1e-3, time_limit_s=10)
    relaxation = MipModel()
    relaxation.add_var("a", 0, 1)
    hook(relaxation, "scip", gap=1e-3, time_limit_s=10, start=[0.5])  # the caller's own start goes with it
    cut = _knapsack()
    cut.fix(cut.var("b"), 0.0, 0.0)
    hook(cut, "scip", gap=1e-3, time_limit_s=10)
    FromSolution(None)(relaxation, "scip", gap=1e-3, time_limit_s=10)
    hook(knap, "cbc", gap=1e-3, time_limit_s=10)  # CBC reports no bound: no proven optimum to ask it for
    assert seen == [dict(gap=EXACT_GAP, start=[1.0, 1.0, 0.0], time_limit_s=10),
                    dict(gap=1e-3, start=[0.5], time_limit_s=10), dict(gap=1e-3, start=None, time_limit_s=10),
                    dict(gap=EXACT_GAP, start=None, time_limit_s=10), dict(gap=1e-3, start=None, time_limit_s=10)]
