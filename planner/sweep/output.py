"""Everything a sweep folder holds besides the ledger, rebuilt from the ledger alone: results.parquet,
results.csv, sensitivity.json, plots/*.png|svg, report.html and report.md."""

from __future__ import annotations

import json
from pathlib import Path

from planner.outputs import write_atomic
from planner.sweep import ledger, results, sensitivity


def write_results(out_dir: Path, *, plots: bool = True) -> list[Path]:
    """Read DIR/ledger.sqlite and write the results, plots and report next to it; returns the files written."""
    led = ledger.open_for_reading(out_dir)
    try:
        data = results.read(led)
    finally:
        led.close()
    written: list[Path] = []

    def put(name: str, content: str | bytes) -> None:
        write_atomic(out_dir / name, content)
        written.append(out_dir / name)

    put("results.csv", results.csv_text(data.table))
    pq = results.parquet_bytes(data.table)
    if pq is not None:
        put("results.parquet", pq)
    tor = results.tornado(data)
    sens = sensitivity.indices(data)
    put("summary.json", json.dumps({"tornado": tor, "sensitivity": sens}, indent=2, sort_keys=True,
                                   default=str) + "\n")
    figures: list[Path] = []
    if plots:
        from planner.report.sweep_plots import render_plots

        figures = render_plots(data, tor, sens, out_dir / "plots")
        written += figures
    from planner.report.sweep_report import render_html, render_markdown

    put("report.md", render_markdown(data, tor, sens, figures))
    put("report.html", render_html(data, tor, sens, figures))
    return written
