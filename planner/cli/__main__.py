"""`python -m planner.cli`: the `planner` command without the installed script (a checkout on PYTHONPATH)."""

from planner.cli import main

main(prog_name="planner")
