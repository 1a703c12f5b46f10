"""A disaggregated unit's decode instance seats what an aggregated replica of the same engine seats: the generic
engine's assumed ASSUMPTIONS.max_running_sequences per attention-DP rank (evaluate.engine_seats_of), not every
sequence memory holds (8B fp8 on H200 at 128 / 128: the decode batch was all 3,596 that memory holds)."""

from __future__ import annotations

import pandas as pd

from planner.catalog import load_catalog
from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.disagg_capacity import disaggregated_units

CAT = load_catalog()
UNIT = dict(model="llama-3.1-8b", accelerator="h200-sxm", precision="fp8", isl=128, osl=128, tp=1, pp=1, ep=1,
            attn_dp=1, serving="disaggregated", prefill_instances=1, decode_instances=2)


def test_generic_decode_batch_within_its_seats():
    u = disaggregated_units(pd.DataFrame([UNIT]), CAT).iloc[0]
    assert u["max_batch_memory"] > ASSUMPTIONS.max_running_sequences  # memory alone would seat more
    assert u["batch"] == ASSUMPTIONS.max_running_sequences
    assert u["limited_by"] == "engine"
