"""Speed shortcuts of the load-aware capacity (issue 8) against the computations they replace: the step tables
of the queueing approximation alone (`queueing_only`: the grid's points of the rows that fit) against the full
tables, and the capacity of rows that do not fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.capacity import CANDIDATE_GRID, capacity_under_slo
from planner.perf.evaluate import evaluate
from planner.perf.steptable import build_step_tables


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def grid(catalog) -> pd.DataFrame:
    """benchmarks/bench_load.py's configurations (five models, three accelerators, TP 1-8, four shapes; some
    rows do not fit the memory), once each."""
    from benchmarks.bench_load import config_grid

    return config_grid(catalog)


@pytest.fixture(scope="module")
def full_tables(grid, catalog):
    """The full step tables of every row on the candidate search's points (built once for the module)."""
    return build_step_tables(grid, catalog, decode_points=CANDIDATE_GRID[0], prefill_points=CANDIDATE_GRID[1])


@pytest.fixture(scope="module")
def unfit(grid, catalog) -> np.ndarray:
    """The rows `evaluate` says do not run (at batch 1)."""
    ev = evaluate(grid.assign(batch=1), catalog)
    for col in ("ttft_s", "tpot_s", "output_tok_s"):
        assert ev.loc[~ev["fits"], col].isna().all(), col
    return ~ev["fits"].to_numpy(dtype=bool)


def test_queueing_tables_are_the_full_tables_on_their_points(catalog, grid, full_tables):
    """The queueing approximation's tables: the grid's points of the rows that fit as in the full tables, to
    the bit; everything else NaN (not modelled)."""
    full = full_tables
    part = build_step_tables(grid, catalog, queueing_only=True, decode_points=CANDIDATE_GRID[0],
                             prefill_points=CANDIDATE_GRID[1])
    fit = full.fits
    assert fit.any() and not fit.all()
    for name in ("time_s", "chunk_floor_s"):  # the model's points
        np.testing.assert_array_equal(getattr(part, name)[fit], getattr(full, name)[fit])
        assert np.isnan(getattr(part, name)[~fit]).all(), name
    assert np.isnan(part.step_avg_s).all()
    for name in full.__dataclass_fields__:
        if name not in ("time_s", "chunk_floor_s", "step_avg_s", "s_per_ctx_token", "ctx_slope_s"):
            a, b = getattr(part, name), getattr(full, name)
            assert (a == b).all() if a.dtype.kind not in "f" else np.array_equal(a, b, equal_nan=True), name


def test_capacity_of_rows_that_do_not_fit_has_no_latency(catalog, grid, unfit):
    """A configuration that does not fit serves no rate and has no latency, as `evaluate` says of it."""
    res = capacity_under_slo(grid, catalog, ttft_s=2.0, tpot_s=0.05, percentile=90.0)
    assert unfit.any()
    for col in ("ttft_s", "tpot_s", "output_tok_s"):
        assert res.loc[unfit, col].isna().all(), col
    assert (res.loc[unfit, "capacity_rps"] == 0).all() and not res.loc[unfit, "fits"].any()


@pytest.mark.parametrize(("ttft_s", "tpot_s", "percentile"), [(2.0, 0.05, 90.0), (0.5, 0.03, 99.0),
                                                               (None, 0.04, 90.0)])
def test_capacity_from_queueing_tables_equals_capacity_from_full_tables(catalog, grid, unfit, monkeypatch, ttft_s,
                                                                        tpot_s, percentile):
    """The load-aware capacity (aggregated and disaggregated rows) from the queueing-only tables equals the one
    from the full tables of every row (the computation before), column for column and to the bit, except the
    latencies of rows that do not fit (NaN now, the model's numbers at a trickle before)."""
    import planner.perf.capacity as cap_mod

    both = pd.concat([grid, grid.assign(serving="disaggregated")], ignore_index=True)
    got = capacity_under_slo(both, catalog, ttft_s=ttft_s, tpot_s=tpot_s, percentile=percentile)
    full = cap_mod.build_step_tables
    monkeypatch.setattr(cap_mod, "build_step_tables", lambda *a, queueing_only=False, **k: full(*a, **k))
    want = capacity_under_slo(both, catalog, ttft_s=ttft_s, tpot_s=tpot_s, percentile=percentile)
    assert list(got.columns) == list(want.columns)
    agg_unfit = np.concatenate([unfit, np.zeros(len(grid), dtype=bool)])  # evaluate's, of the aggregated rows
    assert agg_unfit.any() and got["fits"].any()
    for col in got.columns:
        a, b = got[col], want[col]
        assert a.dtype == b.dtype, col
        keep = ~agg_unfit if col in ("ttft_s", "tpot_s", "output_tok_s_per_user") else np.ones(len(a), dtype=bool)
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a.to_numpy()[keep], b.to_numpy()[keep], err_msg=col)
        else:
            assert (a.astype(str).to_numpy()[keep] == b.astype(str).to_numpy()[keep]).all(), col
    # what the capacity means, read off its outputs (capacity's own steps are not re-run here): every row served
    # at a rate meets the targets there
    served = got["capacity_rps"].to_numpy() > 0
    assert served.any()
    if ttft_s is not None:
        assert (got["ttft_s"].to_numpy()[served] <= ttft_s).all()
    assert (got["tpot_s"].to_numpy()[served] <= tpot_s).all()


def _same_frames(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    for col in got.columns:
        a, b = got[col], want[col]
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a.to_numpy(), b.to_numpy(), err_msg=col)
        else:
            assert (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all(), col


def test_repeated_rows_modelled_once_have_the_figures_of_each_row_modelled(catalog, grid, monkeypatch):
    """Rows equal in every input (the grid twice, as fp8 and int8 of one configuration give) are modelled once
    (`_distinct_rows`): the capacity the same to the bit as every row modelled; a hash that collides on every
    row (rows compared whole, then all modelled) too."""
    import planner.perf.capacity as cap_mod

    twice = pd.concat([grid, grid], ignore_index=True)
    seen = []
    distinct = cap_mod._distinct_rows
    monkeypatch.setattr(cap_mod, "_distinct_rows", lambda *a: seen.append(distinct(*a)) or seen[-1])
    got = capacity_under_slo(twice, catalog, ttft_s=2.0, tpot_s=0.05, percentile=90.0)
    assert seen and seen[0][0] is not None and 2 * len(seen[0][0]) <= len(seen[0][1])
    monkeypatch.setattr(cap_mod, "_row_keys", lambda fields, R: np.zeros(R, dtype=np.uint64))
    collided = capacity_under_slo(twice, catalog, ttft_s=2.0, tpot_s=0.05, percentile=90.0)
    assert seen[-1] == (None, None)
    monkeypatch.setattr(cap_mod, "_distinct_rows", lambda *a: (None, None))
    want = capacity_under_slo(twice, catalog, ttft_s=2.0, tpot_s=0.05, percentile=90.0)
    _same_frames(got, want)
    _same_frames(collided, want)


def test_rows_differing_in_text_alone_are_not_taken_for_one():
    """`_distinct_rows` merges rows equal in every field: a text field (the tables' `reason`, `limited_by`)
    counts too, not only the numbers (rows differing in text alone were merged)."""
    from dataclasses import dataclass

    from planner.perf.capacity import _distinct_rows

    @dataclass
    class Rows:
        x: np.ndarray
        label: np.ndarray

        def __len__(self) -> int:
            return len(self.x)

    label = np.array(["a", "b"] * 10, dtype=object)
    first, back = _distinct_rows(Rows(np.ones((20, 3)), label))
    assert first is not None and (label[first[back]] == label).all() and len(first) == 2
    first, back = _distinct_rows(Rows(np.ones((20, 3)), np.full(20, "", dtype=object)))
    assert list(first) == [0] and not back.any()  # one text for all: the numbers decide
