"""`planner solve`: parse flags, delegate to planner.optimize, print or write the plan."""

from __future__ import annotations

import contextlib

import click

from planner.cli.common import (
    POSITIVE,
    catalog_option,
    console,
    handle_errors,
    load_run_catalog,
    make_out_dir,
    write_out,
)
from planner.optimize.backends import BACKENDS
from planner.outputs import safe_text, set_aside


@click.command("solve")
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("--backend", type=click.Choice(BACKENDS), default=None, help="MIP backend (default: scip).")
@click.option(
    "--time-limit",
    "time_limit",
    type=POSITIVE,
    default=None,
    help="Seconds per MILP (default: the problem's solver.time_limit_s, else 60).",
)
@click.option("--json", "as_json", is_flag=True, help="Print plan.json to stdout instead of tables.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Write DIR/plan.json.")
@click.option(
    "--no-runner-up", is_flag=True,
    help="Skip the side re-solves: the best plan on other accelerators (runner-up), what limits and survive cost "
         "(price_of) and the best plan per platform (max_profit)."
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
    from planner.optimize.pipeline import solve_file
    from planner.plan import plan_json

    cat = load_run_catalog(catalog_dirs)
    out = make_out_dir(out_dir) if out_dir else None  # before the solve: a bad --out fails fast
    # a previous plan.json waits as plan.json.stale until this run has written its own: a failed, interrupted
    # or killed run never leaves an older plan looking current
    with set_aside(out / "plan.json") if out is not None else contextlib.nullcontext():
        outcome = solve_file(problem, cat, backend=backend, time_limit_s=time_limit, runner_up=not no_runner_up,
                             catalog_dirs=catalog_dirs)
        text = plan_json(outcome.plan)
        if out is not None:
            write_out(out / "plan.json", text)
    if as_json:
        click.echo(text, nl=False)
        return
    from planner.report.plan_view import render_plan

    render_plan(console, outcome.plan)
    if out is not None:
        console.print(f"wrote {safe_text(out / 'plan.json')}", highlight=False)
