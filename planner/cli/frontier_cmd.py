"""`planner frontier`: the throughput-responsiveness frontier of a model on some accelerators, CSV and plots."""

from __future__ import annotations

import click

from planner.cli.common import catalog_option, handle_errors, load_run_catalog, make_out_dir
from planner.errors import InputError


@click.command()
@click.option("--model", required=True, help="Model id.")
@click.option("--gpu", "gpu_ids", multiple=True, required=True, help="Accelerator id (repeatable).")
@click.option("--precision", "precisions", multiple=True, required=True, help="Precision id (repeatable).")
@click.option("--isl", type=int, required=True, help="Input tokens per request.")
@click.option("--osl", type=int, required=True, help="Output tokens per request.")
@click.option("--gpus", type=int,
              help="GPUs the parallel splits divide (default: the accelerator's scale-up domain): an aggregated "
              "replica's, or each instance's of a disaggregated unit, which takes as many prefill and decode "
              "instances as it rate-matches (its gpus column: 88 for llama-3.3-70b TP8 on B200 at 2048/512).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@catalog_option
@handle_errors
def frontier(model, gpu_ids, precisions, isl, osl, gpus, out_dir, catalog_dirs) -> None:
    """Pareto frontier of tokens/s per GPU vs tokens/s per user, with cost and energy views."""
    from planner.predict.frontier import compute_frontier
    from planner.predict.validate import canonical_id
    from planner.report.frontier_plot import plot_frontier

    for flag, v in (("--isl", isl), ("--osl", osl), ("--gpus", gpus)):
        if v is not None and v <= 0:
            raise InputError(f"{flag} must be a positive integer, got {v}")
    if osl == 1:  # tokens/s per user is 1 / TPOT: one output token has no time between tokens to trade
        raise InputError("--osl 1: one output token has no tokens/s per user (no time between output tokens) "
                         "to trade against tokens/s per GPU; use predict for prompt-only answers")
    catalog = load_run_catalog(catalog_dirs)
    # ids in another case, as predict reads them ('H100-SXM', 'FP8' were unknown here)
    model = canonical_id(model, catalog.models)
    gpu_ids = [canonical_id(g, catalog.accelerators) for g in gpu_ids]
    precisions = [canonical_id(p, catalog.precisions) for p in precisions]
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
    for series, why in front.attrs.get("missing", {}).items():
        click.echo(f"  {series}: no configuration fits ({why})")
