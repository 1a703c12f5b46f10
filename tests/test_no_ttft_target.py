"""A workload without a TTFT target is planned at an assumed utilization, not at saturation (issue 8 follow-up).

Without a TTFT target nothing stopped the rate searches short of their top (99.9% of saturation for the
disaggregated units, saturation itself for aggregated replicas): the queue's waits are unbounded there (a p90
TTFT of 1.3e8 s for qwen3-32b TP1 on H100), a capacity no operator could run. Now each replica is planned at
`Assumptions.no_ttft_target_utilization` (90%) of its saturation rate, and the plan says so."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console

from planner.catalog import load_catalog
from planner.cli import main
from planner.optimize import problem_from_text, solve_problem
from planner.optimize.pipeline import _perf_predictor, solve_outcome
from planner.optimize.resolve_problem import build_instance
from planner.optimize.verify import verify_plan
from planner.perf import queueing as Q
from planner.perf import slo_policy as slo_mod
from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.capacity import CANDIDATE_GRID, capacity_under_slo
from planner.perf.disagg_capacity import disaggregated_units
from planner.perf.slo_policy import no_ttft_target_words
from planner.perf.steptable import build_step_tables
from planner.proposal.assumptions import assumptions
from planner.proposal.build import deployment_rows
from planner.report.plan_view import render_plan

ROOT = Path(__file__).resolve().parents[1]
CFG = dict(model="qwen3-32b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", pp=1, ep=1, attn_dp=1,
           isl=1024, osl=256)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def grid(serving: str) -> pd.DataFrame:
    return pd.DataFrame([{**CFG, "tp": tp, "serving": serving} for tp in (1, 2, 4)])


def saturation_rps(g: pd.DataFrame, catalog) -> np.ndarray:
    """The replicas' saturation rate g(B) on the candidate search's step tables."""
    tab = build_step_tables(g, catalog, decode_points=CANDIDATE_GRID[0], prefill_points=CANDIDATE_GRID[1])
    return Q.service(tab).capacity_rps


def test_the_capacity_and_its_words_read_the_assumption(catalog, monkeypatch):
    """One source: another `no_ttft_target_utilization` moves the capacity without a TTFT target and the words
    the plan, predict and the proposal print (the capacity read a copy taken at import before)."""
    g = grid("aggregated")
    saturation = saturation_rps(g, catalog)
    assert ASSUMPTIONS.no_ttft_target_utilization == 0.9
    monkeypatch.setattr(slo_mod, "ASSUMPTIONS", replace(ASSUMPTIONS, no_ttft_target_utilization=0.5))
    half = capacity_under_slo(g, catalog)
    assert half["capacity_rps"].to_numpy() == pytest.approx(0.5 * saturation, rel=1e-9)
    assert (half["limited_by"] == "utilization").all()
    assert no_ttft_target_words() == "no TTFT target: <= 50% of saturation (assumed)"
    assert slo_mod.slo_basis(90, {"aggregated"}, True) == "p90; " + no_ttft_target_words()


def test_aggregated_capacity_is_the_assumed_share_of_saturation(catalog):
    """Hand check: with no target at all the search would reach the replica's saturation rate g(B) (the
    queueing model's `capacity_rps`); planned at 90% of it instead, with a finite p90 TTFT."""
    g = grid("aggregated")
    saturation = saturation_rps(g, catalog)
    free = capacity_under_slo(g, catalog)
    assert free["capacity_rps"].to_numpy() == pytest.approx(0.9 * saturation, rel=1e-9)
    assert (free["limited_by"] == "utilization").all()
    # a stated target, however loose, is the user's bound: searched up to saturation as before, where the
    # p90 wait is unbounded (years)
    loose = capacity_under_slo(g, catalog, ttft_s=1e9)
    assert loose["capacity_rps"].to_numpy() == pytest.approx(saturation, rel=1e-6)
    assert (loose["ttft_s"] > 1e3).all() and (free["ttft_s"] < 1.0).all()


def test_disaggregated_capacity_is_the_assumed_share_of_the_units_rate(catalog):
    """Hand check: a unit's full rate is mu = output_tok_s / osl at its batch; planned at rho = 0.9 (the
    bisection's top was 0.999, where the p90 TTFT was 17-47 s)."""
    g = grid("disaggregated")
    units = disaggregated_units(g, catalog)
    mu = units["output_tok_s"].to_numpy() / CFG["osl"]
    free = capacity_under_slo(g, catalog)
    assert free["capacity_rps"].to_numpy() == pytest.approx(0.9 * mu, rel=1e-12)
    assert free["output_tok_s"].to_numpy() == pytest.approx(0.9 * units["output_tok_s"].to_numpy(), rel=1e-12)
    assert (free["limited_by"] == "utilization").all() and (free["ttft_s"] < 2.0).all()


def test_a_binding_tpot_target_keeps_its_rate(catalog):
    """Below the assumed utilization the TPOT target binds, and the rate is the one it allows (TPOT grows with
    the rate, so the bound never loosens it)."""
    g = grid("aggregated")
    saturation = saturation_rps(g, catalog)
    tight = capacity_under_slo(g, catalog, tpot_s=0.05)
    same = capacity_under_slo(g, catalog, ttft_s=1e9, tpot_s=0.05)
    below = same["capacity_rps"].to_numpy() < 0.9 * saturation
    assert below.any()
    assert tight["capacity_rps"].to_numpy()[below] == pytest.approx(same["capacity_rps"].to_numpy()[below])
    assert (tight["limited_by"].to_numpy()[below] == "tpot").all()
    assert np.all(tight["capacity_rps"].to_numpy() <= 0.9 * saturation * (1 + 1e-12))


NO_TTFT = """
name: no-ttft
description: quickstart's chat service with a TPOT target only
workloads:
  - id: chat
    isl_tokens: 1024
    osl_tokens: 256
    tpot_ms: 200
    demand: {requests_per_s: 20}
    models: [qwen3-32b]
    precisions: [fp8]
    min_replicas: 2
fleet:
  systems: [hgx-h100]
  acquire: [buy]
objective: min_cost
"""


def test_the_plan_states_the_assumption(catalog):
    """solve accepts a workload without ttft_ms; its Targets table, the plan's slo_basis and the proposal's
    deployment rows say what the capacity was held to instead."""
    plan = solve_problem(problem_from_text(NO_TTFT, "no-ttft.yaml"), catalog, runner_up=False)
    w = plan.workloads[0]
    assert w.ttft_target_s is None
    assert w.slo_basis == "p90; no TTFT target: <= 90% of saturation (assumed)"
    buf = io.StringIO()
    render_plan(Console(file=buf, width=250), plan)
    text = buf.getvalue()
    assert w.slo_basis in text and f"{w.ttft_s * 1e3:.4g} / none" in text
    rows = deployment_rows(SimpleNamespace(plan=plan, instance=SimpleNamespace(workloads={})))
    assert rows and all(r.percentile == w.slo_basis and r.ttft_target_ms is None for r in rows)
    problem = problem_from_text(NO_TTFT, "no-ttft.yaml")
    listed = [a for a in assumptions(plan, problem, build_instance(problem, catalog), catalog, [])
              if a.item == "chat: each replica's request rate"]
    assert len(listed) == 1 and listed[0].assumed and listed[0].value == no_ttft_target_words()
    # the proposal renders the rule from the plan's typed field (its own share), never from the label's words
    assert w.utilization_cap == pytest.approx(0.9)
    for cap, basis, want in ((0.75, "p90", ["no TTFT target: <= 75% of saturation (assumed)"]),
                             (None, w.slo_basis, [])):
        other = plan.model_copy(deep=True)
        other.workloads[0].utilization_cap, other.workloads[0].slo_basis = cap, basis
        assert [a.value for a in assumptions(other, problem, build_instance(problem, catalog), catalog, [])
                if a.item == "chat: each replica's request rate"] == want


def test_the_targets_read_the_same_from_the_instance_and_the_plan(catalog):
    """The instance's inf (WorkloadData.has_ttft_target) and the plan's None both read as no TTFT target; the
    proposal's rows tell the two records apart by type, not by which fields they happen to have."""
    from planner.plan import WorkloadResult
    from planner.proposal.build import _target_ms

    problem = problem_from_text(NO_TTFT, "no-ttft.yaml")
    wl = build_instance(problem, catalog).workloads["chat"]
    assert not wl.has_ttft_target and wl.ttft_target_or_none_s is None
    timed = replace(wl, ttft_target_s=0.5)
    assert timed.has_ttft_target and timed.ttft_target_or_none_s == 0.5
    assert _target_ms(wl, "ttft") is None and _target_ms(wl, "tpot") == pytest.approx(200.0)
    assert _target_ms(timed, "ttft") == pytest.approx(500.0)
    res = WorkloadResult(workload="chat", demand_output_tok_s=None, required_output_tok_s=None,
                         capacity_output_tok_s=1.0, replicas=1, tpot_target_s=0.2, ttft_s=0.3)
    assert _target_ms(res, "ttft") is None and _target_ms(res, "tpot") == pytest.approx(200.0)
    assert _target_ms(res.model_copy(update={"ttft_target_s": 0.5}), "ttft") == pytest.approx(500.0)


def test_reasoning_deployments_say_what_they_are_planned_on(catalog):
    """Rows with hidden reasoning tokens are planned under load like the others (planner.perf.reasoning), the
    utilization rule included where there is no TTFT target: the label says so and that their TTFT is to the
    first visible token (until 2026-12-01 they were planned at zero load and the label said 'zero-load mean')."""
    thinking = NO_TTFT.replace("    precisions: [fp8]\n", "    precisions: [fp8]\n    effort: thinking\n")
    out = solve_outcome(problem_from_text(thinking, "thinking.yaml"), catalog, runner_up=False)
    plan = out.plan
    assert plan.deployments and all(d.effort == "thinking" for d in plan.deployments)
    # verify re-predicts them under load like any other deployment (it skipped them while only the zero-load
    # search knew hidden tokens): the plan's figures pass, a TTFT the model does not give is caught
    assert out.verify.ok, out.verify.violations
    bad = plan.model_copy(deep=True)
    bad.deployments[0].ttft_s *= 0.8
    found = verify_plan(bad, out.instance, catalog, _perf_predictor(catalog)).violations
    assert any(v.startswith(f"{plan.deployments[0].key}: ttft_s") for v in found), found
    # the recorded utilization rule is the one applied (the proposal renders it)
    assert plan.workloads[0].utilization_cap == pytest.approx(0.9)
    for cap in (0.5, None):
        forged = plan.model_copy(deep=True)
        forged.workloads[0].utilization_cap = cap
        assert any(v.startswith("workload chat: utilization_cap") for v in
                   verify_plan(forged, out.instance, catalog).violations)
    basis = plan.workloads[0].slo_basis
    assert basis == slo_mod.slo_basis(90.0, {"aggregated"}, True, 1) and "zero-load" not in basis
    # and the proposal lists the utilization rule for it
    problem = problem_from_text(thinking, "thinking.yaml")
    listed = [a.item for a in assumptions(plan, problem, build_instance(problem, catalog), catalog, [])]
    assert "chat: each replica's request rate" in listed and "efficiency parameters" in listed
    assert slo_mod.slo_basis(90.0, {"aggregated"}, True, 1) == (
        "p90; no TTFT target: <= 90% of saturation (assumed); reasoning deployments: TTFT to the first visible "
        "token (queue, prefill, hidden tokens' decode)")
    assert slo_mod.slo_basis(90.0, {"aggregated"}) == "p90"


HOURLY = NO_TTFT.replace("    min_replicas: 2\n", "    min_replicas: 2\n    demand_profile: [" + ", ".join(
    ["0.3"] * 8 + ["1"] * 10 + ["0.3"] * 6) + "]\n").replace("  acquire: [buy]\n",
                                                          "  acquire: [buy, rent]\n  rental_provider: neocloud\n")


def test_an_hourly_plan_records_and_verifies_its_utilization_cap(catalog):
    """With hour classes the workload results are the peak's, beside off-peak deployments at 0 replicas there:
    the plan records the utilization rule as a single-period plan does, and verify checks it (and the TTFT,
    TPOT it summarizes) against the peak's deployments; until 2026-12-01 a tampered cap passed in such plans."""
    out = solve_outcome(problem_from_text(HOURLY, "hourly.yaml"), catalog, runner_up=False)
    plan = out.plan
    assert plan.hourly and out.verify.ok, out.verify.violations
    assert any(d.replicas == 0 for d in plan.deployments)  # an off-peak deployment is listed
    assert plan.workloads[0].utilization_cap == pytest.approx(0.9)
    half_ttft = 0.5 * plan.workloads[0].ttft_s
    for field, value in (("utilization_cap", 0.5), ("utilization_cap", None), ("ttft_s", half_ttft)):
        forged = plan.model_copy(deep=True)
        setattr(forged.workloads[0], field, value)
        assert any(v.startswith(f"workload chat: {field}") for v in
                   verify_plan(forged, out.instance, catalog).violations), (field, value)


ARCHETYPE = NO_TTFT.replace("    isl_tokens: 1024\n    osl_tokens: 256\n    tpot_ms: 200\n",
                            "    archetype: chat\n    ttft_ms: @TTFT@\n")


def test_a_workload_drops_its_archetypes_ttft_target(catalog):
    plan = solve_problem(problem_from_text(ARCHETYPE.replace("@TTFT@", "none"), "drop.yaml"), catalog,
                         runner_up=False)
    w = plan.workloads[0]
    assert w.ttft_target_s is None and w.tpot_target_s == 0.05  # the archetype's TPOT stays
    assert w.slo_basis == "p90; no TTFT target: <= 90% of saturation (assumed)"


UNTIMED = """workloads:
  - id: chat-untimed
    name: Chat without a first-token target
    isl_tokens: 1024
    osl_tokens: 256
    tpot_ms: 50
    rationale: a TPOT target only
    sources: [{url: "https://example.org/test", note: test}]
    provenance:
      tpot_ms: {assumed: true, reason: test}
    confidence: low
"""


def test_an_archetype_without_ttft_target_is_planned_by_the_same_rule(tmp_path):
    (tmp_path / "w.yaml").write_text(UNTIMED)
    cat = load_catalog([tmp_path])
    assert cat.workloads["chat-untimed"].ttft_ms is None
    text = ARCHETYPE.replace("archetype: chat\n    ttft_ms: @TTFT@\n", "archetype: chat-untimed\n")
    inst = build_instance(problem_from_text(text, "a.yaml"), cat)
    assert inst.workloads["chat"].ttft_target_s == float("inf")
    # and a bad one is one clear finding, exit 2
    (tmp_path / "w.yaml").write_text(UNTIMED.replace("    tpot_ms: 50\n", "    ttft_ms: -5\n    tpot_ms: 50\n"))
    res = CliRunner().invoke(main, ["catalog", "validate", str(tmp_path)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "chat-untimed.ttft_ms: must be > 0, got -5" in res.output, res.output


@pytest.mark.parametrize("bad", ["fast", "-3", "0"])
def test_a_bad_ttft_value_is_one_clear_line_exit_2(tmp_path, bad):
    path = tmp_path / "bad.yaml"
    path.write_text(ARCHETYPE.replace("@TTFT@", bad))
    res = CliRunner().invoke(main, ["solve", str(path)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert "ttft_ms: give a target in ms > 0, or none (no TTFT target), got" in " ".join(res.output.split())
    assert len([ln for ln in res.output.strip().splitlines() if ln.strip()]) == 1, res.output
