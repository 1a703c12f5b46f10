"""Without a load, predict (and the frontier, on the same search) ran the generic engine's replica at any batch
memory held (gpt-oss-120b DEP4 on 4 H200, 1,024 / 128: 4,096 running, 3,634 tok/s/GPU, TTFT 3.15 s) while the
load model seated the engine's assumed 1,024 and queued the rest (--concurrency 4096: saturated, 2,302 tok/s/GPU,
TTFT 42.9 s); those seats are per attention-DP rank since r15 (4,096 there). A replica runs at most its engine's
cap; --max-batch is the user's setting of it, which both paths honour."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.assumptions import ASSUMPTIONS
from planner.predict import predict_many
from planner.predict.frontier import compute_frontier

CAT = load_catalog()
DEP4 = dict(model="gpt-oss-120b", gpu="h200-sxm", gpus=4, precision="mxfp4", isl=1024, osl=128, tp=1, ep=4)
SAME = ("in_flight", "output_tok_s", "ttft_s", "tpot_s", "saturated")


def _one(**kw) -> pd.Series:
    return predict_many(pd.DataFrame([DEP4 | kw]), CAT).iloc[0]


def test_no_load_runs_within_the_engines_seats():
    free = _one()
    # the assumed seats are per attention-DP rank (DEP4: 4 ranks), as a catalogued engine's cap
    assert free["in_flight"] <= 4 * ASSUMPTIONS.max_running_sequences
    loaded = _one(concurrency=int(free["in_flight"]))  # the same clients under a load: the same answer
    for k in SAME:
        assert loaded[k] == pytest.approx(free[k], rel=1e-6), k


def test_max_batch_sets_the_seats_both_ways():
    free, loaded = _one(max_batch=4096), _one(max_batch=4096, concurrency=4096)
    assert free["in_flight"] == 4096
    for k in SAME:
        assert loaded[k] == pytest.approx(free[k], rel=1e-6), k


def test_frontier_points_within_the_engines_seats():
    front = compute_frontier(CAT, "gpt-oss-120b", ["h200-sxm"], ["mxfp4"], 1024, 128, gpus=4)
    agg = front[front["serving"] == "aggregated"]
    # per attention-DP rank, as a catalogued engine's cap
    assert len(agg) and (agg["batch"] <= ASSUMPTIONS.max_running_sequences * agg["attn_dp"]).all()
