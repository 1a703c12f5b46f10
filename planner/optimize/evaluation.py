"""The evaluation half of the candidate search: the configuration grid through the performance model, one call
per kind of search (the pruned batch search over every reasoning row, the load-aware capacity once per SLO
percentile), and the engine-dominance pruning of its results. See `planner.optimize.candidates`."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.optimize.instance import Instance
from planner.perf import CONFIG_COLUMNS, capacity_under_slo
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
    results = _merged_results(grid, groups, inst, catalog, perf)
    parts = []
    extras = grid[["workload", "quality", "checkpoint", "effort", "output_multiplier"]]
    for wid, hidden in sorted(groups):
        res = results[wid, hidden]
        res = res.reset_index(drop=True)
        if "engine" not in res:
            res["engine"] = ""
        extra = extras.iloc[groups[wid, hidden]].reset_index(drop=True)
        for col in extra.columns:
            res[col] = extra[col]
        res["output_tok_s"] = res["output_tok_s"].astype(float) / res["output_multiplier"].astype(float)
        parts.append(res)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _merged_results(grid: pd.DataFrame, groups: dict, inst: Instance, catalog: Catalog,
                    perf: PerfFn | None) -> dict:
    """(workload, hidden tokens) -> that group's rows through the performance model. Groups that differ only in
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
    out = {}
    for call, keys in calls.items():
        cols = list(CONFIG_COLUMNS) + (["engine"] if inst.workloads[keys[0][0]].engines else [])
        sizes = [len(groups[k]) for k in keys]
        targets = {name: np.repeat([getattr(inst.workloads[wid], name) for wid, _ in keys], sizes)
                   for name in ("ttft_target_s", "tpot_target_s")}
        rows = grid.iloc[np.concatenate([groups[k] for k in keys])][cols].reset_index(drop=True)
        if call[0] == "search":
            res = largest_batch_visible(rows, catalog, targets["ttft_target_s"], targets["tpot_target_s"],
                                        np.repeat([h for _, h in keys], sizes))
        elif call[0] == "capacity":
            res = capacity_under_slo(rows, catalog, ttft_s=targets["ttft_target_s"],
                                     tpot_s=targets["tpot_target_s"], percentile=call[2])
        else:
            w = inst.workloads[keys[0][0]]
            res = perf(rows, catalog, ttft_s=w.ttft_target_s, tpot_s=w.tpot_target_s,
                       **({"percentile": w.slo_percentile} if takes_pct else {}))
        res = res.reset_index(drop=True)
        ends = np.cumsum(sizes)
        for k, a, b in zip(keys, ends - sizes, ends, strict=True):
            out[k] = res.iloc[a:b]
    return out


ENGINE_CONFIG = ("workload", "model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp",
                 "serving")


def prune_engines(res: pd.DataFrame) -> pd.DataFrame:
    """The same configuration under several engines: keep an engine only where no other gives at least its
    output tokens/s from no more GPUs at no more power (exact dominance; ties keep the first engine id), so
    searching engines multiplies the evaluated grid, not the MIP's candidates."""
    if res.empty or res["engine"].nunique() <= 1:
        return res
    r = res.sort_values([*ENGINE_CONFIG, "engine"], kind="stable").reset_index(drop=True)
    keep = np.ones(len(r), dtype=bool)
    o, w, g = (r[c].to_numpy(dtype=float) for c in ("output_tok_s", "avg_power_w", "gpus"))
    for idx in r.groupby(list(ENGINE_CONFIG), sort=False).indices.values():
        if len(idx) < 2:
            continue
        for a in idx:
            for d in idx:
                if d != a and keep[d] and o[d] >= o[a] and w[d] <= w[a] and g[d] <= g[a] and (
                        o[d] > o[a] or w[d] < w[a] or g[d] < g[a] or d < a):
                    keep[a] = False
                    break
    return r[keep].reset_index(drop=True)


__all__ = ["ENGINE_CONFIG", "PerfFn", "evaluate_grid", "prune_engines"]
