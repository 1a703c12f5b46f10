"""Wide expert parallel on GB200 NVL72 (issue 8): EP sizes that do not divide the experts (replica slots), and
disaggregated units whose prefill instances are smaller than their wide-EP decode instance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf import evaluate, max_batch_meeting
from planner.perf.params import load_efficiency
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.step import decode_step
from planner.predict.load_query import prefill_layouts

CAT = load_catalog()
EFF = load_efficiency(CAT)
R1 = dict(model="deepseek-r1", precision="nvfp4", kv_precision="fp8", isl=1024, osl=1024)


def test_an_ep_size_that_does_not_divide_the_experts_holds_replica_slots():
    """DEP48 over DeepSeek-R1's 256 experts holds ceil(256 / 48) = 6 expert slots a GPU (288 in all, 32 of them
    replicas, as SGLang's and TensorRT-LLM's load balancers run it): its expert weights per GPU are 6 experts',
    not 256 / 48 = 5.33, and a decode step that touches every expert reads all 6. An EP size above the expert
    count (a rank without an expert) stays invalid."""
    rows = [dict(R1, accelerator="gb200", tp=1, attn_dp=d, ep=d, batch=4096) for d in (32, 48, 64)]
    r = evaluate(pd.DataFrame(rows), CAT, efficiency=EFF)
    assert r["fits"].all()
    w = r["weight_bytes_per_gpu"].to_numpy()
    # the non-expert weights are the same on every rank: the expert part scales with the slots a GPU holds
    expert_bytes = (w[0] - w[2]) / (8 - 4)  # bytes of one expert slot a GPU (all MoE layers)
    assert w[1] - w[2] == pytest.approx((6 - 4) * expert_bytes, rel=1e-9)
    # the experts' reads at a batch that touches every expert (memory-bound): 6 slots a GPU against 4
    ops = []
    for d in (48, 64):
        g = normalize_grid(pd.DataFrame([dict(R1, accelerator="gb200", tp=1, attn_dp=d, ep=d, batch=512)]))
        c, _ = resolve(g, CAT, EFF)
        ops.append(decode_step(c, EFF.serving, np.array([512.0]), np.array([1536.0]), breakdown=True)["ops"])
    assert float(ops[0]["experts"][0] / ops[1]["experts"][0]) == pytest.approx(6 / 4, rel=0.01)
    bad = evaluate(pd.DataFrame([dict(R1, accelerator="gb200", tp=8, attn_dp=64, ep=512, batch=8)]), CAT)
    assert not bad["fits"].iloc[0] and "exceeds 256 experts" in bad["reason"].iloc[0]


@pytest.mark.parametrize("engine", ["", "trtllm"])
def test_a_wide_ep_unit_with_small_prefill_instances_fits_one_nvl72(engine):
    """DeepSeek-R1 NVFP4 + MTP at TPOT <= 10 ms, DEP32 decode (how NVIDIA's NVL72 wide-EP figures run it):
    with prefill instances of the decode layout a rate-matched unit needs a second DEP32 (or more) for
    prefill, 128 GPUs, beyond one 72-GPU NVLink domain; DEP4 prefill instances (4 GPUs, the weights fit)
    rate-match it within one rack at no fewer tokens per GPU. Before predict tried them, 72 GB200 answered
    3 x DEP16 + DEP16 prefill or 9 x TP8."""
    base = dict(R1, accelerator="gb200", tp=1, attn_dp=32, ep=32, engine=engine, speculative="mtp",
                serving="disaggregated", prefill_accelerator="gb200", prefill_pp=1)
    rows = [base | dict(prefill_tp=1, prefill_attn_dp=32, prefill_ep=32),
            base | dict(prefill_tp=1, prefill_attn_dp=4, prefill_ep=4)]
    r = max_batch_meeting(pd.DataFrame(rows), CAT, tpot_s=0.010, efficiency=EFF)
    assert r["fits"].all() and (r["tpot_s"] <= 0.010).all()
    shared, small = r.iloc[0], r.iloc[1]
    assert shared["gpus"] > 72 >= small["gpus"]
    assert small["output_tok_s_per_gpu"] >= shared["output_tok_s_per_gpu"]


def test_predict_offers_a_wide_ep_decode_instance_smaller_prefill_instances():
    """The prefill layouts a disaggregated split tries: its own (NaN), and for an attention-DP decode instance
    the single-stage splits from 1/8 of its GPUs (8 instances at most per phase) up to below its size."""
    splits = [(1, 1, 1, 1), (4, 1, 4, 1), (8, 1, 8, 1), (8, 2, 8, 1), (1, 1, 2, 2), (1, 1, 4, 4), (1, 1, 8, 8),
              (1, 1, 16, 16), (1, 1, 32, 32), (1, 1, 64, 64)]
    got = prefill_layouts(splits, (1, 1, 32, 32), 8)
    assert all(math.isnan(v) for v in got[0])
    sizes = sorted(int(t * p * d) for t, p, _, d in got[1:])
    assert sizes == [4, 4, 8, 8, 16]
    assert len(prefill_layouts(splits, (8, 1, 8, 1), 8)) == 1  # TP decode: one layout for both phases
    assert np.isnan(prefill_layouts(splits, (1, 2, 32, 32), 8)[0][0])
