"""The evaluation half of the candidate search: the configuration grid through the performance model, one call
per kind of search (the load-aware capacity once per SLO percentile, reasoning rows included; a custom
performance function per workload). Variant pruning is `planner.optimize.variants`. See
`planner.optimize.candidates`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.optimize import forked
from planner.optimize.instance import Instance
from planner.optimize.variants import PREFILL_LAYOUT, own_prefill
from planner.perf import CONFIG_COLUMNS
from planner.perf.capacity import capacity_in_parts, with_columns
from planner.perf.search_visible import largest_batch_visible

PerfFn = Callable[..., pd.DataFrame]


def evaluate_grid(
    grid: pd.DataFrame, inst: Instance, catalog: Catalog, perf: PerfFn | None = None, *, in_order: bool = True
) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray | None]:
    """Run the performance model per workload (each has its own TTFT/TPOT targets and SLO percentile): by
    default a replica's capacity is the largest request rate at which the targets hold at that percentile
    (`capacity_under_slo`); a custom `perf` without a `percentile` argument gets the targets alone. Rows of a
    reasoning effort generate `output_multiplier` tokens per visible one: the first visible token comes after the
    hidden ones (TTFT at the percentile = queue wait + prefill + the hidden tokens' decode steps,
    `planner.perf.reasoning`), TPOT is over the visible tokens and throughput counts them. With a custom `perf`
    (which knows no hidden tokens) reasoning rows get the zero-load batch search to the first visible token
    (`largest_batch_visible`: TTFT + hidden x TPOT within the target). Results come in (workload, hidden tokens)
    order. in_order=False: (rows, at) instead, the frame being rows.take(at) (at None: rows as they are), for a
    caller that takes some of the rows anyway (one take of every column instead of two: ~10 ms on mixed-fleet)."""
    groups = _groups(grid)
    calls = _merged_results(grid, groups, inst, catalog, perf)
    if not calls:
        return pd.DataFrame() if in_order else (pd.DataFrame(), None)
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
        return out.reset_index(drop=True) if in_order else (out.reset_index(drop=True), None)
    return out.take(at).reset_index(drop=True) if in_order else (out, at)


def _groups(grid: pd.DataFrame) -> dict[tuple, np.ndarray]:
    """grid.groupby(["workload", "hidden_tokens"]).indices (keys as Python values, in order; positions
    ascending), from integer codes: the groupby's set-up cost more than the grouping (quickstart 1.3 -> 0.5 ms)."""
    w_codes, workloads = pd.factorize(grid["workload"])
    h_codes, hidden = pd.factorize(grid["hidden_tokens"])
    if len(grid) == 0 or (w_codes < 0).any() or (h_codes < 0).any():  # no rows or a missing key: groupby's rules
        return grid.groupby(["workload", "hidden_tokens"], sort=True).indices
    code = w_codes.astype(np.int64) * len(hidden) + h_codes
    order = np.argsort(code, kind="stable")
    starts = np.flatnonzero(np.concatenate([[True], np.diff(code[order]) != 0]))
    bounds = [*starts.tolist(), len(order)]
    workloads, hidden = list(workloads), np.asarray(hidden).tolist()
    return dict(sorted(((workloads[c // len(hidden)], hidden[c % len(hidden)]), order[a:b])
                       for c, a, b in zip(code[order[starts]].tolist(), bounds[:-1], bounds[1:], strict=True)))


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
    targets share one call (the model takes per-row targets): the default `capacity_under_slo` once per SLO
    percentile (reasoning groups with their hidden tokens per row); with a custom `perf`, the batch search for
    every reasoning group and the function once per other group."""
    takes_pct = perf is None or "percentile" in inspect.signature(perf).parameters
    calls: dict[tuple, list] = {}
    for wid, hidden in sorted(groups):
        w = inst.workloads[wid]
        if hidden > 0 and perf is not None:
            call = ("search", bool(w.engines))
        elif perf is None:
            call = ("capacity", bool(w.engines), w.slo_percentile)
        else:
            call = ("custom", wid, hidden)
        calls.setdefault(call, []).append((wid, hidden))
    jobs = []
    # per grid row, whether it drafts / has a prefill layout of its own: read per call at its rows
    drafts = (grid["speculative"] != "none").to_numpy(dtype=bool)
    own = own_prefill(grid)
    avail = {c: grid.columns.get_loc(c) for c in (*CONFIG_COLUMNS, "engine", "speculative", *PREFILL_LAYOUT)
             if c in grid}
    for call, keys in calls.items():
        sizes = [len(groups[k]) for k in keys]
        targets = {name: np.repeat([getattr(inst.workloads[wid], name) for wid, _ in keys], sizes)
                   for name in ("ttft_target_s", "tpot_target_s")}
        at = np.concatenate([groups[k] for k in keys])
        # columns the perf model reads only where a row uses them: without them it takes its fast paths; only
        # those columns taken, in one take (the grid's other columns, strings mostly, cost more)
        cols = list(CONFIG_COLUMNS) + (["engine"] if inst.workloads[keys[0][0]].engines else []) + (
            ["speculative"] if drafts[at].any() else []) + (list(PREFILL_LAYOUT) if own[at].any() else [])
        rows = grid.iloc[at, [avail[c] for c in cols]].reset_index(drop=True)
        if call[0] == "search":
            jobs.append(_Search(rows, targets["ttft_target_s"], targets["tpot_target_s"],
                                np.repeat([h for _, h in keys], sizes)))
        elif call[0] == "capacity":
            jobs.append(_Capacity(rows, targets["ttft_target_s"], targets["tpot_target_s"], call[-1],
                                  np.repeat([h for _, h in keys], sizes).astype(float)))
        else:  # one group: the workload's own targets, as keywords
            w = inst.workloads[keys[0][0]]
            jobs.append(_Custom(rows, {"ttft_s": w.ttft_target_s, "tpot_s": w.tpot_target_s,
                                       **({"percentile": w.slo_percentile} if takes_pct else {})}))
    return [(keys, res, pos) for keys, (res, pos) in zip(calls.values(), _run_jobs(jobs, catalog, perf),
                                                         strict=True)]


# CPU cost of one call of the model: fixed ms + ms per row, fitted 2026-12-01 on the examples' calls (capacity:
# 192-2,852 rows, 43-147 ms; batch search: 96-14,644 rows, 13-125 ms); only its shape matters: it balances the
# two processes' shares and says when a fork pays. A call split by rows pays its fixed part in both processes.
CALL_COST_MS = {"search": (30.0, 0.0065), "capacity": (34.0, 0.040)}
# the fork pays where it takes at least this many estimated ms off the evaluation's critical path: the fork, the
# pages both processes then copy on write (~5,000 faults each on offline-tokens-per-dollar), the child's rows
# pickled and read back cost the parent ~20 ms of CPU, the child's start and exit a few ms more
FORK_MIN_SAVING_MS = 40.0


@dataclass(frozen=True)
class _Search:
    """A call of the pruned batch search (`largest_batch_visible`): reasoning rows of a custom `perf`, each with
    its targets and the hidden tokens before its first visible one."""

    kind: ClassVar[str] = "search"
    rows: pd.DataFrame
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    hidden: np.ndarray

    def of(self, at: np.ndarray) -> _Search:
        """The same call on rows `at` (positions) alone."""
        return _Search(self.rows.take(at).reset_index(drop=True), self.ttft_s[at], self.tpot_s[at],
                       self.hidden[at])

    def run(self, catalog: Catalog, perf: PerfFn | None) -> tuple[pd.DataFrame, np.ndarray]:
        return (largest_batch_visible(self.rows, catalog, self.ttft_s, self.tpot_s, self.hidden),
                np.arange(len(self.rows)))


@dataclass(frozen=True)
class _Capacity:
    """A call of the load-aware capacity (`capacity_in_parts`): rows with their targets, all at one SLO
    percentile, and the hidden reasoning tokens per row (0: none)."""

    kind: ClassVar[str] = "capacity"
    rows: pd.DataFrame
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    percentile: float
    hidden: np.ndarray

    def of(self, at: np.ndarray) -> _Capacity:
        """The same call on rows `at` (positions) alone."""
        return _Capacity(self.rows.take(at).reset_index(drop=True), self.ttft_s[at], self.tpot_s[at],
                         self.percentile, self.hidden[at])

    def run(self, catalog: Catalog, perf: PerfFn | None) -> tuple[pd.DataFrame, np.ndarray]:
        return capacity_in_parts(self.rows, catalog, ttft_s=self.ttft_s, tpot_s=self.tpot_s,
                                 percentile=self.percentile, hidden=self.hidden, unserved_figures=False)


@dataclass(frozen=True)
class _Custom:
    """A call of the caller's `perf` function: one group's rows and the keyword arguments it is given (its
    workload's targets, and the SLO percentile where the function takes one). Never split (`_plan`)."""

    kind: ClassVar[str] = "custom"
    rows: pd.DataFrame
    kwargs: dict

    def run(self, catalog: Catalog, perf: PerfFn | None) -> tuple[pd.DataFrame, np.ndarray]:
        return perf(self.rows, catalog, **self.kwargs), np.arange(len(self.rows))


_Job = _Search | _Capacity | _Custom  # one call of the performance model; `run` gives its rows and positions


def _run_jobs(jobs: list[_Job], catalog: Catalog, perf: PerfFn | None) -> list[tuple[pd.DataFrame, np.ndarray]]:
    """Every job run, in this process or, where it pays, shared with a forked child
    (`planner.optimize.forked`): whole calls go to either process, a call that dominates the evaluation is split
    by rows (the model is row by row) and its shares put back together in the row order and with the columns
    one call gives. Every call's frame is the one a single process computes."""
    here, there, split, saving_ms = _plan(jobs)
    wanted = forked.setting()
    if not (there or split) or wanted == 1 or (wanted is None and saving_ms < FORK_MIN_SAVING_MS) \
            or not forked.available(busy=wanted is None):
        return [j.run(catalog, perf) for j in jobs]
    shares = {k: _shares(jobs[k].rows) for k in split}
    mine, theirs = forked.both(
        lambda: [jobs[k].run(catalog, perf) for k in here] + [jobs[k].of(shares[k][0]).run(catalog, perf)
                                                            for k in split],
        lambda: [jobs[k].run(catalog, perf) for k in there] + [jobs[k].of(shares[k][1]).run(catalog, perf)
                                                             for k in split])
    out = dict(zip(here, mine, strict=False)) | dict(zip(there, theirs, strict=False))
    for k, first, second in zip(split, mine[len(here):], theirs[len(there):], strict=True):
        # shares whose frames differ in columns (not seen on the examples) cannot be put together: run whole
        out[k] = _joined(first, second, *shares[k]) or jobs[k].run(catalog, perf)
    return [out[k] for k in range(len(jobs))]


def _plan(jobs: list[_Job]) -> tuple[list[int], list[int], list[int], float]:
    """(jobs run whole here, whole in the child, split by rows between both; the estimated ms the child takes
    off the critical path): whole calls balanced between the processes (largest first, to the lighter one), or
    the largest call split by rows and the others balanced around it, whichever saves more. Custom calls stay
    here (a user's function need not be row by row)."""
    cost = [_cost(j.kind, len(j.rows)) for j in jobs]
    order = sorted(range(len(jobs)), key=lambda k: (-cost[k], k))
    options = [_balanced(jobs, cost, order, [])]
    if jobs and jobs[order[0]].kind != "custom" and len(jobs[order[0]].rows) >= 2:
        options.append(_balanced(jobs, cost, order, [order[0]]))
    return max(options, key=lambda plan: plan[3])  # the first of equal savings: whole calls


def _balanced(jobs: list[_Job], cost: list[float], order: list[int],
              split: list[int]) -> tuple[list[int], list[int], list[int], float]:
    load = [_cost(jobs[k].kind, (len(jobs[k].rows) + 1) // 2) for k in split] * 2 or [0.0, 0.0]
    here: list[int] = []
    there: list[int] = []
    for k in order:
        if k in split:
            continue
        side = 0 if jobs[k].kind == "custom" or load[0] <= load[1] else 1
        (here, there)[side].append(k)
        load[side] += cost[k]
    return sorted(here), sorted(there), split, sum(cost) - max(load)


def _cost(kind: str, rows: int) -> float:
    fixed, per_row = CALL_COST_MS.get(kind, (0.0, 0.0))
    return fixed + per_row * rows if rows else 0.0


def _shares(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Two shares of a call's rows alike in cost and in kind: every other row of each serving mode (each share
    holds both modes where the call does, so its frame has the columns, in the order, the whole call's has)."""
    n = len(rows)
    agg = (rows["serving"].astype(str).to_numpy() == "aggregated") if "serving" in rows else np.ones(n, bool)
    a, d = np.flatnonzero(agg), np.flatnonzero(~agg)
    return np.sort(np.concatenate([a[0::2], d[0::2]])), np.sort(np.concatenate([a[1::2], d[1::2]]))


def _joined(first: tuple[pd.DataFrame, np.ndarray], second: tuple[pd.DataFrame, np.ndarray], at1: np.ndarray,
            at2: np.ndarray) -> tuple[pd.DataFrame, np.ndarray] | None:
    """One call's (rows, positions) from its two shares' (rows `at1`, `at2` of the call); None where the
    shares' frames differ in columns."""
    (res1, pos1), (res2, pos2) = first, second
    if list(res1.columns) != list(res2.columns):
        return None
    pos = np.empty(len(at1) + len(at2), dtype=np.int64)
    pos[at1] = pos1
    pos[at2] = len(res1) + pos2
    return pd.concat([res1, res2], ignore_index=True), pos


__all__ = ["PerfFn", "evaluate_grid"]
