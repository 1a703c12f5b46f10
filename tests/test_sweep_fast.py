"""The sweep's fast solve (planner/sweep/fastsolve.py): the same plans as the plain `solve_problem`, whatever the
start, the plain way for what it does not take (infeasible scenarios, large models, a named backend)."""

from __future__ import annotations

import math

import pytest
from sweep_fixtures import sweep_file

from planner.optimize import solve_problem
from planner.optimize.model import MipModel
from planner.sweep import adapter, fastsolve, ledger, load_sweep, run_sweep
from planner.sweep.apply import base_values, scenario_catalog, scenario_inputs, scenario_plan, scenario_problem

# the cheapest plan moves between H100, H200 and B200 servers and between TP degrees over this grid
PRICES = """
  - path: economics.electricity_usd_per_kwh
    values: [0.03, 0.3]
  - path: catalog.systems.hgx-h100.price_usd
    values: [150000, 900000]
  - path: catalog.systems.hgx-b200.price_usd
    values: [150000, 600000]
  - path: workloads.chat.demand
    values: [0.5, 2]
"""




@pytest.fixture
def highs_calls(monkeypatch):
    calls = []
    real = fastsolve.solve_highs

    def counted(model, *args):
        res = real(model, *args)
        calls.append((len(model.vars), res is not None and res.status == "optimal"))  # (variables, optimal)
        return res

    monkeypatch.setattr(fastsolve, "solve_highs", counted)
    return calls


def plain(sw, values, cat):
    """The scenario as `planner solve` would solve it: solve_problem, default backend, no cache, no hook."""
    return solve_problem(scenario_problem(sw, values), scenario_catalog(sw, values, cat), runner_up=False)


def test_fast_path_gives_the_plans_of_solve_problem(tmp_path, cat, highs_calls):
    """Prices (objective only) and demand (right-hand sides: the start may not fit) over a 16-scenario grid,
    each against solve_problem (SCIP to the problem's gap), all of them solved on the fast path."""
    sw = load_sweep(sweep_file(tmp_path, PRICES), cat)
    out = tmp_path / "o"
    out.mkdir()
    s = run_sweep(sw, cat, out, workers=1)
    assert s.ran == 16 and s.statuses == {"optimal": 16}
    # MIPs of the full size proven optimal on the fast path: at least each scenario's own and the group's base
    # scenario's (the warm start's restriction of it, optimize/solve.py, may be infeasible: then solved plain)
    full = max(n for n, _ in highs_calls)
    assert sum(ok for n, ok in highs_calls if n == full) >= 16 + 1
    rows = ledger.open_for_reading(out).rows()
    assert len({r["deployments"][0]["system"] for r in rows}) == 3  # the prices do move the optimum
    for r in rows:
        want = plain(sw, r["params"], cat)
        # both proven optimal to the problem's gap (1e-4): on a near-tie the two solvers may stop on different
        # plans within it (the fast path found 39.012118 where SCIP stopped at 39.012632, -1.3e-5, once h56's
        # no-load steps left more candidates undominated); where the objectives agree, so must the plans
        assert abs(r["objective"] - want.objective_value) <= 1e-4 * abs(want.objective_value), r["params"]
        if math.isclose(r["objective"], want.objective_value, rel_tol=1e-9):
            assert r["deployments"] == adapter.summarize(want)["deployments"], r["params"]


def test_the_start_changes_nothing_but_speed(tmp_path, cat):
    """No start, the group's base solution, another scenario's solution, an infeasible point: one plan."""
    sw = load_sweep(sweep_file(tmp_path, PRICES), cat)
    values = {"economics.electricity_usd_per_kwh": 0.3, "catalog.systems.hgx-h100.price_usd": 900000,
              "catalog.systems.hgx-b200.price_usd": 150000, "workloads.chat.demand": 2}
    cache = adapter.new_cache()
    probe = fastsolve.FastSolve(probe=True)
    scenario_plan(sw, base_values(sw, values), cat, cache, probe)
    other = fastsolve.FastSolve(probe=True)
    scenario_plan(sw, {**values, "workloads.chat.demand": 0.5}, cat, cache, other)
    assert probe.solution and other.solution and probe.solution != other.solution
    silly = {name: 7.0 for name in probe.solution}
    plans = [adapter.summarize(scenario_plan(sw, values, cat, cache, fastsolve.FastSolve(start)))
             for start in (None, probe.solution, other.solution, silly)]
    assert all(p == plans[0] for p in plans[1:])
    assert math.isclose(plans[0]["metrics"]["objective"], plain(sw, values, cat).objective_value, rel_tol=1e-6)


def test_infeasible_scenario_fails_exactly_as_the_plain_solve(tmp_path, cat, highs_calls):
    from planner.errors import InfeasibleError

    sw = load_sweep(sweep_file(tmp_path, "  - path: site.power_limit_mw\n    values: [0.03, 1.0]\n"), cat)
    values = {"site.power_limit_mw": 0.03}  # the MIP is infeasible (0.01 MW: the pre-checks say so)
    with pytest.raises(InfeasibleError) as fast:
        scenario_plan(sw, values, cat, adapter.new_cache(), fastsolve.FastSolve())
    with pytest.raises(InfeasibleError) as slow:
        plain(sw, values, cat)
    assert (max(n for n, _ in highs_calls), False) in highs_calls  # the full MIP: infeasible on the fast path
    # too; the diagnosis (its model has more variables: slacks) was solved the plain way
    assert str(fast.value) == str(slow.value) and "site power 0.03 MW is short" in str(fast.value)


def test_what_the_fast_solve_takes(tmp_path, cat, highs_calls, monkeypatch):
    """A named backend or `fast_solve: none`: no fast solve; a model above FAST_MAX_VARS: only with
    `fast_solve: all`. The objectives agree whichever way."""
    params = "  - path: economics.electricity_usd_per_kwh\n    values: [0.05, 0.2]\n"

    def run(name: str, solver: str) -> list[float]:
        sw = load_sweep(sweep_file(tmp_path, params, extra=f"solver: {solver}\n" if solver else ""), cat)
        (tmp_path / name).mkdir()
        assert run_sweep(sw, cat, tmp_path / name, workers=1).statuses == {"optimal": 2}
        return [r["objective"] for r in ledger.open_for_reading(tmp_path / name).rows()]

    named = run("named", "{backend: scip}")
    assert run("none", "{fast_solve: none}") == named and highs_calls == []
    monkeypatch.setattr(fastsolve, "FAST_MAX_VARS", 10)  # quickstart's MIPs: 243 variables, 54 for its warm start
    assert run("small", "") == named and highs_calls == []
    assert run("all", "{fast_solve: all}") == pytest.approx(named, rel=1e-9) and len(highs_calls) >= 3


def test_solve_highs_on_a_small_knapsack_known_by_hand():
    """max 5a + 4b + 1 with 6a + 4b <= 24, a + 2b <= 6, a, b integer: (4, 0) gives 21, (3, 1) 20, (2, 2) 19."""
    m = MipModel()
    a, b = m.add_var("a", integer=True), m.add_var("b", integer=True)
    m.add("r1", "t", {a: 6, b: 4}, hi=24)
    m.add("r2", "t", {a: 1, b: 2}, hi=6)
    m.set_objective({a: 5, b: 4}, maximize=True, constant=1.0)
    for start in (None, [2.0, 2.0], [9.0, 9.0]):
        res = fastsolve.solve_highs(m, 10.0, 1e-9, 1e-9, True, start)
        assert [round(x) for x in res.values] == [4, 0] and res.objective == pytest.approx(21)
        assert res.best_bound == pytest.approx(21) and res.gap == pytest.approx(0, abs=1e-9)
    m.add("r3", "t", {a: 1, b: 1}, lo=7)  # with r1: 6a + 4b >= 4(a + b) >= 28 > 24
    assert fastsolve.solve_highs(m, 10.0, 1e-9, 1e-9, True, None).status == "infeasible"


def test_a_model_too_large_is_told_before_the_probe_solves_anything(tmp_path, cat, highs_calls, monkeypatch):
    """`fast_solve: small` and a main MIP above FAST_MAX_VARS whose warm start (optimize/solve.py) is below it:
    the group's base scenario is not probed (its warm start solved on HiGHS for nothing: 2.2 CPU s on
    mixed-fleet), and the plans are the plain ones."""
    sw = load_sweep(sweep_file(tmp_path, "  - path: economics.electricity_usd_per_kwh\n    values: [0.05, 0.2]\n"),
                    cat)
    values = {"economics.electricity_usd_per_kwh": 0.05}
    inst = scenario_inputs(sw, values, cat)[1]
    full = adapter.mip_variables(inst, cat, adapter.new_cache())
    assert full == 342  # quickstart's MIP (its warm start's restriction, then whole); 54 for the relaxation; 267
    # before h37's one rule for seats and memory check (memory.held_context_tokens: more candidates pass the
    # check), 274 after it, 267 since the open-loop chain's lumps stand at their mean occupancy (h55: the
    # candidates' capacities under the TPOT p90 target moved, and the MIP's variables with them), 358 with the
    # no-load steps as the load model's mixture (h56, serving.aggregated: power and throughput moved, fewer
    # candidates dominated), 365 with the other seats' prompt work charged whole (h80, serving.life_steps: the
    # candidates' throughput moved by ~1/osl, fewer dominated), 344 with h95's step tables (prompt points at the
    # step's bends, the eager chunk floor: 60 -> 57 candidates, check_plans), 342 with a disaggregated generic
    # decode batch at most its assumed seats (r15: quickstart's candidates moved, its plan did not)
    monkeypatch.setattr(fastsolve, "FAST_MAX_VARS", 100)
    assert run_sweep(sw, cat, tmp_path, workers=1).statuses == {"optimal": 2} and highs_calls == []
    rows = ledger.open_for_reading(tmp_path).rows()
    assert [r["objective"] for r in rows] == [plain(sw, r["params"], cat).objective_value for r in rows]
    monkeypatch.setattr(fastsolve, "FAST_MAX_VARS", full)  # now it takes them all
    assert worker_probe(sw, values, cat) is not None and highs_calls


def worker_probe(sw, values, cat):
    import pickle

    from planner.sweep import worker

    worker.init(pickle.dumps((sw, cat, f"probe {id(sw)}")))
    return worker._base_solution(values)


def test_verifier_predictions_are_memoized_row_by_row(cat, monkeypatch):
    """A row's re-prediction depends on that row alone (aggregated and disaggregated rows of power-limited-site
    predicted together and one by one: the same figures), so a sweep's verifier predicts only the rows it has
    not seen: the same frame as predicting the whole grid."""
    import pandas as pd

    from planner.optimize import CandidateCache, load_problem, pipeline
    from planner.perf import predict_under_slo

    grids, real = [], pipeline._perf_predictor
    monkeypatch.setattr(pipeline, "_perf_predictor",
                        lambda c, cache=None: lambda g: grids.append(g.copy()) or real(c, cache)(g))
    solve_problem(load_problem(pipeline.Path(__file__).parent.parent / "problems" / "power-limited-site.yaml"),
                  cat, runner_up=False)
    monkeypatch.undo()
    (grid,) = grids
    # since reasoning rows are planned under load (h38) the plan deploys 6 rows, 2 of them aggregated and one a
    # reasoning row (hidden_tokens); one aggregated copy of the first keeps both modes in the frame whatever the
    # plan deploys
    pre = [c for c in grid if c.startswith("prefill_")]
    agg = grid.iloc[:1].assign(serving="aggregated", **{c: None for c in pre})
    grid = pd.concat([grid, agg], ignore_index=True)
    assert len(grid) == 7 and set(grid["serving"]) == {"aggregated", "disaggregated"}
    assert (grid["hidden_tokens"] > 0).any()
    whole = predict_under_slo(grid, cat).reset_index(drop=True)
    one_by_one = pd.concat([predict_under_slo(grid.iloc[[i]], cat) for i in range(len(grid))], ignore_index=True)
    pd.testing.assert_frame_equal(one_by_one, whole, check_exact=True)

    asked = []
    monkeypatch.setattr(pipeline, "predict_under_slo",
                        lambda g, c: asked.append(len(g)) or predict_under_slo(g, c))
    predict = pipeline._perf_predictor(cat, CandidateCache())
    pd.testing.assert_frame_equal(predict(grid.iloc[[4, 1]]), whole.iloc[[4, 1]].reset_index(drop=True),
                                  check_exact=True)
    pd.testing.assert_frame_equal(predict(grid), whole, check_exact=True)
    pd.testing.assert_frame_equal(predict(grid), whole, check_exact=True)
    assert asked == [2, 5]  # the second grid: its 5 new rows only; the third: nothing


def test_known_prediction_looks_up_without_making(monkeypatch):
    """`known_prediction` returns what `predicted` stored and None otherwise, never calling a maker; the memo is
    emptied (not trimmed) when it reaches PREDICTED_ROWS_LIMIT rows."""
    import pandas as pd

    from planner.optimize import candidates

    monkeypatch.setattr(candidates, "PREDICTED_ROWS_LIMIT", 2)
    cache = candidates.CandidateCache()
    assert cache.known_prediction(("a",)) is None
    row = pd.DataFrame({"x": [1.0]})
    assert cache.predicted(("a",), lambda: row) is row
    assert cache.known_prediction(("a",)) is row and cache.known_prediction(("b",)) is None
    assert cache.predicted(("a",), lambda: pytest.fail("made twice")) is row
    cache.predicted(("b",), lambda: row.copy())
    cache.predicted(("c",), lambda: row.copy())  # the limit reached: ("a",) and ("b",) go
    assert cache.known_prediction(("a",)) is None and cache.known_prediction(("c",)) is not None


def test_a_solve_hook_gets_every_option_of_the_call():
    """`backends.solve` hands a hook every option it was called with (restart included), defaults too, so a hook
    that solves the plain way passes them on unchanged."""
    from planner.optimize import backends

    m = MipModel()
    a = m.add_var("a", 0, 1, integer=True)
    m.set_objective({a: 1.0}, maximize=True)
    seen = []

    def hook(model, backend, **kw):
        seen.append(kw)
        return backends.solve(model, backend, **kw)

    with backends.solve_hook(hook):
        plain = backends.solve(m, "highs", isolate=False)
        odd = backends.solve(m, "highs", isolate=False, restart=False, heuristics=False, branch_first=(0,),
                             cuts=False, tree_cuts=False)
    assert plain.objective == odd.objective == 1.0
    keys = {"time_limit_s", "gap", "abs_gap", "presolve", "hint", "start", "restart", "heuristics", "branch_first",
            "cuts", "tree_cuts"}
    assert set(seen[0]) == set(seen[1]) == keys
    options = ("restart", "heuristics", "branch_first", "cuts", "tree_cuts")
    assert tuple(seen[0][k] for k in options) == (True, True, (), True, True)
    assert tuple(seen[1][k] for k in options) == (False, False, (0,), False, False)
