"""The candidate search's capacity of one replica under percentile SLOs: the queueing model (aggregated
serving) and the rate-matched disaggregated unit, each at the largest load that holds the targets.

See `planner.perf` (the package docstring) for the columns.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf import queueing as Q
from planner.perf.bisection import largest_within
from planner.perf.evaluate import evaluate_columns, output_frame
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.rate_search import TRICKLE, max_rate_meeting
from planner.perf.reasoning_disagg import (
    HIDDEN,
    hidden_phase_at,
    step_columns,
    step_table_rows,
    tpot_at_load,
    unit_steps,
    with_decode_steps,
)
from planner.perf.resolve import Cols, normalize_grid, resolve, take
from planner.perf.search import largest_batch_meeting
from planner.perf.slo_policy import utilization_bound
from planner.perf.steptable import build_step_tables

CANDIDATE_GRID = (12, 5)  # decode x prefill points of the step tables in the candidate search


def _targets(t, n: int) -> np.ndarray | None:
    return None if t is None else np.broadcast_to(np.asarray(t, dtype=float), (n,))


def _no_load(n: int) -> dict[str, np.ndarray]:
    """`_under_load`'s figures of n rows that serve no rate: rate 0, one seat, NaN latencies (as `evaluate`'s)."""
    out = {k: np.full(n, np.nan) for k in ("e2e", "ttft_q", "tpot_q", "light_ttft", "light_tpot", "capacity_rps")}
    return out | {"rate": np.zeros(n), "seats": np.ones(n), "isl": np.ones(n), "osl": np.ones(n),
                  "capped": np.zeros(n, dtype=bool), "prompt_bound": np.zeros(n, dtype=bool)}


def _under_load(base: pd.DataFrame, catalog: Catalog, eff: Efficiency, ttft_s, tpot_s, percentile: float,
                variable: bool, resolved=None, hidden=None) -> dict[str, np.ndarray]:
    """The queueing model's figures for aggregated rows: the largest rate meeting the percentile targets, the
    latency at it and at a trickle, the replica's capacity and seats. A row that does not fit serves no rate:
    its table is not modelled (`queueing_only`), its figures are rate 0, one seat, NaN latencies (as
    `evaluate`'s)."""
    n = len(base)
    whole = build_step_tables(base, catalog, efficiency=eff, decode_points=CANDIDATE_GRID[0],
                              prefill_points=CANDIDATE_GRID[1], resolved=resolved, queueing_only=True)
    run = np.flatnonzero(whole.fits)
    out = _no_load(n) | {"isl": whole.isl, "osl": whole.osl}
    if not len(run):
        return out
    # the model is row by row: the rows that fit alone
    tab = whole if len(run) == n else Q.dataclass_rows(whole, run)
    m = len(run)
    var = np.full(m, variable)
    # the engine's API-server time per request: spent before the queue, so off the TTFT target, onto the
    # reported TTFT
    api = tab.request_s
    tt, tp = (None if t is None else t[run] for t in (_targets(ttft_s, n), _targets(tpot_s, n)))
    target = None if tt is None else tt - api
    sv = Q.service(tab)
    ch = Q.chain(sv)
    h = None if hidden is None else hidden[run]  # reasoning tokens before the first visible one (reasoning.py)
    rate, capped = utilization_bound(max_rate_meeting(tab, target, tp, percentile, var, known=(sv, ch),
                                                        hidden=h), sv.capacity_rps, tt)
    q = (float(percentile),)
    key = f"{q[0]:g}"
    at = Q.open_loop(ch, sv, tab, np.maximum(rate, 1e-12), var, q, hidden=h, itl=False)  # no ITL read here
    # the latency at a trickle says why a row serves no rate: computed for those rows only (the model is row by
    # row), NaN elsewhere
    light = {k: np.full(m, np.nan) for k in ("ttft", "tpot")}
    none = np.flatnonzero(rate <= 0)
    if len(none):
        lt = Q.open_loop(Q.dataclass_rows(ch, none), Q.dataclass_rows(sv, none), None,
                         sv.capacity_rps[none] * TRICKLE, var[none], q, targets_only=True,
                         hidden=None if h is None else h[none])  # percentiles
        light["ttft"][none] = lt[f"ttft_p{key}_s"] + api[none]
        light["tpot"][none] = lt[f"tpot_p{key}_s"]
    # the prompt path binds where the saturation rate is below what every seat busy completes, g(B)
    # (saturation.saturation_rps takes the lesser)
    prompt_bound = sv.capacity_rps < sv.seats_rps * (1.0 - 1e-9)
    for k, v in (("rate", rate), ("e2e", at["e2e_mean_s"]), ("ttft_q", at[f"ttft_p{key}_s"] + api),
                 ("tpot_q", at[f"tpot_p{key}_s"]), ("light_ttft", light["ttft"]), ("light_tpot", light["tpot"]),
                 ("seats", sv.cap), ("capacity_rps", sv.capacity_rps), ("capped", capped),
                 ("prompt_bound", prompt_bound)):
        out[k][run] = v
    return out


_SQRT2, _SQRT_2PI = math.sqrt(2.0), math.sqrt(2 * math.pi)


def _per_value(fn, x: np.ndarray) -> np.ndarray:
    """fn (a math function of one float) of every value of x: mapped over a list into a float array (~25% less
    than np.frompyfunc's object array converted back, the same calls)."""
    return np.fromiter(map(fn, x.ravel().tolist()), dtype=float, count=x.size).reshape(x.shape)


def _cdf_over_pdf(x: np.ndarray) -> np.ndarray:
    """Standard normal cdf / pdf (pdf floored at 1e-300) per value, with the scalar math of
    `statistics.NormalDist().cdf` (numpy has no erf, and its exp may differ from math.exp in the last digit):
    math.erf and math.exp per value, the arithmetic around them elementwise (the same IEEE operations)."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return np.zeros(0)
    cdf = 0.5 * (1.0 + _per_value(math.erf, x / _SQRT2))
    return cdf / np.maximum(_per_value(math.exp, -x * x / 2.0) / _SQRT_2PI, 1e-300)


def _wait_ratio(beta: np.ndarray, rows: np.ndarray, p: float) -> np.ndarray:
    """cdf/pdf of the clipped beta for the Halfin-Whitt wait probability 1 / (1 + beta x ratio), on `rows`
    (NaN elsewhere), or inf where the wait probability is surely at most 1 - p whatever the exact ratio: there
    ratio >= 0.5 / pdf (beta > 0), and beta times that bound is twice what p_wait > 1 - p needs, so the seat
    wait is 0 either way and math.erf (a Python loop) is skipped."""
    clipped = np.clip(beta, -30.0, 30.0)
    with np.errstate(over="ignore"):
        bound = clipped * 0.5 * _SQRT_2PI * np.exp(clipped * clipped / 2.0)
    sure = (clipped > 0) & (bound >= 2.0 * p / (1.0 - p))
    ratio = np.where(rows & sure, np.inf, np.nan)
    exact = rows & ~sure
    ratio[exact] = _cdf_over_pdf(clipped[exact])
    return ratio


def capacity_under_slo(configs: pd.DataFrame, catalog: Catalog, ttft_s=None, tpot_s=None, *,
                       percentile: float = 90.0, length_dist: str = "fixed", efficiency: Efficiency | None = None,
                       hidden=None, **_ignored) -> pd.DataFrame:
    """What one replica of each configuration can be planned for when TTFT/TPOT targets hold at `percentile`
    (targets one for all rows or per row): the `evaluate` columns at the mean batch of the largest Poisson
    request rate meeting them (`max_rate_meeting`), with output_tok_s = that rate x osl, ttft_s / tpot_s = the
    percentile values at it and `capacity_rps` = the rate. A drop-in for `max_batch_meeting` in the candidate
    search. Disaggregated rows: the unit at the largest batch meeting the targets on the mean
    (`disaggregated_units`), at the rate where TTFT holds at the percentile from its prefill and decode-seat
    queues (`disaggregated_under_slo`; TPOT stays the full batch's mean, a bound on every percentile). Rows
    that cannot meet the targets at any rate come back fits=False with the reason. `hidden`: reasoning tokens
    decoded before the first visible one (per row or one for all; planner.perf.reasoning)."""
    out, at = capacity_in_parts(configs, catalog, ttft_s, tpot_s, percentile=percentile, length_dist=length_dist,
                                efficiency=efficiency, hidden=hidden)
    return out if (at == np.arange(len(at))).all() else out.take(at).reset_index(drop=True)


def capacity_in_parts(configs: pd.DataFrame, catalog: Catalog, ttft_s=None, tpot_s=None, *,
                      percentile: float = 90.0, length_dist: str = "fixed", efficiency: Efficiency | None = None,
                      hidden=None) -> tuple[pd.DataFrame, np.ndarray]:
    """`capacity_under_slo`'s rows before they are put in row order: the aggregated rows, then the
    disaggregated ones (with the aggregated part's columns), and per configuration its position in that
    frame. For callers that reorder the rows anyway (one take instead of two)."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    base = configs.drop(columns=["batch"], errors="ignore").reset_index(drop=True)
    n = len(base)
    agg = (base["serving"].astype(str).to_numpy() == "aggregated") if "serving" in base else np.ones(n, bool)
    rows, idx = np.flatnonzero(agg), np.flatnonzero(~agg)
    shared = _resolved_once(base, catalog, eff)
    tt = np.broadcast_to(np.asarray(np.inf if ttft_s is None else ttft_s, dtype=float), (n,))
    tp = np.broadcast_to(np.asarray(np.inf if tpot_s is None else tpot_s, dtype=float), (n,))
    # each part evaluated alone (the model is row by row; with integer columns every subset normalizes to the
    # same types, see `_resolved_once`), then one after the other
    t1, t2 = _targets(ttft_s, n), _targets(tpot_s, n)  # None: no target
    h = None if hidden is None or not np.any(hidden) else _targets(hidden, n)  # None: no reasoning row
    parts = []
    if len(rows) or not len(idx):
        whole = len(rows) == n
        parts.append(_at_capacity(base if whole else base.iloc[rows].reset_index(drop=True), catalog, eff,
                                  None if t1 is None else t1[rows], None if t2 is None else t2[rows], tt[rows],
                                  tp[rows], percentile, length_dist == "variable",
                                  shared if whole else resolved_rows(shared, rows),
                                  None if h is None else h[rows]))
    if len(idx):  # disaggregated serving: the mean-latency batch search, then the rate under the percentile
        units = disaggregated_units(base.iloc[idx], catalog, tt[idx], tp[idx], efficiency=eff,
                                    resolved=resolved_rows(shared, idx), hidden=None if h is None else h[idx])
        parts.append(disaggregated_under_slo(units, tt[idx], percentile))
    if len(parts) == 1:
        return parts[0], np.arange(n)
    first, other = parts
    at = np.empty(n, dtype=np.int64)
    at[rows] = np.arange(len(rows))
    at[idx] = len(rows) + np.arange(len(idx))
    return pd.concat([first, other[list(first.columns)]], ignore_index=True), at


def _at_capacity(base: pd.DataFrame, catalog: Catalog, eff: Efficiency, ttft_s, tpot_s, tt: np.ndarray,
                 tp: np.ndarray, percentile: float, variable: bool, shared, hidden=None) -> pd.DataFrame:
    """`capacity_under_slo`'s frame of aggregated rows `base`: each at its capacity under the load model.
    `ttft_s`, `tpot_s`: the targets per row or None (no target); `tt`, `tp`: the same with inf for none;
    `shared`: `_resolved_once` of `base`."""
    n = len(base)
    m = _under_load(base, catalog, eff, ttft_s, tpot_s, percentile, variable, shared, hidden) if n else _no_load(0)
    rate = m["rate"]
    key = f"{float(percentile):g}"
    running = np.clip(np.nan_to_num(rate * m["e2e"], nan=1.0), 1.0, m["seats"])
    g, res = evaluate_columns(base.assign(batch=np.round(running).astype(np.int64)), catalog, efficiency=eff,
                              resolved=shared)
    ok = res["fits"] & (rate > 0)
    ttft_q, tpot_q = m["ttft_q"], m["tpot_q"]
    upd: dict[str, object] = {}  # the columns changed or added, set before the frame is built
    upd["ttft_s"] = ttft_q
    upd["tpot_s"] = tpot_q
    upd["output_tok_s"] = np.where(rate > 0, rate * m["osl"], np.nan)
    gpus = res["gpus"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):  # as the pandas arithmetic this replaces
        upd["output_tok_s_per_gpu"] = upd["output_tok_s"] / np.where(gpus > 0, gpus, np.nan)
        upd["output_tok_s_per_user"] = 1.0 / upd["tpot_s"]
        upd["total_tok_s"] = upd["output_tok_s"] * (1.0 + m["isl"] / m["osl"])
    upd["capacity_rps"] = rate
    upd["slo_percentile"] = float(percentile)
    # what stops a higher rate: the target that binds at it (or the replica's full capacity)
    binds = np.where(ttft_q / tt >= tpot_q / tp, "ttft", "tpot")
    full = rate >= m["capacity_rps"] * (1.0 - 1e-6)
    res_limited = np.asarray(res["limited_by"], dtype=object)
    # at full capacity: the prompt path where it binds before the seats (the replica cannot take prompts in
    # faster: 'prefill'), else the decode step's largest share (evaluate's compute | bandwidth | communication)
    limited = np.where(full, np.where(m["prompt_bound"], "prefill", res_limited), binds)
    # no TTFT target: the assumed utilization bound stops a higher rate where it binds
    limited = np.where(m["capped"], "utilization", limited)
    reason = np.asarray(res["reason"], dtype=object).copy()
    p = f"p{key}"
    # rows that fit but serve no rate: the target missed at a trickle (strings from Python floats in one pass)
    none = np.flatnonzero(res["fits"] & (rate <= 0))
    l_tt, l_tp, t_tt, t_tp = (np.asarray(v, dtype=float)[none] for v in (m["light_ttft"], m["light_tpot"], tt, tp))
    is_ttft = l_tt > t_tt
    limited[none] = np.where(is_ttft, "ttft", "tpot")
    hid = np.zeros(len(none)) if hidden is None else np.asarray(hidden, dtype=float)[none]
    reason[none] = [
        f"{p} TTFT {lt * 1e3:.0f} ms at light load > target {t * 1e3:.0f} ms"
        + (f" ({h:.0f} hidden reasoning tokens first)" if h > 0 else "")  # to the first visible token
        if bad else f"{p} TPOT {lp * 1e3:.1f} ms at light load > target {tp_ * 1e3:.1f} ms"
        for lt, t, lp, tp_, h, bad in zip(l_tt.tolist(), t_tt.tolist(), l_tp.tolist(), t_tp.tolist(),
                                          hid.tolist(), is_ttft.tolist(), strict=True)]
    upd["fits"] = ok
    upd["reason"] = reason
    # a row that does not run keeps evaluate's structured cause (memory, engine, config)
    upd["limited_by"] = np.where((res_limited == "memory") | ~res["fits"], res_limited, limited)
    res.update(upd)  # names it has keep their place, new ones follow
    return output_frame(g, res)


_INTEGER_COLUMNS = ("tp", "pp", "ep", "attn_dp", "isl", "osl")


def _resolved_once(base: pd.DataFrame, catalog: Catalog, eff: Efficiency):
    """`resolve` of every row at batch 1, shared by the step tables, the evaluation and the disaggregated search
    (each would resolve its rows again), or None. Resolving is row by row, except that `normalize_grid` makes a
    column of whole numbers integer (which changes the text of a bad value's message): shared only where those
    columns are integer already, so every subset normalizes to the same types."""
    if not all(base[c].dtype == np.int64 for c in _INTEGER_COLUMNS if c in base):
        return None
    return resolve(normalize_grid(base.assign(batch=1)), catalog, eff)


def resolved_rows(shared, rows: np.ndarray):
    """Rows of a `resolve` result (`shared`: columns, reasons) at some positions, as `resolve` of those rows
    alone gives them."""
    if shared is None:
        return None
    c, reason = shared
    return Cols(take(c, rows, len(reason)).items()), reason[rows].copy()


def with_columns(res: pd.DataFrame, new: dict[str, object]) -> pd.DataFrame:
    """`res` after res[name] = value for each of `new` in order (arrays, or scalars for every row), as one
    frame construction: columns `res` has keep their place, the others follow in `new`'s order."""
    new = dict(new)
    have = set(res.columns)
    old = [c for c in new if c in have]
    if old:  # replaced in place, on a shallow copy (a column assignment never writes into the shared arrays)
        res = res.copy(deep=False)
        for c in old:
            res[c] = new.pop(c)
    if not new:
        return res if old else res.copy(deep=False)
    # the other columns side by side: one concatenation (rebuilding every column of res cost more, ~3x on the
    # candidate search's frames of ~40 columns)
    return pd.concat([res, pd.DataFrame(new, index=res.index)], axis=1)


def disaggregated_units(configs: pd.DataFrame, catalog: Catalog, ttft_s=None, tpot_s=None, *,
                        efficiency: Efficiency | None = None, resolved=None, batches=None,
                        hidden=None, load_steps: bool = False) -> pd.DataFrame:
    """Disaggregated units at their full rate: the largest batch whose zero-load mean TTFT and mean TPOT meet
    the targets (per row, inf = none), with rate-matched prefill and decode instances. The optimizer's
    capacity and predict's disaggregated answers both start from it (`disaggregated_at_load`). `hidden`:
    reasoning tokens of the osl before the first visible one (per row, None = none): the decode instances
    decode them with the visible ones (the osl), and ttft_s is to the first visible token, the hidden steps
    each at the full batch's TPOT (the unit's full rate); the rows then carry their decode step table
    (`reasoning_disagg.with_decode_steps`), so that under a lighter load the hidden steps are read at the batch
    that load gives, the units' queues added (`_unit_ttft_q`). `load_steps`: every row that runs carries the
    table (predict: the visible TPOT at the load's batch too); the optimizer's full rate has the full batch's."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    reasoning = hidden is not None and np.any(hidden)
    runs: list | None = [] if reasoning or load_steps else None  # the search's runs: knot 1 of each row, more
    units = largest_batch_meeting(configs, catalog, ttft_s=ttft_s, tpot_s=tpot_s, batches=batches, efficiency=eff,
                                  resolved=resolved, hidden=hidden, runs=runs)
    if runs is None:
        return units
    return with_decode_steps(units, configs, catalog, eff, np.zeros(len(units)) if hidden is None else hidden,
                             resolved, known=runs, every=load_steps)


def _unit_state(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The two queues of disaggregated units (`disaggregated_units` rows): mu = the unit's full request rate
    (its one M/D/1 prefill server's), a lone prompt's TTFT (to the first generated token) and what a full
    prefill pass adds to it (`_prefill_wait`), the decode seats and the seconds one holds a seat; reasoning rows
    add their hidden tokens and decode step table (`unit_steps`), and their base leaves out the full batch's
    hidden steps, read at the load's batch (`hidden_phase_at`)."""
    fits = rows["fits"].to_numpy(dtype=bool)
    osl = rows["osl"].to_numpy(dtype=float)
    seats = rows["batch"].to_numpy(dtype=float) * np.maximum(rows["decode_instances"].to_numpy(dtype=float), 1.0)
    tpot = rows["tpot_s"].to_numpy(dtype=float)
    s = {"fits": fits, "osl": osl, "mu": rows["output_tok_s"].to_numpy(dtype=float) / osl,
         "base": rows["ttft_s"].to_numpy(dtype=float), "seats": seats, "tpot": tpot, "life": osl * tpot,
         "visible": osl} | unit_steps(rows)
    if "hidden" in s:
        h = s["hidden"]
        s["base"] = np.where(h > 0, s["base"] - h * tpot, s["base"])
        s["visible"] = osl - h
    # the prefill: its instances, a lone prompt's pass and the full pass's prompts (frames without the lone
    # pass: a full pass at every load, as before it was known)
    n = len(rows)
    lone = rows["ttft_lone_s"].to_numpy(dtype=float) if "ttft_lone_s" in rows else np.full(n, np.nan)
    s["grow"] = np.where(np.isfinite(lone), s["base"] - np.where(np.isfinite(lone), lone, 0.0), 0.0)
    s["base"] = s["base"] - s["grow"]  # a lone prompt's: the prompts sharing its pass add their part of grow
    s["per_pass"] = (rows["prompts_per_pass"].to_numpy(dtype=float) if "prompts_per_pass" in rows
                     else np.ones(n))
    s["servers"] = (np.maximum(rows["prefill_instances"].to_numpy(dtype=float), 1.0)
                    if "prefill_instances" in rows else np.ones(n))
    return s


def _prefill_wait(s: dict, rho: np.ndarray, p: float | None):
    """The prefill's wait at percentile p (None: the mean) and the base of a prompt there. The wait: one M/D/1
    server completing the unit's rate mu (P(wait > t) = rho exp(-2 (1 - rho) mu t); M/D/c's Erlang C for the
    instances put p99 6% below the simulator at one prompt a pass). The base: a prompt that waits (a share rho)
    shares the pass it waits for with the prompts that reach its instance (rate / servers) while it waits and
    during the lone pass before, twice that (size-biased), each adding its part of the full pass (`grow`, linear
    in the prompts); one that does not wait runs alone, its own pass (a trickle's TTFT, the simulator's)."""
    mu = s["mu"]
    decay = 2.0 * mu * np.maximum(1.0 - rho, 1e-12)
    lone = s["base"]
    if p is None:  # the mean: a share rho of the prompts waits, 1 / decay on average
        wait, waits, cond = rho / decay, rho, 1.0 / decay
    else:
        waits = (rho > 1.0 - p).astype(float)
        wait = waits * np.log(np.maximum(rho / (1.0 - p), 1.0)) / decay
        cond = wait
    shared = np.minimum(s["per_pass"], 1.0 + 2.0 * rho * mu / s["servers"] * (cond + lone))
    part = np.where(s["per_pass"] > 1.0, (shared - 1.0) / np.maximum(s["per_pass"] - 1.0, 1e-12), 1.0)
    return wait, lone + s["grow"] * waits * part


def _seat_wait(s: dict, rho: np.ndarray, p: float, exact: bool = False):
    """Decode-seat queue at utilization rho: the Halfin-Whitt wait probability (exact cdf/pdf where `exact`,
    else `_wait_ratio`'s shortcut for percentile p) and the decay rate theta of the wait's tail."""
    a = rho * s["mu"] * s["life"]  # decode seats busy (offered load)
    beta = (s["seats"] - a) / np.sqrt(np.maximum(a, 1e-9))
    if exact:
        ratio = np.full(len(beta), np.nan)
        ratio[s["fits"]] = _cdf_over_pdf(np.clip(beta, -30.0, 30.0)[s["fits"]])
    else:
        ratio = _wait_ratio(beta, s["fits"], p)
    p_wait = 1.0 / (1.0 + beta * ratio)
    theta = np.maximum((s["seats"] - a) / np.maximum(s["life"], 1e-12), 1e-12)
    return p_wait, theta


def _unit_ttft_q(s: dict, rho: np.ndarray, p: float) -> np.ndarray:
    """TTFT at percentile p (a fraction) of units at utilization rho: the prefill pass's (`_prefill_wait`: a
    lone prompt's, growing toward the full pass with the load), plus the M/D/1 prefill wait's p-quantile
    (P(wait > t) = rho exp(-2 (1 - rho) mu t)), plus the decode-seat wait's (Erlang-C, P(wait > t) = p_wait
    exp(-theta t), halved for deterministic service). Each queue's quantile is added: a bound on the sum's
    (exact where one of them is zero, as it is below rho = 1 - p for the prefill)."""
    pre, base = _prefill_wait(s, rho, p)
    p_wait, theta = _seat_wait(s, rho, p)
    seat = np.where(p_wait > 1.0 - p, np.log(np.maximum(p_wait / (1.0 - p), 1.0)) / theta, 0.0) * 0.5
    return base + pre + seat + hidden_phase_at(s, rho * s["mu"], s["osl"], p)


def _unit_ttft_mean(s: dict, rho: np.ndarray) -> np.ndarray:
    """Mean TTFT of units at utilization rho: the mean prefill pass (`_prefill_wait`) and the two tails' means
    (M/D/1: rho / (2 mu (1 - rho)), exactly Pollaczek-Khinchine's; seats: p_wait / theta, halved)."""
    p_wait, theta = _seat_wait(s, rho, 0.5, exact=True)
    pre, base = _prefill_wait(s, rho, None)
    return base + pre + 0.5 * p_wait / theta + hidden_phase_at(s, rho * s["mu"], s["osl"], None)


DISAGG_UTILIZATION_MAX = 0.999  # the bisections' top: the queues' waits grow without bound at rho = 1


def disaggregated_at_load(units: pd.DataFrame, request_rate=None, concurrency=None,
                          percentiles=(50.0, 90.0, 99.0)) -> pd.DataFrame:
    """Disaggregated units (`disaggregated_units` rows) under a load per unit: an open-loop Poisson
    `request_rate` (requests/s) or closed-loop `concurrency` clients (the rate where rate x mean end-to-end
    latency = clients, Little's law), one of them per row (NaN: the other). TTFT mean and percentiles from the
    two queues (`_unit_ttft_q`, the function the optimizer's capacity bisects on; a reasoning unit's adds its
    hidden steps at the decode batch of that load, `reasoning_disagg`). TPOT mean and percentiles (which e2e
    and the closed loop read): the decode step at the batch that load gives (`tpot_at_load`, the hidden steps'
    rule) on units with a step table (`disaggregated_units(load_steps=True)`), else `tpot_bound_s`, the full
    batch's (no prompt chunks, never more: a bound; what the table gives where the decode instances run at
    their own full rate). Above the unit's rate (open loop) `saturated`, no latencies, requests_s = its rate."""
    s = _unit_state(units)
    n = len(units)
    mu, fits = s["mu"], s["fits"]
    rate = np.broadcast_to(np.asarray(np.nan if request_rate is None else request_rate, float), (n,))
    conc = np.broadcast_to(np.asarray(np.nan if concurrency is None else concurrency, float), (n,))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = rate / mu
    closed = fits & np.isfinite(conc)
    if closed.any():  # bisection on rho: rate x (TTFT + (osl - 1) TPOT) rises from 0 to inf as rho -> 1
        lo, hi = np.zeros(n), np.full(n, DISAGG_UTILIZATION_MAX)
        for _ in range(40):
            mid = (lo + hi) / 2.0
            little = mid * mu * (_unit_ttft_mean(s, mid) + (s["visible"] - 1.0) * tpot_at_load(s, mid, None))
            below = little <= conc
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        rho = np.where(closed, lo, rho)
    saturated = fits & np.where(closed, conc > s["seats"], ~(rho < 1.0))
    live = fits & (rho < 1.0)
    r = np.where(live, rho, np.nan)
    out = {"rho": r, "ttft_mean_s": np.where(live, _unit_ttft_mean(s, np.where(live, r, 0.0)), np.nan)}
    out["tpot_bound_s"] = np.where(fits, s["tpot"], np.nan)
    at = np.where(live, r, 1.0)  # saturated: the decode instances see the unit's rate
    out["tpot_mean_s"] = np.where(fits, tpot_at_load(s, at, None), np.nan)
    for q in percentiles:
        out[f"ttft_p{q:g}_s"] = np.where(live, _unit_ttft_q(s, np.where(live, r, 0.0), q / 100.0), np.nan)
        out[f"tpot_p{q:g}_s"] = np.where(fits, tpot_at_load(s, at, q / 100.0), np.nan)
    # after the first visible token (the hidden steps are in the TTFT)
    out["e2e_mean_s"] = out["ttft_mean_s"] + (s["visible"] - 1.0) * out["tpot_mean_s"]
    out["requests_s"] = np.where(fits, np.where(live, r, 1.0) * mu, np.nan)
    out["capacity_rps"] = np.where(fits, mu, np.nan)
    out["seats"] = s["seats"]
    out["saturated"] = saturated
    return pd.DataFrame(out, index=units.index)


def disaggregated_under_slo(rows: pd.DataFrame, ttft_s, percentile: float) -> pd.DataFrame:
    """Disaggregated units at the rate where TTFT holds at the percentile (`_unit_ttft_q`: prompts wait for the
    prefill instances, one M/D/1 server completing the unit's rate-matched request rate mu, then for a decode
    seat, c = batch x decode instances seats each held osl x TPOT). The decode batch scales with the rate, so
    TPOT (the full batch's, kept) only improves below the full unit: it holds on the mean, bounding every
    percentile."""
    # the step table serves the TTFT alone: the frame keeps its columns as ever (no copy: columns are replaced)
    out = rows.drop(columns=[HIDDEN, *step_columns(rows)], errors="ignore")
    s = _unit_state(rows)
    fits, mu = s["fits"], s["mu"]
    n = len(out)
    target = np.full(n, np.inf) if ttft_s is None else np.broadcast_to(np.asarray(ttft_s, float), (n,))
    p = percentile / 100.0

    # the bisection on the units that run (the others' rate is NaN whatever it finds; each row is its own)
    run = np.flatnonzero(fits)
    s_run = step_table_rows(s, run)
    rho = np.zeros(n)
    # 30 halvings of [0, DISAGG_UTILIZATION_MAX], their answer from ~a dozen evaluations (TTFT rises with rho;
    # the prefill wait at the percentile starts at rho = 1 - p, a kink)
    rho[run] = largest_within(lambda at, x: _unit_ttft_q(step_table_rows(s_run, at), x, p), target[run],
                              DISAGG_UTILIZATION_MAX, 30, kink=1.0 - p)
    rho, capped = utilization_bound(rho, 1.0, target)
    rho = np.where(fits, rho, np.nan)
    for col in ("output_tok_s", "output_tok_s_per_gpu", "total_tok_s"):
        out[col] = out[col].to_numpy(dtype=float) * rho
    batch = np.where(fits, np.maximum(1, np.round(out["batch"].to_numpy(dtype=float) * rho)), out["batch"])
    # integers where every batch is one (the aggregated rows' type): a float column of whole numbers would
    # print as 64.0 next to their 64
    whole = np.isfinite(batch).all() and (batch == np.round(batch)).all()
    out["batch"] = batch.astype(np.int64) if whole else batch
    ttft = out["ttft_s"].to_numpy(dtype=float).copy()
    ttft[run] = _unit_ttft_q(s_run, rho[run], p)  # the units that run (~half the grid's on the examples)
    out["ttft_s"] = ttft
    out["capacity_rps"] = mu * rho
    out["slo_percentile"] = float(percentile)
    out["fits"] = fits & (rho > 0)
    out["limited_by"] = np.where(fits & capped, "utilization", out["limited_by"])
    return out


__all__ = ["CANDIDATE_GRID", "DISAGG_UTILIZATION_MAX", "capacity_in_parts", "capacity_under_slo",
           "disaggregated_at_load", "disaggregated_under_slo", "disaggregated_units", "with_columns"]
