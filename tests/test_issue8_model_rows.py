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
    v32 = mapped.loc["GPS-deepseek-v3.2-h200-3-output_tok_s"]
    assert (v32["model"], v32["speculative"], v32["engine"]) == ("deepseek-v3.2", "mtp", "vllm")


def test_v32_dsa_paths_of_trtllm_and_sglang_are_reported_not_fitted(mapped):
    rows = mapped[mapped["expressible"] & mapped["id"].str.startswith("GPS-deepseek")].reset_index(drop=True)
    skip = _not_fitted(rows)
    v32 = (rows["model"] == "deepseek-v3.2").to_numpy()
    assert skip[v32 & rows["engine"].isin(("trtllm", "sglang")).to_numpy()].all()
    assert not skip[v32 & (rows["engine"] == "vllm").to_numpy()].any()
    assert not skip[~v32].any()  # DeepSeek-R1 runs of every engine stay fitted


def test_sglang_gpt_oss_on_a100_is_a_kernel_path_reported_not_fitted(mapped):
    """SGLang's triton_kernel MoE path for gpt-oss on A100: both A100 runs out of the fit, whole runs, and no
    other row (gpt-oss on H100 with SGLang, gpt-oss on A100 with vLLM, other SGLang models on A100) with them."""
    rows = mapped[mapped["expressible"] & mapped["id"].str.startswith("GPS-")].reset_index(drop=True)
    skip = _not_fitted(rows)
    path = ((rows["engine"] == "sglang") & rows["model"].str.startswith("gpt-oss")
            & (rows["accelerator"] == "a100-sxm-80gb")).to_numpy()
    assert path.sum() >= 2 and skip[path].all()
    assert set(rows.loc[path, "model"]) == {"gpt-oss-20b", "gpt-oss-120b"}
    gpt_oss = rows["model"].str.startswith("gpt-oss").to_numpy()
    sglang, a100 = (rows["engine"] == "sglang").to_numpy(), (rows["accelerator"] == "a100-sxm-80gb").to_numpy()
    assert not skip[gpt_oss & sglang & ~a100].any()  # SGLang's gpt-oss on H100 stays fitted
    assert not skip[gpt_oss & a100 & ~sglang].any()  # vLLM's (Marlin) gpt-oss on A100 stays fitted
    assert not skip[~gpt_oss & sglang & a100].any()  # SGLang's Qwen3 on A100 stays fitted
