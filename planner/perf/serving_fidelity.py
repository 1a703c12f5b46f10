"""Fidelity under load: the model next to every expressible row of `serving_under_load.csv`, per engine.

`load_predictions(mapped, catalog, eff)`  predicted value per expressible row (rows mapped by
    `planner.perf.under_load_mapping.load_mapping`): throughput (output tok/s, per GPU, requests/s; input +
    output tok/s and run duration beside), TTFT / TPOT / ITL mean, p50, p99: finite runs (`num_requests` given:
    bursts, closed loops of N requests) through the discrete-event simulator as the benchmark ran them, steady
    state through `planner.perf.load.latency_under_load` (the analytic queueing model); speculative rows of
    finite runs through the simulator too (acceptance drawn per step), steady-state speculative rows through
    the step model at the running batch (no queueing).
`error_table(pred)`  median / P90 |error| per engine, metric, load regime (below/above the knee) and source.
The engine factors these predictions run with are fitted in `planner.perf.engine_fit`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.params import Efficiency
from planner.perf.under_load_mapping import METRICS

CFG = ["model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "isl", "osl", "engine",
       "speculative", "draft_tokens", "overlap_scheduling"]  # overlap: the run's (vLLM --async-scheduling) or NaN
# assumed: running sequences a calibration run is simulated with at most, for the generic engine's uncatalogued
# (infinite) cap; on today's rows the engines' caps and the KV cache bind below it everywhere (checked 2026-12-01:
# no row's seats exceed 4,096 with the engine cap alone)
SIMULATED_SEAT_CAP = 4096.0
RUN = [*CFG, "load", "request_rate", "concurrency", "num_requests", "length_dist", "max_context"]


def load_predictions(mapped: pd.DataFrame, catalog: Catalog, eff: Efficiency) -> pd.DataFrame:
    """`predicted`, `regime` ('below knee' | 'above knee') and `why_not` per expressible row."""
    from planner.perf.evaluate import engine_batch_cap_of, evaluate
    from planner.perf.load import latency_under_load
    from planner.perf.resolve import normalize_grid, resolve
    from planner.perf.steptable import build_step_tables

    res = mapped[mapped["expressible"]].copy()
    res["predicted"], res["regime"] = np.nan, ""
    run_of = res.groupby(RUN, dropna=False, sort=False).ngroup()
    run_of = run_of.to_numpy()
    _, first = np.unique(run_of, return_index=True)
    runs = res.iloc[first].reset_index(drop=True)
    cfg = runs[CFG].copy()
    c, reason = resolve(normalize_grid(cfg.assign(batch=1)), catalog, eff)
    cap = np.minimum(engine_batch_cap_of(c), SIMULATED_SEAT_CAP)
    tab = build_step_tables(cfg, catalog, efficiency=eff, max_seqs=cap, resolved=(c, reason))  # resolved once
    grid = cfg.assign(request_rate=runs["request_rate"].to_numpy(dtype=float),
                      concurrency=runs["concurrency"], num_requests=runs["num_requests"],
                      length_dist=runs["length_dist"])
    lo = latency_under_load(grid, catalog, efficiency=eff, tables=tab)
    pred = {k: lo[k].to_numpy(copy=True) for k in ("output_tok_s", "requests_s", "total_tok_s")}
    for k in ("ttft", "tpot", "itl"):
        for s in ("mean", "p50", "p99"):
            col = f"{k}_{s}_s"
            pred[f"{k}_{s}"] = lo[col].to_numpy(copy=True) if col in lo else np.full(len(lo), np.nan)
    _simulate_finite(runs, tab, lo["load_reason"].to_numpy(dtype=object), pred)
    # above the knee: saturated, or a burst's rate above capacity (a burst its seats hold is not saturated, but
    # the calibration's regimes are the rate's, as they were fitted)
    sat = lo["saturated"].to_numpy(dtype=bool) | (runs["request_rate"].to_numpy(dtype=float)
                                                  >= lo["capacity_rps"].to_numpy(dtype=float))
    # speculative steady-state runs: the step model at the running batch (the analytic load model has no
    # draft/verify steps); finite ones went through the simulator above, acceptance drawn per step
    spec = (runs["speculative"].to_numpy() != "none") & np.isnan(runs["num_requests"].to_numpy(dtype=float))
    if spec.any():
        n_run = np.where(runs["load"] == "burst", runs["num_requests"], runs["concurrency"]).astype(float)
        n_run = np.where(spec, n_run, 1.0)  # open-loop runs have no concurrency; only `spec` rows are read
        batch = np.maximum(1, np.minimum(n_run, cap)).astype(np.int64)
        ev = evaluate(cfg.assign(batch=batch), catalog, efficiency=eff)
        for k in ("tpot_mean", "tpot_p50", "tpot_p99"):
            pred[k] = np.where(spec, ev["tpot_s"], pred[k])
        for k in ("itl_mean", "itl_p50", "itl_p99"):
            pred[k] = np.where(spec, ev["itl_s"], pred[k])
        pred["output_tok_s"] = np.where(spec, ev["output_tok_s"], pred["output_tok_s"])
        pred["total_tok_s"] = np.where(spec, ev["output_tok_s"] * (1.0 + runs["isl"] / runs["osl"]),
                                       pred["total_tok_s"])
        for k in ("ttft_mean", "ttft_p50", "ttft_p99", "requests_s"):
            pred[k] = np.where(spec, np.nan, pred[k])
    pred["duration"] = runs["num_requests"].to_numpy(dtype=float) / pred["requests_s"]  # NaN: steady state
    metric = res["metric"].to_numpy()
    val = np.full(len(res), np.nan)
    for i, (m, r) in enumerate(zip(metric, run_of, strict=True)):
        kind, stat = METRICS[m]
        if kind in ("total_throughput", "duration"):
            val[i] = pred["total_tok_s" if kind == "total_throughput" else "duration"][r]
        elif kind == "throughput":
            v = pred["requests_s"][r] if m == "requests_s" else pred["output_tok_s"][r]
            val[i] = v / runs["gpus"].iloc[r] if m == "output_tok_s_per_gpu" else v
        else:
            val[i] = pred[f"{kind}_{stat}"][r] * 1e3  # the CSV's latencies are in ms
    res["predicted"] = val
    res["regime"] = np.where(sat[run_of], "above knee", "below knee")
    why = np.where(reason != "", reason, lo["load_reason"].to_numpy(dtype=object))
    res["why_not"] = why[run_of]
    return res


def _simulate_finite(runs: pd.DataFrame, tab, reason: np.ndarray, pred: dict) -> None:
    """Finite runs (`num_requests` given) through the discrete-event simulator, as the benchmark ran them.

    The analytic finite burst is a fluid at the mean lengths: it cannot see that a run with variable lengths
    ends with its longest requests decoding at a small batch (which sets the run's duration, so throughput),
    nor that short outputs spend their few steps beside the prompt flood (which sets mean TPOT above mean
    ITL). The simulator (the reference the analytic model is checked against) does both; seeded, so the
    figures are deterministic."""
    from planner.perf.simulate import Workload, simulate_one, summarize

    nreq = runs["num_requests"].to_numpy(dtype=float)
    for r in np.flatnonzero(~np.isnan(nreq) & (reason == "")):
        closed = runs["load"].iloc[r] == "closed"
        rate = float(runs["request_rate"].iloc[r])
        wl = Workload(request_rate=None if closed else rate,
                      concurrency=int(runs["concurrency"].iloc[r]) if closed else None,
                      num_requests=int(nreq[r]), length_dist=str(runs["length_dist"].iloc[r]))
        s = summarize(simulate_one(tab.row(r), wl, max_context=float(runs["max_context"].iloc[r])))
        for k in ("output_tok_s", "requests_s", "total_tok_s"):
            pred[k][r] = s[k]
        for k in ("ttft", "tpot", "itl"):
            for st in ("mean", "p50", "p99"):
                pred[f"{k}_{st}"][r] = s[f"{k}_{st}_s"] + (tab.request_s[r] if k == "ttft" else 0.0)



def metric_group(frame: pd.DataFrame) -> pd.Series:
    """'throughput', 'ttft_p99', ...: the kind, with its statistic where it has one (error_table's groups)."""
    return pd.Series(np.where(frame["stat"] == "na", frame["kind"], frame["kind"] + "_" + frame["stat"]),
                     index=frame.index)


def _stats(e: pd.Series) -> tuple[int, float, float]:
    a = e.dropna().abs()
    return (len(a), float(a.median()), float(a.quantile(0.9))) if len(a) else (0, np.nan, np.nan)


def pct_summary(err: np.ndarray) -> dict:
    n, med, p90 = _stats(pd.Series(err))
    return {"n": n, "median_abs_pct": round(med, 2), "p90_abs_pct": round(p90, 2)}


def error_table(pred: pd.DataFrame) -> pd.DataFrame:
    """Median / P90 |error| in sample and leave-one-source-out, per engine, metric, regime and source."""
    p = pred[pred["predicted"].notna()].copy()
    p["metric_group"] = metric_group(p)
    p["engine_name"] = p["engine"].replace("", "generic (NIM)")
    rows = []
    for by in (["engine_name", "metric_group"], ["metric_group", "regime"], ["source_family", "metric_group"],
               ["metric_group"]):
        for key, g in p.groupby(by if len(by) > 1 else by[0]):
            key = key if isinstance(key, tuple) else (key,)
            n, med, p90 = _stats(g["error_pct"])
            _, lmed, lp90 = _stats(g["loso_error_pct"]) if "loso_error_pct" in g else (0, np.nan, np.nan)
            rows.append({"by": "+".join(by), "group": " / ".join(map(str, key)), "n": n,
                         "median_abs_pct": round(med, 1), "p90_abs_pct": round(p90, 1),
                         "loso_median_abs_pct": round(lmed, 1), "loso_p90_abs_pct": round(lp90, 1)})
    return pd.DataFrame(rows)


# Issue 8 targets under load, leave one source out: label -> (group of `error_table`, limit on the median, on the
# P90). A group with " / " is one load regime of a metric ("metric_group+regime"), else every row of the metric.
LOAD_TARGETS: dict[str, tuple[str, float, float | None]] = {
    "output throughput": ("throughput", 15.0, 35.0),
    "TTFT p50 below the knee": ("ttft_p50 / below knee", 25.0, None),
    # the CSV has no TPOT p50 rows: the mean stands in, below the knee (as the TTFT target) and over both regimes
    "TPOT mean below the knee (no TPOT p50 rows)": ("tpot_mean / below knee", 15.0, None),
    "TPOT mean, both regimes": ("tpot_mean", 15.0, None),
    "ITL p50": ("itl_p50", 15.0, None),
    # "p99 latencies": every p99 row, both regimes (the issue names no regime for them, as for throughput)
    "TTFT p99": ("ttft_p99", 35.0, None),
    "TPOT p99": ("tpot_p99", 35.0, None),
    "ITL p99": ("itl_p99", 35.0, None),
}


def load_targets(groups: list[dict]) -> list[dict]:
    """Each LOAD_TARGETS entry against the LOSO figures of `groups` (`error_table` records): median, P90, met
    (None where the group has no rows)."""
    by_key = {(g["by"], g["group"]): g for g in groups}
    out = []
    for label, (group, med_lim, p90_lim) in LOAD_TARGETS.items():
        g = by_key.get(("metric_group+regime" if " / " in group else "metric_group", group))
        med, p90 = (g["loso_median_abs_pct"], g["loso_p90_abs_pct"]) if g else (None, None)
        met = None if g is None else bool(med <= med_lim and (p90_lim is None or p90 <= p90_lim))
        out.append({"target": label, "group": group, "n": g["n"] if g else 0, "loso_median_abs_pct": med,
                    "loso_p90_abs_pct": p90, "median_limit_pct": med_lim, "p90_limit_pct": p90_lim, "met": met})
    return out
