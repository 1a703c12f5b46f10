"""Build and solve times of every example problem, per backend, plus a synthetic 50-workload x 15-system problem.

    python benchmarks/bench_solve.py                 # all examples, every available backend
    python benchmarks/bench_solve.py --synthetic     # also the 50 x 15 synthetic problem (60 s limit)
    python benchmarks/bench_solve.py problems/mixed-fleet.yaml --backend highs

Prints, per problem and backend: candidates, variables, rows, candidate generation, model build and solve times,
status, objective and gap. Solves run single-threaded (one core).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.catalog import load_catalog  # noqa: E402
from planner.optimize.backends import available_backends  # noqa: E402
from planner.optimize.candidates import build_candidates  # noqa: E402
from planner.optimize.pipeline import load_instance  # noqa: E402
from planner.optimize.solve import solve_instance  # noqa: E402


def bench(name: str, inst, cands, backends: list[str], cand_s: float, time_limit: float) -> None:
    for b in backends:
        sol = solve_instance(inst, cands, b, time_limit_s=time_limit)
        m = sol.model
        gap = "-" if sol.gap is None else f"{sol.gap:.1e}"
        obj = "-" if sol.objective_value is None else f"{sol.objective_value:,.6g}"
        print(
            f"{name:28s} {b:6s} {len(cands):6d} {len(m.vars):6d} {len(m.constraints):5d} {cand_s:7.2f} "
            f"{sol.build_time_s:7.3f} {sol.solve_time_s:7.2f} {sol.iterations:3d}  {sol.status!s:20s} {obj:>12s} "
            f"{gap:>8s}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("problems", nargs="*")
    ap.add_argument("--backend", action="append")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()
    cat = load_catalog()
    backends = args.backend or available_backends()
    paths = args.problems or sorted(str(p) for p in (ROOT / "problems").glob("*.yaml"))
    print(
        f"{'problem':28s} {'backend':6s} {'cands':>6s} {'vars':>6s} {'rows':>5s} {'cand_s':>7s} {'build_s':>7s} "
        f"{'solve_s':>7s} {'it':>3s}  {'status':20s} {'objective':>12s} {'gap':>8s}"
    )
    for p in paths:
        inst = load_instance(p, cat)
        t0 = time.perf_counter()
        cs = build_candidates(inst, cat)
        bench(Path(p).stem, inst, cs.table, backends, time.perf_counter() - t0, args.time_limit)
    if args.synthetic:
        from benchmarks.synthetic import synthetic_instance

        t0 = time.perf_counter()
        inst, cands = synthetic_instance(cat, workloads=50, systems=15)
        bench("synthetic-50x15", inst, cands, backends, time.perf_counter() - t0, args.time_limit)


if __name__ == "__main__":
    main()
