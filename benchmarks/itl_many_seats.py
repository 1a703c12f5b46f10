"""Analytic vs simulated latency at many running sequences: Llama-3.1-8B FP8 on one H100 (754 seats), 1024 / 256
tokens, closed loops of 64-512 clients and Poisson rates of 0.5-0.95 of capacity, fixed and variable lengths.
Printed, not asserted (tests/test_perf_load.py asserts a smaller grid). `python benchmarks/itl_many_seats.py`.

Found by an audit (2026-12-01): the ITL was a three-point mixture (decode-only step, a step with one prompt chunk,
a step packed to the budget) with a share 1 - e^-f of steps carrying prompts; past f ~ 0.7 prompts a step that
share passed one half and the p50 jumped onto the chunk step (192 clients: 37 vs 11.8 ms simulated) while the p99
missed the steps with several prompts. The prompts ready at a step are those that arrived during the step
before, so a step with prompts gathers more for the next (planner/perf/step_mix.py: branching counts). Each
column is (analytic - simulated) / simulated."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.perf.load import latency_under_load

CFG = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, isl=1024,
           osl=256, serving="aggregated")
COLUMNS = ("ttft_p50_s", "ttft_p90_s", "tpot_mean_s", "itl_mean_s", "itl_p50_s", "itl_p99_s", "output_tok_s")


def main() -> None:
    cat = load_catalog()
    cap = latency_under_load(pd.DataFrame([CFG]), cat, concurrency=1)["capacity_rps"].iloc[0]
    loads = ([dict(concurrency=c) for c in (64, 128, 192, 256, 384, 512)]
             + [dict(concurrency=c, length_dist="variable") for c in (192, 256, 512)]
             + [dict(request_rate=f * cap) for f in (0.5, 0.8, 0.9, 0.95)]
             + [dict(request_rate=f * cap, length_dist="variable") for f in (0.5, 0.8, 0.9)])
    grid = pd.DataFrame([CFG | ld for ld in loads])
    a = latency_under_load(grid, cat, method="analytic")
    s = latency_under_load(grid, cat, method="simulate")
    names = [(f"C{ld['concurrency']}" if "concurrency" in ld else f"{ld['request_rate'] / cap:.2f}cap")
             + (" var" if ld.get("length_dist") == "variable" else "") for ld in loads]
    err = pd.DataFrame({k: np.round((a[k] - s[k]) / s[k] * 100.0, 1) for k in COLUMNS})
    err.index = names
    print(f"capacity {cap:.1f} req/s, {a['max_running'].iloc[0]:.0f} seats; error % (analytic vs simulated)")
    print(err.to_string())
    ms = pd.DataFrame({f"{k} an/sim ms": [f"{x * 1e3:.1f}/{y * 1e3:.1f}" for x, y in zip(a[k], s[k], strict=True)]
                       for k in ("itl_p50_s", "itl_p99_s", "ttft_p50_s")}, index=names)
    print(ms.to_string())


if __name__ == "__main__":
    main()
