"""The serving_under_load.csv rows of DeepSeek-V3.2, Kimi-K2.5 and MiniMax-M2.5 map onto catalog models."""

from __future__ import annotations

import pytest

from planner.catalog import load_catalog
from planner.perf.engine_fit import _not_fitted
from planner.perf.under_load_mapping import load_mapping

CAT = load_catalog()


@pytest.fixture(scope="module")
def mapped():
    return load_mapping(CAT).set_index("id", drop=False)


def test_every_row_of_the_three_models_is_expressible(mapped):
    rows = mapped[mapped["id"].str.contains("deepseek-v3.2|REAG-kimi|REAG-minimax")]
    thr = rows[~rows["metric"].isin(("speedup_x",))]
    assert len(thr) == 75 and thr["expressible"].all(), thr.loc[~thr["expressible"], "why_not"].tolist()
    assert set(thr["model"]) == {"deepseek-v3.2", "kimi-k2.5", "minimax-m2.5"}


def test_mapping_rules(mapped):
    kimi = mapped.loc["REAG-kimi-c16-eagle3fp8-output_tok_s_per_gpu"]
    assert (kimi["precision"], kimi["engine"], kimi["speculative"], kimi["tp"]) == ("mxfp4", "vllm", "eagle3", 4)
    assert (kimi["load"], kimi["concurrency"], kimi["num_requests"]) == ("closed", 16, 160)  # 10 x concurrency
    minimax = mapped.loc["REAG-minimax-c8-nospec-output_tok_s_per_gpu"]
    assert minimax["precision"] == "fp8"  # "as released by MiniMax": the native FP8 checkpoint
    assert minimax["speculative"] == "none"
    # "TP4 with expert parallelism (4 GPUs)" in the system column (the page prints no command): EP over the 4
    assert (minimax["tp"], minimax["ep"], kimi["ep"]) == (4, 4, 1)
    v32 = mapped.loc["GPS-deepseek-v3.2-h200-3-output_tok_s"]
    assert (v32["model"], v32["speculative"], v32["engine"]) == ("deepseek-v3.2", "mtp", "vllm")


def test_v32_dsa_paths_of_trtllm_and_sglang_are_reported_not_fitted(mapped):
    rows = mapped[mapped["expressible"] & mapped["id"].str.startswith("GPS-deepseek")].reset_index(drop=True)
    skip = _not_fitted(rows)
    v32 = (rows["model"] == "deepseek-v3.2").to_numpy()
    assert skip[v32 & rows["engine"].isin(("trtllm", "sglang")).to_numpy()].all()
    assert not skip[v32 & (rows["engine"] == "vllm").to_numpy()].any()
    assert not skip[~v32].any()  # DeepSeek-R1 runs of every engine stay fitted
