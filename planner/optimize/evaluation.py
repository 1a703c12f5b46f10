"""The evaluation half of the candidate search: the configuration grid through the performance model, one call
per kind of search (the pruned batch search over every reasoning row, the load-aware capacity once per SLO
percentile). Variant pruning is `planner.optimize.variants`. See `planner.optimize.candidates`."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.optimize.instance import Instance
from planner.optimize.variants import PREFILL_LAYOUT, own_prefill
from planner.perf import CONFIG_COLUMNS
from planner.perf.capacity import capacity_in_parts, with_columns
from planner.perf.search import largest_batch_visible

PerfFn = Callable[..., pd.DataFrame]


def evaluate_grid(
    grid: pd.DataFrame, inst: Instance, catalog: Catalog, perf: PerfFn | None = None
) -> pd.DataFrame:
    """Run the performance model per workload (each has its own TTFT/TPOT targets and SLO percentile): by
    default a replica's capacity is the largest request rate at which the targets hold at that percentile
    (`capacity_under_slo`); a custom `perf` without a `percentile` argument gets the targets alone. Rows of a
    reasoning effort generate `output_multiplier` tokens per visible one: the first visible token comes after the
    hidden ones (TTFT + hidden x TPOT must meet the target; batch search), and throughput counts visible tokens.
    Results come in (workload, hidden tokens) order; the batch search runs once over every reasoning row."""
    groups = grid.groupby(["workload", "hidden_tokens"], sort=True).indices
    calls = _merged_results(grid, groups, inst, catalog, perf)
    if not calls:
        return pd.DataFrame()
    # each call's rows completed at once (one column assignment per call, not per group), then every row put
    # in (workload, hidden tokens) order with the columns in the order per-group frames would give them
    frames, where, order = [], {}, []
    start = 0
    for keys, res, pos in calls:  # pos: each of the call's rows' position in its frame
        idx = np.concatenate([groups[k] for k in keys])
        rows_at = np.empty_like(pos)
        rows_at[pos] = idx
        frames.append(_complete(res.reset_index(drop=True), grid, rows_at))
        first = 0
        for k in keys:
            where[k] = start + pos[first:first + len(groups[k])]
            first += len(groups[k])
        start += len(idx)
    by_key = {k: list(f.columns) for (keys, _, _), f in zip(calls, frames, strict=True) for k in keys}
    for k in sorted(groups):
        order += [c for c in by_key[k] if c not in order]
    out = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if list(out.columns) != order:
        out = out[order]
    at = np.concatenate([where[k] for k in sorted(groups)])
    if len(frames) == 1 and (at == np.arange(len(at))).all():  # one call, its groups in order already
        return out.reset_index(drop=True)
    return out.take(at).reset_index(drop=True)


def _complete(res: pd.DataFrame, grid: pd.DataFrame, idx: np.ndarray) -> pd.DataFrame:
    """A performance call's rows (grid rows idx) with the columns the candidate search adds: the engine and
    variant searched, the grid row, the workload's figures, and visible tokens/s. The frame is built once (a
    column assignment each cost more than the columns): columns `res` has keep their place, new ones follow in
    this order."""
    new: dict[str, object] = {}
    if "engine" not in res:
        new["engine"] = ""
    # the grid's own arrays taken (no conversion, same types as the grid's columns)
    for col in ("speculative", *PREFILL_LAYOUT):  # the choice searched; speculative_method = what ran
        new[col] = grid[col].array.take(idx)
    new["grid_row"] = grid.index.to_numpy()[idx]
    if "speculative_method" not in res:  # a custom perf function without speculative decoding
        new["speculative_method"] = new["speculative"]
    for col in ("workload", "quality", "checkpoint", "effort", "output_multiplier"):
        new[col] = grid[col].array.take(idx)
    new["output_tok_s"] = res["output_tok_s"].to_numpy(dtype=float) / pd.Series(
        new["output_multiplier"]).to_numpy(dtype=float)
    return with_columns(res, new)


def _merged_results(grid: pd.DataFrame, groups: dict, inst: Instance, catalog: Catalog,
                    perf: PerfFn | None) -> list[tuple[list, pd.DataFrame, np.ndarray]]:
    """Per call of the performance model, the (workload, hidden tokens) groups it ran, its rows and where each
    of the groups' rows (one group after the other) is in them (the load-aware capacity gives them in its own
    order; evaluate_grid puts every row in place with one take). Groups that differ only in
    targets share one call (the model takes per-row targets): the batch search for every reasoning group, the
    default `capacity_under_slo` once per SLO percentile; a custom `perf` runs per group."""
    takes_pct = perf is None or "percentile" in inspect.signature(perf).parameters
    calls: dict[tuple, list] = {}
    for wid, hidden in sorted(groups):
        w = inst.workloads[wid]
        if hidden > 0:
            call = ("search", bool(w.engines))
        elif perf is None:
            call = ("capacity", bool(w.engines), w.slo_percentile)
        else:
            call = ("custom", wid, hidden)
        calls.setdefault(call, []).append((wid, hidden))
    out = []
    for call, keys in calls.items():
        sizes = [len(groups[k]) for k in keys]
        targets = {name: np.repeat([getattr(inst.workloads[wid], name) for wid, _ in keys], sizes)
                   for name in ("ttft_target_s", "tpot_target_s")}
        # only the columns the model may read are taken (the grid's other columns, strings mostly, cost more)
        avail = [c for c in (*CONFIG_COLUMNS, "engine", "speculative", *PREFILL_LAYOUT) if c in grid]
        picked = grid.iloc[np.concatenate([groups[k] for k in keys]), [grid.columns.get_loc(c) for c in avail]]
        # columns the perf model reads only where a row uses them: without them it takes its fast paths
        cols = list(CONFIG_COLUMNS) + (["engine"] if inst.workloads[keys[0][0]].engines else []) + (
            ["speculative"] if (picked["speculative"] != "none").any() else []) + (
            list(PREFILL_LAYOUT) if own_prefill(picked).any() else [])
        rows = picked[cols].reset_index(drop=True)
        pos = np.arange(len(rows))
        if call[0] == "search":
            res = largest_batch_visible(rows, catalog, targets["ttft_target_s"], targets["tpot_target_s"],
                                        np.repeat([h for _, h in keys], sizes))
        elif call[0] == "capacity":
            res, pos = capacity_in_parts(rows, catalog, ttft_s=targets["ttft_target_s"],
                                         tpot_s=targets["tpot_target_s"], percentile=call[2])
        else:
            w = inst.workloads[keys[0][0]]
            res = perf(rows, catalog, ttft_s=w.ttft_target_s, tpot_s=w.tpot_target_s,
                       **({"percentile": w.slo_percentile} if takes_pct else {}))
        out.append((keys, res, pos))
    return out


__all__ = ["PerfFn", "evaluate_grid"]
