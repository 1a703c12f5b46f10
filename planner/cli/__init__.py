"""The `planner` command line: parses flags and delegates; no modelling happens here.

Each command (or command group) lives in its own module and is registered below.
Exit codes: 0 success, 2 bad input (file, field, flag, reference), 3 infeasible problem, 4 solver failure.
"""

from __future__ import annotations

import click

from planner.cli.calibrate_cmd import calibrate
from planner.cli.catalog_cmd import catalog
from planner.cli.frontier_cmd import frontier
from planner.cli.predict_cmd import predict
from planner.cli.propose_cmd import propose
from planner.cli.solve_cmd import solve
from planner.cli.sweep_cmd import sweep
from planner.cli.verify_cmd import verify


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="planner")
def main() -> None:
    """planner: plan AI-inference fleets with one exact solve."""


main.add_command(catalog)
main.add_command(solve)
main.add_command(verify)
main.add_command(predict)
main.add_command(frontier)
main.add_command(calibrate)
main.add_command(sweep)
main.add_command(propose)
