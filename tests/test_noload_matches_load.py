"""The no-load TPOT (`evaluate`, `planner predict` without a load: the full batch, no queueing) and the load
model's (`latency_under_load` with as many closed-loop clients as the batch) describe the same steady state, so
they agree, for MoE models as for dense ones (serving.aggregated: decode-only steps and a share of real
prompt-chunk steps).

Before, the no-load step blended every step with its share of prompt tokens, b * isl / osl; an MoE step reads the
experts its tokens touch, E (1 - (1 - k / E)^T), so the blend charged each step the experts of b + b * isl / osl
tokens: gpt-oss-120b on H100 at batch 1 (1,000 / 1,000 tokens) 5.88 ms against the load model's 4.03, +46%; at
batch 16, +51%. Dense models (weights read whatever the token count) agreed within 0-13%."""

from __future__ import annotations

import pandas as pd
import pytest
from perf_toy import base_catalog

from planner.perf import evaluate, load_efficiency
from planner.perf.load import latency_under_load
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.step import decode_step

CAT = base_catalog()
EFF = load_efficiency(CAT)
GPT_OSS = dict(model="gpt-oss-120b", accelerator="h100-sxm", precision="mxfp4", kv_precision="fp8", tp=1,
               serving="aggregated", isl=1000, osl=1000)

# SGLang (prefill-first) at attention DP 8, its 8,192-token budget split over the ranks: at batch 4,096 the others
# bring 32,760 prompt tokens a decode step, four budget steps of pause (the load model's, the simulator's), where
# the no-load step ran them as one step over the budget (TPOT 0.25 s vs 0.34, output 16,400 tok/s vs 12,135)
SGLANG_DP = dict(GPT_OSS, accelerator="h200-sxm", engine="sglang", tp=1, ep=8, attn_dp=8, isl=1024, osl=128)


def test_batch_one_tpot_is_the_decode_step():
    """One request alone: its own prompt is in its TTFT, every later step decodes its one token (4 experts a
    layer for gpt-oss, not the ~8 of a step blended with a prompt token)."""
    row = GPT_OSS | {"batch": 1}
    c, _ = resolve(normalize_grid(pd.DataFrame([row])), CAT, EFF)
    step = decode_step(c, EFF.serving, c.batch, c.isl + c.osl / 2.0)["time_s"][0]
    assert evaluate(pd.DataFrame([row]), CAT, efficiency=EFF)["tpot_s"].iloc[0] == pytest.approx(step, rel=1e-9)


@pytest.mark.parametrize("row", [GPT_OSS | {"batch": 16}, GPT_OSS | {"batch": 4, "isl": 8000},
                                 dict(GPT_OSS, model="llama-3.1-8b", precision="fp8", batch=16, isl=8000),
                                 SGLANG_DP | {"batch": 4096}, SGLANG_DP | {"batch": 4096, "tp": 8, "attn_dp": 1}])
def test_no_load_tpot_and_throughput_are_the_load_models_at_the_batch(row):
    """At the same running batch the two paths agree within 2% (the load model interpolates its step tables): the
    blend put gpt-oss at +51% (batch 16) and +307% (8,000-token prompts, batch 4), and 8B at -19% (its prompt
    FLOPs hidden under the weight reads of every step, where a real chunk step is compute-bound)."""
    grid = pd.DataFrame([row])
    no_load = evaluate(grid, CAT, efficiency=EFF).iloc[0]
    load = latency_under_load(grid, CAT, concurrency=row["batch"], efficiency=EFF).iloc[0]
    assert no_load["tpot_s"] == pytest.approx(load["tpot_mean_s"], rel=0.02)
    assert no_load["output_tok_s"] == pytest.approx(load["output_tok_s"], rel=0.02)
