"""A proposal for every example problem (CI generates them all): it is written, its BOM adds up to the plan's
capex and opex, and every section is there."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import main

PROBLEMS = sorted((Path(__file__).resolve().parents[1] / "problems").glob("*.yaml"))


@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.stem for p in PROBLEMS])
def test_every_example_gets_a_proposal(problem, tmp_path):
    res = CliRunner().invoke(main, ["propose", str(problem), "--out", str(tmp_path), "--date", "2026-11-30",
                                    "--format", "html,md,xlsx,csv,json"])
    assert res.exit_code == 0, res.output
    plan = json.loads((tmp_path / "plan.json").read_text())
    fl = plan["fleet"]
    rows = [r for r in csv.DictReader(io.StringIO((tmp_path / "bom.csv").read_text())) if r["section"] != "total"]
    capex = sum(float(r["extended_usd"]) for r in rows if r["recurrence"] == "one-time")
    opex = sum(float(r["extended_usd"]) for r in rows if r["recurrence"] == "per year")
    assert abs(capex - fl["capex_usd"]) <= 1 + 1e-5 * fl["capex_usd"]
    # with a demand profile the fleet is the peak class's; the year's operating cost is the economics' average
    want = plan["economics"]["opex_usd_per_year"] if plan.get("hourly") else fl["opex_usd_per_year"]
    assert abs(opex - want) <= 1 + 1e-5 * want
    html = (tmp_path / "proposal.html").read_text()
    for section in ("summary", "deployments", "tco", "alternatives", "sensitivity", "bom", "assumptions", "risks"):
        assert f'<section id="{section}"' in html
