"""Disaggregated units' capacity: the rate-matched unit at its full batch (`disaggregated_units`), its two
queues (a prefill M/D/1 server and the decode seats' Erlang-C wait) at a load (`disaggregated_at_load`) and at
the largest utilization where TTFT holds at the SLO percentile (`disaggregated_under_slo`). The candidate
search reads it through `capacity.capacity_in_parts`; predict and load_disagg call it directly.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.bisection import largest_within
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.reasoning_disagg import (
    HIDDEN,
    hidden_phase_at,
    step_columns,
    step_table_rows,
    tpot_at_load,
    unit_steps,
    with_decode_steps,
)
from planner.perf.search import largest_batch_meeting
from planner.perf.slo_policy import utilization_bound

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
                                  resolved=resolved, hidden=hidden, runs=runs, seats=True)
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
    return base + pre + seat + _hidden_phase(s, rho, p)


def _unit_ttft_mean(s: dict, rho: np.ndarray) -> np.ndarray:
    """Mean TTFT of units at utilization rho: the mean prefill pass (`_prefill_wait`) and the two tails' means
    (M/D/1: rho / (2 mu (1 - rho)), exactly Pollaczek-Khinchine's; seats: p_wait / theta, halved)."""
    p_wait, theta = _seat_wait(s, rho, 0.5, exact=True)
    pre, base = _prefill_wait(s, rho, None)
    return base + pre + 0.5 * p_wait / theta + _hidden_phase(s, rho, None)


def _hidden_phase(s: dict, rho: np.ndarray, p: float | None) -> np.ndarray | float:
    """`hidden_phase_at` of units at utilization rho; 0 without a row with hidden tokens (units that share a
    table with reasoning rows that do not run: quickstart's, ~0.2 ms a call of the bisection), which adds the
    same +0.0 to every row as its zeros. Where some rows have hidden tokens the model runs on all: on those alone
    (a gather of the table per call) mixed-fleet's bisection took 40 -> 45 ms with ~60% of its rows reasoning."""
    if "onset" not in s or not (s["hidden"] > 0).any():
        return 0.0
    return hidden_phase_at(s, rho * s["mu"], s["osl"], p)


DISAGG_UTILIZATION_MAX = 0.999  # the bisections' top: the queues' waits grow without bound at rho = 1
CLOSED_LOOP_HALVINGS = 40  # of [0, DISAGG_UTILIZATION_MAX]: rho to ~1e-12, below any figure an answer shows


def _closed_loop_rho(s: dict, clients: np.ndarray) -> np.ndarray:
    """Utilization of units (`_unit_state`) under closed-loop clients: the largest rho (of the halvings'
    grid) where Little's law, rate x (mean TTFT + (visible - 1) x mean TPOT), stays within the clients (it rises
    from 0 to inf as rho -> 1)."""
    lo, hi = np.zeros(len(clients)), np.full(len(clients), DISAGG_UTILIZATION_MAX)
    for _ in range(CLOSED_LOOP_HALVINGS):
        mid = (lo + hi) / 2.0
        little = mid * s["mu"] * (_unit_ttft_mean(s, mid) + (s["visible"] - 1.0) * tpot_at_load(s, mid, None))
        below = little <= clients
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return lo


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
    if closed.any():  # only the closed-loop rows: the others' rho is their rate's (the bisection ran on all)
        at = np.flatnonzero(closed)
        rho = np.array(rho)
        rho[at] = _closed_loop_rho(step_table_rows(s, at), conc[at])
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


__all__ = ["DISAGG_UTILIZATION_MAX", "disaggregated_at_load", "disaggregated_under_slo", "disaggregated_units"]
