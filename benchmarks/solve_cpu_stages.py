"""CPU seconds per stage of every example, and what they make on an idle two-core machine (issue 7 targets).

    python benchmarks/solve_cpu_stages.py [--backend scip] [problems...]

The team machine is shared (load 5-9 on two cores while this was written): wall times there say little. This
script solves in-process (PLANNER_SOLVE_IN_PROCESS=1) with the stage clocks reading process CPU time instead of
wall time, so each stage's figure is the CPU it needs, nearly independent of the load. Columns: candidates,
main solve, runner-up, price_of relaxations, platforms, verify, the rest; `seq` is the whole solve one stage
after the other (the pipeline before the side worker); `2core` estimates the wall time on an idle two-core
machine with the side processes of `optimize/side.py` (three at once, sharing the two CPUs): the parent runs
the main solve and verifies it (and solves the runner-up when the guess of the main accelerator misses), the
runner-up's process the runner-up (when it hits), the worker the side tasks; the estimate is the longest of
those chains or half of all the work, whichever is more. CBC runs as a program of its own: its CPU is not
counted here (use bench_solve.py for CBC).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PLANNER_SOLVE_IN_PROCESS"] = "1"

from planner.catalog import load_catalog  # noqa: E402
from planner.optimize.pipeline import solve_file  # noqa: E402
from planner.optimize.price_of import relaxations  # noqa: E402
from planner.optimize.runner_up import main_accelerator, solution_gpus  # noqa: E402
from planner.optimize.side import SideSolves, _guess_instance  # noqa: E402
from planner.optimize.solve import solve_instance  # noqa: E402

STAGES = ("candidates_s", "solve_s", "runner_up_s", "price_of_s", "platforms_s", "verify_s")


def guess_hits(out, backend: str) -> bool:
    """Whether the side worker's guess of the main accelerator is this plan's."""
    inst, cands = out.instance, out.candidates
    side = SideSolves.__new__(SideSolves)  # only what _guess_instance reads
    side.inst, side.tasks = inst, relaxations(inst)
    guess_inst, _ = _guess_instance(side)
    if guess_inst is None or out.plan.runner_up is None:
        return False
    sol = solve_instance(guess_inst, cands, backend)
    return main_accelerator(solution_gpus(sol)) == out.plan.runner_up.excluded_accelerator


def two_core(t: dict, rest: float, n_relax: int, hit: bool) -> float:
    """The parent's chain (main solve, verify, the runner-up when the guess misses), the runner-up's process
    (when it hits) and the worker's tasks, three processes sharing two CPUs (optimize/side.py): no shorter
    than the longest chain, nor than half of all the work."""
    cand, solve, run, price, plat, ver = (t.get(k, 0.0) for k in STAGES)
    if not (price or plat):
        return cand + t.get("build_s", 0.0) + solve + run + ver + rest
    parent = solve + ver + (0.0 if hit else run)
    early = run if hit else 0.0
    worker = price + plat
    return cand + t.get("build_s", 0.0) + rest + max(parent, early, (parent + early + worker) / 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("problems", nargs="*")
    ap.add_argument("--backend", default="scip")
    args = ap.parse_args()
    time.perf_counter = time.process_time  # every stage clock now reads CPU seconds
    cat = load_catalog()
    paths = args.problems or sorted(str(p) for p in (ROOT / "problems").glob("*.yaml"))
    print(f"{'problem':32s} " + " ".join(f"{h:>7s}" for h in ("cand", "solve", "runup", "priceof", "platf",
                                                               "verify", "rest", "seq", "2core")) + "  guess")
    for p in paths:
        c0 = time.process_time()
        out = solve_file(p, cat, backend=args.backend)
        total = time.process_time() - c0
        t = out.plan.timing
        rest = total - sum(t.get(k, 0.0) for k in (*STAGES, "build_s"))
        n_relax = len(relaxations(out.instance))
        hit = guess_hits(out, args.backend) if n_relax else False
        est = two_core(t, rest, n_relax, hit)
        figures = [t.get(k, 0.0) for k in STAGES]
        print(f"{Path(p).stem:32s} " + " ".join(f"{x:7.2f}" for x in (*figures, rest, total, est))
              + ("  hit" if hit else "  miss" if n_relax else "  -"), flush=True)


if __name__ == "__main__":
    main()
