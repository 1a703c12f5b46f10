"""Shared pieces of the command line: error handling, consoles, common options."""

from __future__ import annotations

import functools
import math
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from planner.errors import InputError, PlannerError


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


class PositiveNumber(click.ParamType):
    """A float flag that must be finite and > 0 (click's FLOAT takes nan, inf and negatives)."""

    name = "number"

    def convert(self, value, param, ctx):
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(x) and x > 0):
            self.fail(f"must be a finite number > 0, got {value!r}", param, ctx)
        return x


POSITIVE = PositiveNumber()


def make_out_dir(path: str | Path, given: str | None = None) -> Path:
    """Create an output folder, or exit 2 naming it (a file in the way, no permission, read-only disk).

    `given` is what the user typed after --out when that is a file inside `path`."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        folder = f" {p}" if given else ""
        why = exc.strerror or exc
        raise InputError(f"--out {given or path}: cannot create the folder{folder}: {why}") from None
    return p


def write_out(path: str | Path, text: str | bytes) -> None:
    """Write a result file (text as UTF-8, or bytes as they are), or exit 2 naming it."""
    try:
        if isinstance(text, bytes):
            Path(path).write_bytes(text)
        else:
            Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
