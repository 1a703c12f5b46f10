"""vLLM V0's prompt path (engines.yaml vllm-v0 `prompt_attention_eta_scale`, `chunked_prefill_default`): with
chunked prefill on (models longer than 32K) every prompt chunk on ROCm attends through the Triton prefix-prefill
kernel at a share of flash attention; shorter models prefill whole prompts, prompt-only, on flash attention.
Hand-computed small cases; each fails without its term."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from benchmarks import v0_prefix_attention as bench
from planner.catalog import load_catalog
from planner.catalog.schema_engines import Engine
from planner.perf.kernels import ETA_CAP, attention_prefill_efficiency, causal_pairs
from planner.perf.params import load_efficiency
from planner.perf.resolve import Cols, normalize_grid, resolve
from planner.perf.step import PREFIX_TILE_TOKENS, decode_step

CAT = load_catalog()
EFF = load_efficiency(CAT)
SHARE = CAT.engines["vllm-v0"].prompt_attention_eta_scale["amd"]


def _cols(rows: list[dict]) -> Cols:
    c, reason = resolve(normalize_grid(pd.DataFrame(rows)), CAT, EFF)
    assert (reason == "").all(), reason
    return c


def _prompt_attention_s(c: Cols, isl: np.ndarray) -> np.ndarray:
    """Seconds of the prompt attention of whole prompts of isl tokens (one pass, no decode)."""
    z = np.zeros(len(isl))
    pairs = causal_pairs(isl)
    out = decode_step(c, EFF.serving, z, z, isl, pairs, pairs, isl, breakdown=True)
    return np.asarray(out["ops"]["attn_prefill"], dtype=float)


def test_rocm_prompt_chunks_run_the_prefix_kernel_at_its_share():
    """Llama-3.1-405B TP8, a 16,000-token prompt: on MI300X vLLM V0 attends at SHARE x attn_prefill_eta_max x
    16000 / (16000 + 128) (the prefix kernel's 128-token causal tiles); TGI on the same GPU and vLLM V0 on H200
    (FlashAttention over the block table) keep flash attention, S / (S + S_half). The time is the causal FLOPs
    (16,000 x 16,001 / 2 pairs x 4 x 128 dims x 16 heads a GPU x 126 layers) over the BF16 peak at that
    efficiency."""
    base = dict(model="llama-3.1-405b", precision="bf16", tp=8, batch=1, isl=16000, osl=100)
    rows = [base | dict(accelerator="mi300x", engine="vllm-v0"), base | dict(accelerator="mi300x", engine="tgi"),
            base | dict(accelerator="h200-sxm", engine="vllm-v0")]
    c = _cols(rows)
    isl = np.full(3, 16000.0)
    got = _prompt_attention_s(c, isl)
    m = CAT.models["llama-3.1-405b"]
    flops = causal_pairs(16000.0) * 4 * m.head_dim * (m.num_heads / 8) * m.layers
    flash = attention_prefill_efficiency(isl, c.attn_prefill_eta_max, c.attn_prefill_seq_half_tokens)
    prefix = np.minimum(c.attn_prefill_eta_max, ETA_CAP) * SHARE * 16000 / (16000 + PREFIX_TILE_TOKENS)
    eta = np.array([prefix[0], flash[1], flash[2]])
    np.testing.assert_allclose(got, flops / (c.peak_bf16_flops_s * eta), rtol=1e-9)
    assert got[0] > 30 * got[1]  # the MI300X prefix path is ~40x its flash attention


def test_short_context_models_prefill_whole_prompts_on_flash_attention():
    """Qwen3-32B (max context 32,768, not above 32K) on vLLM V0: no chunked prefill, so the step budget is
    max(32768, 2048), prompts run in prompt-only steps and on MI300X attend on flash attention; Llama-3.1-8B
    (131,072) keeps the 512-token chunks mixed with decode and the prefix kernel on MI300X only."""
    rows = [dict(model=mo, accelerator=a, precision="bf16", tp=tp, batch=1, isl=1000, osl=100, engine="vllm-v0")
            for mo, tp in (("qwen3-32b", 2), ("llama-3.1-8b", 1)) for a in ("mi300x", "h100-sxm")]
    c = _cols(rows)
    np.testing.assert_array_equal(c.eng_chunk, [32768, 32768, 512, 512])
    np.testing.assert_array_equal(c.eng_prefill_first, [1, 1, 0, 0])
    np.testing.assert_array_equal(c.eng_prompt_attn_scale, [1, 1, SHARE, 1])


def test_the_share_is_what_the_benchmark_derives():
    """engines.yaml's share is the curvature of dstack's single-prompt TTFT over the model's attention
    (benchmarks/v0_prefix_attention.py), rounded: a change of the model's prompt attention shows here."""
    rows = bench.measured()
    v = rows[rows["engine"] == "vllm-v0"]
    n, t = v["isl"].to_numpy(), v["ttft_s"].to_numpy()
    _, c_measured = bench.fit_linear_quadratic(n, t)
    _, c_model = bench.fit_linear_quadratic(n, bench.model_attention_s("vllm-v0", n))
    assert len(v) == 4
    assert c_model / c_measured == pytest.approx(SHARE, rel=0.05)


def test_fit_linear_quadratic_recovers_its_terms():
    n = np.array([1e3, 4e3, 16e3, 64e3])
    b, c = bench.fit_linear_quadratic(n, 2e-4 * n + 3e-9 * n * n)
    assert (b, c) == (pytest.approx(2e-4), pytest.approx(3e-9))


def test_the_share_needs_provenance_and_a_vendor_of_the_engine():
    v0 = CAT.engines["vllm-v0"].model_dump()
    prov = {k: p for k, p in v0["provenance"].items() if k != "prompt_attention_eta_scale"}
    with pytest.raises(ValidationError, match="needs provenance"):
        Engine(**(v0 | {"provenance": prov}))
    with pytest.raises(ValidationError, match="does not run on"):
        Engine(**(v0 | {"prompt_attention_eta_scale": {"intel": 0.5}}))
    with pytest.raises(ValidationError):
        Engine(**(v0 | {"prompt_attention_eta_scale": {"amd": 1.5}}))
