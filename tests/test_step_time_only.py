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


def test_gemm_efficiency_shared_only_by_the_same_arrays(monkeypatch):
    """`_Pass._efficiency` computes gemm_efficiency and peak x its clipped value once for GEMMs given the same
    rows, ceiling and peak (the same arrays): another of the three gets its own, and the step is the one each
    GEMM's own computation gives, to the bit."""
    import planner.perf.step as step_mod
    from planner.perf.kernels import gemm_efficiency

    catalog = load_catalog()
    eff = load_efficiency(catalog)
    grid = pd.DataFrame([dict(model=m, accelerator="h200-sxm", precision="fp8", tp=tp, ep=ep, isl=1024, osl=256)
                         for m, tp, ep in [("llama-3.3-70b", 4, 1), ("deepseek-r1", 8, 8), ("qwen3-32b", 2, 1)]])
    grid = grid.assign(pp=1, kv_precision="fp8", attn_dp=1, serving="aggregated", batch=1)
    c, _ = resolve(normalize_grid(grid), catalog, eff)
    c = Cols({k: (v[:, None] if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == 3 else v)
              for k, v in c.items()})  # per-row columns against the rows' points
    p = step_mod._Pass(c, eff.serving, np.array([[1.0], [8.0], [64.0]]), 0.0, 1.0, 1.0, 1.0, False, True)
    m, emax, pk = p.t_rank, p.eta_max, p.peak
    _, den = p._efficiency(m, emax, pk)
    assert p._efficiency(m, emax, pk)[1] is den  # the same arrays: shared
    for args in [(m.copy() * 2.0, emax, pk), (m, emax * 0.5, pk), (m, emax, pk * 0.5)]:  # any other: its own
        want = gemm_efficiency(args[0], args[1], c.gemm_m_half_tokens)
        got_eta, got_den = p._efficiency(*args)
        np.testing.assert_array_equal(got_eta, want)
        np.testing.assert_array_equal(got_den, args[2] * step_mod._clip_eta(want))
    n_dec = np.array([[0.0, 1.0, 16.0, 256.0]] * 3)
    shared = decode_step(c, eff.serving, n_dec, 1152.0, 512.0, prompt_chunk=True, time_only=True)["time_s"]

    def own(self, m, emax, pk):  # every GEMM its own efficiency
        e = gemm_efficiency(m, emax, self.c.gemm_m_half_tokens)
        return e, pk * step_mod._clip_eta(e)

    monkeypatch.setattr(step_mod._Pass, "_efficiency", own)
    np.testing.assert_array_equal(shared, decode_step(c, eff.serving, n_dec, 1152.0, 512.0, prompt_chunk=True,
                                                      time_only=True)["time_s"])
