"""Sweep figures computed from result tables whose answers are known by hand: tornado, decision changes,
Sobol and Morris indices of functions with a known sensitivity, per-workload choices."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from planner.sweep.adapter import summarize
from planner.sweep.results import SweepData, choices, decision_changes, tornado, tornado_basis
from planner.sweep.sensitivity import indices


def data(rows: list[dict], params: list[str], meta: dict | None = None) -> SweepData:
    df = pd.DataFrame(rows)
    return SweepData({"metric": "cost_usd_per_hour", **(meta or {})},
                     [{"path": p, "label": p, "base": None, "values": [], "money": True} for p in params], df)


def test_tornado_one_at_a_time_by_hand():
    rows = [
        {"scenario": 0, "varied": "", "a": 1, "b": 10, "status": "optimal", "cost_usd_per_hour": 100.0},
        {"scenario": 1, "varied": "a", "a": 0, "b": 10, "status": "optimal", "cost_usd_per_hour": 90.0},
        {"scenario": 2, "varied": "a", "a": 2, "b": 10, "status": "optimal", "cost_usd_per_hour": 130.0},
        {"scenario": 3, "varied": "b", "a": 1, "b": 5, "status": "optimal", "cost_usd_per_hour": 99.0},
        {"scenario": 4, "varied": "b", "a": 1, "b": 20, "status": "infeasible", "cost_usd_per_hour": None},
    ]
    bars = tornado(data(rows, ["a", "b"]))
    assert [b["path"] for b in bars] == ["a", "b"]  # a swings 40, b only 1 (its high end has no plan)
    a, b = bars
    assert (a["low_value"], a["high_value"], a["metric_at_low"], a["metric_at_high"], a["swing"]) == (
        0, 2, 90.0, 130.0, 40.0)
    assert a["base"] == 100.0
    assert (b["metric_at_low"], b["metric_at_high"], b["no_plan_at"]) == (99.0, None, [20])
    assert b["swing"] == 1.0


def test_report_says_whether_the_tornado_holds_the_others_at_base():
    """A grid's tornado is each value's mean over the other parameters' values: quickstart-economics' report put
    demand 0.5 at $30.65/h (the mean over five electricity prices) under the plot title "one parameter at a
    time", beside a parameters table stating electricity's base as $0.08."""
    from planner.report.sweep_report import render_markdown

    oat = [{"scenario": 0, "varied": "", "a": 1, "status": "optimal", "cost_usd_per_hour": 100.0},
           {"scenario": 1, "varied": "a", "a": 0, "status": "optimal", "cost_usd_per_hour": 90.0}]
    grid = [{"scenario": i, "a": a, "b": b, "status": "optimal", "cost_usd_per_hour": 10.0 * a + b}
            for i, (a, b) in enumerate([(0, 1), (0, 2), (1, 1), (1, 2)])]
    for rows, params, basis in ((oat, ["a"], "one parameter at a time, the others at base"),
                                (grid, ["a", "b"], "mean over the scenarios at each value, the others varying")):
        d = data(rows, params)
        assert tornado_basis(d) == basis
        assert f"## Tornado (cost_usd_per_hour; {basis})" in render_markdown(d, tornado(d), {}, [])


def test_grid_tornado_draws_no_bar_for_a_parameter_without_effect():
    """A grid's bars start at the mean over every scenario, where each value of a parameter without effect sits:
    from the median, quickstart-economics' B200 price (swing 0: no B200 is bought) drew a bar of +$0.08/h."""
    rows = [{"scenario": i, "a": a, "b": b, "status": "optimal", "cost_usd_per_hour": 10.0 * a}
            for i, (a, b) in enumerate((a, b) for a in (0, 1, 5) for b in (1, 2))]
    bars = {t["path"]: t for t in tornado(data(rows, ["a", "b"]))}
    assert bars["b"]["base"] == 20.0  # mean of 0, 10, 50 (the median is 10)
    assert bars["b"]["metric_at_low"] == bars["b"]["metric_at_high"] == bars["b"]["base"]


def test_decision_changes_along_one_parameter():
    rows = [{"scenario": i, "x": x, "y": 1, "status": "optimal", "cost_usd_per_hour": 1.0,
             "chat.accelerator": acc, "chat.precision": "fp8"}
            for i, (x, acc) in enumerate([(1, "h100"), (2, "h100"), (3, "b200"), (4, "b200"), (5, "h100")])]
    rows.append({"scenario": 9, "x": 2.5, "y": 2, "status": "optimal", "cost_usd_per_hour": 1.0,
                 "chat.accelerator": "mi300x", "chat.precision": "fp8"})  # another y: not on this line
    ch = decision_changes(data(rows, ["x", "y"]), "x")
    assert [(c["between"], c["from"], c["to"]) for c in ch] == [([2, 3], "h100", "b200"), ([4, 5], "b200", "h100")]


def test_choices_per_workload_largest_first():
    deps = [
        {"workload": "chat", "accelerator": "h100", "system": "hgx-h100", "model": "m", "precision": "fp8",
         "serving": "aggregated", "output_tok_s": 10.0},
        {"workload": "chat", "accelerator": "b200", "system": "hgx-b200", "model": "m", "precision": "nvfp4",
         "serving": "aggregated", "output_tok_s": 50.0},
    ]
    c = choices(deps)
    assert c["chat.accelerator"] == "b200+h100" and c["chat.precision"] == "nvfp4+fp8"
    assert c["chat.model"] == "m" and "chat.engine" not in c


def _sampled(kind: str, f, n: int, k: int = 3):
    from SALib.sample import morris, sobol

    problem = {"num_vars": k, "names": [f"p{i}" for i in range(k)], "bounds": [[0.0, 1.0]] * k}
    x = sobol.sample(problem, n, calc_second_order=False, seed=1) if kind == "sobol" else \
        morris.sample(problem, n, num_levels=4, seed=1)
    y = np.array([f(r) for r in x])
    rows = [{"scenario": i, **{f"p{j}": r[j] for j in range(k)}, "status": "optimal", "cost_usd_per_hour": v}
            for i, (r, v) in enumerate(zip(x, y, strict=True))]
    meta = {"spec": json.dumps({"design": {"kind": kind, "seed": 1, "levels": 4}}), "scenarios": str(len(x)),
            "unit_samples": json.dumps(x.tolist())}
    return data(rows, [f"p{j}" for j in range(k)], meta)


def test_sobol_indices_of_a_known_function():
    """y = 4 p0 + p1 (p2 unused): first-order indices 16/17, 1/17, 0 (variances of uniform terms)."""
    res = indices(_sampled("sobol", lambda r: 4 * r[0] + r[1], 256))
    s1 = {k: v["S1"] for k, v in res["indices"].items()}
    assert s1["p0"] == pytest.approx(16 / 17, abs=0.05)
    assert s1["p1"] == pytest.approx(1 / 17, abs=0.03)
    assert abs(s1["p2"]) < 0.02 and res["indices"]["p2"]["ST"] < 0.02


def test_morris_ranks_a_known_function():
    res = indices(_sampled("morris", lambda r: 4 * r[0] + r[1], 20))
    mu = {k: v["mu_star"] for k, v in res["indices"].items()}
    assert mu["p0"] == pytest.approx(4, rel=1e-6) and mu["p1"] == pytest.approx(1, rel=1e-6) and mu["p2"] == 0


def test_indices_need_every_scenario():
    d = _sampled("sobol", lambda r: r[0], 8)
    d.table.loc[3, "cost_usd_per_hour"] = None
    assert "indices" not in indices(d) and "have no cost_usd_per_hour" in indices(d)["reason"]
    d = SweepData(d.meta, d.parameters, d.table.iloc[:-2])
    assert "2 of 40 scenarios not run yet" in indices(d)["reason"]


def test_a_profiled_plan_s_sweep_metrics_are_its_year_averages():
    # with hour classes the fleet figures are the peak class's; a sweep keeps the year averages: 2000 tok/s
    # served for $10/h is 2000 x 3600 / 10 = 720,000 tokens per $, at $1.3889 per Mtok
    fleet = SimpleNamespace(gpus={"h100": 32}, cost_usd_per_hour=20.0, capex_usd=1e6, opex_usd_per_year=5e4,
                            tokens_per_usd=1.0, usd_per_mtok=9.0, output_tok_s=4000.0, facility_power_kw=50.0,
                            it_power_kw=40.0, servers={"h100": 4}, servers_rented={"h100": 3}, racks=[])
    econ = SimpleNamespace(served_output_tok_s=2000.0, cost_usd_per_hour=10.0, usd_per_mtok_served=10 / 7.2,
                           profit_usd_per_hour=None, revenue_usd_per_hour=None)
    plan = SimpleNamespace(fleet=fleet, economics=econ, hourly=[object(), object()], objective_value=10.0,
                           status="optimal", deployments=[])
    m = summarize(plan)["metrics"]
    assert (m["cost_usd_per_hour"], m["output_tok_s"]) == (10.0, 2000.0)
    assert m["tokens_per_usd"] == pytest.approx(720_000.0)
    assert m["usd_per_mtok"] == pytest.approx(1.3888889)
    assert "profit_usd_per_hour" not in m
