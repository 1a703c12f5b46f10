"""The largest batch meeting latency targets, searched without evaluating every candidate batch.

`largest_batch_meeting` (and `search_visible.largest_batch_visible`, its zero-load twin to the first visible
token over the batch list alone) answers exactly what evaluating every configuration at every candidate batch
and keeping the largest batch that fits and meets the targets would (the exhaustive search stays in the tests as
the reference), but evaluates a handful of batches per configuration. It rests on two properties of the step model,
pinned by tests/test_perf_search.py on every example's grid:
- fits(b) holds for a prefix of the batches (memory and the engine's cap only ever stop a larger batch);
- a step's time does not fall when it carries more sequences, so TPOT (both serving modes) and the aggregated
  TTFT are non-decreasing in the batch.
Aggregated rows: ok(b) = fits & TPOT <= target & TTFT + hidden x TPOT <= target is then a prefix, found by
bisection (after up to GUESS_ROUNDS rounds that judge the two candidates around where TPOT / target, about linear
in the batch, crosses 1: any candidates may be judged, the prefix is the same). Disaggregated rows: TTFT depends
on the rate-matched unit (which need not grow with the batch), so only the bound fits & TPOT <= target & hidden x
TPOT <= TTFT target (implied by ok, since TTFT >= 0) is a prefix; bisection finds it and the batches inside it are
evaluated from the largest down to the first that meets the targets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.evaluate import (
    DEFAULT_BATCHES,
    PENDING,
    PREFILL_COLUMNS,
    TIMED,
    _columns,
    batch_reasons,
    engine_batch_cap,
    engine_batch_cap_of,
    engine_seats_of,
    evaluate,
    evaluate_columns,
    meeting_result,
    output_frame,
    predict,
)
from planner.perf.memory import memory
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.resolve import Cols, fail_kinds, normalize_grid, resolve, take
from planner.perf.search_rounds import bisect_judged, first_equal, guessed, scan_down, unjudged
from planner.perf.serving import prefill_batch_pass

SCAN_WIDTH = 2  # batches per row and round of the disaggregated scan: fewer rounds, few wasted evaluations
# a search over at most this many (configuration, batch) pairs runs the model on all of them in one call: a
# call's fixed cost (~1-2 ms) is then more than the evaluations the rounds would save
PREFETCH_PAIRS = 4096
# rounds of the prefix search at the guide's guess before plain bisection (see guessed): with 2, bench_load's
# disaggregated rows took 3.01 model evaluations each instead of 4.34, 7 model runs instead of 10 (2026-12-01)
GUESS_ROUNDS = 2
# at most this many (row, candidate) pairs left to a bisection or scan are judged in one run: a run of the model
# costs ~3.5 ms whatever its rows, as much as ~1,000 pairs (~3 us each). 4096, not 1024: mixed-fleet's last three
# bisection rounds (~650 rows each) and its tail run became one, 10 -> 7 runs for 21,624 -> 22,817 pairs
# (power-limited-site 9 -> 6 runs, 14,326 -> 15,930 pairs), ~8 ms less by those costs (2026-12-02)
TAIL_PAIRS = 4096


def _per_row(x, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, dtype=float), (n,)).copy()


def _aggregated(base: pd.DataFrame) -> np.ndarray:
    n = len(base)
    # compared as a column (arrow's compare), not as an array of Python strings made first
    return (base["serving"].astype(str) != "disaggregated").to_numpy(dtype=bool) if "serving" in base else \
        np.ones(n, bool)


class _Resolved:
    """The configurations resolved once (catalog look-ups, structural checks); `at` runs the model at other
    batches on those columns, which is what `evaluate` computes for the same rows (the batch enters the resolved
    columns only as itself). Grids with per-phase prefill layouts go through `evaluate` itself."""

    def __init__(self, base: pd.DataFrame, catalog: Catalog, eff: Efficiency,
                 resolved: tuple[Cols, np.ndarray] | None = None) -> None:
        self.base, self.catalog, self.eff = base, catalog, eff
        self.direct = any(k in base for k in PREFILL_COLUMNS)
        self._ones = self._pre = self._mem = None
        self._runs: list[tuple[np.ndarray, np.ndarray, tuple]] = []
        if self.direct:
            return
        g = self._g = normalize_grid(base.assign(batch=1))
        self.c, self.reason = resolved if resolved is not None else resolve(g, catalog, eff)
        n = len(g)
        self.serving = g["serving"].astype(str).to_numpy()
        self._modes, self._mode_of = sorted_codes(self.serving)
        self.engines = g["engine"].fillna("").astype(str).to_numpy() if "engine" in g else np.full(n, "")

    def frame(self, batch: np.ndarray) -> pd.DataFrame:
        """`evaluate` of every row at `batch`; rows at batch 1 reuse the model's run of the first probe."""
        return output_frame(*self.columns(batch))

    def columns(self, batch: np.ndarray) -> tuple[pd.DataFrame, dict]:
        """`evaluate_columns` of every row at `batch` (the frame's grid and output columns), as `frame`."""
        if self.direct:
            return evaluate_columns(self.base.assign(batch=batch), self.catalog, efficiency=self.eff)
        batch = np.asarray(batch, dtype=np.int64)
        ones = self._at_one()
        rest = np.flatnonzero(batch != 1)
        out, fits, mem, reason = (ones[0].copy(), ones[1].copy(), ones[2].copy(), ones[3].copy())
        out, mem = {k: v.copy() for k, v in out.items()}, {k: v.copy() for k, v in mem.items()}
        if len(rest):
            rest = self._from_runs(rest, batch, (out, fits, mem, reason))
        if len(rest):
            r_out, r_fits, r_mem, r_reason = self._run(rest, batch[rest])
            for k, v in r_out.items():
                out[k][rest] = v
            for k, v in r_mem.items():
                mem[k][rest] = v
            fits[rest], reason[rest] = r_fits, r_reason
        pending = np.flatnonzero(reason == PENDING)
        if len(pending):  # the runs' messages left out: written for the pairs the frame reports
            reason[pending] = self._messages(pending, batch[pending])
        g = self._g.assign(batch=batch)  # normalize_grid(grid): the batch (integers) is its only other column
        c = Cols(self.c)
        c["batch"] = batch.astype(float)
        return g, _columns(c, out, fits, reason, mem, self.reason == "")

    def _from_runs(self, rows: np.ndarray, batch: np.ndarray, into: tuple) -> np.ndarray:
        """Fill `into` (outputs, fits, memory, reason over every row) for `rows` from the searches' runs at the
        same batch (the model gives a row the same figures whatever rows it runs with); returns the rows that
        no run covered."""
        n = len(self.reason)
        want = np.full(n, -1, dtype=np.int64)
        want[rows] = batch[rows]
        src_run, src_pos = np.full(n, -1), np.full(n, -1)
        for j, (r, b, _) in enumerate(self._runs):
            hit = np.flatnonzero(b == want[r])
            src_run[r[hit]], src_pos[r[hit]] = j, hit
        out, fits, mem, reason = into
        for j in np.unique(src_run[rows]):
            if j < 0:
                continue
            sel = rows[src_run[rows] == j]
            pos = src_pos[sel]
            r_out, r_fits, r_mem, r_reason = self._runs[j][2]
            for k, v in r_out.items():
                out[k][sel] = v[pos]
            for k, v in r_mem.items():
                mem[k][sel] = v[pos]
            fits[sel], reason[sel] = r_fits[pos], r_reason[pos]
        return rows[src_run[rows] < 0]

    def _at_one(self):
        if self._ones is None:
            n = len(self.reason)
            self._ones = self._run(np.arange(n), np.ones(n, dtype=np.int64))
        return self._ones

    def batch_limit(self) -> np.ndarray | None:
        """Per row, the largest batch that can fit (memory, engine cap; 0 where nothing runs), once the model
        has run every row at batch 1 (None before, or for grids that go through `evaluate`)."""
        if self.direct or self._ones is None:
            return None
        return np.minimum(self.max_batch_memory(), engine_batch_cap_of(self.c))

    def max_batch_memory(self) -> np.ndarray:
        """evaluate's max_batch_memory column (the memory does not depend on the batch)."""
        if self.direct:
            return self.frame(np.ones(len(self.base), dtype=np.int64))["max_batch_memory"].to_numpy(dtype=float)
        # the memory columns of a run are `_memory`'s (they do not depend on the batch): no run needed
        mem = self._memory(np.arange(len(self.reason)))["max_batch_memory"]
        return np.where(self.reason == "", mem, 0.0).astype(np.int64).astype(float)

    def at(self, rows: np.ndarray, batch: np.ndarray) -> dict[str, np.ndarray]:
        """fits, ttft_s, tpot_s of `rows` at `batch` (integers >= 1), as `evaluate` gives them."""
        if self.direct:
            ev = evaluate(self.base.iloc[rows].assign(batch=batch), self.catalog, efficiency=self.eff)
            return {k: ev[k].to_numpy() for k in ("fits", "ttft_s", "tpot_s")}
        every_one = len(rows) == len(self.reason) and (np.asarray(batch) == 1).all()
        run = self._ones if every_one and self._ones is not None else self._run(rows, batch)
        if every_one:
            self._ones = run  # every row at batch 1: kept for the final frame
        self._runs.append((np.asarray(rows), np.asarray(batch, dtype=np.int64), run))  # for the final frame
        out, fits = run[0], run[1]
        return {"fits": fits, "ttft_s": out["ttft_s"], "tpot_s": out["tpot_s"]}

    def prefetch(self, cand: np.ndarray) -> dict[str, np.ndarray] | None:
        """fits, ttft_s, tpot_s of every row at every batch of its row of `cand` (n, K), flat (row-major), from
        one run of the model, kept for the final frame like `at`'s runs (None for grids that go through
        `evaluate`). Each pair's figures are what `at` gives for it: the model is elementwise over rows."""
        if self.direct:
            return None
        n, k = cand.shape
        rows, batch = np.repeat(np.arange(n), k), cand.reshape(-1).astype(np.int64)
        run = self._run(rows, batch)
        self._runs.append((rows, batch, run))
        if (batch[::k] == 1).all():  # every row at batch 1 first: what `at`'s first call would keep
            pos = np.arange(n) * k
            out, fits, mem, reason = run
            self._ones = ({key: v[pos] for key, v in out.items()}, fits[pos],
                          {key: v[pos] for key, v in mem.items()}, reason[pos])
        return {"fits": run[1], "ttft_s": run[0]["ttft_s"], "tpot_s": run[0]["tpot_s"]}

    def _run(self, rows: np.ndarray, batch: np.ndarray):
        """predict's (outputs, fits, memory, reason) of `rows` at `batch`, one serving mode at a time (the model
        then needs no second gather), as arrays over `rows`."""
        m = len(rows)
        mode_of = self._mode_of.reshape(-1)[rows]
        modes = np.unique(mode_of)  # np.unique(serving) without comparing strings
        if len(modes) == 1:  # one serving mode: predict's arrays are the run's (nothing to scatter)
            o, fits, mm, reason = self._predict(rows, batch, self._modes[modes[0]])
            out = {k: np.asarray(o[k], dtype=float) if k in o else np.full(m, np.nan)
                   for k in (*TIMED, "gpus_disagg")}
            out["limited_by"] = np.asarray(o["limited_by"], dtype=object)
            mem = {k: np.array(np.broadcast_to(v, (m,)), dtype=float) for k, v in mm.items()}
            return out, np.asarray(fits, dtype=bool), mem, reason
        out = {k: np.full(m, np.nan) for k in (*TIMED, "gpus_disagg")}  # NaN gpus_disagg = none, as evaluate's
        out["limited_by"] = np.full(m, "", dtype=object)
        fits, reason, mem = np.zeros(m, dtype=bool), self.reason[rows].copy(), {}
        for j in modes:
            at = np.flatnonzero(mode_of == j)
            o, f, mm, reason_at = self._predict(rows[at], batch[at], self._modes[j])
            for k, v in o.items():
                out[k][at] = v
            for k, v in mm.items():
                mem.setdefault(k, np.full(m, np.nan))[at] = np.broadcast_to(v, (len(at),))
            fits[at], reason[at] = f, reason_at
        return out, fits, mem, reason

    def _predict(self, rows: np.ndarray, batch: np.ndarray, mode: str):
        """`predict` of `rows`, all in serving mode `mode`, at `batch`: (outputs, fits, memory, reason) as it
        gives them."""
        pre = None
        if mode == "disaggregated":
            def pre(idx, sel=rows):
                return self._prefill(sel[idx])
        reason = self.reason[rows].copy()
        # the memory and engine-cap messages left out (PENDING) but at batch 1: a search reads whether a pair
        # fits, and the message of the one batch per row its frame reports, the smallest candidate (1 unless
        # the batches say otherwise; `columns` writes the others): ~800 of quickstart's pairs a build not
        # written
        o, fits, mm = predict(self._cols(rows, batch), reason, self.serving[rows], self.engines[rows], self.eff,
                              pre=pre, mem=self._memory(rows), messages=np.asarray(batch) == 1)
        return o, fits, mm, reason

    def _messages(self, rows: np.ndarray, batch: np.ndarray) -> np.ndarray:
        """predict's reasons of `rows` at `batch` with their messages (`batch_reasons` after resolve's)."""
        c, reason = self._cols(rows, batch), self.reason[rows].copy()
        batch_reasons(c, self._memory(rows), reason, fail_kinds(c, len(rows)), self.engines[rows])
        return reason

    def _memory(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """`memory` of `rows` (it does not depend on the batch): computed once for every row, then taken."""
        if self._mem is None:
            n = len(self.reason)
            self._mem = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,))
                         for k, v in memory(self._cols(np.arange(n), np.ones(n, dtype=np.int64))).items()}
        return {k: v[rows] for k, v in self._mem.items()}

    def _prefill(self, rows: np.ndarray):
        """`prefill_batch_pass` of disaggregated rows (it does not depend on the batch): run once for every row
        that can run, then taken by row."""
        if self._pre is None:
            n = len(self.reason)
            ok = np.flatnonzero((self.serving == "disaggregated") & (self.reason == ""))
            c = self._cols(ok, np.ones(len(ok), dtype=np.int64))
            lat, interval, n_req = prefill_batch_pass(c, self.eff.serving, c.isl, c.batch)

            def full(v):
                a = np.full(n, np.nan)
                a[ok] = np.broadcast_to(np.asarray(v, dtype=float), (len(ok),))
                return a

            self._pre = ({k: full(v) for k, v in lat.items()}, full(interval), full(n_req))
        lat, interval, n_req = self._pre
        return {k: v[rows] for k, v in lat.items()}, interval[rows], n_req[rows]

    def _cols(self, rows: np.ndarray, batch: np.ndarray) -> Cols:
        c = take(self.c, rows, len(self.reason))
        c["batch"] = np.asarray(batch, dtype=float)
        return c


def sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True) (the distinct values sorted, and each value's index among them),
    from pd.factorize: the few distinct strings are sorted, not every value."""
    codes, uniques = pd.factorize(values)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return uniques[order], rank[codes]


def _largest(model: _Resolved, cand: np.ndarray, agg: np.ndarray, judge) -> tuple[np.ndarray, dict]:
    """Per row of `base`, the index of the largest batch in its row of `cand` (n, K), ascending, for which
    judge(fits/ttft_s/tpot_s arrays, row numbers) says 'good' (-1: none), evaluating as few as the prefix
    properties allow. judge returns bool arrays by name: 'good', and 'bound', a prefix predicate that 'good'
    implies (for aggregated rows 'good' itself is one). Also returns every judged flag as (n, K) arrays (False
    where not evaluated); the smallest candidate and the first index past the prefix are always evaluated."""
    n, k_max = cand.shape
    flags: dict[str, np.ndarray] = {}
    table = model.prefetch(cand) if n * k_max <= PREFETCH_PAIRS else None  # small: every pair in one call
    guide = np.full((n, k_max), np.nan)  # judge's 'guide' where it gives one (see guessed)

    same = first_equal(cand)  # a batch listed twice in a row (a limit equal to a list entry) is judged once
    judged = np.zeros((n, k_max), dtype=bool)

    def run(rows: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
        """The judge's flags of pairs (rows, k); the model runs on those not judged before in this search (a
        pair's flags are the same whenever judged: the scan re-reads the bisection's, ~5% of the pairs)."""
        kc = same[rows, k]
        r_new, k_new = unjudged(rows, kc, judged)
        if len(r_new):
            ev = model.at(r_new, cand[r_new, k_new].astype(np.int64)) if table is None else {
                name: v[r_new * k_max + k_new] for name, v in table.items()}
            out = judge(ev, r_new)
            g_good, g_bound = out.pop("guide_good", None), out.pop("guide_bound", None)
            if g_good is not None and g_bound is not None:
                guide[r_new, k_new] = np.where(agg[r_new], g_good, g_bound)
            out["bound"] = np.where(agg[r_new], out["good"], out["bound"])
            for name, v in out.items():
                flags.setdefault(name, np.zeros((n, k_max), dtype=bool))[r_new, k_new] = v
            judged[r_new, k_new] = True
        guide[rows, k] = guide[rows, kc]
        for v in flags.values():
            v[rows, k] = v[rows, kc]
        return {name: v[rows, k] for name, v in flags.items()}

    first = run(np.arange(n), np.zeros(n, dtype=np.int64))
    lo = np.where(first["bound"], 0, -1)  # the largest index known to satisfy the prefix predicate
    hi = np.full(n, k_max)  # the smallest index known not to (k_max: past the last candidate)
    limit = model.batch_limit()
    if limit is not None:  # a batch above the memory or engine limit does not fit: the bound fails there
        hi = np.minimum(hi, np.maximum((cand <= limit[:, None]).sum(axis=1), 1))
        # most configurations that serve at all are stopped by memory (~60% on the examples): the largest batch
        # that fits is probed first, which settles them in one round
        rows = np.flatnonzero((lo >= 0) & (hi - lo > 1))
        if len(rows):
            top = hi[rows] - 1
            p = run(rows, top)["bound"]
            lo[rows] = np.where(p, top, lo[rows])
            hi[rows] = np.where(p, hi[rows], top)
    for _ in range(GUESS_ROUNDS):  # the two candidates around the guide's guess: most rows end there
        rows = np.flatnonzero((lo >= 0) & (hi - lo > 1))
        if not len(rows):
            break
        at, k = guessed(cand, guide, lo, hi, rows)
        p = run(at, k)["bound"]
        np.maximum.at(lo, at[p], k[p])
        np.minimum.at(hi, at[~p], k[~p])
    while True:
        rows = np.flatnonzero((lo >= 0) & (hi - lo > 1))
        if len(rows) == 0:
            break
        if (hi[rows] - lo[rows] - 1).sum() <= TAIL_PAIRS:  # every candidate left in one run, the same halvings
            bisect_judged(run, flags, rows, lo, hi)
            break
        mid = (lo[rows] + hi[rows]) // 2
        p = run(rows, mid)["bound"]
        lo[rows] = np.where(p, mid, lo[rows])
        hi[rows] = np.where(p, hi[rows], mid)
    best = np.where(agg, lo, -1)
    # disaggregated rows: down from the top of the prefix, a few batches per row and round, to the first that
    # is good (the smallest candidate is judged already, the top too)
    scan_down(run, flags["good"], np.flatnonzero(~agg & (lo >= 1)), lo, best, SCAN_WIDTH, TAIL_PAIRS)
    best = np.where(agg | (best >= 0), best, np.where(first["good"], 0, -1))
    return best, flags


def largest_batch_meeting(grid: pd.DataFrame, catalog: Catalog, ttft_s=None, tpot_s=None, batches=None, *,
                          efficiency: Efficiency | None = None,
                          resolved: tuple[Cols, np.ndarray] | None = None, hidden=None,
                          runs: list | None = None, seats: bool = False) -> pd.DataFrame:
    """`max_batch_meeting` (same result to the last digit), evaluating a few candidate batches per configuration
    instead of all of them; the targets may also be per row (inf = no target). `resolved`: `resolve` of the
    rows (without batch) at batch 1 where the caller has it (not modified). `hidden` (per row or one for all,
    None = none): reasoning tokens of the osl decoded before the first visible one; the TTFT target then holds
    for that token, ttft_s + hidden x tpot_s (each of those steps at most the batch's TPOT), and the result's
    ttft_s is it. Rows without hidden tokens are the ordinary search to the bit. `runs`: a list the search's
    runs of the model are appended to, as (rows, batches, fits, tpot_s) (rows: positions in `grid`), for a
    caller that needs TPOT at other batches of the same rows (a reasoning unit's step table). `seats`: the
    generic engine's rows run at most its assumed seats too (evaluate.engine_seats_of), as the load model seats an
    aggregated replica (a disaggregated unit's decode instances)."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    base = grid.drop(columns=["batch"], errors="ignore").reset_index(drop=True)
    n = len(base)
    t_ttft = _per_row(np.inf if ttft_s is None else ttft_s, n)
    t_tpot = _per_row(np.inf if tpot_s is None else tpot_s, n)
    h = None if hidden is None or not np.any(hidden) else _per_row(hidden, n)
    cands = np.array(sorted(set(int(b) for b in (batches or DEFAULT_BATCHES) if b >= 1)), dtype=float)
    model = _Resolved(base, catalog, eff, resolved)
    mem_max = model.max_batch_memory()
    # the engine's cap, from the columns the model resolved already where it has them
    eng_cap = (engine_batch_cap(base.assign(batch=1), catalog, eff) if model.direct
               else engine_batch_cap_of(model.c))
    generic_seats = np.full(n, np.inf)
    if seats:  # the generic engine's rows (no cap of their own) at most its assumed seats
        c = resolve(normalize_grid(base.assign(batch=1)), catalog, eff)[0] if model.direct else model.c
        generic_seats = np.where(np.isfinite(eng_cap), np.inf, engine_seats_of(c))
        eng_cap = np.minimum(eng_cap, generic_seats)
    # the candidates of max_batch_meeting: the list plus the exact memory and engine limits where smaller
    extra = [np.where((mem_max >= 1) & (mem_max < cands[-1]), mem_max, cands[0])[:, None]]
    if np.isfinite(eng_cap).any():
        extra.append(np.where(eng_cap < np.minimum(mem_max, cands[-1]), eng_cap, cands[0])[:, None])
    cand = np.sort(np.concatenate([np.tile(cands, (n, 1)), *extra], axis=1), axis=1)
    cand = np.minimum(cand, generic_seats[:, None])  # evaluate holds no cap there: the candidates do

    def judge(ev: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
        fits = ev["fits"]
        ttft = ev["ttft_s"] if h is None else visible_ttft(ev["ttft_s"], ev["tpot_s"], h[rows])
        ttft_ok = np.isinf(t_ttft[rows]) | (ttft <= t_ttft[rows])  # no target: always met
        tpot_ok = np.isinf(t_tpot[rows]) | (ev["tpot_s"] <= t_tpot[rows])
        # the hidden steps alone within the TTFT target: a prefix too (TPOT grows with the batch), implied by
        # ttft_ok, so the disaggregated rows' bound stays a prefix predicate that 'good' implies
        bound = fits & tpot_ok
        if h is not None:
            bound = bound & (visible_ttft(0.0, ev["tpot_s"], h[rows]) <= t_ttft[rows])
        with np.errstate(divide="ignore", invalid="ignore"):
            tpot_share = ev["tpot_s"] / t_tpot[rows]
            guide_good = np.maximum(tpot_share, ttft / t_ttft[rows]) - 1.0
            # the bound's hidden steps share the TTFT target as TPOT does its own: linear in the batch too (without
            # it, reasoning rows the hidden steps stop fell to plain bisection)
            hidden_share = 0.0 if h is None else h[rows] * ev["tpot_s"] / t_ttft[rows]
            bound_share = np.maximum(tpot_share, hidden_share)
        return {"good": fits & ttft_ok & tpot_ok, "bound": bound, "fits": fits, "ttft_ok": ttft_ok,
                "tpot_ok": tpot_ok, "guide_good": guide_good, "guide_bound": bound_share - 1.0}

    best, flags = _largest(model, cand, _aggregated(base), judge)
    any_good = best >= 0
    rows = np.arange(n)
    chosen_b = cand[rows, np.maximum(best, 0)]  # the smallest candidate where nothing is good
    # the result's columns completed as arrays, then one frame (pandas converts each string column once)
    g, res = model.columns(chosen_b.astype(np.int64))
    res = dict(res, batch=g["batch"].to_numpy())
    if runs is not None:
        runs.extend((r, b, run[1], run[0]["tpot_s"]) for r, b, run in model._runs)
    if h is not None:  # the first visible token's TTFT, what the targets were held to
        res["ttft_s"] = visible_ttft(np.asarray(res["ttft_s"], dtype=float), np.asarray(res["tpot_s"], float), h)
    # what stopped a larger batch: the next larger candidate's first failure (judged by the search)
    nxt = np.minimum(best + 1, cand.shape[1] - 1)
    has_next = any_good & (best + 1 < cand.shape[1])
    f = {k: flags[k][rows, nxt] for k in ("fits", "ttft_ok", "tpot_ok")}
    stop = np.where(~f["fits"], "memory", np.where(~f["ttft_ok"], "ttft", np.where(~f["tpot_ok"], "tpot", "")))
    out = meeting_result(res, any_good, has_next, stop, chosen_b, mem_max, eng_cap, t_ttft, t_tpot)
    if h is not None:  # a row that misses its targets says the hidden tokens came first
        miss = np.flatnonzero(~any_good & (h > 0) & (np.asarray(out["limited_by"]) == "ttft"))
        reason = np.array(out["reason"], dtype=object)
        hidden_k = h[miss].tolist()
        after = {k: f" (first visible token, after {k:.0f} hidden reasoning tokens)" for k in set(hidden_k)}
        reason[miss] = [f"{r}{after[k]}" for r, k in zip(reason[miss], hidden_k, strict=True)]
        out["reason"] = reason
    del out["batch"]  # the grid's
    return output_frame(g, out)


def visible_ttft(ttft_s, tpot_s, hidden: np.ndarray) -> np.ndarray:
    """Zero-load TTFT to the first visible token: after the first generated token, `hidden` decode steps of at
    most TPOT each (the batch's step, which bounds every step of a request in it); exactly ttft_s where hidden
    is 0 (even where TPOT is inf or NaN)."""
    h = np.asarray(hidden, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(h > 0, ttft_s + h * np.asarray(tpot_s, dtype=float), ttft_s)


__all__ = ["largest_batch_meeting", "visible_ttft"]
