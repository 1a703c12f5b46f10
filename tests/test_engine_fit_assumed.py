"""Runs whose prediction rests on an assumed input (an acceptance copied from another model's draft) are reported
but pull no engine factor: a whole-run rule on their inputs, never on their error."""

from __future__ import annotations

import numpy as np
import pytest

from planner.catalog import load_catalog
from planner.perf import engine_fit
from planner.perf.engines import ENGINE_NEUTRAL
from planner.perf.params import load_efficiency

CAT = load_catalog()


@pytest.fixture(scope="module")
def trials():
    """The fit's rows with one factor set (the neutral engine) instead of the whole grid: which rows are fitted
    does not depend on the factors."""
    neutral = {k: ENGINE_NEUTRAL[k] for k in engine_fit.ENGINE_GRID}
    orig = engine_fit.engine_combos
    engine_fit.engine_combos = lambda: [neutral]
    try:
        return engine_fit._trials(CAT, load_efficiency(CAT))
    finally:
        engine_fit.engine_combos = orig


def _rows(t, prefix: str) -> np.ndarray:
    ids = np.concatenate([t.base["id"].to_numpy(dtype=str), np.full(len(t.pub), "", dtype=str)])
    return np.char.startswith(ids, prefix)


def test_assumed_acceptance_is_named_per_row(trials):
    t = trials
    why = dict(zip(t.base["id"], t.assumed[:t.n_load], strict=True))
    (spec,) = engine_fit.ASSUMED_INPUTS
    # AMD's MI355X EAGLE-3 runs: Kimi-K2.5 / MiniMax-M2.5 acceptance from gpt-oss-20b; not their no-spec runs
    assert why["REAG-kimi-c4-eagle3bf16-output_tok_s_per_gpu"] == spec
    assert why["REAG-minimax-c64-eagle3-output_tok_s_per_gpu"] == spec
    assert why["REAG-kimi-c4-nospec-output_tok_s_per_gpu"] == ""
    # GPUStack's MTP runs: DeepSeek-R1 and V3.2 carry their own MTP heads, DeepSeek-V3's acceptance stands in
    assert why["GPS-deepseek-r1-h200-5-output_tok_s"] == spec
    assert why["GPS-deepseek-v3.2-h200-3-output_tok_s"] == spec
    assert why["GPS-qwen3-8b-h100-latency-21-output_tok_s"] == spec  # Qwen3's EAGLE-3: gpt-oss-20b's acceptance
    # lengths measured on the same dataset in other runs (VAMD) are not an assumed input
    assert why["VAMD-405B-vLLM-qps16-2"] == ""
    assert why["GPS-qwen3-8b-h100-latency-0-output_tok_s"] == ""


def test_rows_with_assumed_inputs_pull_no_factor(trials):
    t = trials
    assumed = t.assumed != ""
    assert assumed[_rows(t, "REAG-kimi-c4-eagle3")].all()
    assert not (t.fitted & assumed).any() and not (t.light & assumed).any()
    # the same page's runs without a draft stay fitted (throughput rows)
    nospec = _rows(t, "REAG-kimi-c4-nospec") | _rows(t, "REAG-minimax-c8-nospec")
    assert t.fitted[nospec].all()


def test_the_provenance_names_the_runs_left_out(trials):
    t = trials
    rows = t.group == "vllm/amd"
    k = int(t.best(rows & t.fitted))
    entry = engine_fit._provenance(t, rows, "vllm", "amd", k, 0.0)
    text = entry["eta_factor"]["fitted_from"]
    assert "REAG 10, " not in text and "REAG 25" not in text  # no longer fitted on the EAGLE-3 rows
    assert "not fitted: REAG 15 rows (speculative acceptance assumed" in text
