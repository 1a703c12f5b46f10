"""Engine versions: vLLM's V0 engine (0.7 and older) as its own catalog engine, the rows that ran it, and the
per-sequence host time it spends between steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.engine_fit import _with_engines
from planner.perf.evaluate import evaluate
from planner.perf.params import load_efficiency
from planner.perf.under_load_mapping import SHAREGPT_MEAN_TOKENS, load_mapping, published_engine, vllm_engine

CAT = load_catalog()
EFF = load_efficiency(CAT)


@pytest.mark.parametrize(("framework", "date", "engine"), [
    ("vLLM 0.6.3.dev116+g151ef4ef (ROCm 6.1)", "2024-10-09", "vllm-v0"),
    ("vLLM (ROCm 6.2 era, ~v0.6.x)", "2024-10-23", "vllm-v0"),
    ("vLLM (2024 ROCm build)", "2024 (OCI blog; exact date not in stored copy)", "vllm-v0"),
    ("vLLM", "2024", "vllm-v0"),
    ("vLLM v0.11.0", "page first committed 2025-10-31", "vllm"),
    # the version is vLLM's 0.10, not ROCm's 7.0.0
    ("vLLM (rocm/vllm:rocm7.0.0_vllm_0.10.2_20251006 (released 2025-10-06))", "2025-10-06", "vllm"),
    ("vLLM (rocm7.0.0_vllm_0.10.2_20251006)", "2025-10-06", "vllm"),
    ("vLLM before (v0.10.2)", "2026-04-22", "vllm"),
    ("vLLM ROCm nightly + EAGLE3", "2026-07-03", "vllm"),
])
def test_vllm_rows_run_the_engine_of_their_version(framework, date, engine):
    assert vllm_engine(framework, date) == engine
    assert published_engine(framework, date) == engine


def test_the_v0_engine_states_its_defaults_and_is_superseded():
    eng = CAT.engines["vllm-v0"]
    assert eng.superseded_by == "vllm"
    # 0.6.3: max_num_seqs 256, chunked prefill (max_model_len > 32K) at 512 tokens a step, no overlap scheduler
    assert (eng.max_batch, eng.max_num_batched_tokens, eng.cuda_graph_max_batch) == (256, 512, 256)
    assert not eng.overlap_scheduling


def _tpot_s(seq_factor: float, engine: str, batch: int, accelerator: str = "mi300x") -> float:
    eff = _with_engines(EFF, {"eta_factor": 1.0, "moe_factor": 1.0, "seq_factor": seq_factor, "step_s": 0.0},
                        CAT.engines)
    g = pd.DataFrame({"model": ["llama-3.1-405b"], "accelerator": [accelerator], "precision": ["bf16"],
                      "kv_precision": ["bf16"], "tp": [8], "pp": [1], "ep": [1], "attn_dp": [1], "isl": [80],
                      "osl": [60], "engine": [engine], "batch": [batch]})
    return float(evaluate(g, CAT, efficiency=eff)["tpot_s"].iloc[0])


def test_v0_host_time_per_sequence_adds_to_every_step():
    """No overlap scheduler: the per-sequence host time (seq_overhead_s x the engine's factor) is on the step's
    critical path, so 256 running sequences at factor 80 add 256 x 80 x seq_overhead_s to each step."""
    per_seq = EFF.serving["seq_overhead_s"]
    assert per_seq > 0
    added = _tpot_s(80.0, "vllm-v0", 256) - _tpot_s(0.0, "vllm-v0", 256)
    assert added == pytest.approx(256 * 80 * per_seq, rel=1e-6)


def test_an_overlapping_engine_hides_host_time_below_the_gpu_step():
    """TensorRT-LLM schedules the next step while the GPU runs this one: host time shorter than the GPU step is
    hidden (the same factor adds nothing at batch 1), the V0 engine pays it in full."""
    assert _tpot_s(1.0, "trtllm", 1, "h200-sxm") == pytest.approx(_tpot_s(0.0, "trtllm", 1, "h200-sxm"), rel=1e-9)
    v0 = _tpot_s(1.0, "vllm-v0", 1, "h200-sxm") - _tpot_s(0.0, "vllm-v0", 1, "h200-sxm")
    assert v0 == pytest.approx(EFF.serving["seq_overhead_s"], rel=1e-6)


def test_open_loop_rows_are_finite_poisson_runs():
    m = load_mapping(CAT)
    vamd = m[m["source_family"] == "VAMD"].set_index("id")
    row = vamd.loc["VAMD-405B-vLLM-qps16-2"]
    assert row["expressible"] and row["engine"] == "vllm-v0" and row["load"] == "open"
    assert (row["request_rate"], row["num_requests"]) == (16.0, 1000.0)
    assert (row["isl"], row["osl"]) == SHAREGPT_MEAN_TOKENS and row["length_dist"] == "variable"
    assert vamd.loc["VAMD-405B-TGI-qps16-3", "engine"] == "tgi"
    optimized = vamd.loc["VAMD-405B-vLLM-qps1000-0"]
    assert not optimized["expressible"] and "not stated" in optimized["why_not"]
    bursts = m[m["expressible"] & (m["load"] == "burst")]
    assert np.isinf(bursts["request_rate"]).all()
    dstk = m[m["expressible"] & m["id"].str.startswith("DSTKTGI-vllm")]
    assert len(dstk) and (dstk["engine"] == "vllm-v0").all()
