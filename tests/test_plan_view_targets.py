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
    # the quality as the deployments table prints it (one decimal: it read 55 there beside 54.7)
    assert f"{w.quality:.1f} / {w.quality_floor_score:g} (GPQA Diamond)" in text


def _deployments_header(text: str) -> list[str]:
    """The Deployments table's column names (a header cell may fold over two lines: the last line names it)."""
    line = next(line for line in text.splitlines() if "workload" in line and "model" in line)
    return [c.strip() for c in line.split("┃") if c.strip()]


def test_columns_every_deployment_shares_move_under_the_table_and_names_stay_whole():
    """At 150 columns the quickstart plan's model and system names are printed whole (they were cut to
    "qwen3-…" and "hgx-h1…"): the mode, engine,
    speculative and serving columns, the same for every deployment, become one line under the table. A plan
    whose deployments differ in one of them keeps that column."""
    plan = solve_problem(problem_from_text(QUICK, "q.yaml"), load_catalog(), runner_up=False)
    assert len(plan.deployments) >= 2
    buf = io.StringIO()
    render_plan(Console(file=buf, width=150), plan)
    text = buf.getvalue()
    header = _deployments_header(text)
    assert not {"engine", "serving", "mode", "spec"} & set(header) and {"model", "system"} <= set(header)
    assert "every deployment: mode own, engine generic, speculative decoding none, serving aggregated" in text
    for d in plan.deployments:
        assert d.model in text and d.system in text
    narrow = io.StringIO()
    render_plan(Console(file=narrow, width=100), plan)
    assert "qwen3-…" not in narrow.getvalue()  # too narrow: a name folds onto two lines, it is not cut
    mixed = plan.model_copy(update={"deployments": [plan.deployments[0].model_copy(update={"engine": "vllm"}),
                                                    *plan.deployments[1:]]})
    buf = io.StringIO()
    render_plan(Console(file=buf, width=200), mixed)
    text = buf.getvalue()
    assert "engine" in _deployments_header(text) and "vllm" in text
    assert "every deployment: mode own, speculative decoding none, serving aggregated" in text


def test_coverage_states_the_served_share_and_long_latencies_print_without_exponents():
    """Under max_throughput a budget may cover part of a workload's demand: the table says how much (a buyer
    read 'required 256,000, capacity 2,906' without it). A 39.5 s TTFT printed as '3.953e+04'."""
    plan = solve_problem(problem_from_text(QUICK, "q.yaml"), load_catalog(), runner_up=False)
    w = plan.workloads[0]
    partial = w.model_copy(update={"capacity_output_tok_s": w.required_output_tok_s * 0.0113,
                                   "ttft_s": 39.526, "ttft_target_s": 600.0})
    buf = io.StringIO()
    render_plan(Console(file=buf, width=200), plan.model_copy(update={"workloads": [partial]}))
    text = buf.getvalue()
    assert "served" in text and "1.1%" in text and "100%" not in text.split("Targets")[0].split("served")[1]
    # the TTFT cell, not the header: a solve closed to gap 0 prints "gap 0.00e+00" there
    assert "39,526 / 600,000" in text and "e+0" not in text.split("Targets")[1]
    buf = io.StringIO()
    render_plan(Console(file=buf, width=200), plan)
    assert "100%" in buf.getvalue()


def test_peak_class_economics_and_per_mw_figures_say_what_they_count():
    """With a demand profile the fleet table holds the peak hour class's figures (opex as if every hour were the
    peak) while the investment view holds year averages: diurnal-own-rent printed "opex per year $2.29M" and
    "$1.03M" with nothing telling them apart. The two per-MW figures (capacity per owned IT MW; served per
    provisioned MW, rented included) were both "per (provisioned) MW"."""
    from planner.plan import HourClassResult

    plan = solve_problem(problem_from_text(QUICK, "q.yaml"), load_catalog(), runner_up=False)

    def text(p) -> str:
        buf = io.StringIO()
        render_plan(Console(file=buf, width=200), p)
        return buf.getvalue()

    def titles(t: str) -> list[str]:
        return [line.strip() for line in t.splitlines() if line.strip().startswith("Economics and power")]

    flat = text(plan)
    assert titles(flat) == ["Economics and power"]  # the bare title: no peak class to name
    assert "peak hour class" not in flat and "│ opex per year " in flat
    hour = HourClassResult(hours="daily 00-23", hours_per_week=168, share_of_year=1.0, demand_multipliers={},
                           replicas={}, owned_replicas=0, rented_replicas=0, cost_usd_per_hour=1.0)
    peak = text(plan.model_copy(update={"hourly": [hour]}))
    assert titles(peak) == ["Economics and power (peak hour class; year averages in the investment view)"]
    assert "opex per year at the peak class's rate" in peak
    assert "output tokens/s at capacity per provisioned IT MW (owned)" in flat
    assert "output tok/s served per provisioned MW / per average IT W" in flat
    assert "provisioned power (IT nameplate x PUE, owned and rented)" in flat


def test_identical_racks_are_one_row():
    """ai-factory-10mw printed 57 rack rows, 50 of them the same NVL72 rack; consecutive identical racks are one
    row numbered 8-57 (quickstart: its two equal racks, 1-2)."""
    plan = solve_problem(problem_from_text(QUICK, "q.yaml"), load_catalog(), runner_up=False)
    assert len(plan.fleet.racks) == 2 and plan.fleet.racks[0] == plan.fleet.racks[1]
    buf = io.StringIO()
    render_plan(Console(file=buf, width=200), plan)
    rows = [line for line in buf.getvalue().splitlines() if "air-42u-17kw" in line and "│" in line]
    assert len(rows) == 1 and rows[0].split("│")[1].strip() == "1-2"


def test_dollars_keep_their_figures_between_ten_thousand_and_a_million():
    """"$10k" stood for a cost per hour of $10,074 above its parts in cents (ai-factory-10mw). The investment
    view's rule (planner.fmt.table_usd) puts the sign first like every other dollar figure ("$-1.50M" before)."""
    from planner.fmt import table_usd

    assert [table_usd(v) for v in (10_074.3, 560_000, 29.944, 194_577_000, 9_999.994, -1.5e6, -812.5, None)] == [
        "$10,074", "$560,000", "$29.94", "$194.58M", "$9,999.99", "-$1.50M", "-$812.50", "-"]
