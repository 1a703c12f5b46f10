"""vLLM V0's kernel paths keyed on the batch's longest sequence (engines.yaml `cuda_graph_max_context`,
`grouped_kv_decode_max_context`): past 8,192 tokens its decode steps launch eagerly, past 32,768 on ROCm its
decode attention reads each KV head once per query head. Hand-computed small cases; each fails without its term."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from planner.catalog import load_catalog
from planner.catalog.schema_engines import Engine
from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.resolve import Cols, normalize_grid, resolve
from planner.perf.step import decode_step

CAT = load_catalog()
EFF = load_efficiency(CAT)
# neutral engine factors and no host time: a step is its forward pass, floored by its launches where eager
NEUTRAL = Efficiency(accel=EFF.accel, serving=EFF.serving, provenance=EFF.provenance,
                     engines={e: {v: dict(eta_factor=1.0, seq_factor=0.0, step_s=0.0) for v in ("nvidia", "amd")}
                              for e in CAT.engines})


def _cols(rows: list[dict]) -> Cols:
    c, reason = resolve(normalize_grid(pd.DataFrame(rows)), CAT, NEUTRAL)
    assert (reason == "").all(), reason
    return c


def _step(c: Cols, n, ctx, **over) -> dict:
    """decode_step of rows c with some engine columns replaced (e.g. a limit lifted)."""
    cc = Cols(dict(c.items()) | {k: np.full(len(c.isl), v) for k, v in over.items()})
    return decode_step(cc, NEUTRAL.serving, np.asarray(n, dtype=float), np.asarray(ctx, dtype=float),
                       breakdown=True)


def test_decode_past_the_graph_context_launches_eagerly():
    """Llama-3.1-8B TP4 on H100, one request, on vLLM V0: a forward pass of ~1 ms, far below its launches
    (32 layers x 9 fused kernels x kernel_launch_s = 6.5 ms). With prompt + output <= 8,192 the step replays
    its graph; one token longer the same step (same context read) is floored at the launches. vLLM V1 (no
    context limit in engines.yaml) stays on its graph."""
    base = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="bf16", tp=4, batch=1, osl=192)
    rows = [base | dict(engine="vllm-v0", isl=8000), base | dict(engine="vllm-v0", isl=8001),
            base | dict(engine="vllm", isl=8001)]
    c = _cols(rows)
    ctx = np.full(3, 8000.0)
    graph = _step(c, np.ones(3), ctx, eng_graph_max_ctx=np.inf)["time_s"]  # every row on its graph
    got = _step(c, np.ones(3), ctx)["time_s"]
    launches = CAT.models["llama-3.1-8b"].layers * ASSUMPTIONS.kernels_per_layer  # 32 x 9
    floor = launches * EFF.accel.loc["h100-sxm", "kernel_launch_s"]
    assert floor == pytest.approx(6.5e-3, rel=0.05)
    assert (graph < 0.5 * floor).all()  # the floor binds at this size (else the test shows nothing)
    assert got[0] == pytest.approx(graph[0], rel=1e-12)  # 8,192 tokens: still the graph
    assert got[1] == pytest.approx(floor, rel=1e-12)  # 8,193: eager, the launches set the pace
    assert got[2] == pytest.approx(graph[2], rel=1e-12)  # vLLM V1: no context limit
    # a step with no sequence to decode (the step tables' empty grid point) is no eager decode step
    empty = _step(c, np.zeros(3), ctx)["time_s"]
    np.testing.assert_allclose(empty, _step(c, np.zeros(3), ctx, eng_graph_max_ctx=np.inf)["time_s"], rtol=1e-12)


def test_rocm_decode_past_32k_reads_kv_once_per_query_head():
    """Llama-3.1-405B TP8 (128 query heads, 8 KV heads: 16 query heads per KV head on a GPU) on vLLM V0: on
    MI300X a batch whose longest sequence passes 32,768 tokens falls back to paged_attention_v1/v2, so the same
    context costs 16x the KV reads; on H200 (FlashAttention decode, no limit) it stays at one read. The read
    itself: 126 layers x 1 KV head x 128 dims x 2 (K, V) x 2 bytes = 64.5 kB per context token per GPU."""
    base = dict(model="llama-3.1-405b", precision="bf16", tp=8, batch=1, osl=100, engine="vllm-v0")
    rows = [base | dict(accelerator="mi300x", isl=32668), base | dict(accelerator="mi300x", isl=32669),
            base | dict(accelerator="h200-sxm", isl=32669)]
    c = _cols(rows)
    ctx = np.full(3, 32000.0)
    attn = np.asarray(_step(c, np.ones(3), ctx)["ops"]["attn_decode"], dtype=float)
    m = CAT.models["llama-3.1-405b"]
    one_read_bytes = 32000 * m.layers * (m.num_kv_heads / 8) * m.head_dim * 2 * 2
    hbm = np.minimum(c.attn_decode_hbm_eta, 0.98) * c.hbm_bandwidth_bytes_s
    np.testing.assert_allclose(attn, one_read_bytes * np.array([1.0, 16.0, 1.0]) / hbm, rtol=1e-9)


def test_grouped_kv_limit_is_checked_against_the_engine():
    """The limit belongs to an engine whose decode kernel reads a KV head once for its group, on its vendors."""
    v0 = CAT.engines["vllm-v0"].model_dump()
    assert Engine(**v0).grouped_kv_decode_max_context == {"amd": 32768}
    with pytest.raises(ValidationError, match="per_kv_head"):
        Engine(**(v0 | {"decode_attention_kv_reads": "per_query_head"}))
    with pytest.raises(ValidationError, match="does not run on"):
        Engine(**(v0 | {"grouped_kv_decode_max_context": {"intel": 4096}}))
