"""Evaluations per second of the performance model on a realistic grid.

    python benchmarks/bench_perf.py [--rows N] [--repeat R]

Grid: every catalog accelerator x model x precision x (tp, pp, ep, attn_dp) split x batch size x workload
shape x serving mode, i.e. what a planner sweeps. Rows that cannot run (do not fit, wrong split, precision not
supported) count too: answering them is part of the work. Prints rows, seconds and evaluations/second for
`evaluate` (one core, numpy) and for `max_batch_meeting` (configurations/second).
"""

from __future__ import annotations

import argparse
import itertools
import time

import pandas as pd

from planner.catalog import load_catalog
from planner.perf import CONFIG_COLUMNS, DEFAULT_BATCHES, evaluate, max_batch_meeting

SPLITS = [  # (tp, pp, ep, attn_dp)
    (1, 1, 1, 1),
    (2, 1, 1, 1),
    (4, 1, 1, 1),
    (8, 1, 1, 1),
    (4, 2, 1, 1),
    (8, 2, 1, 1),
    (8, 1, 8, 1),
    (4, 1, 4, 1),
    (1, 1, 4, 4),
    (1, 1, 8, 8),
    (2, 1, 8, 4),
]
BATCHES = [1, 8, 32, 64, 128, 256, 512, 1024]
SHAPES = [(1024, 256), (4096, 512), (1024, 4096), (8192, 1024)]


def build_grid(catalog) -> pd.DataFrame:
    rows = []
    for acc, model, prec, split, (isl, osl), serving in itertools.product(
        sorted(catalog.accelerators),
        sorted(catalog.models),
        sorted(catalog.precisions),
        SPLITS,
        SHAPES,
        ("aggregated", "disaggregated"),
    ):
        tp, pp, ep, dp = split
        kv = "fp8" if prec in ("fp8", "nvfp4", "mxfp4") else "bf16"
        rows.append((model, acc, prec, kv, tp, pp, ep, dp, serving, isl, osl))
    base = pd.DataFrame(rows, columns=list(CONFIG_COLUMNS))
    return base.loc[base.index.repeat(len(BATCHES))].assign(batch=BATCHES * len(base)).reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=0, help="cap the grid at N rows (0 = all)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    catalog = load_catalog()
    grid = build_grid(catalog)
    if args.rows:
        grid = grid.iloc[: args.rows]
    evaluate(grid.iloc[:1000], catalog)  # warm caches (efficiency YAML, tables)
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        out = evaluate(grid, catalog)
        best = min(best, time.perf_counter() - t0)
    fits = int(out["fits"].sum())
    print(f"evaluate: {len(grid):,} rows ({fits:,} fit) in {best:.2f} s = {len(grid) / best:,.0f} evaluations/s")
    configs = grid[grid["batch"] == BATCHES[0]].drop(columns=["batch"]).iloc[:20000]
    t0 = time.perf_counter()
    chosen = max_batch_meeting(configs, catalog, ttft_s=2.0, tpot_s=0.05)
    dt = time.perf_counter() - t0
    met = int(chosen["fits"].sum())
    print(f"max_batch_meeting: {len(configs):,} configurations ({met:,} meet TTFT 2 s / TPOT 50 ms) x "
          f"{len(DEFAULT_BATCHES) + 1} candidate batches in {dt:.2f} s = {len(configs) / dt:,.0f} configs/s")


if __name__ == "__main__":
    main()
