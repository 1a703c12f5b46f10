"""Analytic (disagg_capacity.disaggregated_at_load) against simulated (simulate_disagg) TTFT p50/p90/p99 and TPOT
p50 of a few disaggregated units over a utilization grid, several seeds; prints analytic / simulated per cell.

    python benchmarks/disagg_ttft_grid.py [--seeds 3] [--rho 0.05,0.2,...] [--cases a,b]

Five units (fixed lengths, 3 seeds x 3,000 requests, rho = 0.05, 0.2, 0.4, 0.6, 0.8, 0.9 of the unit's rate),
measured 2026-12-02, analytic / simulated TTFT:
  - until h65 (every prompt charged the full prefill pass): p50 3.5x-7.6x at rho <= 0.4 (7.5x on 8-prompt passes);
    p90/p99 1.09x to 7.97x; never below the simulator;
  - a lone prompt's pass growing with the prompts that share it (`disagg_capacity._prefill_wait`): p50 0.97x-1.00x
    at rho <= 0.4; p50 1.0x-3.1x at rho >= 0.6 (the step where the p50 prompt starts to wait); p90 0.97x-2.19x and
    p99 0.90x-1.90x everywhere; at rho >= 0.5 p90 >= 1.04x and p99 >= 0.96x (llama-3.3-70b H200, 5 prefill
    instances, rho 0.6), so the optimizer's capacity is not promised above the simulated but by 4% at p99;
    Finer, 6 seeds x 5,000 requests at rho 0.5-0.85 (step 0.05): seed-averaged p90 >= 1.03x, p99 >= 0.96x (the
    5-instance unit at rho 0.65; single seeds down to 0.83x there: the p99 of 5,000 requests is 50 of them).
    Tried: prompts joining at the full rate while one waits (one FCFS queue feeds every instance), 1 + 2 rate
    (wait + lone / instances): p99 >= 1.09x but p90 up to 3.7x on the 5-instance unit; 1 + rate (wait + (wait +
    lone) / instances): the 5-instance unit's p99 1.3-1.5x, deepseek-r1's p99 0.86x at rho 0.2;
  - TPOT p50 unchanged (1.00x-1.69x, dsr1's decode-bound unit high at rho >= 0.8: the decode step table's).
~10 s CPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.perf.disagg_capacity import disaggregated_at_load, disaggregated_units
from planner.perf.simulate import Workload, summarize
from planner.perf.simulate_disagg import simulate_unit, unit_steps

BASE = dict(precision="fp8", kv_precision="fp8", pp=1, ep=1, attn_dp=1, serving="disaggregated")
CASES = {
    "qwen32b-h100-1k": dict(model="qwen3-32b", accelerator="h100-sxm", tp=2, isl=1024, osl=256),
    "llama70b-h100-2k": dict(model="llama-3.3-70b", accelerator="h100-sxm", tp=4, isl=2048, osl=512),
    "llama70b-h200-1k": dict(model="llama-3.3-70b", accelerator="h200-sxm", tp=2, isl=1024, osl=256),
    "qwen235b-h200-2k": dict(model="qwen3-235b-a22b", accelerator="h200-sxm", tp=8, ep=8, isl=2048, osl=512),
    "dsr1-b200-1k": dict(model="deepseek-r1", accelerator="b200", tp=8, ep=8, isl=1024, osl=1024),
}
RHO = (0.05, 0.2, 0.4, 0.6, 0.8, 0.9)
KEYS = ("ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s")


def grid(cat, names, rhos, seeds, n_req):
    rows = []
    for name in names:
        units = disaggregated_units(pd.DataFrame([BASE | CASES[name]]), cat, load_steps=True)
        u = units.iloc[0]
        if not u["fits"]:
            print(name, "does not fit:", u.get("reason", ""))
            continue
        us = unit_steps(u, cat)
        mu = float(u["output_tok_s"] / u["osl"])
        for rho in rhos:
            a = disaggregated_at_load(units, request_rate=rho * mu).iloc[0]
            sims = [summarize(simulate_unit(us, Workload(request_rate=rho * mu, num_requests=n_req, seed=s)))
                    for s in range(seeds)]
            row = dict(case=name, rho=rho, np=us.prefill_instances, nd=us.decode_instances, kmax=us.max_prompts)
            for k in KEYS:
                sim = float(np.mean([s[k] for s in sims]))
                row[k.replace("_s", "")] = float(a[k]) / sim
            rows.append(row)
    return pd.DataFrame(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--rho", default=",".join(map(str, RHO)))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    cat = load_catalog()
    t = time.process_time()
    df = grid(cat, args.cases.split(","), [float(x) for x in args.rho.split(",")], args.seeds, args.requests)
    pd.set_option("display.width", 200)
    print(df.round(2).to_string(index=False))
    print(f"{time.process_time() - t:.1f} s CPU")
    if args.out:
        df.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
