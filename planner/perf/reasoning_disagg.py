"""Disaggregated reasoning units under load: the hidden tokens' decode steps at the batch the load gives.

A disaggregated unit (`capacity.disaggregated_units`) is sized at its full batch B, where each hidden step takes
the full batch's TPOT. Below the unit's full rate its decode instances hold fewer sequences, and each step is
shorter; the hidden phase before the first visible token is then read as the aggregated path reads it
(`queueing.open_loop`: the hidden steps at the mean step a request sees, widened toward the occupancy's
percentile by `TPOT_SPREAD`):
  - sequences decoding per instance (Little): n = rate x osl x TPOT(b) / decode instances;
  - the batch a request sees is itself plus the others, b = min(B, 1 + n) (a Poisson count seen from inside,
    as an arrival sees it, is one more than its mean), solved exactly on the piecewise-linear step table;
  - at percentile p the others are n + z_p sqrt(n) (Poisson), the step there pulled halfway to the mean step.
The step table is the decode instances' TPOT from `evaluate` at batches 1, 2, 4, ... below B and at B (a
mixture-of-experts step is far from linear in the batch: gpt-oss-120b's chord from 1 to 256 is 2.4x too low at
batch 32, so two points do not do). At the unit's full rate the phase is the full batch's, as sized; at a
trickle it is the lone sequence's, hidden x TPOT(1).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.evaluate import evaluate_columns
from planner.perf.params import Efficiency
from planner.perf.resolve import Cols, take

HIDDEN = "hidden_tokens"
STEPS = "decode_steps_s"  # per row: the decode step (s) at batches min(2^j, batch), j = 0, 1, ...
TPOT_SPREAD = 0.5  # as queueing.TPOT_SPREAD: a phase of many steps averages the occupancy over them


def with_decode_steps(units: pd.DataFrame, configs: pd.DataFrame, catalog: Catalog, eff: Efficiency,
                      hidden: np.ndarray, resolved: tuple[Cols, np.ndarray] | None = None) -> pd.DataFrame:
    """`units` (rows of `configs` at their unit batch) with columns HIDDEN and STEPS: the decode step at
    batches 1, 2, 4, ... up to each unit's batch, from one `evaluate` of the rows that decode hidden tokens and
    run (an empty table elsewhere). `resolved`: `resolve` of `configs` at batch 1, where the caller has it."""
    h = np.broadcast_to(np.asarray(hidden, dtype=float), (len(units),))
    batch = units["batch"].to_numpy(dtype=float)
    tpot = units["tpot_s"].to_numpy(dtype=float)
    need = np.flatnonzero(units["fits"].to_numpy(dtype=bool) & (h > 0))
    width = int(np.ceil(np.log2(batch[need].max()))) + 1 if len(need) else 1
    knots = np.minimum(2.0 ** np.arange(width)[None, :], batch[:, None])  # (n, width)
    steps = np.where(knots >= batch[:, None], tpot[:, None], np.nan)  # the unit's batch: its own TPOT
    rows, cols = np.nonzero(np.isnan(steps[need]))
    rows = need[rows]
    if len(rows):  # the knots below the unit's batch, every row in one model run
        grid = configs.drop(columns=["batch"], errors="ignore").iloc[rows]
        grid = grid.assign(batch=knots[rows, cols].astype(np.int64))
        part = None if resolved is None else (Cols(take(resolved[0], rows, len(resolved[1])).items()),
                                              resolved[1][rows].copy())
        _, res = evaluate_columns(grid, catalog, efficiency=eff, resolved=part)
        steps[rows, cols] = np.asarray(res["tpot_s"], dtype=float)
    table = np.empty(len(units), dtype=object)
    for i in range(len(units)):  # one array per row (a list of equal arrays would broadcast into 2-D)
        table[i] = np.zeros(0)
    for i in need:
        table[i] = steps[i]
    return units.assign(**{HIDDEN: h, STEPS: table})


def unit_steps(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The hidden-phase figures of units with STEPS ({} without: no reasoning row): hidden tokens, decode
    instances, batch and the step table (n, width; rows without a table read their full batch's TPOT)."""
    if STEPS not in rows:
        return {}
    tables = rows[STEPS].to_numpy(dtype=object)
    width = max([len(t) for t in tables] + [1])
    steps = np.repeat(rows["tpot_s"].to_numpy(dtype=float)[:, None], width, axis=1)
    for i, t in enumerate(tables):
        if len(t):
            steps[i, :len(t)], steps[i, len(t):] = t, t[-1]
    return {"hidden": rows[HIDDEN].to_numpy(dtype=float), "steps": steps,
            "batch": np.maximum(rows["batch"].to_numpy(dtype=float), 1.0),
            "decode": np.maximum(rows["decode_instances"].to_numpy(dtype=float), 1.0)}


def step_at(table: dict[str, np.ndarray], b: np.ndarray) -> np.ndarray:
    """The decode step at batch b (1 <= b <= the unit's batch), linear between the table's knots."""
    j = np.clip(np.floor(np.log2(np.maximum(b, 1.0))), 0, table["steps"].shape[1] - 2).astype(np.int64)
    lo, hi = np.minimum(2.0 ** j, table["batch"]), np.minimum(2.0 ** (j + 1), table["batch"])
    r = np.arange(len(b))
    s_lo, s_hi = table["steps"][r, j], table["steps"][r, np.minimum(j + 1, table["steps"].shape[1] - 1)]
    w = np.where(hi > lo, (np.clip(b, lo, hi) - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)
    return s_lo + w * (s_hi - s_lo)


def _seen_batch(table: dict[str, np.ndarray], per_step: np.ndarray) -> np.ndarray:
    """The least b in [1, B] with b = 1 + per_step x step(b) (B where none is): on each segment of the table the
    step is a line a + s b, so b = (1 + per_step a) / (1 - per_step s) there, the first segment holding its own
    solution is the answer. `per_step`: sequences each second of step adds to an instance (rate x osl / D)."""
    steps, big = table["steps"], table["batch"]
    width = steps.shape[1]
    out = big.copy()
    found = np.zeros(len(big), dtype=bool)
    for j in range(max(width - 1, 1)):
        lo = np.minimum(2.0 ** j, big)
        hi = np.minimum(2.0 ** (j + 1), big) if width > 1 else big
        s_lo, s_hi = steps[:, j], steps[:, min(j + 1, width - 1)]
        slope = np.where(hi > lo, (s_hi - s_lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            b = (1.0 + per_step * (s_lo - slope * lo)) / (1.0 - per_step * slope)
        here = ~found & (1.0 - per_step * slope > 0) & (b >= lo - 1e-9) & (b <= hi + 1e-9)
        out = np.where(here, np.clip(b, 1.0, big), out)
        found |= here
    return out


def hidden_phase_at(table: dict[str, np.ndarray], rate_rps: np.ndarray, osl: np.ndarray,
                    p: float | None) -> np.ndarray | float:
    """Seconds of the hidden tokens' decode steps of units (`unit_steps`) at `rate_rps` (requests/s per unit)
    decoding `osl` tokens each: at the mean batch a request sees (`p` None) or pulled toward the percentile p's
    (a fraction); 0 without a table."""
    if "steps" not in table:
        return 0.0
    h = table["hidden"]
    per_step = np.nan_to_num(rate_rps * osl / table["decode"], nan=0.0)
    b = _seen_batch(table, per_step)
    mean = step_at(table, b)
    if p is None:
        phase = h * mean
    else:
        others = b - 1.0
        b_q = np.clip(b + NormalDist().inv_cdf(p) * np.sqrt(others), 1.0, table["batch"])
        phase = h * (mean + TPOT_SPREAD * (step_at(table, b_q) - mean))
    return np.where(h > 0, phase, 0.0)


__all__ = ["HIDDEN", "STEPS", "hidden_phase_at", "step_at", "unit_steps", "with_decode_steps"]
