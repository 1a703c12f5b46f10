"""`planner sweep SWEEP.yaml --out DIR` and `planner sweep report DIR`: parse flags, delegate to planner.sweep."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from planner.cli.common import catalog_option, console, err_console, handle_errors, load_run_catalog, make_out_dir


class _SweepGroup(click.Group):
    """`planner sweep FILE ...` runs a sweep; `planner sweep report DIR` renders one (a file named `report`
    can still be swept as `planner sweep run report`)."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("sweep", cls=_SweepGroup)
def sweep() -> None:
    """Sensitivity sweeps: `planner sweep SWEEP.yaml --out DIR`, `planner sweep report DIR`."""


def _progress_bar():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("scenarios"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=err_console, transient=False)


@sweep.command("run")
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the ledger (ledger.sqlite), results, plots and report.")
@click.option("--workers", type=click.IntRange(1, 512), default=None,
              help="Parallel workers (default: the CPU count; 1 runs in this process).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              help="local process pool (default) or a Ray cluster (pip install 'planner[ray]').")
@click.option("--ray-address", default=None, help="Ray cluster address (default: start a local Ray runtime).")
@click.option("--resume", is_flag=True, help="Run only the scenarios the ledger in DIR does not have yet.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG/SVG plots (results and report are still written).")
@catalog_option
@handle_errors
def run(sweep_file: str, out_dir: str, workers: int | None, executor: str, ray_address: str | None,
        resume: bool, no_plots: bool, catalog_dirs: tuple[str, ...]) -> None:
    """Run every scenario of SWEEP.yaml; Ctrl-C stops cleanly (rerun with --resume for the rest)."""
    from planner.errors import InputError
    from planner.sweep import load_sweep, run_sweep
    from planner.sweep.design import count
    from planner.sweep.output import write_results
    from planner.sweep.runner import Interrupted

    if ray_address and executor != "ray":
        raise InputError("--ray-address needs --executor ray")
    cat = load_run_catalog(catalog_dirs)
    sw = load_sweep(sweep_file, cat)
    out = make_out_dir(out_dir)
    workers = workers or max(1, os.cpu_count() or 1)
    err_console.print(f"sweep {sw.name}: {count(sw)} scenarios ({sw.spec.design.kind}), {workers} worker(s), "
                      f"executor {executor}")
    bar = _progress_bar()
    task = bar.add_task("scenarios", total=None, rate="")

    def progress(done: int, total: int) -> None:
        elapsed = bar.tasks[0].elapsed or 0.0
        rate = f"{done / elapsed:.1f}/s" if elapsed > 0 and done else ""
        bar.update(task, completed=done, total=total, rate=rate)

    with bar:
        summary = run_sweep(sw, cat, out, workers=workers, executor=executor, ray_address=ray_address,
                            resume=resume, progress=progress)
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items())) or "none run"
    console.print(f"{summary.ran} scenarios run now ({summary.already_done} already recorded, {summary.total} in "
                  f"all): {statuses}; candidate evaluations: {summary.evaluations} computed, {summary.reused} "
                  f"scenarios reused one; {summary.elapsed_s:.1f} s ({summary.rate_per_s:.1f} scenarios/s)")
    files = write_results(out, plots=not no_plots)
    console.print(f"wrote {out / 'results.csv'}, {out / 'report.html'} and {len(files) - 2} more files in {out}")
    if summary.stopped:
        raise Interrupted(f"stopped: {summary.already_done + summary.ran} of {summary.total} scenarios recorded "
                          f"in {out / 'ledger.sqlite'}; run again with --resume for the rest")


@sweep.command("report")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--no-plots", is_flag=True, help="Skip the PNG/SVG plots.")
@handle_errors
def report(out_dir: str, no_plots: bool) -> None:
    """Write results, plots and report.html / report.md from the ledger in DIR (no solving)."""
    from planner.sweep.output import write_results

    files = write_results(Path(out_dir), plots=not no_plots)
    console.print(f"wrote {Path(out_dir) / 'report.html'}, {Path(out_dir) / 'report.md'} "
                  f"and {len(files) - 2} more files")
    sys.stdout.flush()
