"""One CLI module per command (issue 7): `planner X` lives in planner/cli/X_cmd.py and nowhere else."""

from __future__ import annotations

from planner.cli import main


def _module(cmd) -> str:
    return cmd.callback.__module__


def test_each_command_has_its_own_module():
    where = {name: _module(cmd) for name, cmd in main.commands.items()}
    assert where == {name: f"planner.cli.{name}_cmd" for name in main.commands}
    assert len(set(where.values())) == len(where)  # no module holds two commands


def test_subcommands_stay_in_their_groups_module():
    for name, cmd in main.commands.items():
        for sub in getattr(cmd, "commands", {}).values():
            assert _module(sub) == f"planner.cli.{name}_cmd", f"planner {name} {sub.name}"
