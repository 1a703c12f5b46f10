"""`planner predict`: what one configuration (or a CSV of them) will do."""

from __future__ import annotations

import json
from pathlib import Path

import click

from planner.cli.common import (
    NUMBER,
    POSITIVE,
    catalog_option,
    console,
    handle_errors,
    load_run_catalog,
    make_out_dir,
    write_out,
)
from planner.errors import InputError
from planner.outputs import clean_text, safe_frame

ERRORS_SHOWN = 5  # row errors of --batch printed with their line (all of them are in the error column)
BATCH_CHUNK = 2000  # queries per evaluation pass: bounds memory, keeps the vectorized speed


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
              show_default=True, help="Prefill and decode on the same instances (aggregated), on their own "
              "(disaggregated: rate-matched prefill and decode instances), or the better of the two (auto).")
@click.option("--prefill-gpu", help="Disaggregated: the prefill instances' accelerator (default: --gpu).")
@click.option("--prefill-tp", type=int, help="Disaggregated: the prefill instances' tensor-parallel size.")
@click.option("--prefill-pp", type=int, help="Disaggregated: the prefill instances' pipeline-parallel size.")
@click.option("--concurrency", type=int,
              help="Closed-loop clients over the whole deployment (honoured exactly, split over the replicas).")
@click.option("--request-rate", type=NUMBER,
              help="Poisson arrivals, requests/s over the deployment (inf = --num-requests at once).")
@click.option("--num-requests", type=int, help="A finite run of this many requests (simulated, as a benchmark).")
@click.option("--length-dist", type=click.Choice(["fixed", "variable"]),
              help="Request lengths: fixed (isl/osl exactly, default) or variable (ShareGPT-like spread).")
@click.option("--slo-percentile", type=NUMBER,
              help="Percentile at which --ttft-slo-ms/--tpot-slo-ms must hold, 1 to below 100 (default 90; 99 "
              "for p99).")
@click.option("--max-throughput", is_flag=True,
              help="Best output throughput with no latency target (the default without targets or concurrency).")
@click.option("--ttft-slo-ms", type=POSITIVE, help="Time-to-first-token target.")
@click.option("--tpot-slo-ms", type=POSITIVE, help="Time-per-output-token target.")
@click.option("--max-batch", type=int,
              help="Running sequences per replica at most, as an engine is set to run (vLLM --max-num-seqs, "
              "SGLang --max-running-requests, TensorRT-LLM --max_batch_size; aggregated serving). Default: the "
              "engine's own limit; memory caps either.")
@click.option("--kv-precision", type=click.Choice(["bf16", "fp8", "fp4"]), help="KV-cache datatype.")
@click.option("--engine", help="Serving engine id (see `planner catalog list engines`; default: generic engine).")
@click.option("--speculative", type=click.Choice(["none", "auto", "mtp", "eagle3"]),
              help="Speculative decoding: a method, auto (the model's draft where the engine has one) or none.")
@click.option("--hidden-tokens", type=int,
              help="Reasoning tokens decoded before the first visible one, beyond --osl (default 0): TTFT is to "
              "the first visible token, throughput counts visible tokens.")
@click.option("--effort", help="Reasoning effort level of the model (see its effort_levels): its hidden tokens, "
              "round(osl x output_multiplier) - osl, instead of --hidden-tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--batch", "batch_csv", type=click.Path(exists=True, dir_okay=False),
              help="CSV of queries (columns = flag names with underscores). Every row is answered in --out; a row "
              "with an input error gets its message in the error column and the command exits 2 naming its line.")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False), help="Where --batch writes its results.")
@catalog_option
@handle_errors
def predict(batch_csv, out_csv, as_json, catalog_dirs, max_throughput, **query) -> None:
    """Predict memory fit, TTFT, TPOT, tokens/s and power of a deployment."""
    from planner.predict import predict_one
    from planner.report.predict_view import prediction_json, render_prediction

    if batch_csv:  # each query comes from its CSV row: a flag beside --batch was dropped without a word
        given = [k for k, v in query.items() if v is not None and not (k == "serving" and v == "aggregated")]
        given += ["max_throughput"] * max_throughput
        if as_json:
            raise InputError("--json prints one query's answer; --batch writes its answers as CSV to --out")
        if given:
            raise InputError(f"--batch takes every query from its CSV row: "
                             f"{', '.join('--' + k.replace('_', '-') for k in given)} would be ignored (give "
                             f"{'them as columns' if len(given) > 1 else 'it as a column'}: {', '.join(given)})")
    catalog = load_run_catalog(catalog_dirs)
    if batch_csv:
        if not out_csv:
            raise InputError("--batch needs --out FILE for the results")
        _answer_batch(Path(batch_csv), out_csv, catalog)
        return
    if out_csv:
        raise InputError("--out FILE applies to --batch only (use --json to get one prediction as JSON)")
    missing = [f"--{k}" for k in ("model", "gpu", "gpus", "precision", "isl", "osl") if query[k] is None]
    if missing:
        raise InputError(f"missing {', '.join(missing)} (or give --batch FILE)")
    if query["concurrency"] is not None and max_throughput:
        raise InputError("give --concurrency or --max-throughput, not both")
    if query["concurrency"] is not None and query["request_rate"] is not None:
        raise InputError("give --request-rate (open loop) or --concurrency (closed loop), not both")
    query["max_throughput"] = max_throughput
    result = predict_one(catalog, flags=True, **query)
    if as_json:
        click.echo(json.dumps(prediction_json(result), indent=2))
    else:
        render_prediction(console, result,
                          under_load=query["request_rate"] is not None or query["concurrency"] is not None,
                          targets=query["ttft_slo_ms"] is not None or query["tpot_slo_ms"] is not None)


def _answer_batch(batch_csv: Path, out_csv: str, catalog) -> None:
    """Answer every query row of BATCH_CSV into OUT_CSV; rows with an input error get it in their error column,
    are named with their line, and make the command exit 2 (every user mistake does) once the file is written."""
    import numpy as np
    import pandas as pd

    from planner.predict import predict_many
    from planner.predict.csv_queries import read_queries

    queries = read_queries(batch_csv)
    # in chunks: the configuration grid of one chunk is evaluated at once, never that of 100k queries
    parts = [predict_many(queries.iloc[i : i + BATCH_CHUNK].reset_index(drop=True), catalog)
             for i in range(0, len(queries), BATCH_CHUNK)]
    result = pd.concat(parts, ignore_index=True, sort=False) if len(parts) > 1 else parts[0]
    make_out_dir(Path(out_csv).parent, given=out_csv)
    # safe_frame: a model name such as =HYPERLINK(...) must not become a formula in a spreadsheet
    write_out(out_csv, safe_frame(result).to_csv(index=False, float_format="%.6g"))
    errors = result["error"].fillna("").astype(str)
    bad = np.flatnonzero(errors.to_numpy() != "")  # the rows with an input error
    fits = int(result["fits"].fillna(False).astype(bool).sum())
    click.echo(f"wrote {clean_text(out_csv)}: {len(result)} rows, {fits} fit, {len(bad)} with an input error")
    if not len(bad):
        return
    lines = [queries.attrs["lines"][i] for i in bad[:ERRORS_SHOWN]]  # read_queries: each query's line in the file
    for i, line in zip(bad, lines, strict=False):  # where they are, without reading the error column
        click.echo(f"{clean_text(batch_csv)}: line {line}: {clean_text(errors.iloc[i])}", err=True)
    more = len(bad) - len(lines)  # in the error column, named by the message below
    where = f"line{'s' * (len(bad) > 1)} {', '.join(map(str, lines))}" + (f", ... {more} more" if more else "")
    have = "have" if len(bad) > 1 else "has"
    # (every row bad: it named "every other row's answer" where there was none)
    answers = "every other row's answer and " if len(bad) < len(result) else ""
    raise InputError(f"{clean_text(batch_csv)}: {len(bad)} of {len(result)} rows {have} an input error ({where}); "
                     f"{clean_text(out_csv)} holds {answers}these rows' errors (its error column)")
