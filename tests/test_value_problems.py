"""Problem files with token value, priorities and demand profiles (issue 10): bad price curves and profiles are
one clear message naming the file and the field, exit 2."""

from __future__ import annotations

import pytest
from test_optimize_problems import GOOD
from test_user_errors import clean, problem, run

from planner.optimize.problem import problem_from_text

PROFIT = GOOD + "objective: max_profit\n"
VALUE = "    value: {usd_per_mtok_output: 2.0}\n    serving:"
TIERS = (
    "    value:\n      usd_per_mtok_output: 1.0\n      tiers:\n"
    "        - {min_tok_s_per_user: 50, usd_per_mtok_output: 3.0}\n"
    "        - {min_tok_s_per_user: 100, usd_per_mtok_output: 6.0}\n    serving:"
)
DIURNAL = "[" + ", ".join(["0.25"] * 8 + ["1"] * 10 + ["0.5"] * 6) + "]"


def with_workload(text: str, fields: str) -> str:
    return text.replace("    serving:", fields, 1)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (with_workload(PROFIT, VALUE.replace("2.0", "-2.0")),
         "workloads[chat].value.usd_per_mtok_output: must be >= 0, got -2.0"),
        (with_workload(PROFIT, TIERS.replace("usd_per_mtok_output: 6.0", "usd_per_mtok_output: 2.0")),
         "workloads[chat].value: tiers[1].usd_per_mtok_output 2 is below tiers[0]'s price (3): a faster tier must "
         "not be cheaper"),
        (with_workload(PROFIT, TIERS.replace("min_tok_s_per_user: 100", "min_tok_s_per_user: 40")),
         "workloads[chat].value: tiers[1].min_tok_s_per_user 40 must be above the previous tier's 50"),
        (with_workload(PROFIT, TIERS.replace("usd_per_mtok_output: 3.0", "usd_per_mtok_output: 0.5")),
         "tiers[0].usd_per_mtok_output 0.5 is below the base usd_per_mtok_output (1)"),
        (with_workload(PROFIT, TIERS.replace("min_tok_s_per_user: 50", "min_tok_s_per_user: -50")),
         "workloads[chat].value.tiers[0].min_tok_s_per_user: must be > 0, got -50"),
        (PROFIT.replace("name: t", "name: t\nvalue: {usd_per_mtok_output: 1, usd_per_mtok_input: -0.1}"),
         "value.usd_per_mtok_input: must be >= 0, got -0.1"),
        (with_workload(PROFIT, "    value: {usd_per_mtok_output: 2, currency: eur}\n    serving:"),
         "workloads[chat].value.currency: unknown field"),
        (PROFIT, "workloads[chat].value: objective max_profit needs what its tokens earn"),
        (with_workload(PROFIT, "    priority: 2\n" + VALUE),
         "workloads[chat]: give value or priority, not both"),
        (with_workload(GOOD, "    priority: 2\n    serving:"),
         "workloads[chat].priority: weighs tokens for objective max_throughput, not min_cost"),
        (with_workload(PROFIT, "    headroom: 0.2\n" + VALUE),
         "workloads[chat].headroom: max_profit treats demand as a cap on sales"),
        (with_workload(GOOD, "    demand_profile: [1, 0.5]\n    serving:"),
         "workloads[chat].demand_profile: needs exactly 24 hourly multipliers (hour 0 = midnight to 1 am), got 2"),
        (with_workload(GOOD, f"    demand_profile: {DIURNAL.replace('0.5]', '1.5]')}\n    serving:"),
         "demand_profile: hour 23: a multiplier of peak demand must be a number in [0, 1], got 1.5"),
        (with_workload(GOOD, f"    demand_profile: {{weekday: {DIURNAL}, weekend: [1]}}\n    serving:"),
         "workloads[chat].demand_profile.weekend: needs exactly 24 hourly multipliers"),
        (with_workload(GOOD, f"    demand_profile: {{weekday: {DIURNAL}}}\n    serving:"),
         "workloads[chat].demand_profile.weekend: required field is missing"),
        (with_workload(GOOD, "    demand_profile: " + "[" + ", ".join(["0"] * 24) + "]\n    serving:"),
         "workloads[chat].demand_profile: every multiplier is 0"),
        (with_workload(GOOD, "    demand_profile: weekdays\n    serving:"),
         "workloads[chat].demand_profile: must be a list of 24 hourly multipliers or {weekday: [...], weekend"),
        (with_workload(GOOD, "    demand_profile: [" + ", ".join(["true"] * 24) + "]\n    serving:"),
         "demand_profile: hour 0: a multiplier of peak demand must be a number in [0, 1], got True"),
        (with_workload(GOOD.replace("demand: {requests_per_s: 5}", ""),
                       f"    demand_profile: {DIURNAL}\n    serving:").replace("name: t", "name: t\nobjective: "
                                                                              "max_throughput"),
         "workloads[chat].demand_profile: multiplies the peak demand: give demand too"),
        (with_workload(GOOD, f"    demand_profile: {DIURNAL}\n    serving:") + "objective: max_tokens_per_dollar",
         "demand_profile: supported with objective min_cost or max_profit, not max_tokens_per_dollar"),
        (GOOD.replace("    serving:", VALUE, 1).replace("workloads:", "workloads:\n  - {id: rag, archetype: chat}")
         + "objective: max_throughput\n",
         "workloads[rag].value: max_throughput weighs tokens by their value when any workload has one"),
    ],
)
def test_bad_value_or_profile_is_named_precisely(tmp_path, text, expect):
    out = clean(run("solve", problem(tmp_path, text), "--no-runner-up"), 2)
    assert expect in out
    assert "p.yaml" in out


def test_good_value_and_profile_parse():
    text = with_workload(PROFIT, TIERS).replace("    serving:", f"    demand_profile: {DIURNAL}\n    serving:")
    p = problem_from_text(text, "p.yaml")
    (w,) = p.workloads
    assert p.objective.kind == "max_profit"
    assert w.value.tier_pairs() == ((50.0, 3.0), (100.0, 6.0))
    assert w.demand_profile.weekday == w.demand_profile.weekend
    assert w.demand_profile.weekday[8] == 1.0
    week = "{weekday: " + DIURNAL + ", weekend: [" + ", ".join(["0.25"] * 24) + "]}"
    p2 = problem_from_text(GOOD.replace("    serving:", f"    demand_profile: {week}\n    serving:"), "p.yaml")
    assert p2.workloads[0].demand_profile.weekend[0] == 0.25


def test_profile_plan_round_trips_through_solve_and_verify(tmp_path):
    """A real-catalog problem with a value, a diurnal profile and rentals: the table shows the investment view
    and the hour classes; the written plan.json re-verifies, and a tampered hourly cost is caught (exit 1)."""
    import json

    from click.testing import CliRunner

    from planner.cli import main

    text = (
        with_workload(GOOD, VALUE).replace("    serving:", f"    demand_profile: {DIURNAL}\n    serving:")
        .replace("requests_per_s: 5", "requests_per_s: 40")
        .replace("systems: [hgx-h100, hgx-h200]", "systems: [hgx-h100]\n  acquire: [buy, rent]")
    )
    p = problem(tmp_path, text)
    out = clean(run("solve", p, "--out", tmp_path / "o", "--no-runner-up"), 0)
    assert "Investment view" in out and "Hour classes" in out and "NPV at" in out
    plan_path = tmp_path / "o" / "plan.json"
    data = json.loads(plan_path.read_text())
    assert [h["hours"] for h in data["hourly"]] == ["daily 08-17", "daily 18-23", "daily 00-07"]
    assert data["economics"]["revenue_usd_per_hour"] > 0 and "npv_usd" in data["economics"]
    ok = CliRunner().invoke(main, ["verify", str(plan_path)])
    assert ok.exit_code == 0, ok.output
    data["hourly"][1]["cost_usd_per_hour"] *= 2
    plan_path.write_text(json.dumps(data))
    bad = CliRunner().invoke(main, ["verify", str(plan_path)])
    assert bad.exit_code == 1 and "hourly[1]" in bad.output, bad.output
