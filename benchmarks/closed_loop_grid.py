"""Closed loops, the analytic model against the simulator (the reference) over a grid: fixed and variable lengths,
osl 1..64, 1..256 clients, three configurations (8B and qwen3-32b on H100 with vLLM, 8B with SGLang's
prefill-first scheduler). Prints each row's relative errors and the median / P90 |error| per metric.

    PYTHONPATH=$PWD python benchmarks/closed_loop_grid.py [--quick] [--csv PATH]

--quick: a third of the grid (a few minutes less). Simulator seed 0; the model as latency_under_load gives it.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.perf.load import latency_under_load

METRICS = ("ttft_mean_s", "ttft_p50_s", "ttft_p99_s", "tpot_mean_s", "tpot_p99_s", "itl_p50_s", "itl_p99_s")
CONFIGS = {
    "8b-vllm": dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1),
    "32b-vllm": dict(model="qwen3-32b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1),
    "8b-sglang": dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1,
                      engine="sglang"),
}
ISL = 1024
OSLS = (1, 2, 4, 16, 64)
CLIENTS = (1, 4, 32, 128, 256)


def grid(quick: bool = False) -> pd.DataFrame:
    rows = [dict(name=n, **cfg, isl=ISL, osl=o, concurrency=c, length_dist=d, serving="aggregated")
            for n, cfg in CONFIGS.items() for d in ("fixed", "variable") for o in OSLS for c in CLIENTS]
    g = pd.DataFrame(rows)
    if quick:  # every third row, still every config, length law and most osl / client pairs
        g = g.iloc[::3]
    return g.reset_index(drop=True)


def errors(g: pd.DataFrame) -> pd.DataFrame:
    cat = load_catalog()
    cols = [c for c in g.columns if c != "name"]
    a = latency_under_load(g[cols], cat, method="analytic")
    s = latency_under_load(g[cols], cat, method="simulate")
    out = g[["name", "length_dist", "osl", "concurrency"]].copy()
    for k in METRICS:
        out[f"{k}_sim"] = s[k].to_numpy()
        out[k] = (a[k].to_numpy() - s[k].to_numpy()) / s[k].to_numpy()
    return out


def summary(e: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({k: [np.nanmedian(e[k].abs()), np.nanpercentile(e[k].abs(), 90)] for k in METRICS},
                        index=["median|err|", "P90|err|"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--csv")
    args = ap.parse_args()
    e = errors(grid(args.quick))
    if args.csv:
        e.to_csv(args.csv, index=False)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 500)
    short = e[["name", "length_dist", "osl", "concurrency", *METRICS]]
    print(short.to_string(index=False, float_format=lambda v: f"{v:+.2f}"))
    print(summary(e).to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
