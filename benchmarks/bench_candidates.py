"""Candidate building speed: configurations per second of `build_candidates` (the performance evaluation with
the latency-target / load-aware capacity search, expansion and pruning), per example problem.

    python benchmarks/bench_candidates.py [problems...] [--repeat 3]

Per problem: configurations in the grid, the fastest of --repeat runs in CPU seconds and in wall seconds, and
configurations per CPU-second and per wall-second (no cache: every run evaluates the whole grid). CPU time is the
better figure on a shared machine (the work is single-threaded); the machine's load average is printed before and
after, since a loaded machine inflates both. Target (issues 7 and 8): >= 50,000 configurations/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.catalog import load_catalog  # noqa: E402
from planner.optimize.candidates import build_candidates  # noqa: E402
from planner.optimize.pipeline import load_instance  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("problems", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cat = load_catalog()
    paths = [Path(p) if Path(p).is_file() else ROOT / "problems" / f"{p}.yaml" for p in args.problems] \
        or sorted((ROOT / "problems").glob("*.yaml"))
    print(f"load average (1, 5, 15 min): {_load()}")
    print(f"{'problem':32s} {'configs':>8s} {'cpu_s':>7s} {'wall_s':>7s} {'cfg/cpu-s':>10s} {'cfg/wall-s':>10s}")
    total_cfg = total_cpu = total_wall = 0.0
    for p in paths:
        inst = load_instance(p, cat)
        build_candidates(inst, cat)  # warm: catalog tables, imports
        cpu = wall = float("inf")
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            cs = build_candidates(inst, cat)
            cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - t0)
        n = cs.stats.get("grid", 0)
        total_cfg, total_cpu, total_wall = total_cfg + n, total_cpu + cpu, total_wall + wall
        print(f"{p.stem:32s} {n:8d} {cpu:7.3f} {wall:7.3f} {n / cpu:10,.0f} {n / wall:10,.0f}", flush=True)
    print(f"{'all':32s} {int(total_cfg):8d} {total_cpu:7.3f} {total_wall:7.3f} {total_cfg / total_cpu:10,.0f} "
          f"{total_cfg / total_wall:10,.0f}")
    print(f"load average (1, 5, 15 min): {_load()}")


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


if __name__ == "__main__":
    main()
