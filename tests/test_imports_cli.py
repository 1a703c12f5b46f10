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


def test_python_dash_m_planner_cli_runs_the_command():
    """`python -m planner.cli ...` (a checkout on PYTHONPATH, no installed script) is the `planner` command; it
    stopped with "No module named planner.cli.__main__"."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-m", "planner.cli", "solve", "--help"], capture_output=True, text=True,
                         cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Usage: planner solve ")


def test_every_option_says_what_it_does():
    """`planner predict --help` listed --serving with no text; every option of every command has one."""
    import click

    def walk(cmd, name):
        yield name, cmd
        for sub_name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, f"{name} {sub_name}")

    bare = [f"{name} {' / '.join(p.opts)}" for name, cmd in walk(main, "planner") for p in cmd.params
            if isinstance(p, click.Option) and not p.help and "--help" not in p.opts and "--version" not in p.opts]
    assert bare == []
