"""The candidate search's step tables computed once per group of rows that share all but the output length
(steptable.shared_groups) hold the numbers each row's own computation gives, to the bit: named engines (one
with a CUDA-graph context limit that some output lengths of a group cross), speculative decoding, MoE and dense
models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from perf_toy import assert_same_tables

import planner.perf.steptable as st_mod
from planner.optimize.grid import build_grid
from planner.optimize.pipeline import load_instance

ROOT = Path(__file__).resolve().parents[1]


def _grid(catalog) -> pd.DataFrame:
    inst = load_instance(ROOT / "problems" / "mixed-fleet.yaml", catalog)
    grid, _ = build_grid(inst, catalog)
    grid = grid[grid["serving"] == "aggregated"]
    cols = ["model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "serving"]
    base = grid[cols].drop_duplicates().iloc[::41].reset_index(drop=True)  # ~48 configurations
    base["engine"] = np.resize(np.array(["", "vllm", "sglang", "vllm-v0"], dtype=object), len(base))
    base["speculative"] = np.where(base["engine"] == "sglang", "auto", "none")
    # three output lengths per configuration: isl + osl = 4,352 / 8,000 / 11,000 tokens, across vLLM V0's
    # 8,192-token CUDA-graph context limit (step.graph_context_exceeded); a fourth row with another prompt
    lengths = [(4000, 352), (4000, 4000), (4000, 7000), (1000, 352)]
    g = pd.concat([base.assign(isl=i, osl=o) for i, o in lengths], ignore_index=True)
    return g.sample(frac=1.0, random_state=0).reset_index(drop=True)  # groups not in row order


def test_shared_grid_points_equal_each_rows_own(cat, monkeypatch):
    catalog = cat
    grid = _grid(catalog)
    kw = dict(decode_points=12, prefill_points=5, queueing_only=True)
    got = st_mod.build_step_tables(grid, catalog, **kw)
    monkeypatch.setattr(st_mod, "GROUP_CHUNK_ROWS", 5)  # groups in chunks: the same numbers
    np.testing.assert_array_equal(st_mod.build_step_tables(grid, catalog, **kw).time_s, got.time_s)
    monkeypatch.setattr(st_mod, "FACTOR_AXES", False)  # the points on one axis (g, 1, D x P): the same numbers
    np.testing.assert_array_equal(st_mod.build_step_tables(grid, catalog, **kw).time_s, got.time_s)
    monkeypatch.setattr(st_mod, "SHARE_GRID_POINTS", False)
    want = st_mod.build_step_tables(grid, catalog, **kw)
    assert got.fits.sum() > 60
    assert_same_tables(got, want)
    # the groups are what the test is about: rows of one configuration and prompt, several output lengths
    from planner.perf.params import load_efficiency
    from planner.perf.resolve import normalize_grid, resolve

    c, _ = resolve(normalize_grid(grid.assign(batch=1)), catalog, load_efficiency(catalog))
    run = np.flatnonzero(want.fits)
    gid = st_mod.shared_groups(c, len(grid), run)
    sizes = np.bincount(gid)
    _assert_exact(c, run, gid)
    assert sizes.max() == 3 and (sizes == 1).any()  # 3 output lengths share; the other prompt stays alone
    v0 = run[grid["engine"].to_numpy()[run] == "vllm-v0"]
    assert len(v0) and len(np.unique(grid["osl"].to_numpy()[v0])) == 3  # the context limit crossed in a group


def test_groups_split_on_any_other_column():
    """Rows differing in anything but osl never share (a hash collision would be caught by the check too)."""
    from planner.perf.resolve import Cols

    c = Cols(a=np.array([1.0, 1.0, 1.0, 2.0, 1.0]), osl=np.array([1.0, 2.0, 3.0, 1.0, 1.0]),
             s=np.array(["x", "x", "y", "x", "x"], dtype=object))
    gid = st_mod.shared_groups(c, 5, np.arange(5), (np.array([0.0, 0.0, 0.0, 0.0, -0.0]),))
    assert gid[0] == gid[1] and len(set(gid.tolist())) == 4  # rows 0, 1 share; 2 (text), 3, 4 (-0.0) alone


def _assert_exact(c, run: np.ndarray, gid: np.ndarray) -> None:
    """The groups are exactly the rows equal in every column but MEMBER_COLUMNS (no hash collision split any)."""
    n = len(c["osl"])
    cols = [np.asarray(v)[run] for k, v in c.items() if k not in st_mod.MEMBER_COLUMNS and np.ndim(v) == 1
            and len(v) == n]
    codes = np.stack([pd.factorize(x.astype(object) if x.dtype == object else x.view(np.uint64))[0]
                      for x in cols], axis=1)
    exact = np.unique(codes, axis=0, return_inverse=True)[1].ravel()
    assert len(np.unique(np.stack([gid, exact], axis=1), axis=0)) == gid.max() + 1 == exact.max() + 1


def test_groups_of_a_whole_grid_are_exact(cat):
    """mixed-fleet's 8,748 aggregated rows: 3,618 groups, as an exact comparison of the rows finds (a weak
    hash, a product without a shift, split 60 of them apart: no wrong number, but less shared)."""
    from planner.perf.params import load_efficiency
    from planner.perf.resolve import normalize_grid, resolve

    inst = load_instance(ROOT / "problems" / "mixed-fleet.yaml", cat)
    grid, _ = build_grid(inst, cat)
    cols = ["model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "serving", "isl",
            "osl"]
    grid = grid.loc[grid["serving"] == "aggregated", cols].reset_index(drop=True)
    c, _ = resolve(normalize_grid(grid.assign(batch=1)), cat, load_efficiency(cat))
    run = np.arange(len(grid))
    gid = st_mod.shared_groups(c, len(grid), run)
    assert gid.max() + 1 < len(grid) / 2
    _assert_exact(c, run, gid)


def test_tables_read_what_runs_as_the_full_evaluation_says(cat):
    """The step tables take what runs, why not, the kind of failure and the GPUs from an evaluation at batch 1
    that leaves out the aggregated rows' model (`evaluate_columns(timed=False)`): the same as the full one's."""
    from planner.perf.evaluate import evaluate

    grid = _grid(cat)
    tab = st_mod.build_step_tables(grid, cat, decode_points=12, prefill_points=5, queueing_only=True)
    full = evaluate(grid.assign(batch=1), cat)
    fits = full["fits"].to_numpy()
    assert fits.any() and (~fits).any()
    np.testing.assert_array_equal(tab.fits, fits)
    np.testing.assert_array_equal(tab.reason, full["reason"].to_numpy(dtype=object))
    np.testing.assert_array_equal(tab.limited_by, np.where(fits, "", full["limited_by"].to_numpy(dtype=object)))
    np.testing.assert_array_equal(tab.gpus, full["gpus"].to_numpy())
