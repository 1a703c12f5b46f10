"""Running sweeps: the ledger, reuse of candidate tables, failures recorded, kill-and-resume (SIGTERM, SIGKILL),
one writer per ledger, Ray equal to the local executor. Small quickstart sweeps (~40 ms per scenario)."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sweep_fixtures import QUICKSTART, sweep_file

from planner.errors import InputError
from planner.sweep import ledger, load_sweep, run_sweep
from planner.sweep.output import write_results

ECON = """
  - path: economics.electricity_usd_per_kwh
    range: {low: 0.02, high: 0.4, steps: 10}
  - path: workloads.chat.demand
    values: [0.5, 1, 3, 6]
"""


def canon(out_dir: Path) -> list[tuple]:
    """The ledger without run-dependent fields (timings, whether a table was shared)."""
    led = ledger.open_for_reading(out_dir)
    try:
        rows = led.rows()
    finally:
        led.close()

    def rnd(x):
        if isinstance(x, float):
            return float(f"{x:.9g}")
        if isinstance(x, dict):
            return {k: rnd(v) for k, v in x.items()}
        if isinstance(x, list):
            return [rnd(v) for v in x]
        return x

    return [(r["idx"], r["scenario_hash"], r["status"], rnd(r["objective"]), rnd(r["metrics"]),
             rnd(r["deployments"]), r["error"]) for r in rows]


def count_rows(out_dir: Path) -> int:
    try:
        with sqlite3.connect(out_dir / "ledger.sqlite", timeout=5) as c:
            return c.execute("SELECT count(*) FROM scenarios").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cat):
    """The 40-scenario economics sweep, run once without interruption in this process."""
    tmp = tmp_path_factory.mktemp("ref")
    out = tmp / "out"
    out.mkdir()
    s = run_sweep(load_sweep(sweep_file(tmp, ECON), cat), cat, out, workers=1)
    assert s.ran == 40 and s.evaluations == 1 and s.reused == 39  # one candidate table for all of them
    return out, canon(out)


def test_ledger_and_results_files(reference):
    out, rows = reference
    assert [r[0] for r in rows] == list(range(40))
    assert len({r[1] for r in rows}) == 40
    assert {r[2] for r in rows} == {"optimal"}
    write_results(out, plots=True)
    import pandas as pd

    df = pd.read_parquet(out / "results.parquet")
    csv = pd.read_csv(out / "results.csv")
    assert len(df) == len(csv) == 40
    for col in ("economics.electricity_usd_per_kwh", "workloads.chat.demand", "status", "cost_usd_per_hour",
                "tokens_per_usd", "usd_per_mtok", "facility_power_kw", "chat.accelerator", "chat.precision"):
        assert col in df.columns, col
    # cost rises with electricity at fixed demand (each plan is optimal, so never falls)
    one = df[df["workloads.chat.demand"] == 1].sort_values("economics.electricity_usd_per_kwh")
    assert one["cost_usd_per_hour"].is_monotonic_increasing
    for name in ("report.html", "report.md", "summary.json", "plots/tornado.png", "plots/tornado.svg",
                 "plots/decision-map.png", "plots/vs-workloads-chat-demand.svg"):
        assert (out / name).is_file(), name
    html = (out / "report.html").read_text()
    assert "<script" not in html and "data:image/png;base64," in html
    assert "<tr><th></th>" not in html  # the key/value Overview printed an empty header row


def test_shared_candidates_give_the_same_plan_as_a_fresh_solve(tmp_path, reference, cat):
    """A scenario solved on a shared candidate table equals the same problem solved from scratch: the sweep's fast
    solve proves the optimum (gap 1e-9, planner/sweep/fastsolve.py), which lies between the plain solve's plan and
    its best bound; SCIP may stop at another plan within the problem's gap (scenario 27 after h95's step tables:
    54.27337 $/h, bound 54.27174, the sweep's 54.27174)."""
    from planner.optimize.pipeline import solve_file

    out, rows = reference
    for idx in (0, 27):
        params = ledger.open_for_reading(out).rows()[idx]["params"]
        data = yaml.safe_load(QUICKSTART.read_text())
        data["economics"]["electricity_usd_per_kwh"] = params["economics.electricity_usd_per_kwh"]
        data["workloads"][0]["demand"]["requests_per_s"] *= params["workloads.chat.demand"]
        p = tmp_path / f"p{idx}.yaml"
        p.write_text(yaml.safe_dump(data))
        plan = solve_file(p, cat, runner_up=False).plan
        assert plan.best_bound * (1 - 1e-9) <= rows[idx][3] <= plan.objective_value * (1 + 1e-9)


def test_failing_scenarios_are_recorded_and_do_not_stop_the_sweep(tmp_path, cat):
    params = """
  - path: site.power_limit_mw
    values: [0.001, 1.0]
  - path: workloads.chat.tpot_ms
    values: [0.5, 50]
"""
    out = tmp_path / "o"
    out.mkdir()
    s = run_sweep(load_sweep(sweep_file(tmp_path, params), cat), cat, out, workers=1)
    assert s.ran == 4 and s.evaluations == 2  # one table per TPOT target
    rows = {(r["params"]["site.power_limit_mw"], r["params"]["workloads.chat.tpot_ms"]): r
            for r in ledger.open_for_reading(out).rows()}
    assert rows[(1.0, 50)]["status"] == "optimal"
    assert rows[(0.001, 50)]["status"] == "infeasible" and "power" in rows[(0.001, 50)]["error"]
    assert rows[(1.0, 0.5)]["status"] == "infeasible" and rows[(1.0, 0.5)]["error"]
    write_results(out, plots=False)
    assert "Scenarios without a plan" in (out / "report.md").read_text()


def test_one_writer_per_ledger_and_resume_rules(tmp_path, cat):
    sw = load_sweep(sweep_file(tmp_path, "  - path: site.power_limit_mw\n    values: [1, 2]\n"), cat)
    out = tmp_path / "o"
    out.mkdir()
    held = ledger.open_for_writing(out)
    try:
        with pytest.raises(InputError, match="another sweep is writing this ledger"):
            run_sweep(sw, cat, out, workers=1)
    finally:
        held.close()
    run_sweep(sw, cat, out, workers=1)
    with pytest.raises(InputError, match="pass --resume"):
        run_sweep(sw, cat, out, workers=1)
    assert run_sweep(sw, cat, out, workers=1, resume=True).ran == 0
    other = load_sweep(sweep_file(tmp_path, "  - path: site.power_limit_mw\n    values: [1, 3]\n"), cat)
    with pytest.raises(InputError, match="holds this sweep with other settings"):
        run_sweep(other, cat, out, workers=1, resume=True)
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(sweep_file(tmp_path, "  - path: site.power_limit_mw\n    values: [1, 2]\n").read_text()
                       .replace("name: t", "name: u"))
    with pytest.raises(InputError, match="holds another sweep \\('t'\\)"):
        run_sweep(load_sweep(renamed, cat), cat, out, workers=1, resume=True)
    from planner.sweep.apply import apply_catalog
    from planner.sweep.paths import resolve

    target = resolve("catalog.systems.hgx-h100.price_usd", sw.problem_data, cat)
    pricier = apply_catalog(cat, [(target, 123456.0)], "test")
    with pytest.raises(InputError, match="holds this sweep on another catalog"):
        run_sweep(sw, pricier, out, workers=1, resume=True)


def _as_before_fast_solve(out: Path, sw, cat) -> str:
    """Make a ledger look written before `solver.fast_solve` existed: its spec without the field, its sweep
    hash and its rows' scenario hashes from that spec."""
    from planner.sweep.apply import catalog_hash
    from planner.sweep.runner import scenario_hash, sweep_hash

    held = sweep_hash(sw.fingerprint_before_fast_solve, catalog_hash(cat))
    conn = sqlite3.connect(out / ledger.LEDGER)
    with conn:
        spec = json.loads(dict(conn.execute("SELECT key, value FROM meta").fetchall())["spec"])
        del spec["solver"]["fast_solve"]
        conn.execute("UPDATE meta SET value = ? WHERE key = 'spec'", (json.dumps(spec, sort_keys=True),))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'sweep_hash'", (held,))
        for idx, params in conn.execute("SELECT idx, params FROM scenarios").fetchall():
            conn.execute("UPDATE scenarios SET scenario_hash = ? WHERE idx = ?",
                         (scenario_hash(held, idx, json.loads(params)), idx))
        conn.execute("DELETE FROM scenarios WHERE idx >= 2")
    conn.close()
    return held


def test_a_ledger_from_before_fast_solve_resumes(tmp_path, cat):
    """Its sweep hash left `solver.fast_solve` out, so it matched no sweep any more: it resumes under its own
    hash when the file keeps the default (as those sweeps solved), with the plans of an uninterrupted run;
    a file choosing another fast_solve is told why not."""
    sw = load_sweep(sweep_file(tmp_path, "  - path: site.power_limit_mw\n    values: [1, 2, 3, 4]\n"), cat)
    whole, out = tmp_path / "whole", tmp_path / "o"
    whole.mkdir()
    out.mkdir()
    run_sweep(sw, cat, whole, workers=1)
    run_sweep(sw, cat, out, workers=1)
    held = _as_before_fast_solve(out, sw, cat)
    none = load_sweep(sweep_file(tmp_path, "  - path: site.power_limit_mw\n    values: [1, 2, 3, 4]\n",
                                 extra="solver: {fast_solve: none}\n"), cat)
    with pytest.raises(InputError, match=r"from before solver\.fast_solve .* says fast_solve: none: drop that"):
        run_sweep(none, cat, out, workers=1, resume=True)
    assert run_sweep(sw, cat, out, workers=1, resume=True).ran == 2
    assert [c[:1] + c[2:] for c in canon(out)] == [c[:1] + c[2:] for c in canon(whole)]  # hashes aside
    led = ledger.open_for_reading(out)
    assert led.meta()["sweep_hash"] == held and len({r["scenario_hash"] for r in led.rows()}) == 4
    led.close()
    assert run_sweep(sw, cat, out, workers=1, resume=True).ran == 0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from planner.cli import main; main()", *args]


@pytest.mark.parametrize("sig, workers", [(signal.SIGTERM, 2), (signal.SIGKILL, 2)])
def test_kill_and_resume_runs_each_scenario_once(tmp_path, reference, sig, workers):
    """SIGTERM to the whole process group (as `timeout` or a service manager sends it): workers finish their
    scenario, the parent records it and stops. SIGKILL to the parent alone: its orphaned workers must not keep
    the ledger locked, and resume must not redo or lose anything."""
    _ref_dir, ref_rows = reference
    path = sweep_file(tmp_path, ECON)
    out = tmp_path / "o"
    proc = subprocess.Popen(_cli("sweep", str(path), "--out", str(out), "--workers", str(workers), "--no-plots"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                            start_new_session=True)
    deadline = time.time() + 120
    while count_rows(out) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    if sig == signal.SIGTERM:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    output, _ = proc.communicate(timeout=120)
    done = count_rows(out)
    assert 3 <= done < 40, output
    if sig == signal.SIGTERM:
        assert proc.returncode == 130, output
        assert "run again with --resume" in output and "Traceback" not in output
        assert (out / "results.csv").is_file()  # what finished is written out
    else:
        assert proc.returncode == -signal.SIGKILL
    res = subprocess.run(_cli("sweep", str(path), "--out", str(out), "--workers", "1", "--resume", "--no-plots"),
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{40 - done} scenarios run now ({done} already recorded" in " ".join(res.stdout.split())
    assert canon(out) == ref_rows


def test_ray_executor_equals_local(tmp_path, reference, cat):
    pytest.importorskip("ray")
    params = """
  - path: economics.electricity_usd_per_kwh
    values: [0.02, 0.4]
  - path: workloads.chat.demand
    values: [0.5, 6]
"""
    sw = load_sweep(sweep_file(tmp_path, params), cat)
    local, remote = tmp_path / "local", tmp_path / "ray"
    local.mkdir()
    remote.mkdir()
    run_sweep(sw, cat, local, workers=2)
    s = run_sweep(sw, cat, remote, workers=2, executor="ray")
    assert s.ran == 4
    assert canon(remote) == canon(local)
    assert json.loads(ledger.open_for_reading(remote).meta()["runs"])[-1]["executor"] == "ray"


def test_report_is_escaped_and_rebuilt_from_the_ledger_alone(tmp_path, cat):
    from click.testing import CliRunner

    from planner.cli import main

    p = tmp_path / "s.yaml"
    p.write_text(f"name: '<script>alert(1)</script> | x'\nproblem: {QUICKSTART}\nparameters:\n"
                 "  - path: site.power_limit_mw\n    values: [0.001, 1]\n    label: '<b>limit</b>'\n")
    out = tmp_path / "o"
    res = CliRunner().invoke(main, ["sweep", str(p), "--out", str(out), "--workers", "1", "--no-plots"])
    assert res.exit_code == 0, res.output
    assert "1 computed, 1 scenarios reused one" in " ".join(res.output.split())
    p.unlink()  # the report needs only the ledger
    (out / "report.html").unlink()
    res = CliRunner().invoke(main, ["sweep", "report", str(out), "--no-plots"])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>limit" not in html and "&lt;b&gt;limit" in html
    assert "<script>" not in md and "\\| x" in md
    missing = CliRunner().invoke(main, ["sweep", "report", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no sweep ledger here" in missing.output


def test_token_price_sweep_reports_revenue_and_profit(tmp_path, cat):
    params = "  - path: value.usd_per_mtok_output\n    values: [0.5, 2.0]\n"
    out = tmp_path / "o"
    out.mkdir()
    s = run_sweep(load_sweep(sweep_file(tmp_path, params), cat), cat, out, workers=1)
    assert s.evaluations == 1 and s.reused == 1  # a price is money: one evaluation
    write_results(out, plots=False)
    import pandas as pd

    df = pd.read_csv(out / "results.csv").sort_values("value.usd_per_mtok_output")
    low, high = df.to_dict("records")
    assert math.isclose(high["revenue_usd_per_hour"], 4 * low["revenue_usd_per_hour"], rel_tol=1e-6)
    for r in (low, high):  # profit = revenue - the all-in hourly cost of the same (min-cost) plan
        assert math.isclose(r["profit_usd_per_hour"], r["revenue_usd_per_hour"] - r["cost_usd_per_hour"],
                            rel_tol=1e-6, abs_tol=1e-6)
