"""Speed shortcuts of the load-aware capacity (issue 8) against the computations they replace: the step tables
of the queueing approximation alone (`queueing_only`: the grid's points of the rows that fit) against the full
tables, and the capacity of rows that do not fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf import queueing as Q
from planner.perf.capacity import CANDIDATE_GRID, capacity_under_slo
from planner.perf.evaluate import evaluate
from planner.perf.steptable import build_step_tables


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _grid(catalog) -> pd.DataFrame:
    """benchmarks/bench_load.py's configurations (five models, three accelerators, TP 1-8, four shapes; some
    rows do not fit the memory), once each."""
    from benchmarks.bench_load import config_grid

    return config_grid(catalog)


def test_queueing_tables_are_the_full_tables_on_their_points(catalog):
    """The queueing approximation's tables: the grid's points of the rows that fit as in the full tables, to
    the bit; everything else NaN (not modelled)."""
    grid = _grid(catalog)
    kw = dict(decode_points=CANDIDATE_GRID[0], prefill_points=CANDIDATE_GRID[1])
    full = build_step_tables(grid, catalog, **kw)
    part = build_step_tables(grid, catalog, queueing_only=True, **kw)
    fit = full.fits
    assert fit.any() and not fit.all()
    np.testing.assert_array_equal(part.time_s[fit], full.time_s[fit])
    assert np.isnan(part.time_s[~fit]).all() and np.isnan(part.step_avg_s).all()
    for name in full.__dataclass_fields__:
        if name not in ("time_s", "step_avg_s", "s_per_ctx_token"):
            a, b = getattr(part, name), getattr(full, name)
            assert (a == b).all() if a.dtype.kind not in "f" else np.array_equal(a, b, equal_nan=True), name


def test_capacity_of_rows_that_do_not_fit_has_no_latency(catalog):
    """A configuration that does not fit serves no rate and has no latency, as `evaluate` says of it."""
    grid = _grid(catalog)
    res = capacity_under_slo(grid, catalog, ttft_s=2.0, tpot_s=0.05, percentile=90.0)
    ev = evaluate(grid.assign(batch=1), catalog)
    unfit = ~ev["fits"].to_numpy(dtype=bool)
    assert unfit.any()
    for col in ("ttft_s", "tpot_s", "output_tok_s"):
        assert res.loc[unfit, col].isna().all() and ev.loc[unfit, col].isna().all(), col
    assert (res.loc[unfit, "capacity_rps"] == 0).all() and not res.loc[unfit, "fits"].any()


@pytest.mark.parametrize(("ttft_s", "tpot_s", "percentile"), [(2.0, 0.05, 90.0), (0.5, 0.03, 99.0),
                                                               (None, 0.04, 90.0)])
def test_capacity_from_queueing_tables_equals_capacity_from_full_tables(catalog, monkeypatch, ttft_s, tpot_s,
                                                                        percentile):
    """The load-aware capacity (aggregated and disaggregated rows) from the queueing-only tables equals the one
    from the full tables of every row (the computation before), column for column and to the bit, except the
    latencies of rows that do not fit (NaN now, the model's numbers at a trickle before)."""
    import planner.perf.capacity as cap_mod

    base = _grid(catalog)
    grid = pd.concat([base, base.assign(serving="disaggregated")], ignore_index=True)
    got = capacity_under_slo(grid, catalog, ttft_s=ttft_s, tpot_s=tpot_s, percentile=percentile)
    full = cap_mod.build_step_tables
    monkeypatch.setattr(cap_mod, "build_step_tables", lambda *a, queueing_only=False, **k: full(*a, **k))
    want = capacity_under_slo(grid, catalog, ttft_s=ttft_s, tpot_s=tpot_s, percentile=percentile)
    assert list(got.columns) == list(want.columns)
    unfit = ~evaluate(grid.assign(batch=1), catalog)["fits"].to_numpy(dtype=bool) & (grid["serving"] ==
                                                                                     "aggregated").to_numpy()
    assert unfit.any() and got["fits"].any()
    for col in got.columns:
        a, b = got[col], want[col]
        assert a.dtype == b.dtype, col
        keep = ~unfit if col in ("ttft_s", "tpot_s", "output_tok_s_per_user") else np.ones(len(a), dtype=bool)
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a.to_numpy()[keep], b.to_numpy()[keep], err_msg=col)
        else:
            assert (a.astype(str).to_numpy()[keep] == b.astype(str).to_numpy()[keep]).all(), col
    # and the rate and the percentiles at it as the queueing model gives them on the full tables of every row
    agg = (grid["serving"] == "aggregated").to_numpy()
    tab = build_step_tables(base, catalog, decode_points=CANDIDATE_GRID[0], prefill_points=CANDIDATE_GRID[1])
    sv = Q.service(tab)
    ch = Q.chain(sv)
    var = np.zeros(len(tab), dtype=bool)
    target = None if ttft_s is None else ttft_s - tab.request_s
    rate = np.where(tab.fits, Q.max_rate_meeting(tab, target, tpot_s, percentile, var, known=(sv, ch)), 0.0)
    rate, _ = cap_mod.utilization_bound(rate, sv.capacity_rps, ttft_s)  # without a TTFT target: the assumed cap
    at = Q.open_loop(ch, sv, tab, np.maximum(rate, 1e-12), var, (percentile,))
    fit = tab.fits
    np.testing.assert_array_equal(got["capacity_rps"].to_numpy()[agg], rate)
    np.testing.assert_array_equal(got["ttft_s"].to_numpy()[agg][fit], (at[f"ttft_p{percentile:g}_s"]
                                                                         + tab.request_s)[fit])
    np.testing.assert_array_equal(got["tpot_s"].to_numpy()[agg][fit], at[f"tpot_p{percentile:g}_s"][fit])
