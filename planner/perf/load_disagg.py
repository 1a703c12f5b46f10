"""Disaggregated rows of `latency_under_load`: each row one unit of rate-matched prefill and decode instances
at the row's `batch` (at most what memory holds), or without one `disagg_capacity.disaggregated_units`'
largest batch that memory and the engine allow, under the row's per-replica load.

  - analytic: the optimizer's two queues (`disagg_capacity.disaggregated_at_load`: TTFT from the prefill M/D/1 and
    the decode-seat Erlang-C queues, TPOT the decode step at the batch the load gives); ITL is that TPOT times the
    unit's ITL/TPOT at its full batch (a speculative step streams its accepted tokens together), end-to-end p50 the
    TTFT p50 plus the visible tokens after the first at the TPOT p50. A finite run above the unit's rate (a burst)
    has no queueing answer: it is simulated;
  - simulate: the unit's discrete-event simulation (`simulate_disagg`), as `simulate` is for a replica.
A steady state above the unit's rate has no latency (as for aggregated rows) and completes the unit's rate.
The engine's API-server time per request is not added (the disaggregated answers of predict and the optimizer's
capacity leave it out as well).

Simulations are cached (`cached_summary`) on the unit (model, accelerators, layouts, engine, lengths, batch,
instances), the workload (rate or clients, requests, lengths, seed) and the hidden tokens: a --batch file that
repeats a unit under the same load simulates it once.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.disagg_capacity import disaggregated_at_load, disaggregated_units
from planner.perf.evaluate import PREFILL_COLUMNS, evaluate
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.reasoning_disagg import with_decode_steps
from planner.perf.resolve import CONFIG_COLUMNS
from planner.perf.saturation import run_fits_seats
from planner.perf.search import visible_ttft
from planner.perf.simulate import Workload, summarize
from planner.perf.simulate_disagg import UnitSteps, simulate_unit, unit_steps

PERCENTILES = (50.0, 90.0, 99.0)
UNIT_FIELDS = (*CONFIG_COLUMNS, "engine", "speculative", *PREFILL_COLUMNS, "batch", "prefill_instances",
               "decode_instances")
# entries each cache keeps (units' step tables; simulated runs): a --batch file's distinct units, bounded so that
# a long-lived process (a notebook, a service calling predict) does not grow without end. 256 is assumed (not
# measured: no hit rate or memory figure behind it)
CACHE_ENTRIES = 256


class _Lru(OrderedDict):
    def get_or(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        while len(self) > CACHE_ENTRIES:
            self.popitem(last=False)
        return value


_STEPS: _Lru = _Lru()
_RUNS: _Lru = _Lru()


def _cell(v):
    """A unit field as a hashable key part: numbers as floats (64 and 64.0 alike), blanks as None."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


def unit_key(unit: pd.Series) -> tuple:
    return tuple((k, v) for k in UNIT_FIELDS if k in unit.index and (v := _cell(unit[k])) is not None)


def _cached(cache: _Lru, unit: pd.Series, catalog: Catalog, efficiency: Efficiency | None, extra: tuple, make):
    """make(efficiency) once per unit, catalog, efficiency and `extra`: the entry holds the catalog and the
    efficiency beside the value, so their ids are not reused while a key names them."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    key = (id(catalog), id(eff), unit_key(unit), *extra)
    return cache.get_or(key, lambda: (catalog, eff, make(eff)))[2]


def cached_steps(unit: pd.Series, catalog: Catalog, efficiency: Efficiency | None = None) -> UnitSteps:
    """`unit_steps` of a unit, computed once per unit, catalog and efficiency."""
    return _cached(_STEPS, unit, catalog, efficiency, (), lambda eff: unit_steps(unit, catalog, eff))


def cached_summary(unit: pd.Series, catalog: Catalog, wl: Workload, hidden: int = 0,
                   efficiency: Efficiency | None = None) -> dict:
    """`summarize(simulate_unit(...))` of a unit under a workload; the simulation is seeded (wl.seed), so a
    repeat is the same run: computed once. Callers get a copy."""
    return dict(_cached(_RUNS, unit, catalog, efficiency, (wl, int(hidden)), lambda eff: summarize(
        simulate_unit(cached_steps(unit, catalog, eff), wl, hidden=int(hidden)))))


def units_under_load(grid: pd.DataFrame, catalog: Catalog, rate: np.ndarray, conc: np.ndarray, nreq: np.ndarray,
                     dist: np.ndarray, hidden: np.ndarray, method: str, seed: int | np.ndarray = 0,
                     efficiency: Efficiency | None = None) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(columns, reasons, limited_by) of disaggregated configuration rows under their loads (per row, NaN where
    not given), in `latency_under_load`'s column names; a unit that does not run has its reason. `seed`: the
    simulations' seed, one or per row."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    g = grid.reset_index(drop=True)
    n = len(g)
    seeds = np.broadcast_to(np.asarray(seed, dtype=np.int64), (n,))
    units = _units(g, catalog, hidden, eff)
    units = units.assign(**{c: g[c] for c in PREFILL_COLUMNS if c in g and c not in units})  # for unit_steps
    fits = units["fits"].to_numpy(dtype=bool)
    reason = np.where(fits, "", units["reason"].astype(str).to_numpy()).astype(object)
    limited = np.where(fits, "", units["limited_by"].astype(str).to_numpy()).astype(object)
    at = disaggregated_at_load(units, request_rate=rate, concurrency=conc, percentiles=PERCENTILES)
    taken = ("ttft_mean_s", "tpot_mean_s", "e2e_mean_s", "requests_s", "capacity_rps",
             *(f"{m}_p{q:g}_s" for q in PERCENTILES for m in ("ttft", "tpot")))
    out = {k: np.array(at[k], dtype=float) for k in taken}  # copies: simulated rows are written into them
    # a speculative step streams its accepted tokens together: ITL = TPOT x the unit's ITL / TPOT
    stream = (units["itl_s"] / units["tpot_s"]).to_numpy(dtype=float)
    for stat in ("mean", "p50", "p99"):  # the ITL figures latency_under_load reports
        out[f"itl_{stat}_s"] = out[f"tpot_{stat}_s"] * stream
    visible = units["osl"].to_numpy(dtype=float) - hidden
    out["e2e_p50_s"] = out["ttft_p50_s"] + (visible - 1.0) * out["tpot_p50_s"]
    out["max_running"] = np.array(at["seats"], dtype=float)
    above = np.array(at["saturated"], dtype=bool)  # open loop: above the unit's rate; closed: beyond its seats
    out["saturated"] = above & ~run_fits_seats(nreq, out["max_running"])
    steady_sat = above & np.isnan(conc) & np.isnan(nreq)
    burst = fits & above & np.isnan(conc) & ~np.isnan(nreq)  # no queueing answer: simulated
    for r in np.flatnonzero(fits & ((method == "simulate") | burst)):
        load = RowLoad(float(rate[r]), float(conc[r]), float(nreq[r]), str(dist[r]), int(hidden[r]),
                       bool(steady_sat[r]))
        _simulate_row(units.iloc[r], load, out, r, catalog=catalog, eff=eff, seed=int(seeds[r]))
    for k in out:  # a steady state above the unit's rate: no latency (it completes the unit's rate)
        if k.startswith(("ttft", "tpot", "itl", "e2e")):
            out[k] = np.where(steady_sat, np.nan, out[k])
    assert all(len(v) == n for v in out.values())
    return out, reason, limited


def _units(g: pd.DataFrame, catalog: Catalog, hidden: np.ndarray, eff: Efficiency) -> pd.DataFrame:
    """Each row's unit with its decode step table: at its `batch` (at most what memory holds, as an aggregated
    replica's running sequences are), or without one at the largest batch memory and the engine allow
    (`disaggregated_units` with no targets)."""
    cols = [k for k in (*CONFIG_COLUMNS, "engine", "speculative", *PREFILL_COLUMNS) if k in g]
    asked = g["batch"] if "batch" in g else pd.Series(np.nan, index=g.index)  # the row's batch, if it gives one
    cap = pd.to_numeric(asked, errors="coerce").to_numpy(dtype=float)
    given = cap >= 1
    parts = []
    rows = np.flatnonzero(~given)
    if len(rows):
        h = hidden[rows]
        u = disaggregated_units(g.iloc[rows][cols].reset_index(drop=True), catalog, hidden=h if h.any() else None,
                                load_steps=True, efficiency=eff)
        parts.append(u.set_axis(rows))
    rows = np.flatnonzero(given)
    if len(rows):
        cfg = g.iloc[rows][cols].reset_index(drop=True)
        ev = _at_batch(cfg, cap[rows], catalog, eff)
        ev["ttft_s"] = visible_ttft(ev["ttft_s"].to_numpy(dtype=float), ev["tpot_s"].to_numpy(dtype=float),
                                    hidden[rows])
        parts.append(with_decode_steps(ev, cfg, catalog, eff, hidden[rows], every=True).set_axis(rows))
    return pd.concat(parts).sort_index()


def _at_batch(cfg: pd.DataFrame, cap: np.ndarray, catalog: Catalog, eff: Efficiency) -> pd.DataFrame:
    """evaluate of units at their batch, at most what memory holds: one evaluation at the batch asked, which a
    row that runs there keeps (memory held it); the others again at the batch memory allows. The memory's room
    does not depend on the batch, but a row that does not run at the batch asked for another reason (over the
    engine's cap) shows none (0): those rows read it at batch 1 first, as every row did before (two evaluations
    each; the same frame)."""
    asked = _batches(cap)
    ev = evaluate(cfg.assign(batch=asked), catalog, efficiency=eff)
    redo = np.flatnonzero(~ev["fits"].to_numpy(dtype=bool))
    if not len(redo):
        return ev
    sub = cfg.iloc[redo].reset_index(drop=True)
    room = ev["max_batch_memory"].to_numpy(dtype=float)[redo]
    hidden_room = np.flatnonzero(~(room > 0))
    if len(hidden_room):
        room[hidden_room] = evaluate(sub.iloc[hidden_room].assign(batch=1), catalog,
                                     efficiency=eff)["max_batch_memory"].to_numpy(dtype=float)
    b = _batches(np.minimum(cap[redo], np.nan_to_num(room, nan=1.0)))
    again = evaluate(sub.assign(batch=b), catalog, efficiency=eff).set_axis(redo)
    kept = np.flatnonzero(ev["fits"].to_numpy(dtype=bool))
    return pd.concat([ev.iloc[kept], again]).sort_index()


# a batch no replica holds (memory's room is far below it), within int64: a batch of inf or above 2**63 cast
# as it was read INT64_MIN ("invalid value encountered in cast") before the room's redo mended the answer
BATCH_CEILING = 2.0 ** 40


def _batches(batch: np.ndarray) -> np.ndarray:
    """Batches as integers, 1 to BATCH_CEILING (a row over memory's room is redone at the room)."""
    return np.clip(batch, 1.0, BATCH_CEILING).astype(np.int64)


class RowLoad(NamedTuple):
    """One row's load (NaN: not given) and its hidden tokens, as `_simulate_row` takes them."""

    rate: float  # requests/s on the unit
    concurrency: float  # closed-loop clients on the unit
    num_requests: float  # a finite run's requests
    length_dist: str
    hidden: int
    steady_saturated: bool  # a steady state above the unit's rate


def _simulate_row(unit: pd.Series, load: RowLoad, out: dict[str, np.ndarray], r: int, *, catalog: Catalog,
                  eff: Efficiency, seed: int) -> None:
    """Row r of `out` from simulating the unit under its load (an endless burst: the unit's rate, no run)."""
    capacity = float(out["capacity_rps"][r])
    if load.steady_saturated and math.isinf(load.rate):  # an endless burst: nothing to simulate
        out["requests_s"][r] = capacity
        return
    rate, conc, nreq = load.rate, load.concurrency, load.num_requests
    wl = Workload(request_rate=None if math.isnan(rate) else rate,
                  concurrency=None if math.isnan(conc) else int(conc),
                  num_requests=None if math.isnan(nreq) else int(nreq), length_dist=load.length_dist, seed=seed)
    s = cached_summary(unit, catalog, wl, load.hidden, eff)
    for k, v in s.items():
        if k in out and k not in ("saturated", "max_running", "capacity_rps"):
            out[k][r] = v


__all__ = ["CACHE_ENTRIES", "cached_steps", "cached_summary", "unit_key", "units_under_load"]
