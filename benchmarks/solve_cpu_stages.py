"""CPU seconds per stage of every example, and what they make on an idle two-core machine (issue 7 targets).

    python benchmarks/solve_cpu_stages.py [--backend scip] [problems...]

The team machine is shared (load 5-9 on two cores while this was written): wall times there say little. This
script solves in-process (PLANNER_SOLVE_IN_PROCESS=1) with the stage clocks reading process CPU time instead of
wall time, so each stage's figure is the CPU it needs, nearly independent of the load. Columns: candidates,
main solve, runner-up, price_of relaxations, platforms, verify, the rest; `seq` is the whole solve one stage
after the other (the pipeline before the side worker); `2core` estimates the wall time on an idle two-core
machine with the side processes of `optimize/side.py` (`two_core` says how); `guess`: whether the worker's guess
of the main accelerator hits, and its CPU seconds. CBC runs as a program of its own: its CPU is not counted
here (use bench_solve.py for CBC).
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
from planner.optimize.runner_up import main_accelerator, solution_gpus, values_gpus  # noqa: E402
from planner.optimize.side import SideSolves, _guess_instance  # noqa: E402
from planner.optimize.solve import needs_warm_start, solve_instance  # noqa: E402

STAGES = ("candidates_s", "solve_s", "runner_up_s", "price_of_s", "platforms_s", "verify_s")


def guess_of(out, backend: str) -> tuple[bool | None, float]:
    """(whether the worker's guess of the main accelerator is this plan's, None where nothing is guessed; the
    CPU seconds until the guess: the relaxation's warm start where it has one, else its whole solve)."""
    inst, cands = out.instance, out.candidates
    side = SideSolves.__new__(SideSolves)  # only what _guess_instance reads
    side.inst, side.tasks = inst, relaxations(inst)
    guess_inst, _ = _guess_instance(side)
    if guess_inst is None or out.plan.runner_up is None:
        return None, 0.0
    seen: dict = {}
    t0 = time.process_time()

    def on_start(ix, values) -> None:
        seen.update(acc=main_accelerator(values_gpus(ix, values)), s=time.process_time() - t0)

    sol = solve_instance(guess_inst, cands, backend, warm=needs_warm_start(inst), on_start=on_start)
    acc = seen["acc"] if "acc" in seen else main_accelerator(solution_gpus(sol))
    return acc == out.plan.runner_up.excluded_accelerator, seen.get("s", time.process_time() - t0)


def two_core(t: dict, rest: float, hit: bool | None, guess_s: float, n_relax: int, early: bool) -> float:
    """The schedule of `optimize/side.py` on two idle CPUs. With the runner-up's process (`early`): the parent's
    chain (main solve, verify, the runner-up when the guess misses), the runner-up's process from the guess on
    (when it hits), the worker's guess beside the main solve and its other tasks from when the main solve or the
    runner-up's process ends; no shorter than the longest chain, nor than half of all the work. Without: the
    worker's guess, the runner-up (when it hits), then its tasks; the parent's main solve, verify and the
    tasks the worker has not started."""
    cand, solve, run, price, plat, ver = (t.get(k, 0.0) for k in STAGES)
    base = cand + t.get("build_s", 0.0) + rest
    if not (price or plat):
        return base + solve + run + ver
    parent = solve + ver + (0.0 if hit else run)
    if early:
        gone = guess_s + run if hit else solve  # a miss: the runner-up's process is of no use
        worker_rest = max(price + plat - guess_s, 0.0)
        return base + max(parent, gone, min(solve, gone) + worker_rest, (solve + ver + run + price + plat) / 2)
    worker = (price if n_relax == 1 else guess_s) + (run if hit else 0.0)
    for x in [plat] if n_relax == 1 else [price / n_relax] * n_relax + [plat]:
        if parent <= worker:
            parent += x
        else:
            worker += x
    return base + max(parent, worker)


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
        hit, guess_s = guess_of(out, args.backend)
        n_relax = len(relaxations(out.instance))
        early = n_relax == 1 and needs_warm_start(out.instance)  # as SideSolves decides
        est = two_core(t, rest, hit, guess_s, n_relax, early)
        figures = [t.get(k, 0.0) for k in STAGES]
        print(f"{Path(p).stem:32s} " + " ".join(f"{x:7.2f}" for x in (*figures, rest, total, est))
              + {True: "  hit", False: "  miss", None: "  -"}[hit] + f" {guess_s:.2f}", flush=True)


if __name__ == "__main__":
    main()
