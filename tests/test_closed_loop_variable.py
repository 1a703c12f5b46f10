"""A closed loop with variable (ShareGPT) lengths and short outputs, where the prompts' work fills the token
budget: the prompts ahead are the other clients' (at most C, not an endless M/D/1 source), so the wait stops at
the round's (Little's law), and the mixed step stops at a full budget step (closed_loop.py)."""

import pandas as pd

from planner.catalog import load_catalog
from planner.perf.load import latency_under_load

CAT = load_catalog()
# measured 2026-12-02 (8B fp8 H100 vLLM, 1024-token prompts, simulator seed 0), model against the simulator:
# (osl, clients): TTFT mean, p99, TPOT mean
#   (1, 32):   +13%, +17%, +1%    (the M/D/1 at u 0.999: +1755%, +5794%, +286%)
#   (2, 128):  +6%, +10%, +3%     (+394%, +1711%, +689%)
#   (4, 256):  +9%, -1%, +5%      (+173%, +871%, +692%)
CELLS = ((1, 32), (2, 128), (4, 256))
TOL = {"ttft_mean_s": 0.2, "ttft_p99_s": 0.3, "tpot_mean_s": 0.1}


def test_short_outputs_wait_for_the_round_not_an_endless_queue():
    g = pd.DataFrame([dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1,
                           isl=1024, osl=o, serving="aggregated", concurrency=c, length_dist="variable")
                      for o, c in CELLS])
    a = latency_under_load(g, CAT, method="analytic")
    s = latency_under_load(g, CAT, method="simulate")
    for r, cell in enumerate(CELLS):
        for col, tol in TOL.items():
            err = abs(a[col].iloc[r] - s[col].iloc[r]) / s[col].iloc[r]
            assert err <= tol, (cell, col, round(err, 3))
