"""The CLI freezes its catalog out of the garbage collector for one command only (cli.common.load_run_catalog)."""

from __future__ import annotations

import gc

from click.testing import CliRunner

from planner.cli import main
from planner.cli.common import handle_errors, load_run_catalog


def test_a_command_freezes_its_catalog_while_it_runs_and_unfreezes_after():
    seen = {}

    @handle_errors
    def command():
        catalog = load_run_catalog()
        seen["frozen"] = gc.get_freeze_count()
        return catalog

    gc.unfreeze()
    catalog = command()
    assert catalog.accelerators  # the real catalog, loaded
    assert seen["frozen"] > 0  # during the command the catalog sits in the permanent generation
    assert gc.get_freeze_count() == 0  # ... and not after: tests run many commands in one process


def test_a_real_command_leaves_nothing_frozen():
    gc.unfreeze()
    res = CliRunner().invoke(main, ["catalog", "list", "accelerators"])
    assert res.exit_code == 0, res.output
    assert gc.get_freeze_count() == 0
