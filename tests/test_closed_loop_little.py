"""Fixed lengths at osl 1 in a closed loop: the TTFT is the whole time in system, so Little's law (C clients, no
think time) fixes its mean at C / X, and the simulator's clients keep one order round after round (p50 = p99 =
mean). The cohorts alone missed the queue of prompts ahead: 5.37 s against 9.86 s at 128 clients (h91;
benchmarks/closed_loop_little.py prints osl 1 to 256)."""

import pandas as pd

from planner.catalog import load_catalog
from planner.perf.load import latency_under_load

CAT = load_catalog()
CLIENTS = (4, 32, 128)
# measured 2026-12-02 (simulator seed 0): the model's round C / X within 2.8% of the simulator's TTFT (mean,
# p50, p99) at 4 clients (X 13.28 against 12.95 /s), 0.6% at 32 and 128; the old cohorts: -6%, -38%, -46%
SIM_TOL = 0.05


def test_osl_one_ttft_is_the_round_of_little_and_the_simulator():
    grid = pd.DataFrame([dict(model="qwen3-32b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8",
                              tp=1, isl=1024, osl=1, serving="aggregated", concurrency=c) for c in CLIENTS])
    a = latency_under_load(grid, CAT, method="analytic")
    s = latency_under_load(grid, CAT, method="simulate")
    for r, c in enumerate(CLIENTS):
        little_s = c / a["requests_s"].iloc[r]
        assert abs(a["ttft_mean_s"].iloc[r] - little_s) <= 1e-9 * little_s, c  # exact: E2E = TTFT at osl 1
        for col in ("ttft_mean_s", "ttft_p50_s", "ttft_p99_s"):
            err = abs(a[col].iloc[r] - s[col].iloc[r]) / s[col].iloc[r]
            assert err <= SIM_TOL, (c, col, round(err, 3))
