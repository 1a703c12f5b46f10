"""The terminal plan states what it was solved against beside what it achieves (issue 7: targets and limits next
to achieved values; issue 8: the SLO percentile, default p90, stated in the plan)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from planner.catalog import load_catalog
from planner.optimize import problem_from_text, solve_problem
from planner.report.plan_view import render_plan

QUICK = (Path(__file__).resolve().parents[1] / "problems" / "quickstart.yaml").read_text(encoding="utf-8")


def test_plan_table_shows_percentile_targets_and_limits():
    plan = solve_problem(problem_from_text(QUICK + "slo_percentile: 99\n", "q.yaml"), load_catalog(),
                         runner_up=False)
    buf = io.StringIO()
    render_plan(Console(file=buf, width=200), plan)
    text = buf.getvalue()
    w = plan.workloads[0]
    assert "Targets (achieved / target)" in text and "p99" in text
    assert f"{w.ttft_s * 1e3:,.4g} / {w.ttft_target_s * 1e3:,.4g}" in text
    assert f"{w.tpot_s * 1e3:,.4g} / {w.tpot_target_s * 1e3:,.4g}" in text
    assert f"of {plan.limits.site_power_kw:,.0f} kW" in text and "limits (used of allowed): site power" in text
