"""DeepSeek-R1 / V3.2 on 8x H200 (GPUStack GPS-deepseek-* runs) against the step model, beside control runs.

    python benchmarks/deepseek_anatomy.py

Per run (no speculation): the measured mean ITL (TPOT for closed-loop runs) and the running batch it implies
(output tok/s x ITL; the concurrency for closed-loop runs), the model's decode-only step at that batch with its
op breakdown (ms), and measured / modelled. Controls: the other GPUStack MoE runs on the same engines (gpt-oss-120b
at concurrency 4, Qwen3-235B-A22B BF16 at TP8 in a burst) and Qwen3-8B at concurrency 4.

What it showed (2026-12-01, before block_fp8_moe_eta_scale): DeepSeek-R1 on vLLM decodes 2.5-2.7x slower than
the model at 4 running sequences (19.4 vs 7.6 ms) and at ~310 (ITL 119 ms); TensorRT-LLM (EP8) 2.6x at ~250;
SGLang 1.5-1.7x only after its fitted factors (0.65 x 0.5 on the experts). The controls sit at 0.9-1.1x (c4)
and 1.1-1.9x (bursts, where prompt steps stretch ITL above the decode step). What DeepSeek adds over them:
block-scaled FP8 experts (the only ones in the set), MLA, 256 experts. MLA decode attention is 0.02 ms of the
c4 step and 1.6 ms of the 313-sequence step (short ShareGPT contexts): no kernel factor on it reaches the gap;
the MLA KV replicated on every TP rank is in the KV pool already (the running batch matches, running_batch.py);
TP8 all-reduces are 1.0 ms of the c4 step, and Qwen3-235B at TP8 (188 all-reduces a step against 122) is
predicted within 4% on vLLM / H100.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.perf.params import load_efficiency
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.serving_fidelity import CFG
from planner.perf.step import block_fp8_moe_scale, decode_step
from planner.perf.under_load_mapping import load_mapping

CONTROLS = ("gpt-oss-120b-h100-12", "gpt-oss-120b-h100-17", "qwen3-8b-h100-latency-0", "qwen3-235b-a22b-h100-0",
            "qwen3-235b-a22b-h100-1")
OPS = ("experts", "attn_proj", "attn_decode", "activations", "communication", "kernel_overhead")


def runs(catalog) -> pd.DataFrame:
    m = load_mapping(catalog)
    m = m[m["expressible"] & m["id"].str.startswith("GPS-") & (m["speculative"] == "none")].copy()
    m["run"] = m["id"].str.rsplit("-", n=1).str[0]
    keep = m["model"].str.startswith("deepseek") | m["run"].str[4:].isin(CONTROLS)
    m = m[keep]
    actual = m.pivot_table(index="run", columns="metric", values="actual")
    return m.drop_duplicates("run").set_index("run").join(actual[["output_tok_s", "itl_mean_ms", "tpot_mean_ms"]])


def main() -> None:
    catalog = load_catalog()
    eff = load_efficiency(catalog)
    rows = []
    for run, r in runs(catalog).iterrows():
        c, reason = resolve(normalize_grid(pd.DataFrame([r[CFG]]).assign(batch=1)), catalog, eff)
        if reason[0]:
            continue
        closed = r["load"] == "closed"
        batch = float(r["concurrency"]) if closed else float(r["output_tok_s"] * r["itl_mean_ms"] / 1e3)
        gap = r["tpot_mean_ms"] if closed else r["itl_mean_ms"]
        ctx = r["isl"] + r["osl"] / 2.0
        d = decode_step(c, eff.serving, np.array([batch]), np.array([ctx]), breakdown=True)
        step = float(d["time_s"][0]) * 1e3
        ops = {k: round(float(np.ravel(d["ops"][k])[0]) * 1e3, 2) for k in OPS}
        rows.append(dict(run=run[4:], engine=r["engine"], tp=int(r["tp"]), ep=int(r["ep"]), batch=round(batch),
                         measured_ms=gap, model_ms=round(step, 1), ratio=round(gap / step, 2),
                         block_scale=float(block_fp8_moe_scale(c, eff.serving)[0]), **ops))
    print(pd.DataFrame(rows).sort_values(["engine", "run"]).to_string(index=False))


if __name__ == "__main__":
    main()
