"""The candidate search's capacity leaves out the model's figures at batch 1 of the aggregated rows that serve no
rate (`capacity_in_parts(unserved_figures=False)`): every other figure is the full call's, to the bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.optimize.grid import build_grid
from planner.optimize.pipeline import load_instance
from planner.perf.capacity import capacity_in_parts
from planner.perf.evaluate import TIMED, evaluate_columns

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _grid(catalog, problem: str, rows: int, seed: int) -> pd.DataFrame:
    inst = load_instance(ROOT / "problems" / f"{problem}.yaml", catalog)
    grid, _ = build_grid(inst, catalog)
    pick = np.sort(np.random.default_rng(seed).choice(len(grid), size=min(rows, len(grid)), replace=False))
    cols = ["model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "serving", "isl",
            "osl"]
    return grid.iloc[pick][cols].reset_index(drop=True)


@pytest.mark.parametrize("problem", ["mixed-fleet", "quickstart"])
def test_unserved_rows_without_figures_equal_the_full_call_elsewhere(problem, catalog):
    cfg = _grid(catalog, problem, 200, seed=3)
    targets = dict(ttft_s=np.resize([2.0, 0.1, np.inf], len(cfg)), tpot_s=np.resize([0.05, 0.006], len(cfg)))
    full, at_full = capacity_in_parts(cfg, catalog, percentile=90.0, **targets)
    lean, at_lean = capacity_in_parts(cfg, catalog, percentile=90.0, unserved_figures=False, **targets)
    np.testing.assert_array_equal(at_full, at_lean)
    assert list(full.columns) == list(lean.columns)
    unserved = (full["serving"] == "aggregated").to_numpy() & (full["capacity_rps"].to_numpy() <= 0) & \
        np.isfinite(full["avg_power_w"].to_numpy(dtype=float))  # modelled at batch 1 in the full call
    assert unserved.any() and full["fits"].any()
    assert full.loc[unserved, "reason"].str.contains("at light load").all()
    assert not full["fits"].to_numpy(dtype=bool)[unserved].any()
    same = ~unserved
    pd.testing.assert_frame_equal(full[same], lean[same], check_exact=True)
    # the rows that serve no rate: why not, as the full call says (the latency at a trickle in the reason); the
    # model's figures left out or at a trickle
    kept = [c for c in full.columns if c not in (*TIMED, "output_tok_s_per_user")]  # 1 / tpot_s
    pd.testing.assert_frame_equal(full.loc[unserved, kept], lean.loc[unserved, kept], check_exact=True)
    assert lean.loc[unserved, "avg_power_w"].isna().all()


def test_evaluate_columns_timed_per_row_models_those_rows_alone(catalog):
    cfg = _grid(catalog, "mixed-fleet", 120, seed=4).assign(batch=8)
    some = np.resize([True, False, False], len(cfg))
    _, full = evaluate_columns(cfg, catalog)
    _, part = evaluate_columns(cfg, catalog, timed=some)
    agg = (cfg["serving"] == "aggregated").to_numpy()
    for k in TIMED:
        a, b = np.asarray(full[k], dtype=float), np.asarray(part[k], dtype=float)
        np.testing.assert_array_equal(a[some | ~agg], b[some | ~agg])
        assert np.isnan(b[~some & agg]).all()
    np.testing.assert_array_equal(full["fits"], part["fits"])
    np.testing.assert_array_equal(full["reason"], part["reason"])
