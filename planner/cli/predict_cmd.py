"""`planner predict`: what one configuration (or a CSV of them) will do."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
import pandas as pd

from planner.catalog import load_catalog
from planner.cli.common import catalog_option, console, handle_errors
from planner.errors import InputError


@click.command()
@click.option("--model", help="Model id (see `planner catalog list models`).")
@click.option("--gpu", help="Accelerator id (see `planner catalog list accelerators`).")
@click.option("--gpus", type=int, help="Total GPUs of the deployment.")
@click.option("--precision", help="Weight precision id: bf16, fp8, int8, nvfp4, mxfp4, int4.")
@click.option("--isl", type=int, help="Input tokens per request.")
@click.option("--osl", type=int, help="Output tokens per request.")
@click.option("--tp", type=int, help="Tensor-parallel size (default: search).")
@click.option("--pp", type=int, help="Pipeline-parallel size (default: search).")
@click.option("--ep", type=int, help="Expert-parallel size (default: search, MoE only).")
@click.option("--serving", type=click.Choice(["aggregated", "disaggregated", "auto"]), default="aggregated",
              show_default=True)
@click.option("--concurrency", type=int, help="Concurrent requests over the whole deployment.")
@click.option("--max-throughput", is_flag=True, help="Largest batch that fits, no latency target.")
@click.option("--ttft-slo-ms", type=float, help="Time-to-first-token target.")
@click.option("--tpot-slo-ms", type=float, help="Time-per-output-token target.")
@click.option("--kv-precision", type=click.Choice(["bf16", "fp8", "fp4"]), help="KV-cache datatype.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--batch", "batch_csv", type=click.Path(exists=True, dir_okay=False),
              help="CSV of queries (columns = flag names with underscores).")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False), help="Where --batch writes its results.")
@catalog_option
@handle_errors
def predict(batch_csv, out_csv, as_json, catalog_dirs, max_throughput, **query) -> None:
    """Predict memory fit, TTFT, TPOT, tokens/s and power of a deployment."""
    from planner.predict import predict_many, predict_one

    catalog = load_catalog(catalog_dirs)
    if batch_csv:
        if not out_csv:
            raise InputError("--batch needs --out FILE for the results")
        queries = _read_queries(Path(batch_csv))
        result = predict_many(queries, catalog)
        result.to_csv(out_csv, index=False, float_format="%.6g")
        bad = int((result["error"].fillna("") != "").sum())
        fits = int(result["fits"].fillna(False).astype(bool).sum())
        click.echo(f"wrote {out_csv}: {len(result)} rows, {fits} fit, {bad} with an input error")
        return
    missing = [f"--{k}" for k in ("model", "gpu", "gpus", "precision", "isl", "osl") if query[k] is None]
    if missing:
        raise InputError(f"missing {', '.join(missing)} (or give --batch FILE)")
    if query["concurrency"] is not None and max_throughput:
        raise InputError("give --concurrency or --max-throughput, not both")
    query["max_throughput"] = max_throughput
    result = predict_one(catalog, **query)
    if as_json:
        click.echo(json.dumps(_jsonable(result), indent=2))
    else:
        _print_result(result)


def _read_queries(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a readable CSV: {exc}") from None
    frame = frame.replace("", float("nan"))
    for col in ("gpus", "isl", "osl", "tp", "pp", "ep", "concurrency", "ttft_slo_ms", "tpot_slo_ms"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").where(frame[col].notna(), float("nan"))
    return frame


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and math.isnan(v):
            v = None
        elif hasattr(v, "item"):
            v = v.item()
        out[k] = v
    return out


def _print_result(r: dict) -> None:
    from rich.table import Table

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


@click.command()
@click.option("--model", required=True, help="Model id.")
@click.option("--gpu", "gpu_ids", multiple=True, required=True, help="Accelerator id (repeatable).")
@click.option("--precision", "precisions", multiple=True, required=True, help="Precision id (repeatable).")
@click.option("--isl", type=int, required=True, help="Input tokens per request.")
@click.option("--osl", type=int, required=True, help="Output tokens per request.")
@click.option("--gpus", type=int, help="GPUs per deployment (default: the accelerator's scale-up domain).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@catalog_option
@handle_errors
def frontier(model, gpu_ids, precisions, isl, osl, gpus, out_dir, catalog_dirs) -> None:
    """Pareto frontier of tokens/s per GPU vs tokens/s per user, with cost and energy views."""
    from planner.frontier import compute_frontier, plot_frontier

    if isl <= 0 or osl <= 0 or (gpus is not None and gpus <= 0):
        raise InputError("--isl, --osl and --gpus must be positive")
    catalog = load_catalog(catalog_dirs)
    front = compute_frontier(catalog, model, list(gpu_ids), list(precisions), isl, osl, gpus)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    front.to_csv(out / "frontier.csv", index=False, float_format="%.6g")
    title = f"{model}, ISL {isl} / OSL {osl}"
    written = [out / "frontier.csv", *plot_frontier(front, out, title)]
    click.echo("wrote " + ", ".join(str(p) for p in written))
    for series, grp in front.groupby("series", sort=True):
        best = grp.loc[grp["output_tok_s_per_gpu"].idxmax()]
        click.echo(f"  {series}: {len(grp)} frontier points; peak {best['output_tok_s_per_gpu']:,.0f} tok/s/GPU "
                   f"at {best['output_tok_s_per_user']:,.1f} tok/s/user")


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="fidelity", show_default=True,
              help="Folder for the CSV files and summary.json.")
@click.option("--strict", is_flag=True, help="Exit 1 when a fidelity target is missed.")
@catalog_option
@handle_errors
def calibrate(out_dir, strict, catalog_dirs) -> None:
    """Predicted vs actual for every measured and published point: errors, ranking, targets."""
    from planner.perf import fidelity_report
    from planner.report import fidelity_view

    report = fidelity_report(load_catalog(catalog_dirs))
    met = fidelity_view.render(console, report)
    written = fidelity_view.write(report, Path(out_dir))
    click.echo("wrote " + ", ".join(str(p) for p in written))
    if strict and not met:
        raise SystemExit(1)
