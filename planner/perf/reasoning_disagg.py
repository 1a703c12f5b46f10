"""Disaggregated reasoning units under load: the hidden tokens' decode steps at the batch the load gives.

A disaggregated unit (`disagg_capacity.disaggregated_units`) is sized at its full batch B, where each hidden step
takes the full batch's TPOT. Below the unit's full rate its decode instances hold fewer sequences, and each step is
shorter; the hidden phase before the first visible token is then read as the aggregated path reads it
(`queueing.open_loop`: the hidden steps at the mean step a request sees, widened toward the occupancy's
percentile by `UNIT_TPOT_SPREAD`):
  - sequences decoding per instance (Little): n = rate x osl x TPOT(b) / decode instances;
  - the batch a request sees is itself plus the others, b = min(B, 1 + n) (a Poisson count seen from inside,
    as an arrival sees it, is one more than its mean), solved exactly on the piecewise-linear step table;
  - at percentile p the others are n + z_p sqrt(n) (Poisson), the step there pulled halfway to the mean step.
The step table is the decode instances' TPOT (`serving.decode_tpot`, what `evaluate` gives) at batches 1, 2,
4, ... below B and at B (a mixture-of-experts step is far from linear in the batch: gpt-oss-120b's chord from
1 to 256 is 2.4x too low at batch 32, so two points do not do). At the unit's full rate the phase is the full
batch's, as sized; at a trickle it is the lone sequence's, hidden x TPOT(1).
"""

from __future__ import annotations

from functools import lru_cache
from statistics import NormalDist

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.params import Efficiency
from planner.perf.resolve import Cols, normalize_grid, resolve, take
from planner.perf.serving import decode_tpot

HIDDEN = "hidden_tokens"
STEPS = "decode_step_s_knot"  # + j: per row, the decode step (s) at batch min(2^j, batch), j = 0, 1, ...

# A unit's TPOT at a percentile: UNIT_TPOT_SPREAD of the way from the mean step to the step at the Poisson
# batch's percentile (a phase of many steps averages the batch over them). Its own, not the aggregated chain's
# (queueing.TPOT_SPREAD, 1.0 since 2026-12-02, re-derived from the aggregated simulator): the disaggregated
# simulator (tests/test_simulate_disagg.py) holds this unit's TPOT p90/p99 at 0.5 and misses its tolerance at 1.0.
# Named apart so that neither module's constant reads as the other's.
UNIT_TPOT_SPREAD = 0.5


def with_decode_steps(units: pd.DataFrame, configs: pd.DataFrame, catalog: Catalog, eff: Efficiency,
                      hidden: np.ndarray, resolved: tuple[Cols, np.ndarray] | None = None,
                      known: list | None = None, every: bool = False) -> pd.DataFrame:
    """`units` (rows of `configs` at their unit batch) with columns HIDDEN and STEPS0, STEPS1, ... (which it
    has not): the decode step at batches 1, 2, 4, ... up to each unit's batch (then its TPOT), on the rows
    that decode hidden tokens and run (their TPOT elsewhere), from `known` runs of the model where they hold a
    knot (`search.largest_batch_meeting(runs=)` of `configs`), the others in one run of the decode step.
    `every`: the table on every row that runs (the visible tokens' TPOT at the load's batch, `step_at_load`).
    `resolved`: `resolve` of `configs` at batch 1 where the caller has it."""
    h = np.broadcast_to(np.asarray(hidden, dtype=float), (len(units),))
    batch = units["batch"].to_numpy(dtype=float)
    tpot = units["tpot_s"].to_numpy(dtype=float)
    need = np.flatnonzero(units["fits"].to_numpy(dtype=bool) & ((h > 0) | every))
    width = int(np.ceil(np.log2(batch[need].max()))) + 1 if len(need) else 1
    knots = np.minimum(2.0 ** np.arange(width)[None, :], batch[:, None])  # (n, width)
    steps = np.where(knots >= batch[:, None], tpot[:, None], np.nan)  # the unit's batch: its own TPOT
    if len(need) and known:
        _from_known(steps, known, need, batch)
    rows, cols = np.nonzero(np.isnan(steps[need]))
    rows = need[rows]
    if len(rows):  # the knots below the unit's batch (they fit: memory only stops larger batches), one run
        c, _ = resolved if resolved is not None else resolve(
            normalize_grid(configs.drop(columns=["batch"], errors="ignore").assign(batch=1)), catalog, eff)
        c = take(c, rows, len(units))
        c["batch"] = knots[rows, cols]
        steps[rows, cols] = decode_tpot(c, eff.serving, time_only=True)[1]
    steps = np.where(np.isnan(steps), tpot[:, None], steps)  # rows without hidden tokens: their own TPOT
    # one concatenation: assign adds a column at a time (~1 ms each on the candidate search's frames)
    table = pd.DataFrame({HIDDEN: h} | {f"{STEPS}{j}": steps[:, j] for j in range(width)}, index=units.index)
    return pd.concat([units, table], axis=1)


def _from_known(steps: np.ndarray, known: list, need: np.ndarray, batch: np.ndarray) -> None:
    """Fill the knots of rows `need` in `steps` (n, width) that `known` runs of the model (rows, batches, fits,
    TPOT) hold: a run's TPOT is the decode step's (`serving.disaggregated` takes it from `decode_tpot`), the
    same figures whatever rows it runs with. The knots are the powers of two below a unit's batch."""
    wanted = np.zeros(len(steps), dtype=bool)
    wanted[need] = True
    for rows, b, fits, tpot in known:
        b = np.asarray(b, dtype=np.int64)
        ok = wanted[rows] & fits & (b < batch[rows]) & ((b & (b - 1)) == 0)
        steps[rows[ok], np.log2(b[ok]).astype(np.int64)] = tpot[ok]


def step_columns(frame: pd.DataFrame) -> list[str]:
    """The step table's columns of units (`with_decode_steps`), knot by knot (none: no reasoning row)."""
    return sorted((c for c in frame.columns if c.startswith(STEPS)), key=lambda c: int(c[len(STEPS):]))


def unit_steps(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The hidden-phase figures of units with a step table ({} without: no reasoning row), per row: hidden
    tokens, decode instances, batch, and the table as segments between the knots (lo, hi: batches; the step
    icpt + slope x b on each) with the per-step load at which the batch a request sees reaches each knot
    (`_seen_batch`). A knot a row lacks (tables of several widths side by side) is past its batch: its TPOT."""
    cols = step_columns(rows)
    if not cols:
        return {}
    width = max(len(cols), 2)  # one knot: the segment from it to itself
    steps = np.empty((len(rows), width))
    for j, col in enumerate(cols):  # column by column (a frame's take of them cost ~3x)
        steps[:, j] = rows[col].to_numpy(dtype=float)
    steps[:, len(cols):] = steps[:, :1]
    steps = np.where(np.isnan(steps), rows["tpot_s"].to_numpy(dtype=float)[:, None], steps)
    big = np.maximum(rows["batch"].to_numpy(dtype=float), 1.0)
    knots = np.minimum(2.0 ** np.arange(width)[None, :], big[:, None])
    lo, hi = knots[:, :-1], knots[:, 1:]
    span = hi - lo
    slope = np.where(span > 0, np.diff(steps, axis=1) / np.where(span > 0, span, 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # a row that does not run: NaN, never read
        reach = np.nan_to_num((knots - 1.0) / steps, nan=np.inf)
    # their running maximum along the knots, laid out column-major as `_seen_batch` reads them: knot by knot
    # (an accumulate along a row-major table's rows, then the copy to column-major, cost ~2x)
    onset = np.empty((len(rows), width), order="F")
    onset[:, 0] = reach[:, 0]
    for k in range(1, width):
        np.maximum(onset[:, k - 1], reach[:, k], out=onset[:, k])
    # per row and segment: icpt, slope, lo, hi (one gather reads a segment)
    seg = np.stack([steps[:, :-1] - slope * lo, slope, lo, hi], axis=2)
    return {"hidden": np.nan_to_num(rows[HIDDEN].to_numpy(dtype=float)), "batch": big, "seg": seg,
            "onset": onset,
            "decode": np.maximum(rows["decode_instances"].to_numpy(dtype=float), 1.0)}


# a row-subset's table (`step_table_rows`): the rows of the parent's `seg` and `onset` its rows read
_AT = "table_rows"
_TABLE = ("seg", "onset", _AT)


def step_table_rows(t: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Rows of a dict of per-row arrays holding a `unit_steps` table (`t`). The table itself is not gathered:
    the rows keep the parent's `seg` and `onset` with their positions in them (`_AT`), and a read takes the
    segments and knots it needs from there (`_segment`, `_knots_reached`): a bisection's ~20 calls a build
    gathered ~30 figures a row each (mixed-fleet ~15 ms) for the one segment a row reads."""
    out = {k: v[rows] for k, v in t.items() if k not in _TABLE}
    if "onset" in t:
        out["seg"], out["onset"] = t["seg"], t["onset"]
        out[_AT] = t[_AT][rows] if _AT in t else np.asarray(rows, dtype=np.int64)
    return out


def _segment(t: dict[str, np.ndarray], j: np.ndarray) -> np.ndarray:
    """icpt, slope, lo, hi of segment j (per row) of each row: one take from the rows' segments laid end to end
    (~5x faster than indexing by row and segment)."""
    n, m, _ = t["seg"].shape
    at = t[_AT] if _AT in t else np.arange(n)
    return np.take(t["seg"].reshape(n * m, 4), at * m + j, axis=0).T


def _knots_reached(t: dict[str, np.ndarray], per_step: np.ndarray) -> np.ndarray:
    """Per row, how many of its knots' onsets per_step reaches (per_step >= onset). The onsets rise along a
    row (a running maximum): on a row subset, the count by halving steps over the knots, ~log2(width) reads of
    one onset a row from the parent's (column-major) table, not a gather of every knot of every row."""
    onset = t["onset"]
    if _AT not in t:
        return (per_step[:, None] >= onset).sum(axis=1)
    big, w = onset.shape
    flat, at = onset.ravel(order="F"), t[_AT]
    count = np.zeros(len(at), dtype=np.int64)
    step = 1 << (w.bit_length() - 1)
    while step:
        more = count + step
        ok = (more <= w) & (per_step >= flat[at + (np.minimum(more, w) - 1) * big])
        count = np.where(ok, more, count)
        step >>= 1
    return count


def step_at(t: dict[str, np.ndarray], b: np.ndarray) -> np.ndarray:
    """The decode step at batch b (1 <= b <= the unit's batch), linear between the table's knots."""
    at = np.maximum(np.nan_to_num(b, nan=1.0), 1.0)  # NaN: a row that does not run (its figures are dropped)
    j = np.minimum(np.floor(np.log2(at)), t["seg"].shape[1] - 1).astype(np.int64)  # log2(at) >= 0
    icpt, slope, lo, hi = _segment(t, j)
    return icpt + slope * np.clip(b, lo, hi)


def _seen_batch(t: dict[str, np.ndarray], per_step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least b in [1, B] with b = 1 + per_step x step(b) (B where none is), and the step there. The knot j
    is reached once per_step >= (knot - 1) / step(knot) (`onset`, held to its running maximum: the least root
    only grows with the load); on the segment after the last knot reached the step is a line icpt + slope b,
    so b = (1 + per_step icpt) / (1 - per_step slope). `per_step`: sequences one second of step adds to an
    instance (rate x osl / decode instances)."""
    w = t["onset"].shape[1]
    j = _knots_reached(t, per_step) - 1
    icpt, slope, lo, hi = _segment(t, np.minimum(j, w - 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        b = (1.0 + per_step * icpt) / (1.0 - per_step * slope)
    b = np.clip(np.where((j >= w - 1) | ~(per_step * slope < 1.0), hi, b), lo, hi)  # every knot reached: B
    return b, icpt + slope * b


@lru_cache(maxsize=16)
def _z(p: float) -> float:
    return NormalDist().inv_cdf(p)


def step_at_load(table: dict[str, np.ndarray], rate_rps: np.ndarray, osl: np.ndarray,
                 p: float | None) -> np.ndarray:
    """The decode step (s) a request of units (`unit_steps`) sees at `rate_rps` (requests/s per unit) decoding
    `osl` tokens each: at the mean batch a request sees (`p` None) or pulled toward the percentile p's (a
    fraction, `UNIT_TPOT_SPREAD`), as the aggregated path widens TPOT (`queueing.TPOT_SPREAD`). The full batch's
    step at the unit's rate."""
    b, mean = _seen_batch(table, np.nan_to_num(rate_rps * osl / table["decode"], nan=0.0))
    if p is None:
        return mean
    b_q = np.clip(b + _z(p) * np.sqrt(b - 1.0), 1.0, table["batch"])  # the others: Poisson about b - 1
    return mean + UNIT_TPOT_SPREAD * (step_at(table, b_q) - mean)


def tpot_at_load(s: dict[str, np.ndarray], rho: np.ndarray, p: float | None) -> np.ndarray:
    """TPOT of units (`disagg_capacity._unit_state`: mu, osl, tpot, the table) at utilization rho: the step at the
    load's batch (`step_at_load`, mean or toward p) where they carry a step table, else the full batch's."""
    return step_at_load(s, rho * s["mu"], s["osl"], p) if "onset" in s else s["tpot"]


def hidden_phase_at(table: dict[str, np.ndarray], rate_rps: np.ndarray, osl: np.ndarray,
                    p: float | None) -> np.ndarray | float:
    """Seconds of the hidden tokens' decode steps of units (`unit_steps`) at `rate_rps`: hidden x the step a
    request sees there (`step_at_load`); 0 without a table."""
    if "onset" not in table:
        return 0.0
    h = table["hidden"]
    return np.where(h > 0, h * step_at_load(table, rate_rps, osl, p), 0.0)


__all__ = ["HIDDEN", "STEPS", "hidden_phase_at", "step_at", "step_at_load", "step_columns", "step_table_rows",
           "tpot_at_load", "unit_steps", "with_decode_steps"]
