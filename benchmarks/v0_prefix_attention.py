"""vLLM V0's prompt attention on ROCm (engines.yaml vllm-v0 `prompt_attention_eta_scale`), from the curvature
of dstack's single-prompt TTFT series against the step model's flash-attention prefill.

    python benchmarks/v0_prefix_attention.py

dstack ran one prompt of 16k / 32k / 64k / 128k tokens at a time through vLLM 0.6.3.dev (ROCm 6.1) and TGI
on 8x MI300X, Llama-3.1-405B BF16 TP8 (serving_under_load.csv DSTKTGI-*-single-*-ttft_mean_ms). Per engine,
the measured TTFT is fitted as b n + c n^2 (least squares of the relative error): c is the prompt's attention
(its causal pairs grow as n^2 / 2), b everything linear in the prompt (GEMMs, collectives, launches). The model's
prompt-attention seconds of the same prompt (`attn_prefill` of the step model on the engine's kernel path at a
share of 1: attn_prefill_eta_max less the 128-token tiles' padding, step.prompt_attention_efficiency) are fitted
the same way; c_model / c_measured is the kernel's efficiency as a share of the model's flash attention.

What it showed (2026-12-01): vLLM c = 3.7e-8 s / token^2 against the model's 9.2e-10: share 0.025; TGI (CK
flash attention; the control) 1.4e-9: share 0.66. vLLM's b = 0.90 ms a token against the model's 0.55 at
vLLM's fitted eta_factor (TGI 0.35 against 0.34): a linear cost per 512-token chunk the model lacks, which no
attention term explains (the kernel's in-chunk causal part is ~20 ms of the ~180 ms missing per chunk).
The share is from this one source (no other published run of this kernel), so engines.yaml marks it assumed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.perf.kernels import causal_pairs
from planner.perf.params import load_efficiency
from planner.perf.resolve import Cols, normalize_grid, resolve
from planner.perf.step import decode_step
from planner.perf.under_load_mapping import LOAD_PATH

ENGINES = {"vllm": "vllm-v0", "tgi": "tgi"}  # the rows' id part -> catalog engine
BASE = dict(model="llama-3.1-405b", accelerator="mi300x", precision="bf16", tp=8, batch=1, osl=150)


def measured(path=LOAD_PATH) -> pd.DataFrame:
    """The single-prompt TTFT rows: engine (catalog id), isl, ttft_s."""
    d = pd.read_csv(path)
    d = d[d["id"].str.match(r"DSTKTGI-(vllm|tgi)-single-isl\d+-ttft_mean_ms$")]
    return pd.DataFrame({"engine": d["id"].str.split("-").str[1].map(ENGINES).to_numpy(),
                         "isl": d["isl"].astype(float).to_numpy(), "ttft_s": d["value"].to_numpy() / 1e3})


def fit_linear_quadratic(n: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """(b, c) of t = b n + c n^2, least squares of the relative error (each row divided by its t)."""
    a = np.stack([n / t, n * n / t], axis=1)
    (b, c), *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    return float(b), float(c)


def model_attention_s(engine: str, isl: np.ndarray, scaled: bool = False) -> np.ndarray:
    """Seconds of the model's prompt attention over whole prompts of isl tokens (the sum over its chunks: the
    step model charges each chunk its share of the causal pairs at the prompt's efficiency): on flash attention
    for an engine with no kernel share on AMD (TGI), else on its kernel path at a share of 1 unless `scaled`."""
    catalog = load_catalog()
    eff = load_efficiency(catalog)
    scaled = scaled or "amd" not in catalog.engines[engine].prompt_attention_eta_scale
    c, reason = resolve(normalize_grid(pd.DataFrame([BASE | dict(engine=engine, isl=float(n)) for n in isl])),
                        catalog, eff)
    assert (reason == "").all(), reason
    probe = 0.5  # any share below 1 takes the engine's kernel path; its time is inversely proportional to it
    if not scaled:
        c = Cols(dict(c.items()) | {"eng_prompt_attn_scale": np.full(len(isl), probe)})
    pairs = causal_pairs(isl)
    out = decode_step(c, eff.serving, np.zeros(len(isl)), np.zeros(len(isl)), isl, pairs, pairs, isl,
                      breakdown=True)
    return np.asarray(out["ops"]["attn_prefill"], dtype=float) * (1.0 if scaled else probe)


def model_linear_s_per_token(engine: str) -> float:
    """The model's seconds per prompt token of one step carrying a chunk of the engine's budget with no
    attention (pairs 0): the linear part b to set beside the measured one."""
    catalog = load_catalog()
    eff = load_efficiency(catalog)
    c, _ = resolve(normalize_grid(pd.DataFrame([BASE | dict(engine=engine, isl=16000.0)])), catalog, eff)
    chunk = np.minimum(c.eng_chunk, c.isl)
    out = decode_step(c, eff.serving, np.zeros(1), np.zeros(1), chunk, 0.0, 0.0, c.isl, prompt_chunk=True)
    return float(out["time_s"][0] / chunk[0])


def main() -> None:
    rows = measured()
    for engine, g in rows.groupby("engine"):
        n, t = g["isl"].to_numpy(), g["ttft_s"].to_numpy()
        b, c = fit_linear_quadratic(n, t)
        _, c_model = fit_linear_quadratic(n, model_attention_s(engine, n))
        print(f"{engine:8s} measured b = {b * 1e3:.3f} ms/token, c = {c:.3e} s/token^2; model attention "
              f"c = {c_model:.3e}; kernel share of the model's flash attention = {c_model / c:.4f}; model b = "
              f"{model_linear_s_per_token(engine) * 1e3:.3f} ms/token")


if __name__ == "__main__":
    main()
