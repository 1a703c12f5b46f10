"""`max_batch` (--max-batch): a replica's running sequences at most, as an engine is set to run them (vLLM
max_num_seqs). Predict had no way to give it: the no-load search went up to what memory holds and a load ran on
the engine's default seats, so a deployment set to 8 sequences could not be predicted."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.catalog import load_catalog
from planner.cli import main
from planner.perf import latency_under_load
from planner.perf.assumptions import ASSUMPTIONS
from planner.predict import predict_many
from planner.predict.query import BATCHES, build_grid, normalize_queries

CAT = load_catalog()
Q = dict(model="qwen3-32b", gpu="h100-sxm", gpus=1, precision="fp8", isl=1024, osl=256, tp=1)


def one(**kw) -> pd.Series:
    return predict_many(pd.DataFrame([kw]), CAT).iloc[0]


def test_without_a_load_the_batch_search_stops_at_the_cap():
    free = one(**Q)
    assert free["fits"] and free["in_flight"] > 71
    capped = one(**Q, max_batch=71)  # no point of the search grid: tried as given
    assert capped["fits"] and capped["in_flight"] == 71
    assert capped["output_tok_s"] < free["output_tok_s"]


def test_under_a_load_the_clients_beyond_the_cap_wait_for_a_seat():
    r = one(**Q, concurrency=64, max_batch=8)
    assert r["fits"] and r["saturated"] and r["limited_by"] == "queue"
    cfg = dict(model="qwen3-32b", accelerator="h100-sxm", precision="fp8", kv_precision="bf16", tp=1, pp=1, ep=1,
               attn_dp=1, isl=1024, osl=256, serving="aggregated", concurrency=64, batch=8)
    alone = latency_under_load(pd.DataFrame([cfg]), CAT).iloc[0]
    assert alone["max_running"] == 8
    assert r["requests_s"] == pytest.approx(alone["requests_s"], rel=1e-9)
    assert not one(**Q, concurrency=64)["saturated"]  # the engine's own seats hold 64


@pytest.mark.parametrize("extra, error", [
    (dict(max_batch=0), "max_batch must be a positive integer, got 0"),
    (dict(max_batch=2.5), "max_batch must be a positive integer, got 2.5"),
    (dict(max_batch="many"), "max_batch must be a number, got 'many'"),
    (dict(max_batch=8, serving="disaggregated"), "max_batch caps the running sequences of an aggregated replica"),
    (dict(max_batch=8, serving="auto", request_rate=1.0), "give serving aggregated, or no max_batch"),
])
def test_a_cap_that_cannot_hold_is_the_rows_error(extra, error):
    r = one(**Q, **extra)
    assert not r["fits"] and error in r["error"]


def test_the_flag_is_named_as_typed():
    args = ["predict", *[x for k, v in Q.items() for x in (f"--{k}", str(v))]]
    res = CliRunner().invoke(main, [*args, "--max-batch", "8", "--serving", "disaggregated"])
    assert res.exit_code == 2 and "--max-batch caps the running sequences" in res.output
    ok = CliRunner().invoke(main, [*args, "--max-batch", "8", "--concurrency", "64", "--json"])
    assert ok.exit_code == 0, ok.output


def test_a_cap_above_the_grid_adds_no_batch():
    """--max-batch 20000 tried batch 20,000, a batch the uncapped search never tries: a cap only removes."""
    def batches(**kw) -> list[int]:
        grid = build_grid(normalize_queries(pd.DataFrame([{**Q, **kw}]), CAT), CAT)
        return sorted(set(grid["batch"]))
    assert batches(max_batch=20000) == list(BATCHES)
    # without one, the generic engine's own seats (the load model's): none beyond them
    assert batches() == [b for b in BATCHES if b <= ASSUMPTIONS.max_running_sequences]
    assert batches(max_batch=BATCHES[-1]) == list(BATCHES)
    assert batches(max_batch=71)[-1] == 71
