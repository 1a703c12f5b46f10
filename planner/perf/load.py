"""Latency under load: the public entry point over the queueing approximation and the simulator.

See `planner.perf` (the package docstring) for the columns.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.errors import InputError
from planner.perf import queueing as Q
from planner.perf import rate_search
from planner.perf.burst import finite_burst
from planner.perf.capacity import CANDIDATE_GRID, capacity_under_slo
from planner.perf.closed_loop import closed_loop
from planner.perf.evaluate import evaluate
from planner.perf.load_disagg import units_under_load
from planner.perf.params import Efficiency
from planner.perf.saturation import run_fits_seats
from planner.perf.simulate import Workload, simulate_one, summarize
from planner.perf.steptable import StepTables, build_step_tables

PERCENTILES = (50.0, 90.0, 99.0)
LOAD_COLUMNS: tuple[str, ...] = (
    "ttft_mean_s", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_mean_s", "tpot_p50_s", "tpot_p90_s",
    "tpot_p99_s", "itl_mean_s", "itl_p50_s", "itl_p99_s", "e2e_mean_s", "e2e_p50_s", "requests_s",
    "output_tok_s", "total_tok_s", "saturated", "capacity_rps", "max_running", "load_reason", "load_limited_by",
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

    Grid columns `request_rate`, `concurrency`, `num_requests`, `length_dist` and `seed` (a simulated
    row's, aggregated or disaggregated), where present and set, override the keyword arguments row by row.
    `batch` (optional) caps the running sequences per replica.
    `hidden_tokens` (optional, absent or NaN = 0): reasoning tokens of the osl decoded before the first visible
    one; the TTFT columns are then to the first visible token (`hidden_ttft`), TPOT and the rest as they are."""
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
    out = {k: np.full(n, np.nan) for k in LOAD_COLUMNS if k not in ("saturated", "load_reason", "load_limited_by")}
    out["saturated"] = np.zeros(n, dtype=bool)
    serving = g["serving"].astype(str).to_numpy() if "serving" in g else np.full(n, "aggregated")
    disagg = serving == "disaggregated"  # a unit of prefill and decode instances: its own fit (load_disagg)
    hidden = hidden_tokens(g)
    reason = _load_reasons(tab, disagg, rate, conc, nreq, dist, hidden)
    # a finite run has at most its num_requests in flight: C clients with N < C requests send N at once (as the
    # simulator issues them), so its steady state and saturation are those of N clients (1,024 clients with 50
    # requests on 64 seats read saturated; 5 clients with 2 requests on two replicas counted 3 + 2 running)
    conc = np.where(np.isnan(conc) | np.isnan(nreq), conc, np.minimum(conc, nreq))
    ok = reason == ""
    # what a row without an answer lacks: evaluate's cause where it does not run, else the query (the serving
    # mode the load model lacks, a load or length distribution not given)
    limited = np.where(ok, "", np.where(tab.fits, "config", tab.limited_by)).astype(object)
    out["capacity_rps"] = np.where(ok, sv.capacity_rps, np.nan)
    out["max_running"] = np.where(ok, sv.cap, np.nan)
    variable = dist == "variable"
    closed = ok & ~np.isnan(conc) & ~disagg
    opened = ok & np.isnan(conc) & ~disagg
    sat_open = opened & (rate >= sv.capacity_rps)
    out["saturated"] = (sat_open & ~run_fits_seats(nreq, sv.cap)) | (closed & (conc > sv.cap))
    seeds = _floats(_column(g, "seed", seed, n)).astype(np.int64)  # per row (predict averages seeds)
    if method == "simulate":
        for r in np.flatnonzero(ok & ~disagg):
            _simulate_row(tab.row(r), r, rate[r], conc[r], nreq[r], dist[r], int(seeds[r]), out, hidden[r])
    else:
        _analytic(tab, sv, rate, conc, nreq, variable, closed, opened, sat_open, out, hidden)
    rows = np.flatnonzero(ok & disagg)
    if len(rows):  # disaggregated units: their two queues, or their simulation (planner.perf.load_disagg)
        got, reason[rows], limited[rows] = units_under_load(g.iloc[rows], catalog, rate[rows], conc[rows],
                                                            nreq[rows], dist[rows], hidden[rows], method,
                                                            seeds[rows], efficiency)
        for k, v in got.items():
            out[k][rows] = v
    # the engine's API-server time per request (engines.py eng_request_s: HTTP, chat template, tokenization)
    # passes before the scheduler sees the request: it adds to TTFT and end-to-end latency and takes no seat
    # (not on disaggregated units: their model, the optimizer's and predict's, leaves it out)
    request_s = np.where(disagg, 0.0, tab.request_s)
    for k in out:
        if k.startswith(("ttft_", "e2e_")):
            out[k] = out[k] + request_s
    # a simulated finite run's token rates are the tokens its requests drew over its span, as a benchmark counts
    # them (`summarize`): with variable lengths a few requests are far from the mean (2 requests of a few tokens
    # each, done in 21 ms, read 200 tokens each); elsewhere the completions at the mean lengths
    finite = ~np.isnan(nreq)
    for k, per in (("output_tok_s", tab.osl), ("total_tok_s", tab.isl + tab.osl)):
        out[k] = np.where(finite & ~np.isnan(out[k]), out[k], out["requests_s"] * per)
    res = g.copy()
    for k in LOAD_COLUMNS:
        res[k] = reason if k == "load_reason" else limited if k == "load_limited_by" else out[k]
    return res


def _load_reasons(tab: StepTables, disagg: np.ndarray, rate: np.ndarray, conc: np.ndarray, nreq: np.ndarray,
                  dist: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Per row why a load has no answer ('' where it has one): the configuration's own (aggregated rows; a
    disaggregated unit checks its fit in load_disagg), else the load's inputs. `predict` refuses bad inputs at
    its input; these are the library's callers'."""
    reason = np.array(["" if ok else str(r) for ok, r in zip(tab.fits, tab.reason, strict=True)], dtype=object)
    reason = np.where(disagg, "", reason)
    none = (reason == "") & np.isnan(rate) & np.isnan(conc)
    reason = np.where(none, "give request_rate or concurrency", reason)
    # an endless run of clients or requests has no answer (a simulation cast it to int: OverflowError)
    for name, v in (("concurrency", conc), ("num_requests", nreq)):
        reason = np.where((reason == "") & np.isinf(v), f"{name} must be a finite number, got inf", reason)
    # nor a run of no requests: its clients, at most its requests, are none (the analytic answer read NaN
    # without a reason, a simulation raised on its empty arrivals)
    reason = np.where((reason == "") & (nreq <= 0), "num_requests must be positive", reason)
    reason = np.where((reason == "") & ~np.isin(dist, LENGTH_DISTS), "length_dist must be fixed or variable",
                      reason)
    return np.where((reason == "") & ~((hidden >= 0) & (hidden < tab.osl)),
                    "hidden_tokens must be >= 0 and below osl (the osl's reasoning tokens before the first "
                    "visible one)", reason)


def _take(dst: dict, src: dict, rows: np.ndarray) -> None:
    for k, v in src.items():
        if k in dst and k != "saturated" and len(rows):
            dst[k][rows] = np.asarray(v, dtype=float)


def hidden_tokens(grid: pd.DataFrame) -> np.ndarray:
    """The grid's `hidden_tokens` per row as floats (absent or NaN: 0; text: NaN, which no check passes)."""
    if "hidden_tokens" not in grid:
        return np.zeros(len(grid))
    col = grid["hidden_tokens"]
    return np.where(col.isna(), 0.0, pd.to_numeric(col, errors="coerce")).astype(float)


def hidden_ttft(out: dict, hidden: np.ndarray) -> None:
    """TTFT columns of `out` (rows of a steady occupancy: closed loop, a burst's fluid) moved to the first
    visible token: `hidden` decode steps of the mean TPOT later (the step at that occupancy, every step of the
    request's)."""
    if not np.any(hidden):
        return
    phase = np.where(hidden > 0, hidden * np.asarray(out["tpot_mean_s"], dtype=float), 0.0)
    for k in [k for k in out if k.startswith("ttft_")]:
        out[k] = np.asarray(out[k], dtype=float) + phase


def _analytic(tab, sv, rate, conc, nreq, variable, closed, opened, sat_open, out, hidden) -> None:
    rows = np.flatnonzero(closed)
    if len(rows):  # a closed loop holds its occupancy: each hidden step is its TPOT
        got = closed_loop(Q.dataclass_rows(sv, rows), Q.dataclass_rows(tab, rows), conc[rows], variable[rows])
        hidden_ttft(got, hidden[rows])
        _take(out, got, rows)
    rows = np.flatnonzero(opened & ~sat_open)
    if len(rows):  # the queueing model's hidden phase at each percentile (planner.perf.reasoning)
        s, t = Q.dataclass_rows(sv, rows), Q.dataclass_rows(tab, rows)
        h = hidden[rows] if np.any(hidden[rows]) else None
        _take(out, Q.open_loop(Q.chain(s), s, t, rate[rows], variable[rows], hidden=h), rows)
    rows = np.flatnonzero(opened & ~sat_open & ~np.isnan(nreq))
    if len(rows):  # a finite run below capacity: no more queued than its requests can (`finite_run_bound`)
        finite_run_bound(Q.dataclass_rows(sv, rows), Q.dataclass_rows(tab, rows), rate[rows],
                         nreq[rows].astype(np.int64), hidden[rows], out, rows)
    rows = np.flatnonzero(sat_open & ~np.isnan(nreq))  # a finite run above capacity: the fluid burst
    if len(rows):
        got = finite_burst(Q.dataclass_rows(sv, rows), Q.dataclass_rows(tab, rows), rate[rows],
                           nreq[rows].astype(np.int64))
        hidden_ttft(got, hidden[rows])
        _take(out, got, rows)
    rows = np.flatnonzero(sat_open & np.isnan(nreq))  # steady state above capacity: no latency, full rate
    out["requests_s"][rows] = sv.capacity_rps[rows]


def finite_run_bound(sv, tab, rate: np.ndarray, n_requests: np.ndarray, hidden: np.ndarray, out: dict,
                     rows: np.ndarray) -> None:
    """A finite Poisson run below capacity (`out[...][rows]` holding the steady state's figures) moved to what
    its n requests can build: the steady state's occupancy (~140 running for llama-3.3-70b TP8 on H200 at 0.89
    of capacity) is one the run never reaches with 10 requests. Two upper bounds on the run's occupancy, each
    figure the lesser: the steady state (an empty start only approaches it) and the fluid run of its n
    requests at the rate (`finite_burst`: all n running at once at most, no queue beyond them). TTFT, the prompt
    path's queue, takes the steady state's or, if less, the n requests sent at once (Poisson arrivals clump;
    no clump is more than n): the fluid at the rate has no clumping and read a third of the simulator's p90.
    requests/s is then the run's n over its span, not the offered rate (at 1,000 requests 13.4/s where the
    simulator's is 16.0/s: the fluid's n running at once outlive its queue). Against the simulator (mean over
    seeds; 70B TP8 1024/256 at 0.89 of capacity) e2e p50 at 10 requests 1.58 s (sim 1.70; steady 8.27), at
    100 3.18 s (3.80), at 1,000 the steady state's 8.27 (6.65)."""
    lam = np.asarray(rate, dtype=float)
    paced = finite_burst(sv, tab, lam, n_requests)
    hidden_ttft(paced, hidden)
    at_once = finite_burst(sv, tab, np.full(len(lam), np.inf), n_requests)
    hidden_ttft(at_once, hidden)
    for k in out:
        # not the ITL's tail: the prompt chunks a token waits behind come with the rate, which the fluid's
        # completions stand in for (10 requests at 0.3 of capacity: p99 6 ms where the simulator's is 40 ms)
        if k in paced and k not in ("saturated", "itl_p99_s"):
            bound = at_once[k] if k.startswith("ttft_") else paced[k]
            out[k][rows] = np.fmin(out[k][rows], bound)


def _simulate_row(tab: StepTables, r: int, rate, conc, nreq, dist, seed, out, hidden: float = 0.0) -> None:
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
    if hidden > 0:  # TTFT to each request's first visible token: its hidden share of the osl at its own mean step
        h = np.minimum(np.round(hidden / float(tab.osl[0]) * run.osl), run.osl - 1.0)
        step = (run.finish_s - run.first_token_s) / np.maximum(run.osl - 1.0, 1.0)
        seen = summarize(replace(run, first_token_s=run.first_token_s + h * step))
        s.update({k: v for k, v in seen.items() if k.startswith("ttft_")})
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
    rate = rate_search.max_rate_meeting(tab, ttft_s, tpot_s, percentile, var)
    return np.where(tab.fits, rate, 0.0)


def predict_under_slo(grid: pd.DataFrame, catalog: Catalog, *,
                      efficiency: Efficiency | None = None) -> pd.DataFrame:
    """`capacity_under_slo` row by row with each row's ttft_target_s / tpot_target_s / slo_percentile (NaN =
    no target) and hidden_tokens (reasoning tokens of its osl before the first visible one; absent = none);
    `evaluate` when the grid has no slo_percentile column. Rows come back in the grid's order."""
    if "slo_percentile" not in grid:
        return evaluate(grid, catalog, efficiency=efficiency)
    g = grid.reset_index(drop=True)
    hidden, osl = hidden_tokens(g), pd.to_numeric(g["osl"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~((hidden >= 0) & (hidden < osl)))
    if len(bad):  # a reasoning row needs its hidden tokens within its osl, and at least one visible token
        i = bad[0]
        raise InputError(f"row {i}: hidden_tokens must be >= 0 and below osl (the osl's reasoning tokens before "
                         f"the first visible one), got hidden_tokens {g['hidden_tokens'].iloc[i]}, osl "
                         f"{g['osl'].iloc[i]}")
    parts = []
    for pct, rows in g.groupby("slo_percentile", sort=True):
        t = rows.get("ttft_target_s", pd.Series(np.nan, index=rows.index)).to_numpy(dtype=float)
        p = rows.get("tpot_target_s", pd.Series(np.nan, index=rows.index)).to_numpy(dtype=float)
        h = hidden[rows.index]
        res = capacity_under_slo(rows.drop(columns=["ttft_target_s", "tpot_target_s", "slo_percentile",
                                                    "hidden_tokens"], errors="ignore"), catalog,
                                 ttft_s=np.where(np.isnan(t), np.inf, t), tpot_s=np.where(np.isnan(p), np.inf, p),
                                 percentile=float(pct), efficiency=efficiency, hidden=h)
        res.index = rows.index
        parts.append(res)
    return pd.concat(parts).sort_index()


__all__ = ["CANDIDATE_GRID", "LENGTH_DISTS", "LOAD_COLUMNS", "METHODS", "PERCENTILES", "capacity_under_slo",
           "hidden_tokens", "hidden_ttft", "latency_under_load", "max_rate_meeting", "predict_under_slo"]
