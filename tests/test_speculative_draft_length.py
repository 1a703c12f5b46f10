"""A served run's own draft length (num_speculative_tokens / --speculative-num-steps) is an input, not the
catalog's: GPUStack's DeepSeek MTP runs draft one token, not engines.yaml's three."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.evaluate import evaluate
from planner.perf.under_load_mapping import LOAD_PATH, _map_row, draft_tokens

CAT = load_catalog()
ROWS = pd.read_csv(LOAD_PATH).set_index("id", drop=False)
BASE = dict(model="deepseek-r1", accelerator="h200-sxm", precision="fp8", kv_precision="bf16", tp=8, pp=1, ep=1,
            attn_dp=1, isl=1000, osl=1000, batch=16, engine="sglang", speculative="mtp")


def test_the_draft_length_is_read_from_the_serving_command():
    assert draft_tokens('--speculative-config {"method":"mtp","num_speculative_tokens":1}') == 1.0
    assert draft_tokens("num_speculative_tokens=3, draft TP1") == 3.0
    sglang = "--speculative-num-steps {} --speculative-eagle-topk {} --speculative-num-draft-tokens {}"
    assert draft_tokens(sglang.format(1, 1, 2)) == 1
    # a top-k 4 tree of 16 draft tokens: the chain of its 4 steps (stated approximation)
    assert draft_tokens(sglang.format(4, 4, 16)) == 4
    assert math.isnan(draft_tokens("vLLM ROCm v0.19.0 + EAGLE3"))  # not stated
    r1 = _map_row(ROWS.loc["GPS-deepseek-r1-h200-5-output_tok_s"], CAT)
    assert r1["speculative"] == "mtp" and r1["draft_tokens"] == 1.0
    tree = _map_row(ROWS.loc["GPS-qwen3-8b-h100-latency-21-output_tok_s"], CAT)
    assert tree["expressible"] and tree["speculative"] == "eagle3" and tree["draft_tokens"] == 4.0


def test_another_draft_length_follows_the_geometric_acceptance():
    out = evaluate(pd.DataFrame([BASE, BASE | {"draft_tokens": 1}, BASE | {"draft_tokens": 3}]), CAT)
    al = out["acceptance_length"].to_numpy()
    assert al[0] == al[2] == 2.44  # engines.yaml: 2.44 at k = 3
    a = 0.6754916  # 1 + a + a^2 + a^3 = 2.44
    assert al[1] == pytest.approx(1 + a, abs=1e-4)
    # one draft token verifies 2 tokens a step, not 4: a cheaper step that emits fewer tokens, more time a token
    assert out["tpot_s"].iloc[1] > out["tpot_s"].iloc[0]
    assert out["output_tok_s"].iloc[1] < out["output_tok_s"].iloc[0]


@pytest.mark.parametrize("k", [0, 2.5, 17, "two"])
def test_a_bad_draft_length_is_named(k):
    out = evaluate(pd.DataFrame([BASE | {"draft_tokens": k}]), CAT)
    assert not out["fits"].iloc[0] and "draft_tokens" in out["reason"].iloc[0]
