"""`planner predict`: what one configuration (or a CSV of them) will do."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
import pandas as pd

from planner.catalog import load_catalog
from planner.cli.common import POSITIVE, catalog_option, console, handle_errors, make_out_dir, write_out
from planner.errors import InputError
from planner.limits import check
from planner.outputs import safe_frame


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
@click.option("--max-throughput", is_flag=True,
              help="Best output throughput with no latency target (the default without targets or concurrency).")
@click.option("--ttft-slo-ms", type=POSITIVE, help="Time-to-first-token target.")
@click.option("--tpot-slo-ms", type=POSITIVE, help="Time-per-output-token target.")
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
        # in chunks: the configuration grid of one chunk is evaluated at once, never that of 100k queries
        parts = [predict_many(queries.iloc[i : i + BATCH_CHUNK].reset_index(drop=True), catalog)
                 for i in range(0, len(queries), BATCH_CHUNK)]
        result = pd.concat(parts, ignore_index=True, sort=False) if len(parts) > 1 else parts[0]
        make_out_dir(Path(out_csv).parent, given=out_csv)
        # safe_frame: a model name such as =HYPERLINK(...) must not become a formula in a spreadsheet
        write_out(out_csv, safe_frame(result).to_csv(index=False, float_format="%.6g"))
        bad = int((result["error"].fillna("") != "").sum())
        fits = int(result["fits"].fillna(False).astype(bool).sum())
        click.echo(f"wrote {out_csv}: {len(result)} rows, {fits} fit, {bad} with an input error")
        return
    if out_csv:
        raise InputError("--out FILE applies to --batch only (use --json to get one prediction as JSON)")
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


REQUIRED_COLUMNS = ("model", "gpu", "gpus", "precision", "isl", "osl")
BATCH_CHUNK = 2000  # queries per evaluation pass: bounds memory, keeps the vectorized speed


def _read_queries(path: Path) -> pd.DataFrame:
    """The query CSV as strings, numbers where a numeric column holds one; whole-file mistakes exit 2."""
    import csv
    import difflib
    import io

    from planner.catalog.loader import display_path, read_text
    from planner.predict import NUMERIC_COLUMNS, QUERY_COLUMNS

    where = display_path(path)
    text, problem = read_text(path)
    if problem:
        raise InputError(f"{where}: {problem}")
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    rows: list[tuple[int, list[str]]] = []
    try:
        for r in reader:
            if any(c.strip() for c in r):
                rows.append((reader.line_num, [c.strip() for c in r]))
    except csv.Error as exc:
        raise InputError(f"{where}: line {reader.line_num}: not a readable CSV: {exc}") from None
    if not rows:
        raise InputError(f"{where}: the file is empty (expected a header line: {','.join(REQUIRED_COLUMNS)}, ...)")
    header = rows[0][1]
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise InputError(f"{where}: column {', '.join(repr(c) for c in dup)} appears more than once in the header")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        hints = [f"{m!r} for {c!r}" for c in header for m in difflib.get_close_matches(c, QUERY_COLUMNS, 1, 0.7)
                 if m in missing]
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        if any(sep in header[0] for sep in ";\t"):
            hint += "; columns must be separated by commas"
        raise InputError(
            f"{where}: missing column(s) {', '.join(missing)} (the header has: {', '.join(header)}){hint}"
        )
    body = []
    for line, r in rows[1:]:
        if len(r) > len(header) and any(r[len(header):]):
            raise InputError(f"{where}: line {line} has {len(r)} fields but the header has {len(header)}")
        body.append((r + [""] * len(header))[: len(header)])
    if not body:
        raise InputError(f"{where}: no queries below the header line")
    check("csv_rows", len(body), f"{where}: query rows")
    unnamed = [i for i, c in enumerate(header) if not c]
    if any(r[i] for r in body for i in unnamed):
        raise InputError(f"{where}: column {unnamed[0] + 1} has values but no name in the header")
    frame = pd.DataFrame(body, columns=header).drop(columns=[header[i] for i in unnamed][:1])
    frame = frame.replace("", float("nan"))
    for col in NUMERIC_COLUMNS:
        if col in frame:
            num = pd.to_numeric(frame[col], errors="coerce")
            # keep text that is not a number ("eight", "nan") so the row's error names it
            bad = num.isna() & frame[col].notna()
            if bad.any():
                values = zip(num, frame[col], bad, strict=True)
                frame[col] = pd.Series(
                    [t if b else (int(x) if x.is_integer() else x) for x, t, b in values],
                    index=frame.index, dtype=object,
                )
            else:
                frame[col] = num
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

    for flag, v in (("--isl", isl), ("--osl", osl), ("--gpus", gpus)):
        if v is not None and v <= 0:
            raise InputError(f"{flag} must be a positive integer, got {v}")
    catalog = load_catalog(catalog_dirs)
    front = compute_frontier(catalog, model, list(gpu_ids), list(precisions), isl, osl, gpus)
    out = make_out_dir(out_dir)
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

    out = make_out_dir(out_dir)
    report = fidelity_report(load_catalog(catalog_dirs))
    met = fidelity_view.render(console, report)
    written = fidelity_view.write(report, out)
    click.echo("wrote " + ", ".join(str(p) for p in written))
    if strict and not met:
        raise SystemExit(1)
