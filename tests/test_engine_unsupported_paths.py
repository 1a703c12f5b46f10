"""Engine support matrix read in the engines' code (engines.yaml `unsupported_paths`): a (precision, accelerator)
an engine runs only through a fallback path is refused by the planner and not calibrated, with the reason; with
the fact taken out of the catalog both come back."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf import evaluate
from planner.perf.params import load_efficiency
from planner.perf.under_load_mapping import load_mapping

GPT_OSS = dict(model="gpt-oss-120b", precision="mxfp4", isl=1000, osl=500, batch=8)
A100_RUNS = ("GPS-gpt-oss-20b-a100-1-", "GPS-gpt-oss-120b-a100-1-")  # SGLang 0.5.4.post2 / 0.5.3 on A100


@pytest.fixture(scope="module")
def catalogs():
    on = load_catalog()
    off = load_catalog()
    off.engines["sglang"] = off.engines["sglang"].model_copy(update={"unsupported_paths": []})
    return on, off


def _rows(cat, rows):
    return evaluate(pd.DataFrame(rows), cat, efficiency=load_efficiency(cat))


def test_sglang_mxfp4_short_of_hopper_is_refused_with_the_reason(catalogs):
    on, off = catalogs
    rows = [GPT_OSS | {"accelerator": a, "engine": e}
            for a, e in (("a100-sxm-80gb", "sglang"), ("h100-sxm", "sglang"), ("a100-sxm-80gb", "vllm"))]
    r = _rows(on, rows)
    assert list(r["fits"]) == [False, True, True]
    assert "fallback path" in r["reason"].iloc[0] and "triton_kernels" in r["reason"].iloc[0]
    # bf16 on the same GPU and engine is a native path: planned
    assert _rows(on, [GPT_OSS | {"model": "qwen3-32b", "precision": "bf16", "accelerator": "a100-sxm-80gb",
                                 "engine": "sglang", "tp": 1}])["fits"].iloc[0]
    # the fact off: the A100 row is planned again
    assert _rows(off, rows[:1])["fits"].iloc[0]


def test_calibration_lists_the_fallback_runs_as_not_expressible(catalogs):
    on, off = catalogs
    for cat, expressible in ((on, False), (off, True)):
        m = load_mapping(cat)
        runs = m[m["id"].str.startswith(A100_RUNS)]
        assert len(runs) == 20, len(runs)  # two runs, ten metrics each
        assert (runs["expressible"] == expressible).all()
        if not expressible:
            assert runs["why_not"].str.contains("fallback path").all()
    # the same engine's MXFP4 runs on H100 stay calibrated
    m = load_mapping(on)
    h100 = m[m["id"].str.startswith(("GPS-gpt-oss-20b-h100-1-", "GPS-gpt-oss-120b-h100-1-"))]
    assert len(h100) and h100["expressible"].all()
