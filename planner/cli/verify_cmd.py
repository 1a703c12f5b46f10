"""`planner verify`: re-check a plan.json against its problem and catalog, independently of any solver."""

from __future__ import annotations

import click

from planner.cli.common import catalog_option, console, handle_errors, load_run_catalog
from planner.outputs import safe_text


@click.command("verify")
@click.argument("plan_file", type=click.Path(dir_okay=False, exists=True))
@click.argument("problem", type=click.Path(dir_okay=False, exists=True), required=False)
@catalog_option
@handle_errors
def verify(plan_file: str, problem: str | None, catalog_dirs: tuple[str, ...]) -> None:
    """Re-check every constraint of PLAN_FILE (plan.json) against PROBLEM.yaml, independently of any solver.

    Without PROBLEM, the copy of the problem stored in the plan is used, and without --catalog the catalog
    folders the plan was solved with. Re-predicts each deployment with the performance model; exits 1 naming
    every violation."""
    from planner.errors import PlannerError
    from planner.optimize.pipeline import load_plan_file, verify_file

    plan = load_plan_file(plan_file)
    if not catalog_dirs and plan.catalog_dirs:
        catalog_dirs = tuple(plan.catalog_dirs)
        console.print(f"using the plan's catalog folders: {safe_text(', '.join(catalog_dirs))}", highlight=False)
    if plan.format_version == 0:
        console.print("note: this plan.json predates format versions and problem hashes", highlight=False)
    if problem is None:
        console.print("checking against the copy of the problem stored in the plan (problem_yaml), which "
                      "whoever wrote the plan controls: give PROBLEM.yaml to check against your own file",
                      highlight=False)
    else:
        from planner.inputs import read_text

        text, _ = read_text(problem)
        if plan.problem_yaml is not None and text and text != plan.problem_yaml:
            console.print(f"note: the plan was solved from a different text than {safe_text(problem)}; checking "
                          "against the file given", highlight=False)
    report = verify_file(plan_file, problem, load_run_catalog(catalog_dirs), plan)
    if report.ok:
        click.echo(f"plan OK: {report.checks} checks passed")
        return
    raise PlannerError(
        f"{len(report.violations)} violation(s) in {plan_file}:\n  - " + "\n  - ".join(report.violations)
    )
