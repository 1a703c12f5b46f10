"""The step tables run the step model for its time alone (`decode_step(time_only=True)`: no compute/memory
buckets, FLOP and byte counts or busy times kept): the time must be the full model's to the bit, on dense, MoE,
MLA and speculative rows, decode-only and prompt-chunk steps."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.params import load_efficiency
from planner.perf.resolve import Cols, normalize_grid, resolve
from planner.perf.step import decode_step


def test_time_only_step_is_the_full_steps_time():
    catalog = load_catalog()
    eff = load_efficiency(catalog)
    rows = [dict(model=m, accelerator=a, precision=p, tp=tp, pp=pp, ep=ep, isl=1024, osl=256, engine=e,
                 speculative=s)
            for (m, tp, pp, ep), (a, p), (e, s) in itertools.product(
                [("llama-3.1-8b", 1, 1, 1), ("llama-3.3-70b", 4, 2, 1), ("deepseek-r1", 8, 1, 8),
                 ("gpt-oss-120b", 2, 1, 1), ("qwen3-32b", 2, 1, 1)],
                [("h200-sxm", "fp8"), ("b200", "nvfp4"), ("mi300x", "fp8")],
                [("vllm", "auto"), ("sglang", "none"), ("trtllm", "auto"), ("", "none")])]
    grid = pd.DataFrame(rows).assign(kv_precision="fp8", attn_dp=1, serving="aggregated", batch=1)
    c, reason = resolve(normalize_grid(grid), catalog, eff)
    n = len(reason)
    assert (reason == "").sum() > n // 2
    col = {k: (v[:, None] if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == n else v)
           for k, v in c.items()}
    col = Cols(col)
    n_dec = np.tile([0.0, 1.0, 7.0, 64.0, 300.0], (n, 2))
    n_pre = np.repeat([[0.0], [512.0]], 5, axis=0).reshape(1, -1).repeat(n, axis=0)
    ctx = np.full_like(n_dec, 1152.0)
    args = (col, eff.serving, n_dec, ctx, n_pre, n_pre * 300.0, n_pre * 100.0, 1024.0)
    kw = dict(q_dec=np.where(n_dec > 0, 3.0, 1.0), prompt_chunk=n_pre > 0)
    full = decode_step(*args, **kw)
    fast = decode_step(*args, **kw, time_only=True)
    ok = np.isfinite(full["time_s"])
    assert ok.sum() > ok.size // 2
    np.testing.assert_array_equal(fast["time_s"], full["time_s"])
    np.testing.assert_array_equal(fast["overhead_s"], full["overhead_s"])
    assert "flops" in full and "flops" not in fast
    # a breakdown is per-op figures the time-only path never fills: asked together, one clear error
    with pytest.raises(ValueError, match="breakdown needs the full step model"):
        decode_step(*args, **kw, time_only=True, breakdown=True)
