"""`planner solve` and `planner verify`: parse flags, delegate to planner.optimize, print or write the plan."""

from __future__ import annotations

import json
from pathlib import Path

import click

from planner.cli.common import catalog_option, console, handle_errors
from planner.optimize.backends import BACKENDS


@click.command("solve")
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("--backend", type=click.Choice(BACKENDS), default=None, help="MIP backend (default: scip).")
@click.option(
    "--time-limit",
    "time_limit",
    type=float,
    default=None,
    help="Seconds per MILP (default: the problem's solver.time_limit_s, else 60).",
)
@click.option("--json", "as_json", is_flag=True, help="Print plan.json to stdout instead of tables.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Write DIR/plan.json.")
@click.option(
    "--no-runner-up", is_flag=True, help="Skip the re-solve that finds the best plan on other accelerators."
)
@catalog_option
@handle_errors
def solve(
    problem: str,
    backend: str | None,
    time_limit: float | None,
    as_json: bool,
    out_dir: str | None,
    no_runner_up: bool,
    catalog_dirs: tuple[str, ...],
) -> None:
    """Find the optimal fleet for PROBLEM.yaml (exit 2: bad input, 3: infeasible, 4: solver failure)."""
    from planner.catalog import load_catalog
    from planner.optimize.pipeline import solve_file
    from planner.plan import plan_json

    cat = load_catalog(catalog_dirs)
    outcome = solve_file(problem, cat, backend=backend, time_limit_s=time_limit, runner_up=not no_runner_up)
    text = plan_json(outcome.plan)
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "plan.json").write_text(text, encoding="utf-8")
    if as_json:
        click.echo(text, nl=False)
        return
    from planner.report.plan_view import render_plan

    render_plan(console, outcome.plan)
    if out_dir:
        console.print(f"wrote {Path(out_dir) / 'plan.json'}")


@click.command("verify")
@click.argument("plan_file", type=click.Path(dir_okay=False, exists=True))
@click.argument("problem", type=click.Path(dir_okay=False, exists=True))
@catalog_option
@handle_errors
def verify(plan_file: str, problem: str, catalog_dirs: tuple[str, ...]) -> None:
    """Re-check every constraint of PLAN_FILE (plan.json) against PROBLEM.yaml, independently of any solver.

    Re-predicts each deployment with the performance model; exits 1 naming every violation."""
    from planner.catalog import load_catalog
    from planner.errors import InputError, PlannerError
    from planner.optimize.pipeline import _perf_predictor, load_instance
    from planner.optimize.verify import verify_plan
    from planner.plan import load_plan

    cat = load_catalog(catalog_dirs)
    inst = load_instance(problem, cat)
    try:
        plan = load_plan(Path(plan_file).read_text(encoding="utf-8"))
    except (ValueError, json.JSONDecodeError) as exc:
        raise InputError(f"{plan_file}: not a plan.json: {exc}") from None
    report = verify_plan(plan, inst, cat, _perf_predictor(cat))
    if report.ok:
        click.echo(f"plan OK: {report.checks} checks passed")
        return
    raise PlannerError(
        f"{len(report.violations)} violation(s) in {plan_file}:\n  - " + "\n  - ".join(report.violations)
    )
