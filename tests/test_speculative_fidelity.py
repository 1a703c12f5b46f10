"""Speculative-decoding rows of serving_under_load.csv as their own calibration group (issue 8 coverage)."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.evaluate import evaluate
from planner.perf.params import load_efficiency
from planner.perf.speculative_fidelity import acceptance_at, speculative_fidelity, speculative_summary
from planner.perf.under_load_mapping import LOAD_PATH

CAT = load_catalog()
EFF = load_efficiency(CAT)
ROWS = pd.read_csv(LOAD_PATH)


def _rows(*ids: str) -> pd.DataFrame:
    return ROWS[ROWS["id"].isin(ids)].reset_index(drop=True)


def test_geometric_acceptance_by_hand():
    # each draft token accepted with probability 1/2: AL(3) = 1 + 1/2 + 1/4 + 1/8 = 1.875
    assert acceptance_at(1.875, 3, 3) == 1.875
    assert acceptance_at(1.875, 3, 1) == pytest.approx(1.5, abs=1e-9)
    assert acceptance_at(1.875, 3, 7) == pytest.approx(sum(0.5**i for i in range(8)), abs=1e-9)
    # a longer draft never emits fewer tokens, and never more than k + 1
    for k in range(1, 10):
        assert acceptance_at(2.44, 3, k) <= acceptance_at(2.44, 3, k + 1) <= k + 2


def test_acceptance_rows_from_the_catalog():
    ids = ("LMTP-small-MTP_4-token_window-al", "LMTP-small-MTP_3-token_window-al", "PEAG-EAGLE-3-K7-MT-Bench",
           "PEAG-P-EAGLE-K3-HumanEval")
    out = speculative_fidelity(CAT, EFF, _rows(*ids)).set_index("id")
    # SGLang MTP for deepseek-v3 is stated at k = 3 (a 4-token window), acceptance 2.44: copied from this row
    assert out.loc[ids[0], "predicted"] == 2.44 and out.loc[ids[0], "in_sample"]
    # a 3-token window is k = 2: 1 + a + a^2 with 1 + a + a^2 + a^3 = 2.44 (a = 0.67549); measured 2.18
    a = 0.6754916
    assert 1 + a + a**2 + a**3 == pytest.approx(2.44, abs=1e-5)
    assert out.loc[ids[1], "predicted"] == pytest.approx(1 + a + a * a, abs=1e-4)
    assert not out.loc[ids[1], "in_sample"]
    # MT-Bench is the chat class (2.70 at k = 3) -> k = 7
    assert out.loc[ids[2], "predicted"] == pytest.approx(acceptance_at(2.70, 3, 7))
    assert not out.loc[ids[3], "expressible"] and "P-EAGLE" in out.loc[ids[3], "why_not"]


def test_speedup_is_the_ratio_of_the_models_own_predictions():
    ids = ("REAG-minimax-c8-eagle3-speedup_x", "SGOSS-eagle3-1.52")
    out = speculative_fidelity(CAT, EFF, _rows(*ids)).set_index("id")
    # steady state (no num_prompts stated): both sides through the step model at batch = concurrency 8, EP over
    # the 4 GPUs ("TP4 with expert parallelism")
    cfg = pd.DataFrame([dict(model="minimax-m2.5", accelerator="mi355x", precision="fp8", kv_precision="bf16",
                             tp=4, pp=1, ep=4, attn_dp=1, isl=1024, osl=1024, engine="vllm", batch=8)])
    spec = evaluate(cfg.assign(speculative="eagle3"), CAT, efficiency=EFF)["output_tok_s"].iloc[0]
    plain = evaluate(cfg.assign(speculative="none"), CAT, efficiency=EFF)["output_tok_s"].iloc[0]
    assert out.loc[ids[0], "predicted"] == pytest.approx(spec / plain, rel=1e-9)
    assert spec / plain > 1.0
    assert not out.loc[ids[1], "expressible"]  # the GPU is not stated


def test_summary_separates_in_sample_rows():
    lmtp = _rows("LMTP-small-MTP_4-token_window-al", "LMTP-small-MTP_3-token_window-al")
    spec = speculative_fidelity(CAT, EFF, lmtp)
    rows = {(r["metric"], r["rows"]): r for r in speculative_summary(spec)}
    assert rows[("acceptance_length", "all")]["n"] == 2
    assert rows[("acceptance_length", "out of sample")]["n"] == 1
    assert rows[("acceptance_length", "out of sample")]["median_abs_pct"] == pytest.approx(
        abs(acceptance_at(2.44, 3, 2) / 2.18 - 1) * 100, abs=0.06)
