"""Latency under load: the public entry point over the queueing approximation and the simulator.

See `planner.perf` (the package docstring) for the columns.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf import queueing as Q
from planner.perf.evaluate import evaluate, max_batch_meeting
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.simulate import Workload, simulate_one, summarize
from planner.perf.steptable import StepTables, build_step_tables

PERCENTILES = (50.0, 90.0, 99.0)
LOAD_COLUMNS: tuple[str, ...] = (
    "ttft_mean_s", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_mean_s", "tpot_p50_s", "tpot_p90_s",
    "tpot_p99_s", "itl_mean_s", "itl_p50_s", "itl_p99_s", "e2e_mean_s", "e2e_p50_s", "requests_s",
    "output_tok_s", "total_tok_s", "saturated", "capacity_rps", "max_running", "load_reason",
)
LENGTH_DISTS = ("fixed", "variable")
METHODS = ("analytic", "simulate")


def _column(grid: pd.DataFrame, name: str, default, n: int) -> np.ndarray:
    """Per-row value: the grid column where set, else the keyword default."""
    vals = np.full(n, np.nan if default is None else default, dtype=object)
    if name in grid:
        col = grid[name].to_numpy(dtype=object)
        set_ = pd.notna(grid[name]).to_numpy() & (grid[name].astype(str).str.strip() != "").to_numpy()
        vals = np.where(set_, col, vals)
    return vals


def _floats(v: np.ndarray) -> np.ndarray:
    return pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(dtype=float)


def latency_under_load(grid: pd.DataFrame, catalog: Catalog, *, request_rate: float | None = None,
                       concurrency: int | None = None, num_requests: int | None = None,
                       length_dist: str = "fixed", method: str = "analytic", seed: int = 0,
                       efficiency: Efficiency | None = None, tables: StepTables | None = None) -> pd.DataFrame:
    """Latency percentiles and throughput of each configuration row under a load (see the package docstring).

    Grid columns `request_rate`, `concurrency`, `num_requests`, `length_dist`, where present and set, override
    the keyword arguments row by row. `batch` (optional) caps the running sequences per replica."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    g = grid.reset_index(drop=True)
    n = len(g)
    tab = tables if tables is not None else build_step_tables(g, catalog, efficiency=efficiency)
    rate = _floats(_column(g, "request_rate", request_rate, n))
    conc = _floats(_column(g, "concurrency", concurrency, n))
    nreq = _floats(_column(g, "num_requests", num_requests, n))
    dist = np.array([str(x) if x == x else "fixed" for x in _column(g, "length_dist", length_dist, n)],
                    dtype=object)
    sv = Q.service(tab)
    out = {k: np.full(n, np.nan) for k in LOAD_COLUMNS if k not in ("saturated", "load_reason")}
    out["saturated"] = np.zeros(n, dtype=bool)
    reason = np.array(["" if ok else str(r) for ok, r in zip(tab.fits, tab.reason, strict=True)], dtype=object)
    serving = g["serving"].astype(str).to_numpy() if "serving" in g else np.full(n, "aggregated")
    reason = np.where((reason == "") & (serving == "disaggregated"),
                      "latency under load is modelled for aggregated serving only", reason)
    none = (reason == "") & np.isnan(rate) & np.isnan(conc)
    reason = np.where(none, "give request_rate or concurrency", reason)
    reason = np.where((reason == "") & ~np.isin(dist, LENGTH_DISTS), "length_dist must be fixed or variable",
                      reason)
    ok = reason == ""
    out["capacity_rps"] = np.where(ok, sv.capacity_rps, np.nan)
    out["max_running"] = np.where(ok, sv.cap, np.nan)
    variable = dist == "variable"
    closed = ok & ~np.isnan(conc)
    opened = ok & np.isnan(conc)
    sat_open = opened & (rate >= sv.capacity_rps)
    out["saturated"] = sat_open | (closed & (conc > sv.cap))
    if method == "simulate":
        for r in np.flatnonzero(ok):
            _simulate_row(tab.row(r), r, rate[r], conc[r], nreq[r], dist[r], seed, out)
    else:
        _analytic(tab, sv, rate, conc, nreq, variable, closed, opened, sat_open, out)
    # the engine's API-server time per request (engines.py eng_request_s: HTTP, chat template, tokenization)
    # passes before the scheduler sees the request: it adds to TTFT and end-to-end latency and takes no seat
    for k in out:
        if k.startswith(("ttft_", "e2e_")):
            out[k] = out[k] + tab.request_s
    osl = tab.osl
    out["output_tok_s"] = out["requests_s"] * osl
    out["total_tok_s"] = out["requests_s"] * (tab.isl + osl)
    res = g.copy()
    for k in LOAD_COLUMNS:
        res[k] = reason if k == "load_reason" else out[k]
    return res


def _take(dst: dict, src: dict, rows: np.ndarray) -> None:
    for k, v in src.items():
        if k in dst and k != "saturated" and len(rows):
            dst[k][rows] = np.asarray(v, dtype=float)


def _subset(tab: StepTables, rows: np.ndarray) -> StepTables:
    return StepTables(**{k: getattr(tab, k)[rows] for k in tab.__dataclass_fields__})


def _svsub(sv: Q.Service, rows: np.ndarray) -> Q.Service:
    return Q.Service(**{k: getattr(sv, k)[rows] for k in sv.__dataclass_fields__})


def _analytic(tab, sv, rate, conc, nreq, variable, closed, opened, sat_open, out) -> None:
    rows = np.flatnonzero(closed)
    if len(rows):
        _take(out, Q.closed_loop(_svsub(sv, rows), _subset(tab, rows), conc[rows], variable[rows]), rows)
    rows = np.flatnonzero(opened & ~sat_open)
    if len(rows):
        s, t = _svsub(sv, rows), _subset(tab, rows)
        _take(out, Q.open_loop(Q.chain(s), s, t, rate[rows], variable[rows]), rows)
    rows = np.flatnonzero(sat_open & ~np.isnan(nreq))  # a finite run above capacity: the fluid burst
    if len(rows):
        _take(out, Q.finite_burst(_svsub(sv, rows), _subset(tab, rows), rate[rows], nreq[rows].astype(np.int64),
                                  variable[rows]), rows)
    rows = np.flatnonzero(sat_open & np.isnan(nreq))  # steady state above capacity: no latency, full rate
    out["requests_s"][rows] = sv.capacity_rps[rows]


def _simulate_row(tab: StepTables, r: int, rate, conc, nreq, dist, seed, out) -> None:
    finite = not math.isnan(nreq)
    steady_saturated = not finite and math.isnan(conc) and bool(out["saturated"][r])
    wl = Workload(request_rate=None if math.isnan(rate) else float(rate),
                  concurrency=None if math.isnan(conc) else int(conc),
                  num_requests=int(nreq) if finite else None, length_dist=str(dist), seed=seed)
    if steady_saturated and math.isinf(rate):
        out["requests_s"][r] = out["capacity_rps"][r]  # nothing to simulate: an endless burst
        return
    run = simulate_one(tab, wl)
    s = summarize(run)
    for k, v in s.items():
        if k in out and k != "saturated":
            out[k][r] = v
    if steady_saturated:  # the queue grows without bound: no steady-state latency
        for k in LOAD_COLUMNS:
            if k.startswith(("ttft", "tpot", "itl", "e2e")):
                out[k][r] = np.nan
        # an overloaded replica admits and completes in waves: a window would catch a wave, the whole run not
        out["requests_s"][r] = len(run.finish_s) / (run.finish_s.max() - run.arrival_s.min())


def max_rate_meeting(grid: pd.DataFrame, catalog: Catalog, *, ttft_s=None, tpot_s=None, percentile: float = 90.0,
                     length_dist: str = "fixed", efficiency: Efficiency | None = None,
                     tables: StepTables | None = None) -> np.ndarray:
    """Per configuration row, the largest Poisson request rate (requests/s) at which the `percentile` TTFT and
    TPOT stay within ttft_s / tpot_s (None: no target); 0 where even light load misses them or the row does
    not run."""
    tab = tables if tables is not None else build_step_tables(grid, catalog, efficiency=efficiency)
    var = np.full(len(tab), length_dist == "variable")
    rate = Q.max_rate_meeting(tab, ttft_s, tpot_s, percentile, var)
    return np.where(tab.fits, rate, 0.0)


CANDIDATE_GRID = (12, 5)  # decode x prefill points of the step tables in the candidate search


def capacity_under_slo(configs: pd.DataFrame, catalog: Catalog, ttft_s=None, tpot_s=None, *,
                       percentile: float = 90.0, length_dist: str = "fixed", efficiency: Efficiency | None = None,
                       **_ignored) -> pd.DataFrame:
    """What one replica of each configuration can be planned for when TTFT/TPOT targets hold at `percentile`:
    the `evaluate` columns at the mean batch of the largest Poisson request rate meeting them
    (`max_rate_meeting`), with output_tok_s = that rate x osl, ttft_s / tpot_s = the percentile values at it
    and `capacity_rps` = the rate. A drop-in for `max_batch_meeting` in the candidate search. Rows the load
    model does not cover (disaggregated serving) are answered by `max_batch_meeting` (mean latency); rows
    that cannot meet the targets at any rate come back fits=False with the reason."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    base = configs.drop(columns=["batch"], errors="ignore").reset_index(drop=True)
    n = len(base)
    tab = build_step_tables(base, catalog, efficiency=eff, decode_points=CANDIDATE_GRID[0],
                            prefill_points=CANDIDATE_GRID[1])
    var = np.full(n, length_dist == "variable")
    api = tab.request_s  # API-server time per request: spent before the queue, so it comes off the TTFT target
    sched_ttft = None if ttft_s is None else np.asarray(ttft_s, dtype=float) - api
    rate = np.where(tab.fits, Q.max_rate_meeting(tab, sched_ttft, tpot_s, percentile, var), 0.0)
    sv = Q.service(tab)
    q = (float(percentile),)
    key = f"{q[0]:g}"
    at = Q.open_loop(Q.chain(sv), sv, tab, np.maximum(rate, 1e-12), var, q)
    light = Q.open_loop(Q.chain(sv), sv, tab, sv.capacity_rps * Q.TRICKLE, var, q)
    for d in (at, light):
        d[f"ttft_p{key}_s"] = d[f"ttft_p{key}_s"] + api
    running = np.clip(np.nan_to_num(rate * at["e2e_mean_s"], nan=1.0), 1.0, sv.cap)
    res = evaluate(base.assign(batch=np.round(running).astype(np.int64)), catalog, efficiency=eff)
    agg = (base["serving"].astype(str).to_numpy() == "aggregated") if "serving" in base else np.ones(n, bool)
    ok = res["fits"].to_numpy(dtype=bool) & (rate > 0) & agg
    ttft_q, tpot_q = at[f"ttft_p{key}_s"], at[f"tpot_p{key}_s"]
    out_tok = rate * tab.osl
    res["ttft_s"] = np.where(agg, ttft_q, res["ttft_s"])
    res["tpot_s"] = np.where(agg, tpot_q, res["tpot_s"])
    res["output_tok_s"] = np.where(agg, np.where(rate > 0, out_tok, np.nan), res["output_tok_s"])
    gpus = res["gpus"].to_numpy(dtype=float)
    res["output_tok_s_per_gpu"] = res["output_tok_s"] / np.where(gpus > 0, gpus, np.nan)
    res["output_tok_s_per_user"] = 1.0 / res["tpot_s"]
    res["total_tok_s"] = res["output_tok_s"] * (1.0 + tab.isl / tab.osl)
    res["capacity_rps"] = np.where(agg, rate, np.nan)
    res["slo_percentile"] = float(percentile)
    # what stops a higher rate: the target that binds at it (or the replica's full capacity)
    t_ttft = np.inf if ttft_s is None else np.broadcast_to(np.asarray(ttft_s, dtype=float), (n,))
    t_tpot = np.inf if tpot_s is None else np.broadcast_to(np.asarray(tpot_s, dtype=float), (n,))
    binds = np.where(ttft_q / t_ttft >= tpot_q / t_tpot, "ttft", "tpot")
    full = rate >= sv.capacity_rps * (1.0 - 1e-6)
    limited = np.where(full, res["limited_by"].to_numpy(dtype=object), binds)
    reason = res["reason"].to_numpy(dtype=object).copy()
    p = f"p{key}"
    for i in np.flatnonzero(res["fits"].to_numpy(dtype=bool) & agg & (rate <= 0)):
        if light[f"ttft_p{key}_s"][i] > (t_ttft if np.isscalar(t_ttft) else t_ttft[i]):
            reason[i] = f"{p} TTFT {light[f'ttft_p{key}_s'][i] * 1e3:.0f} ms at light load > target " \
                        f"{(t_ttft if np.isscalar(t_ttft) else t_ttft[i]) * 1e3:.0f} ms"
            limited[i] = "ttft"
        else:
            reason[i] = f"{p} TPOT {light[f'tpot_p{key}_s'][i] * 1e3:.1f} ms at light load > target " \
                        f"{(t_tpot if np.isscalar(t_tpot) else t_tpot[i]) * 1e3:.1f} ms"
            limited[i] = "tpot"
    res["fits"] = ok
    res["reason"] = reason
    res["limited_by"] = np.where(res["limited_by"].to_numpy(dtype=object) == "memory", "memory", limited)
    if (~agg).any():  # disaggregated serving: the mean-latency batch search
        tt = np.broadcast_to(np.asarray(np.inf if ttft_s is None else ttft_s, dtype=float), (n,))
        tp = np.broadcast_to(np.asarray(np.inf if tpot_s is None else tpot_s, dtype=float), (n,))
        for t1, t2 in sorted({(a, b) for a, b in zip(tt[~agg], tp[~agg], strict=True)}):
            idx = np.flatnonzero(~agg & (tt == t1) & (tp == t2))  # max_batch_meeting takes one target pair
            old = max_batch_meeting(base.iloc[idx], catalog, ttft_s=None if np.isinf(t1) else float(t1),
                                    tpot_s=None if np.isinf(t2) else float(t2), efficiency=eff)
            old = _disaggregated_under_slo(old, None if np.isinf(t1) else float(t1), percentile)
            for col in old.columns:
                if col in res.columns:
                    res.loc[idx, col] = old[col].to_numpy()
    return res


def _disaggregated_under_slo(rows: pd.DataFrame, ttft_s, percentile: float) -> pd.DataFrame:
    """Disaggregated units at the rate where TTFT holds at the percentile. Two queues in turn: prompts wait for
    the prefill instances (one M/D/1 server completing the unit's rate-matched request rate mu: the wait
    exceeds t with probability rho exp(-2 (1 - rho) mu t)), then for a decode seat (c = batch x decode
    instances seats, each held osl x TPOT: Erlang-C by the Halfin-Whitt formula, halved for deterministic
    service). The decode batch scales with the rate, so TPOT only improves below the full unit."""
    out = rows.copy()
    fits = out["fits"].to_numpy(dtype=bool)
    osl = out["osl"].to_numpy(dtype=float)
    mu = out["output_tok_s"].to_numpy(dtype=float) / osl
    base = out["ttft_s"].to_numpy(dtype=float)
    seats = out["batch"].to_numpy(dtype=float) * np.maximum(out["decode_instances"].to_numpy(dtype=float), 1.0)
    life = osl * out["tpot_s"].to_numpy(dtype=float)  # seconds a request holds a decode seat
    n = len(out)
    target = np.full(n, np.inf) if ttft_s is None else np.broadcast_to(np.asarray(ttft_s, float), (n,))
    p = percentile / 100.0
    nd = NormalDist()

    def ttft_q(rho):
        pre = np.where(rho > 1.0 - p, np.log(np.maximum(rho / (1.0 - p), 1.0)) / (2.0 * mu * (1.0 - rho)), 0.0)
        a = rho * mu * life  # decode seats busy (offered load)
        beta = (seats - a) / np.sqrt(np.maximum(a, 1e-9))
        ratio = np.array([nd.cdf(b) / max(math.exp(-b * b / 2.0) / math.sqrt(2 * math.pi), 1e-300)
                          for b in np.clip(beta, -30.0, 30.0)])
        p_wait = 1.0 / (1.0 + beta * ratio)
        theta = np.maximum((seats - a) / np.maximum(life, 1e-12), 1e-12)
        seat = np.where(p_wait > 1.0 - p, np.log(np.maximum(p_wait / (1.0 - p), 1.0)) / theta, 0.0) * 0.5
        return base + pre + seat

    lo, hi = np.zeros(n), np.full(n, 0.999)
    for _ in range(30):
        mid = (lo + hi) / 2.0
        good = ttft_q(mid) <= target
        lo, hi = np.where(good, mid, lo), np.where(good, hi, mid)
    rho = np.where(ttft_q(hi) <= target, hi, lo)
    rho = np.where(fits, rho, np.nan)
    for col in ("output_tok_s", "output_tok_s_per_gpu", "total_tok_s"):
        out[col] = out[col].to_numpy(dtype=float) * rho
    out["batch"] = np.where(fits, np.maximum(1, np.round(out["batch"].to_numpy(dtype=float) * rho)), out["batch"])
    out["ttft_s"] = np.where(fits, ttft_q(rho), out["ttft_s"])
    out["capacity_rps"] = mu * rho
    out["slo_percentile"] = float(percentile)
    out["fits"] = fits & (rho > 0)
    return out


def predict_under_slo(grid: pd.DataFrame, catalog: Catalog, *,
                      efficiency: Efficiency | None = None) -> pd.DataFrame:
    """`capacity_under_slo` row by row with each row's ttft_target_s / tpot_target_s / slo_percentile (NaN =
    no target); `evaluate` when the grid has no slo_percentile column. Rows come back in the grid's order."""
    if "slo_percentile" not in grid:
        return evaluate(grid, catalog, efficiency=efficiency)
    g = grid.reset_index(drop=True)
    parts = []
    for pct, rows in g.groupby("slo_percentile", sort=True):
        t = rows.get("ttft_target_s", pd.Series(np.nan, index=rows.index)).to_numpy(dtype=float)
        p = rows.get("tpot_target_s", pd.Series(np.nan, index=rows.index)).to_numpy(dtype=float)
        res = capacity_under_slo(rows.drop(columns=["ttft_target_s", "tpot_target_s", "slo_percentile"],
                                           errors="ignore"), catalog, ttft_s=np.where(np.isnan(t), np.inf, t),
                                 tpot_s=np.where(np.isnan(p), np.inf, p), percentile=float(pct),
                                 efficiency=efficiency)
        res.index = rows.index
        parts.append(res)
    return pd.concat(parts).sort_index()


__all__ = ["CANDIDATE_GRID", "LENGTH_DISTS", "LOAD_COLUMNS", "METHODS", "PERCENTILES", "capacity_under_slo",
           "latency_under_load", "max_rate_meeting", "predict_under_slo"]
