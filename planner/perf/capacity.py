"""The candidate search's capacity of one replica under percentile SLOs: the queueing model (aggregated
serving) and the rate-matched disaggregated unit (`disagg_capacity`), each at the largest load that holds the
targets.

See `planner.perf` (the package docstring) for the columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf import queueing as Q
from planner.perf.disagg_capacity import disaggregated_under_slo, disaggregated_units
from planner.perf.evaluate import as_text, evaluate_columns, output_frame, output_tok_s_per_user, whole_numbers
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.rate_search import TRICKLE, max_rate_meeting
from planner.perf.resolve import Cols, normalize_grid, resolve, take
from planner.perf.row_hash import row_hash
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
                variable: bool, resolved=None, hidden=None,
                unserved_figures: bool = True) -> dict[str, np.ndarray]:
    """The queueing model's figures for aggregated rows: the largest rate meeting the percentile targets, the
    latency at it and at a trickle, the replica's capacity and seats. A row that does not fit serves no rate:
    its table is not modelled (`queueing_only`), its figures are rate 0, one seat, NaN latencies (as
    `evaluate`'s). `unserved_figures`: `capacity_in_parts`'."""
    n = len(base)
    whole = build_step_tables(base, catalog, efficiency=eff, decode_points=CANDIDATE_GRID[0],
                              prefill_points=CANDIDATE_GRID[1], resolved=resolved, queueing_only=True)
    run = np.flatnonzero(whole.fits)
    out = _no_load(n) | {"isl": whole.isl, "osl": whole.osl}
    if not len(run):
        return out
    # the model is row by row: the rows that fit alone
    tab = whole if len(run) == n else Q.dataclass_rows(whole, run)
    tt, tp = (None if t is None else t[run] for t in (_targets(ttft_s, n), _targets(tpot_s, n)))
    h = None if hidden is None else hidden[run]  # reasoning tokens before the first visible one (reasoning.py)
    # rows equal in every input (fp8 and int8 of one configuration: ~1/5 of mixed-fleet's rows) modelled once
    first, back = _distinct_rows(tab, tt, tp, h)
    if first is None:
        got = _modelled(tab, tt, tp, h, percentile, variable, unserved_figures)
    else:
        got = _modelled(Q.dataclass_rows(tab, first), *(None if v is None else v[first] for v in (tt, tp, h)),
                        percentile, variable, unserved_figures)
        got = {k: v[back] for k, v in got.items()}
    for k, v in got.items():
        out[k][run] = v
    return out


def _modelled(tab, tt, tp, h, percentile: float, variable: bool,
              unserved_figures: bool = True) -> dict[str, np.ndarray]:
    """`_under_load`'s figures of rows that fit (tables `tab`; targets `tt`, `tp` or None; hidden tokens `h`).
    unserved_figures=False: the rows that serve no rate modelled at a trickle in the call at capacity (their
    latencies there are the ones at a trickle, the only ones read: one call of the model instead of two)."""
    m = len(tab)
    var = np.full(m, variable)
    # the engine's API-server time per request: spent before the queue, so off the TTFT target, onto the
    # reported TTFT
    api = tab.request_s
    target = None if tt is None else tt - api
    sv = Q.service(tab)
    ch = Q.chain(sv)
    rate, capped = utilization_bound(max_rate_meeting(tab, target, tp, percentile, var, known=(sv, ch),
                                                        hidden=h), sv.capacity_rps, tt)
    q = (float(percentile),)
    key = f"{q[0]:g}"
    none = np.flatnonzero(rate <= 0)
    lam = np.maximum(rate, 1e-12)
    if not unserved_figures and len(none):
        lam[none] = sv.capacity_rps[none] * TRICKLE
    at = Q.open_loop(ch, sv, tab, lam, var, q, hidden=h, itl=False)  # no ITL read here
    # the latency at a trickle says why a row serves no rate: computed for those rows only (the model is row by
    # row; its percentiles are the same figures with or without the others, targets_only), NaN elsewhere
    light = {k: np.full(m, np.nan) for k in ("ttft", "tpot")}
    if len(none):
        if unserved_figures:
            lt = Q.open_loop(Q.dataclass_rows(ch, none), Q.dataclass_rows(sv, none), None,
                             sv.capacity_rps[none] * TRICKLE, var[none], q, targets_only=True,
                             hidden=None if h is None else h[none])  # percentiles
        else:
            lt = {k: at[k][none] for k in (f"ttft_p{key}_s", f"tpot_p{key}_s")}
        light["ttft"][none] = lt[f"ttft_p{key}_s"] + api[none]
        light["tpot"][none] = lt[f"tpot_p{key}_s"]
    # the prompt path binds where the saturation rate is below what every seat busy completes, g(B)
    # (saturation.saturation_rps takes the lesser)
    prompt_bound = sv.capacity_rps < sv.seats_rps * (1.0 - 1e-9)
    return {"rate": rate, "e2e": at["e2e_mean_s"], "ttft_q": at[f"ttft_p{key}_s"] + api,
            "tpot_q": at[f"tpot_p{key}_s"], "light_ttft": light["ttft"], "light_tpot": light["tpot"],
            "seats": sv.cap, "capacity_rps": sv.capacity_rps, "capped": capped, "prompt_bound": prompt_bound}


def _distinct_rows(tab, *per_row) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(first, back): rows `first` (ascending) of the tables `tab` and the per-row arrays `per_row` (None:
    none) are distinct, row i equal to row first[back[i]] in every field (numbers bit for bit, text as
    text); (None, None) where few rows repeat. The model is row by row, so a repeated row's figures are its
    first's. Rows are told apart by a hash of their bits, then the repeats compared whole (a collision models
    every row)."""
    R = len(tab)
    fields = [_numeric(np.asarray(v)) for v in [getattr(tab, k) for k in tab.__dataclass_fields__] + list(per_row)
              if v is not None]
    fields = [np.ascontiguousarray(v, dtype=float).reshape(R, -1).view(np.uint64) for v in fields if v is not None]
    _, first, back = np.unique(_row_keys(fields, R), return_index=True, return_inverse=True)
    if 10 * len(first) > 9 * R:  # < 10% repeats: not worth it (an assumed threshold, not measured)
        return None, None
    order = np.argsort(first)  # the distinct rows in their order (the search's blocks and gathers as before)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    first, back = first[order], rank[back.ravel()]
    rep = np.flatnonzero(first[back] != np.arange(R))
    src = first[back[rep]]
    if any((np.take(b, rep, axis=0) != np.take(b, src, axis=0)).any() for b in fields):  # a collision
        return None, None
    return first, back


def _numeric(v: np.ndarray) -> np.ndarray | None:
    """A field as `_distinct_rows` compares it: numbers as they are; text (`reason`, `limited_by`: one value,
    '', on the rows that run, which are the only ones modelled) as codes where rows differ in it, so that rows
    differing in a text field the model may read are never taken for one; None where every row holds the same
    text."""
    if v.dtype.kind in "biuf":
        return v
    if not v.size or not (v != v[:1]).any():
        return None
    return pd.factorize(v.ravel())[0].reshape(v.shape)


def _row_keys(fields: list[np.ndarray], R: int) -> np.ndarray:
    """A hash per row of the (R, k) uint64 arrays `fields` (`row_hash` over their columns)."""
    return row_hash((b[:, j] for b in fields for j in range(b.shape[1])), R)


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
                      hidden=None, unserved_figures: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """`capacity_under_slo`'s rows before they are put in row order: the aggregated rows, then the
    disaggregated ones (with the aggregated part's columns), and per configuration its position in that
    frame. For callers that reorder the rows anyway (one take instead of two). unserved_figures=False: the
    aggregated rows that serve no rate (fits False) without the model's figures at batch 1 (the timed columns
    the capacity does not set, itl_s, avg_power_w, ...: NaN), for the candidate search, which reads only why
    such a row does not serve (~half of the aggregated rows of the examples)."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    base = configs.drop(columns=["batch"], errors="ignore").reset_index(drop=True)
    n = len(base)
    # compared as a column (arrow's compare), not as an array of Python strings made first: ~1.5 ms on 17k rows
    agg = ((base["serving"].astype(str) == "aggregated").to_numpy(dtype=bool) if "serving" in base
           else np.ones(n, bool))
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
                                  None if h is None else h[rows], unserved_figures))
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
                 tp: np.ndarray, percentile: float, variable: bool, shared, hidden=None,
                 unserved_figures: bool = True) -> pd.DataFrame:
    """`capacity_under_slo`'s frame of aggregated rows `base`: each at its capacity under the load model.
    `ttft_s`, `tpot_s`: the targets per row or None (no target); `tt`, `tp`: the same with inf for none;
    `shared`: `_resolved_once` of `base`; `unserved_figures`: `capacity_in_parts`'."""
    n = len(base)
    m = _under_load(base, catalog, eff, ttft_s, tpot_s, percentile, variable, shared, hidden,
                    unserved_figures) if n else _no_load(0)
    rate = m["rate"]
    key = f"{float(percentile):g}"
    running = np.clip(np.nan_to_num(rate * m["e2e"], nan=1.0), 1.0, m["seats"])
    g, res = evaluate_columns(base.assign(batch=np.round(running).astype(np.int64)), catalog, efficiency=eff,
                              resolved=shared, timed=True if unserved_figures else rate > 0)
    ok = res["fits"] & (rate > 0)
    ttft_q, tpot_q = m["ttft_q"], m["tpot_q"]
    upd: dict[str, object] = {}  # the columns changed or added, set before the frame is built
    upd["ttft_s"] = ttft_q
    upd["tpot_s"] = tpot_q
    upd["output_tok_s"] = np.where(rate > 0, rate * m["osl"], np.nan)
    gpus = res["gpus"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):  # as the pandas arithmetic this replaces
        upd["output_tok_s_per_gpu"] = upd["output_tok_s"] / np.where(gpus > 0, gpus, np.nan)
        upd["output_tok_s_per_user"] = output_tok_s_per_user(upd["tpot_s"])
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
    # the TTFT messages' (nearly all of them) whole numbers as integers (`whole_numbers`, the same text; ~6x
    # faster than formatting the floats: mixed-fleet writes ~4,400 a build)
    w_lt, w_t, w_h = (whole_numbers(x) for x in (l_tt * 1e3, t_tt * 1e3, hid))
    reason[none] = [
        f"{p} TTFT {lt} ms at light load > target {t} ms"
        + (f" ({wh} hidden reasoning tokens first)" if h > 0 else "")  # to the first visible token
        if bad else f"{p} TPOT {lp * 1e3:.1f} ms at light load > target {tp_ * 1e3:.1f} ms"
        for lt, t, lp, tp_, wh, h, bad in zip(w_lt, w_t, l_tp.tolist(), t_tp.tolist(), w_h, hid.tolist(),
                                              is_ttft.tolist(), strict=True)]
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
    return pd.concat([res, pd.DataFrame({k: as_text(v) for k, v in new.items()}, index=res.index)], axis=1)


__all__ = ["CANDIDATE_GRID", "capacity_in_parts", "capacity_under_slo", "with_columns"]
