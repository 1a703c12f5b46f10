"""Cost of solving in a forked child process (interrupt safety) vs in-process: prints seconds per example.

    python benchmarks/bench_isolation.py [problem.yaml ...]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from planner.catalog import load_catalog
from planner.optimize.pipeline import solve_file

ROOT = Path(__file__).resolve().parents[1]


def main(paths: list[str]) -> None:
    catalog = load_catalog()
    paths = paths or [str(ROOT / "problems" / n) for n in ("quickstart.yaml", "enterprise-budget.yaml")]
    for path in paths:
        row = []
        for mode in ("1", "0", "1", "0"):  # in-process, isolated, twice each (the first warms caches)
            os.environ["PLANNER_SOLVE_IN_PROCESS"] = mode
            t0 = time.perf_counter()
            plan = solve_file(path, catalog).plan
            row.append((mode, time.perf_counter() - t0, plan.timing.get("solve_s", 0.0)))
        inproc = next(t for m, t, _ in row[2:] if m == "1")
        iso = next(t for m, t, _ in row[2:] if m == "0")
        print(f"{Path(path).name}: in-process {inproc:.2f} s, isolated {iso:.2f} s "
              f"({iso - inproc:+.2f} s, {plan.iterations} solver stages + runner-up + verify)")


if __name__ == "__main__":
    main(sys.argv[1:])
