"""Render `planner predict` answers: a table for the terminal, a JSON-ready dict."""

from __future__ import annotations

import math

from rich.table import Table


def prediction_json(d: dict) -> dict:
    """A prediction with NaN as null and numpy scalars as Python numbers (for --json)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and math.isnan(v):
            v = None
        elif hasattr(v, "item"):
            v = v.item()
        out[k] = v
    return out



def render_prediction(console, r: dict) -> None:
    """One prediction (`planner predict`) as a table."""
    table = Table(title=f"{r['model']} on {r['gpus']} x {r['gpu']} ({r['precision']})", title_justify="left")
    table.add_column("quantity", style="bold")
    table.add_column("value", justify="right")
    if not r["fits"]:
        table.add_row("fits", "no")
        table.add_row("limited by", str(r.get("limited_by") or "-"))
        table.add_row("why", str(r.get("notes") or "-"))
        console.print(table)
        return
    rows = [
        ("parallelism", f"TP{r['tp']} PP{r['pp']} EP{r['ep']} x DP{r['dp']} ({r['serving']})"),
        ("concurrency", f"{r['concurrency']:,}"),
        ("TTFT", f"{r['ttft_s'] * 1e3:,.1f} ms"),
        ("TPOT", f"{r['tpot_s'] * 1e3:,.2f} ms"),
        ("output tokens/s (all GPUs)", f"{r['output_tok_s']:,.0f}"),
        ("output tokens/s per GPU", f"{r['output_tok_s_per_gpu']:,.0f}"),
        ("output tokens/s per user", f"{r['output_tok_s_per_user']:,.1f}"),
        ("total tokens/s (in + out)", f"{r['total_tok_s']:,.0f}"),
        ("average / peak power", f"{r['avg_power_w'] / 1e3:,.2f} / {r['peak_power_w'] / 1e3:,.2f} kW"),
        ("limited by", str(r["limited_by"])),
    ]
    for k, v in rows:
        table.add_row(k, v)
    if r.get("notes"):
        table.add_row("notes", str(r["notes"]))
    console.print(table)
