"""A row subset's decode step table (`reasoning_disagg.step_table_rows`) reads what the subset's own table does:
the subset keeps its parent's segments and onsets and reads them at its rows' positions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.perf.reasoning_disagg import (
    HIDDEN,
    STEPS,
    _knots_reached,
    step_at,
    step_at_load,
    step_table_rows,
    unit_steps,
)


def _units(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Units of batches 1 to 4096 with step tables of the widths their batches give (NaN past a row's batch),
    the last knot the unit's TPOT; some rows without hidden tokens, some without a step at all (NaN TPOT)."""
    batch = rng.choice([1, 2, 3, 8, 48, 256, 1000, 4096], n)
    width = int(np.ceil(np.log2(batch.max()))) + 1
    knots = np.minimum(2.0 ** np.arange(width)[None, :], batch[:, None])
    steps = 0.01 + 1e-4 * knots ** rng.uniform(0.5, 1.2, (n, 1))
    steps[knots >= batch[:, None]] = np.nan
    tpot = 0.01 + 1e-4 * batch.astype(float)
    tpot[rng.random(n) < 0.1] = np.nan
    cols = {f"{STEPS}{j}": steps[:, j] for j in range(width)}
    return pd.DataFrame({"batch": batch, "tpot_s": tpot, HIDDEN: rng.choice([0.0, 500.0, 3000.0], n),
                         "decode_instances": rng.choice([1, 2, 5], n)} | cols)


def test_a_row_subsets_table_reads_as_its_own_rows_table():
    rng = np.random.default_rng(7)
    units = _units(400, rng)
    t = unit_steps(units)
    osl = rng.uniform(100, 4000, len(units))
    rate = rng.uniform(0, 3, len(units)) * rng.choice([0.0, 0.01, 1.0, 100.0], len(units))
    rows = np.sort(rng.choice(len(units), 150, replace=False))
    inner = np.sort(rng.choice(len(rows), 60, replace=False))
    nested = step_table_rows(step_table_rows(t, rows), inner)
    for sub, at in ((step_table_rows(t, rows), rows), (nested, rows[inner])):
        own = unit_steps(units.iloc[at].reset_index(drop=True))
        for p in (None, 0.5, 0.99):
            assert np.array_equal(step_at_load(sub, rate[at], osl[at], p), step_at_load(own, rate[at], osl[at], p),
                                  equal_nan=True)
        b = rng.uniform(1, own["batch"], len(at))
        assert np.array_equal(step_at(sub, b), step_at(own, b), equal_nan=True)


def test_knots_reached_counts_the_onsets_at_or_below_the_load():
    """Loads exactly at an onset count it (per_step >= onset), on every knot of every width."""
    rng = np.random.default_rng(3)
    t = unit_steps(_units(300, rng))
    rows = np.arange(0, 300, 2)
    onset = t["onset"][rows]
    for k in range(onset.shape[1]):
        for per_step in (onset[:, k], np.nextafter(onset[:, k], -np.inf), rng.uniform(0, 200, len(rows))):
            per_step = np.nan_to_num(per_step, posinf=1e300)
            expect = (per_step[:, None] >= onset).sum(axis=1)
            assert np.array_equal(_knots_reached(step_table_rows(t, rows), per_step), expect)
