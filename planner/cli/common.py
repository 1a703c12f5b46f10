"""Shared pieces of the command line: error handling, consoles, common options."""

from __future__ import annotations

import functools
import os
import sys

import click
from rich.console import Console
from rich.markup import escape

from planner.errors import PlannerError


def _width() -> int | None:
    """Terminal width on a terminal; 160 columns when piped or captured, where rich would assume 80 and fold
    every table column into unreadable slivers."""
    if sys.stdout.isatty():
        return None
    cols = os.environ.get("COLUMNS", "")
    return int(cols) if cols.isdigit() and int(cols) > 0 else 160


console = Console(width=_width())
err_console = Console(stderr=True, width=_width())


def handle_errors(fn):
    """Print a PlannerError's message, without a traceback, and exit with its code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PlannerError as exc:
            # escape: messages name fields like workloads[chat], which rich would take for markup
            err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)

    return wrapper


catalog_option = click.option(
    "--catalog", "catalog_dirs", multiple=True, type=click.Path(file_okay=False),
    help="Extra catalog folder layered over the bundled one (repeatable; later wins).",
)


