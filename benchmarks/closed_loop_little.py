"""Closed loop with fixed lengths, no think time: the analytic model's TTFT against the simulator and Little's law
(mean time in system C / X, of which (osl - 1) x TPOT decodes: TTFT mean = C / X - (osl - 1) TPOT). At osl 1 the
wait behind the other clients' prompts is all of it (h91: qwen3-32b fp8 H100, 1024-token prompts).

    PYTHONPATH=$PWD python benchmarks/closed_loop_little.py [osl,...] [C,...]
"""

import sys

import pandas as pd

from planner.catalog import load_catalog
from planner.perf.load import latency_under_load


def little_ttft_s(row) -> float:
    return row.concurrency / row.requests_s - max(row.osl - 1, 0) * (row.tpot_mean_s if row.osl > 1 else 0.0)


def main(osls=(1, 2, 4, 16, 256), clients=(4, 32, 128), model="qwen3-32b", isl=1024) -> pd.DataFrame:
    grid = pd.DataFrame([dict(model=model, accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1,
                              isl=isl, osl=o, serving="aggregated", concurrency=c) for o in osls for c in clients])
    a = latency_under_load(grid, load_catalog(), method="analytic")
    s = latency_under_load(grid, load_catalog(), method="simulate")
    rows = []
    for i, g in grid.iterrows():
        ar, sr = a.iloc[i].copy(), s.iloc[i].copy()
        ar["concurrency"] = sr["concurrency"] = g.concurrency
        ar["osl"] = sr["osl"] = g.osl
        rows.append(dict(osl=g.osl, C=g.concurrency, X_model=ar.requests_s, X_sim=sr.requests_s,
                         mean_model=ar.ttft_mean_s, mean_sim=sr.ttft_mean_s, little_model=little_ttft_s(ar),
                         little_sim=little_ttft_s(sr), p50_model=ar.ttft_p50_s, p50_sim=sr.ttft_p50_s,
                         p99_model=ar.ttft_p99_s, p99_sim=sr.ttft_p99_s))
    return pd.DataFrame(rows)


if __name__ == "__main__":
    osls = tuple(int(v) for v in sys.argv[1].split(",")) if len(sys.argv) > 1 else (1, 2, 4, 16, 256)
    cs = tuple(int(v) for v in sys.argv[2].split(",")) if len(sys.argv) > 2 else (4, 32, 128)
    pd.set_option("display.width", 200)
    print(main(osls, cs).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
