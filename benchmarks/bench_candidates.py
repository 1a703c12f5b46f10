"""Candidate building speed: configurations per second of `build_candidates` (the performance evaluation with
the latency-target / load-aware capacity search, expansion and pruning), per example problem.

    python benchmarks/bench_candidates.py [problems...] [--repeat 3] [--phases]

Per problem: configurations in the grid, the fastest of --repeat runs in CPU seconds and in wall seconds, and
configurations per CPU-second and per wall-second (no cache: every run evaluates the whole grid). CPU time is the
better figure on a shared machine (the work is single-threaded); the machine's load average is printed before and
after, since a loaded machine inflates both. Target (issues 7 and 8): >= 50,000 configurations/s.

--phases: where one build's CPU time goes (mean over --repeat runs): the grid, the performance calls (the batch
search of reasoning rows; the load-aware capacity with its step tables and disaggregated batch search), the rest
of the evaluation (completing, filtering, variant pruning) and the expansion (systems, keys, dominance pruning).
Nested phases are indented and included in their parent.

To compare with another checkout (e.g. main) under the same load, run both at once:
    python benchmarks/bench_candidates.py & python /path/to/main/benchmarks/bench_candidates.py
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
    ap.add_argument("--phases", action="store_true", help="print where one build's CPU time goes")
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
    if args.phases:
        for p in paths:
            phases(load_instance(p, cat), cat, p.stem, args.repeat)


PHASES = (  # (module, function, label, depth): timed where the candidate search calls them
    ("planner.optimize.candidates", "build_grid", "grid", 1),
    ("planner.optimize.candidates", "evaluate_grid", "performance calls", 1),
    ("planner.optimize.evaluation", "largest_batch_visible", "batch search, reasoning rows", 2),
    ("planner.optimize.evaluation", "capacity_under_slo", "load-aware capacity", 2),
    ("planner.perf.capacity", "build_step_tables", "step tables", 3),
    ("planner.perf.capacity", "largest_batch_meeting", "disaggregated batch search", 3),
    ("planner.optimize.candidates", "expand_candidates", "expansion", 1),
    ("planner.optimize.candidates", "undominated", "dominance pruning", 2),
)


def phases(inst, cat, name: str, repeat: int) -> None:
    """CPU seconds per phase of one build (module functions wrapped with a timer, then restored)."""
    import importlib

    spent: dict[str, float] = {}
    saved = []
    for mod_name, fn_name, label, _ in PHASES:
        mod = importlib.import_module(mod_name)
        fn = getattr(mod, fn_name)
        saved.append((mod, fn_name, fn))

        def timed(*a, _fn=fn, _label=label, **k):
            t0 = time.process_time()
            try:
                return _fn(*a, **k)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.process_time() - t0

        setattr(mod, fn_name, timed)
    try:
        build_candidates(inst, cat)
        spent.clear()
        c0 = time.process_time()
        for _ in range(repeat):
            build_candidates(inst, cat)
        total = (time.process_time() - c0) / repeat
    finally:
        for mod, fn_name, fn in saved:
            setattr(mod, fn_name, fn)
    print(f"{name}: {total * 1e3:.1f} ms CPU per build")
    top = sum(spent.get(label, 0.0) for _, _, label, depth in PHASES if depth == 1) / repeat
    rows = [(label, depth, spent[label] / repeat) for _, _, label, depth in PHASES if label in spent]
    rows.insert(len(rows) - 2, ("other (completing, filtering, variant pruning)", 1, total - top))
    for label, depth, s in rows:
        print(f"  {'  ' * (depth - 1)}{label:{50 - 2 * depth}s} {s * 1e3:7.1f} ms {100 * s / total:4.0f}%")


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


if __name__ == "__main__":
    main()
