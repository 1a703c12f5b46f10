"""The no-load model (`evaluate`, serving.aggregated) against the load model's closed loop at the same batch
(`latency_under_load(concurrency=batch)`) at attention data parallelism. Printed, not asserted (an analysis).

    python benchmarks/attention_dp_noload_vs_load.py

Table 1: gpt-oss-120b on 8x H200 (mxfp4, fp8 KV), SGLang / vLLM / TensorRT-LLM, tp x attn_dp in (1 x 8, 2 x 4,
8 x 1), batches 256-4,096, 1,024 / 128 and 1,000 / 1,000 tokens: TPOT and output tok/s, evaluate vs load.
Table 2: one step carrying a prompt chunk of T tokens beside 1,024 decoding, the step model direct (what
evaluate reads) against the load model's step table (what the load model and the simulator read).
What they said on 2026-12-02 is FINDINGS below (printed last).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.perf import evaluate, load_efficiency
from planner.perf.kernels import causal_pairs
from planner.perf.load import latency_under_load
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.serving import _chunk_step, decode_step
from planner.perf.steptable import build_step_tables, interp_step

FINDINGS = """
1. SGLang (prefill-first; fixed in 7122eca): the no-load mean step put all the prompt tokens the others bring a
   decode step into ONE pause step, over the 8,192-token budget. Batch 4,096 at 1,024 / 128 brings 32,760 tokens
   a decode step: evaluate priced one 32,760-token step (0.124 s), the load model (prefill_first_terms) and the
   simulator four 8,192-token steps (4 x 0.053 = 0.212 s). TPOT 0.2515 vs 0.3400 s, output 16,400 vs 12,135
   tok/s (tp 1 attn_dp 8); 3,447 vs 3,210 at tp 8 attn_dp 1. The simulator's closed loop (6 waves) gives
   12,075 tok/s: the load model was right. Not attention-DP specific; attention DP makes the decode step cheap
   (0.128 s vs 1.024 s at tp 8) so the pause share, and the error, was larger there. Both models take the
   replica's budget (ranks x rank_chunk_tokens = 8 x 1,024) and the batch per replica alike. After the fix all
   SGLang rows of table 1 agree within 0.11%.
   The simulator's closed loop splits the same throughput differently: it runs in waves (fixed lengths, pauses
   before decode): ~1,300 of 4,096 requests waiting on average, TTFT mean 13.6 s, TPOT 0.235 s (decode batch
   ~2,790), where both analytic models keep all 4,096 running (TPOT 0.34 s, TTFT 0.15-0.21 s). Left.
2. vLLM / TensorRT-LLM at attention DP (per-rank budgets, mixed schedule; fixed by h95): the load model's step
   table had 9 points along the prefill axis over the replica budget (8 x 8,192 = 65,536 for vLLM at attn_dp 8:
   8,192 tokens apart), so a 1,000-4,000-token chunk step was interpolated between the decode step and the
   mixed-step floor: 0.0299 s where the step model gives 0.0357 (-16%; at attn_dp 1 the grid is 1,024 apart,
   <1%). TPOT differed up to 26% (vLLM tp 2 attn_dp 4, batch 1,024, 1,000 / 1,000: evaluate 0.0327 s, load
   0.0259 s), output tok/s up to 21%, the load model (and the simulator) the faster. Now (steptable.prefill_grid:
   points at the rank's chunk and attn_dp chunks; StepTables.chunk_floor_s: the eager step's floor per decode
   count, the step the larger of it and the point launched as a decode step) table 2 agrees to 0.0% and every
   TPOT of table 1 within 1% but the 1,024 / 128 rows at the largest batches (5.7-9.5%, output tok/s equal:
   the closed loop's split of a life between TTFT and TPOT, not the steps) and TRT-LLM 8 x 1 b1024 1000/1000
   (-1.6%).
3. evaluate's TTFT at a large batch is one step of max(chunk, batch x isl / osl) prompt tokens beside the batch
   (32,768 tokens: 0.146 s), neither budget-capped nor prefill-first; the load model's closed loop gives p50
   0.208 s. Left.
"""

CAT = load_catalog()
EFF = load_efficiency(CAT)
BASE = dict(model="gpt-oss-120b", accelerator="h200-sxm", precision="mxfp4", kv_precision="fp8", ep=8,
            serving="aggregated")


def agreement() -> pd.DataFrame:
    rows = [BASE | dict(engine=e, tp=tp, attn_dp=dp, batch=b, isl=i, osl=o)
            for e, (tp, dp), b, (i, o) in itertools.product(("sglang", "vllm", "trtllm"), ((1, 8), (2, 4), (8, 1)),
                                                            (256, 1024, 4096), ((1024, 128), (1000, 1000)))]
    g = pd.DataFrame(rows)
    ev = evaluate(g, CAT, efficiency=EFF)
    out = []
    for i in np.flatnonzero(ev["fits"].to_numpy(dtype=bool)):
        row = g.iloc[[i]]
        ld = latency_under_load(row, CAT, concurrency=int(row.batch.iloc[0]), efficiency=EFF).iloc[0]
        if ld.max_running < row.batch.iloc[0]:
            continue
        out.append(rows[i] | {"eval_tpot_s": ev.tpot_s[i], "load_tpot_s": ld.tpot_mean_s,
                              "eval_tok_s": ev.output_tok_s[i], "load_tok_s": ld.output_tok_s})
    df = pd.DataFrame(out).drop(columns=list(BASE))
    df["tpot_diff_pct"] = (df.eval_tpot_s / df.load_tpot_s - 1.0) * 100.0
    df["tok_diff_pct"] = (df.eval_tok_s / df.load_tok_s - 1.0) * 100.0
    return df


def table_resolution() -> pd.DataFrame:
    out = []
    for tp, dp in ((1, 8), (8, 1)):
        g = pd.DataFrame([BASE | dict(engine="vllm", tp=tp, attn_dp=dp, batch=1024, isl=1000, osl=1000)])
        c, _ = resolve(normalize_grid(g), CAT, EFF)
        tab = build_step_tables(g, CAT, efficiency=EFF)
        per_tok = (causal_pairs(1000.0) / 1000.0, causal_pairs(1000.0, c.window_tokens) / 1000.0)
        for tokens in (0.0, 1000.0, 4096.0, 8192.0):
            t = np.array([tokens])
            direct = (_chunk_step(c, EFF.serving, c.batch, 1500.0, t, per_tok, 1.0) if tokens
                      else decode_step(c, EFF.serving, c.batch, 1500.0))["time_s"][0]
            table = interp_step(tab, np.array([[1024.0]]), np.array([[tokens]]))[0, 0]
            out.append(dict(tp=tp, attn_dp=dp, budget=tab.token_budget[0], tokens=tokens, direct_s=direct,
                            table_s=table, diff_pct=(table / direct - 1.0) * 100.0))
    return pd.DataFrame(out)


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 200)
    print(agreement().round(4).to_string(index=False))
    print()
    print(table_resolution().round(4).to_string(index=False))
    print(FINDINGS)
