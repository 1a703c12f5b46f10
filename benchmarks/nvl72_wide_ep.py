"""GB200 NVL72 wide expert parallel against HGX B200 for DeepSeek-R1 NVFP4 at high interactivity (issue 8).

    python benchmarks/nvl72_wide_ep.py [engine]      (engine: '' = generic, trtllm, ...)

Prints (1) the decode step of the layouts that matter, op by op (ms), with MTP, at the batch each reaches at
TPOT <= 10 ms; (2) the best tokens/s per GPU at TPOT 5-20 ms (200-50 tok/s/user) of HGX B200 (TP8 / DEP8,
aggregated: one 8-GPU node) and of GB200 (aggregated DEP, and disaggregated DEP32 decode with the decode
layout or DEP4 instances for prefill), from the perf model at no load (`max_batch_meeting`).

What it showed (2026-12-02, main ece4839 + the wide-EP prefill splits, merge 53395c0; TPOT <= 10 ms, MTP, 1k/1k):
- HGX B200's step is the experts' weights: every step of a batch that touches all 256 experts reads 46 GB a GPU
  (TP8 / DEP8), 16.2 of TensorRT-LLM's 22.7 ms step at batch 32; DEP32 / DEP64 on NVL72 read 11.5 / 5.8 GB a
  GPU, so the per-rank batch can grow until MLA attention (4.1 ms at 48 sequences a rank, 4 query tokens),
  the all-to-all (4.0 ms) and fixed costs (2.4 ms of kernels, 1 ms a step) fill the budget.
- Aggregated DEP is held back by its prompts: a rank prefilling a 1k prompt stalls every rank at the next MoE
  layer (step._Pass.pre_rank), 2x the decode-only TPOT at DEP32; charged as if spread evenly over the ranks
  (what TensorRT-LLM's attention-DP balancing aims at; off by default) DEP32 generic would serve 5.6k instead
  of 2.4k tok/s/GPU. Published NVL72 wide-EP figures are disaggregated (decode ranks run no prompts).
- Disaggregated DEP32 with DEP32 prefill instances needs 128 GPUs a unit (beyond the 72-GPU domain); with
  DEP4 prefill instances 40, at no fewer tokens per GPU (TensorRT-LLM 3.9k -> 4.1k, generic 5.7k -> 6.1k).
- Ratio NVL72 (disaggregated, DEP4 prefill) / HGX B200 (best 8-GPU) at 10 ms: 2.2x generic, 13.5x TensorRT-LLM;
  the spread is the HGX side (TensorRT-LLM's fitted moe_factor 0.5 halves the experts' bandwidth, which is
  all of HGX's small-batch step), not the NVL72 one (4.1k vs 6.1k tok/s/GPU).
- HGX EP beyond 8 GPUs would cross InfiniBand (50 GB/s a GPU against NVLink's 720 achieved): a DEP16 rank at
  64 sequences with MTP (256 tokens, each to 6.5 of 16 ranks, bf16) sends ~12 MB a direction per MoE layer off
  its node, ~27 ms a step of all-to-all: not a layout at 10 ms (resolve keeps tp x attn_dp in the domain).
- Memory does not bind at 1k/1k: the largest batch the KV holds is 1,705 (B200 TP8), 12,008 (DEP8), 64,256
  (GB200 DEP32) against 32, 256-512 and 1,536 run at 10 ms.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.perf import max_batch_meeting
from planner.perf.params import load_efficiency
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.serving import draft_time_s
from planner.perf.step import decode_step

R1 = dict(model="deepseek-r1", precision="nvfp4", kv_precision="fp8", isl=1024, osl=1024, speculative="mtp")
HGX = [dict(accelerator="b200", tp=8, attn_dp=1, ep=8), dict(accelerator="b200", tp=1, attn_dp=8, ep=8)]
AGG = [dict(accelerator="gb200", tp=1, attn_dp=d, ep=d) for d in (16, 32, 64)]
DIS = [dict(accelerator="gb200", tp=1, attn_dp=32, ep=32, serving="disaggregated", prefill_accelerator="gb200",
            prefill_tp=1, prefill_pp=1, prefill_attn_dp=p, prefill_ep=p) for p in (32, 4)]


def anatomy(cat, eff, engine: str) -> None:
    for layout, b in ((HGX[0], 32), (HGX[1], 256), (AGG[1], 1536), (AGG[2], 3072)):
        c, _ = resolve(normalize_grid(pd.DataFrame([R1 | layout | dict(engine=engine, batch=b)])), cat, eff)
        ctx = np.array([1024 + 512.0])
        dec = decode_step(c, eff.serving, np.array([float(b)]), ctx, breakdown=True, q_dec=1 + c.spec_k)
        draft = draft_time_s(c, eff.serving, np.array([float(b)]), ctx)[0]
        ops = {k: round(float(np.ravel(v)[0]) * 1e3, 2) for k, v in dec["ops"].items() if np.ravel(v)[0] > 0}
        print(f"{layout['accelerator']} TP{layout['tp']} DEP{layout['attn_dp']} batch {b}: step "
              f"{dec['time_s'][0] * 1e3:.2f} + draft {draft * 1e3:.2f} ms; {ops}")


def per_gpu(cat, eff, engine: str) -> None:
    names = ["HGX TP8", "HGX DEP8", "NVL DEP16", "NVL DEP32", "NVL DEP64", "NVL dis DEP32+DEP32",
             "NVL dis DEP32+DEP4"]
    print("TPOT ms  " + "  ".join(f"{n:>19}" for n in names))
    for tpot in (0.005, 0.0066, 0.010, 0.0133, 0.020):
        g = pd.DataFrame([R1 | dict(engine=engine) | r for r in (*HGX, *AGG, *DIS)])
        r = max_batch_meeting(g, cat, tpot_s=tpot, efficiency=eff)
        v = np.where(r["fits"], r["output_tok_s_per_gpu"], np.nan)
        units = r["gpus"].to_numpy()
        cells = [f"{x:>8.0f} tok/s/GPU" if i < 5 else f"{x:>6.0f} ({units[i]:>3.0f} GPUs)"
                 for i, x in enumerate(v)]
        best = np.nanmax(v[2:]) / np.nanmax(v[:2])
        print(f"{tpot * 1e3:>6.1f}  " + "  ".join(f"{c:>19}" for c in cells) + f"   NVL72/HGX {best:.1f}x")


def main() -> None:
    cat = load_catalog()
    eff = load_efficiency(cat)
    engine = sys.argv[1] if len(sys.argv) > 1 else ""
    anatomy(cat, eff, engine)
    per_gpu(cat, eff, engine)


if __name__ == "__main__":
    main()
