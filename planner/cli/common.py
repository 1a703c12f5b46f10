"""Shared pieces of the command line: error handling, consoles, common options."""

from __future__ import annotations

import functools
import gc
import math
import os
import signal
import sys
import threading
from pathlib import Path

import click
from rich.console import Console

from planner import interrupts, outputs
from planner.errors import PlannerError
from planner.outputs import safe_text


def _width() -> int | None:
    """Terminal width on a terminal; 160 columns when piped or captured, where rich would assume 80 and fold
    every table column into unreadable slivers."""
    if sys.stdout.isatty():
        return None
    cols = os.environ.get("COLUMNS", "")
    return int(cols) if cols.isdigit() and int(cols) > 0 else 160


# emoji=False: a name containing :smile: is text, not an emoji code
console = Console(width=_width(), emoji=False)
err_console = Console(stderr=True, width=_width(), emoji=False)


INTERRUPTED_EXIT = 130  # 128 + SIGINT, the shell's convention; SIGTERM exits the same way


def handle_errors(fn):
    """Print a PlannerError's message, without a traceback, and exit with its code; Ctrl-C and SIGTERM stop
    the command (child solver processes are killed on the way out) and exit 130 with "interrupted"."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = {}
        if threading.current_thread() is threading.main_thread():
            interrupts.reset()
            previous = {s: signal.signal(s, interrupts.on_stop_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            result = fn(*args, **kwargs)
            interrupts.raise_if_requested()  # a stop whose KeyboardInterrupt Python dropped still stops
            return result
        except PlannerError as exc:
            # safe_text: messages name fields like workloads[chat] and quote user text, which rich would take
            # for markup and a terminal for control sequences
            err_console.print(f"[bold red]error:[/bold red] {safe_text(exc)}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/bold red]: no result written", highlight=False)
            sys.exit(INTERRUPTED_EXIT)
        finally:
            gc.unfreeze()  # load_run_catalog's freeze lasts one command (tests run many in one process)
            for signum, handler in previous.items():
                if handler is not None:  # None: a handler not installed from Python; leave ours
                    signal.signal(signum, handler)

    return wrapper


def load_run_catalog(catalog_dirs=(), **kwargs):
    """The catalog a command reads, loaded once and then frozen out of the garbage collector's view.

    It lives until the command ends, so every full collection would only rescan it and the imported modules:
    measured 2026-11-30, `planner solve` CPU 2.11 -> 1.92 s on quickstart and 7.69 -> 7.51 s on mixed-fleet
    (5 runs each, load ~3). Freezing before the side worker forks also keeps the child from touching those
    pages. handle_errors unfreezes when the command ends."""
    from planner.catalog import load_catalog

    catalog = load_catalog(catalog_dirs, **kwargs)
    gc.freeze()
    return catalog


catalog_option = click.option(
    "--catalog", "catalog_dirs", multiple=True, type=click.Path(file_okay=False),
    help="Extra catalog folder layered over the bundled one (repeatable; later wins).",
)


class CheckedNumber(click.ParamType):
    """A float flag that must pass `ok` (click's FLOAT takes nan, inf and negatives), else "must be `words`"."""

    name = "number"

    def __init__(self, ok, words: str):
        self.ok, self.words = ok, words

    def convert(self, value, param, ctx):
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not self.ok(x):
            self.fail(f"must be {self.words}, got {value!r}", param, ctx)
        return x


POSITIVE = CheckedNumber(lambda x: math.isfinite(x) and x > 0, "a finite number > 0")
# inf and out-of-range values are left to the command, which names them; nan is not: a NaN query field means
# "not given", so `--request-rate nan` answered without a load and `--slo-percentile nan` at p90, exit 0
NUMBER = CheckedNumber(lambda x: not math.isnan(x), "a number")


def make_out_dir(path: str | Path, given: str | None = None) -> Path:
    """Create an output folder, or exit 2 naming it (see planner.outputs.make_out_dir)."""
    return outputs.make_out_dir(path, given)


def write_out(path: str | Path, data: str | bytes) -> None:
    """Write a result file (text or bytes) atomically, never through a symlink, or exit 2 naming it."""
    outputs.write_atomic(path, data)
