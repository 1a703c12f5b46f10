"""A batch the planner plans from a replica's seats passes its own memory check (issue 8, plan truth).

The seats (queueing.service) counted a running request's KV at its prompt + half its output (plus the share of
the other half its engine reserves), evaluate's memory check at the whole prompt + output: DeepSeek-R1 on vLLM,
B200 attention-DP 8, 1,024/4,096 tokens without a TTFT target planned a mean batch of 4,159 that then dropped
out as 'memory' (max batch 3,120). One rule now (memory.held_context_tokens: the engine's admission reserve,
vLLM 0, SGLang 0.7, TensorRT-LLM / TGI / the generic engine 1) and the seats never exceed what the check
admits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf import evaluate
from planner.perf.capacity import capacity_under_slo
from planner.perf.memory import held_context_tokens

R1 = dict(model="deepseek-r1", accelerator="b200", precision="fp8", kv_precision="fp8", tp=1, pp=1, ep=8,
          attn_dp=8, serving="aggregated", isl=1024, osl=4096, speculative="none")
SMALL = dict(model="qwen3-8b", accelerator="h100-sxm", precision="bf16", kv_precision="bf16", tp=1, pp=1, ep=1,
             attn_dp=1, serving="aggregated", isl=64, osl=64, speculative="none")  # logits beside little KV


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_the_capacity_batch_passes_the_memory_check(catalog):
    g = pd.DataFrame([{**R1, "engine": e} for e in ("vllm", "sglang", "trtllm", "")]
                     + [{**SMALL, "engine": e} for e in ("vllm", "")])
    cap = capacity_under_slo(g, catalog, ttft_s=None, tpot_s=0.1)
    assert cap["fits"].all(), cap[["engine", "reason"]]
    assert not (cap["limited_by"] == "memory").any()
    again = evaluate(g.assign(batch=cap["batch"].to_numpy()), catalog)
    assert again["fits"].all(), again["reason"].tolist()
    assert (cap["batch"] <= again["max_batch_memory"]).all()


def test_the_held_context_follows_the_engines_admission():
    """vLLM takes blocks as it decodes (reserve 0): half the output; TensorRT-LLM's GUARANTEED_NO_EVICT
    holds every request's max_tokens (1): the whole context; SGLang keeps 0.7 of the remaining output free."""
    got = held_context_tokens(np.array([1024.0] * 3), np.array([4096.0] * 3), np.array([0.0, 0.7, 1.0]))
    np.testing.assert_allclose(got, [1024 + 2048, 1024 + 2048 * 1.7, 1024 + 4096])


def test_the_seats_never_exceed_what_the_memory_check_admits(catalog):
    """The seats are 0.99 of the KV pool in tokens over the held context; the check floors each attention-DP
    rank's pool apart and counts each sequence's logits buffer: seats above the check's max batch at short
    contexts (SGLang qwen3-8b 64/64: 3,142 > 3,067) and on attention-DP ranks (gpt-oss-120b vLLM DP4
    1,024/4,096: 2,815 > 2,804), so a saturated plan could hold more than the check admits."""
    from planner.perf import queueing as Q
    from planner.perf.capacity import CANDIDATE_GRID
    from planner.perf.steptable import build_step_tables

    g = pd.DataFrame([{**SMALL, "engine": "sglang"},
                      {**SMALL, "model": "gpt-oss-120b", "precision": "fp8", "kv_precision": "fp8", "ep": 4,
                       "attn_dp": 4, "isl": 1024, "osl": 4096, "engine": "vllm"}])
    tab = build_step_tables(g, catalog, decode_points=CANDIDATE_GRID[0], prefill_points=CANDIDATE_GRID[1],
                            queueing_only=True)
    check = evaluate(g.assign(batch=1), catalog)["max_batch_memory"].to_numpy(dtype=float)
    assert tab.fits.all() and (check > 100).all()
    assert (Q.service(tab).cap <= check).all()
