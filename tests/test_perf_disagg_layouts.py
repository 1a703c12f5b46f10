"""Disaggregated serving with the prefill instances' own layout (and accelerator): the decode layout no longer
dictates prefill, the unit's GPUs and power add up per phase, and a bad prefill layout says why."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf import evaluate

CAT = load_catalog()
DEP8 = dict(model="deepseek-r1", accelerator="h200-sxm", precision="fp8", kv_precision="fp8", tp=1, attn_dp=8,
            ep=8, batch=256, isl=4000, osl=500, serving="disaggregated")


def ev(rows) -> pd.DataFrame:
    return evaluate(pd.DataFrame(rows), CAT)


def test_without_prefill_columns_the_shared_layout_is_unchanged():
    a = ev([DEP8])
    b = ev([DEP8 | {"prefill_tp": None, "prefill_attn_dp": None, "prefill_ep": None}])
    for col in ("ttft_s", "tpot_s", "output_tok_s", "gpus", "peak_power_w"):
        assert a[col].iloc[0] == pytest.approx(b[col].iloc[0])


def test_prefill_in_tensor_parallel_cuts_ttft_and_keeps_decode():
    shared, tp8 = ev([DEP8, DEP8 | {"prefill_tp": 8, "prefill_attn_dp": 1, "prefill_ep": 8}]).itertuples()
    assert tp8.tpot_s == pytest.approx(shared.tpot_s)  # decode instances are the same
    assert tp8.ttft_s < 0.5 * shared.ttft_s  # a TP8 prefill pass splits each prompt over 8 GPUs
    # the unit counts each phase's GPUs: instances x GPUs per instance, rate matched
    assert tp8.gpus == tp8.prefill_gpus + tp8.decode_gpus
    assert tp8.prefill_gpus == 8 * tp8.prefill_instances and tp8.decode_gpus == 8 * tp8.decode_instances


def test_prefill_on_another_accelerator():
    extra = {"prefill_accelerator": "b200", "prefill_tp": 8, "prefill_attn_dp": 1, "prefill_ep": 8}
    r = ev([DEP8 | extra]).iloc[0]
    assert r["fits"]
    b200, h200 = CAT.accelerators["b200"], CAT.accelerators["h200-sxm"]
    assert r["peak_power_w"] == pytest.approx(b200.tdp_w * r["prefill_gpus"] + h200.tdp_w * r["decode_gpus"])


@pytest.mark.parametrize(("extra", "reason"), [
    ({"prefill_tp": 3, "prefill_attn_dp": 1, "prefill_ep": 1}, "prefill instance: tp 3 does not divide 128 heads"),
    ({"prefill_accelerator": "h100-sxm", "prefill_tp": 8, "prefill_attn_dp": 1, "prefill_ep": 8},
     "prefill instance: weights"),
])
def test_bad_prefill_layout_says_why(extra, reason):
    r = ev([DEP8 | extra]).iloc[0]
    assert not r["fits"] and reason in r["reason"]
