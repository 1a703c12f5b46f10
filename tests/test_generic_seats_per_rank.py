"""The generic engine's assumed seats (ASSUMPTIONS.max_running_sequences: vLLM's max_num_seqs, TensorRT-LLM's
max_batch_size) are a limit of one attention-DP rank's scheduler, as every catalogued engine's `max_batch`
(evaluate.engine_batch_cap_of: x attn_dp): a DEP4 replica seats 4 x 1,024, not 1,024."""

from __future__ import annotations

import pandas as pd

from planner.catalog import load_catalog
from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.steptable import build_step_tables
from planner.predict import predict_many

CAT = load_catalog()
ROW = dict(model="gpt-oss-120b", accelerator="h200-sxm", precision="mxfp4", tp=1, pp=1, ep=4, isl=1024, osl=128)


def test_generic_seats_scale_with_attention_dp():
    rows = pd.DataFrame([ROW | {"attn_dp": 1, "ep": 1}, ROW | {"attn_dp": 4},
                         ROW | {"attn_dp": 4, "engine": "vllm"}])
    tab = build_step_tables(rows, CAT)
    per_rank = ASSUMPTIONS.max_running_sequences
    assert list(tab.max_seqs[:2]) == [per_rank, 4 * per_rank]
    assert tab.max_seqs[2] == 4 * 1024  # vLLM's max_num_seqs 1,024 per rank (engines.yaml), the same rule


def test_generic_dep4_holds_2048_clients_without_queueing():
    q = dict(model="gpt-oss-120b", gpu="h200-sxm", gpus=4, precision="mxfp4", isl=1024, osl=128, tp=1, ep=4,
             concurrency=2048)
    got = predict_many(pd.DataFrame([q]), CAT).iloc[0]
    assert not got["saturated"]
