"""End-to-end wall time of every example problem, per backend, split by stage; and `planner --help`.

    python benchmarks/bench_solve.py                      # all examples, every available backend
    python benchmarks/bench_solve.py --backend scip       # one backend
    python benchmarks/bench_solve.py problems/mixed-fleet.yaml --repeat 3
    python benchmarks/bench_solve.py --synthetic          # also the 50 x 15 synthetic problem (solve only)

Per problem and backend: end-to-end seconds (what `planner solve` spends after loading the catalog), split into
candidates (perf evaluation + expansion + pruning), MIP build, solve, runner-up re-solve, the side re-solves
(price_of: the optimum without the simplicity limits / failure domains; platforms: max_profit per accelerator),
and verification; the candidate rate (configurations evaluated per second, latency-target search included);
status and objective. The side re-solves run in a worker process beside the main solve (optimize.background):
their seconds overlap solve_s and runup_s, and total_s counts only what waiting for them added. With --repeat N
each figure is the fastest of N runs (the machine is shared: take the minimum); cpu_s is the CPU time of the
whole solve, solver and worker processes included (every solver runs single-threaded: on a busy machine cpu_s
is the better figure; on an idle two-core one total_s can be below cpu_s). Targets are
stated in issue 7: <= 3 s end to end on the default backend, <= 5 s on every backend, `--help` <= 0.3 s,
>= 50,000 configurations/s.

What makes mixed-fleet slow (measured with benchmarks/solve_cpu_stages.py and solver logs, CPU s):
- The cost is mostly whole servers (a GB200 NVL72 is one server of 72 GPUs at ~188 $/h), the rest is energy per
  replica (0.02-1 $/h each). The LP bound (426.5) is 5% under the optimum (450.663): fractional servers. Once
  branching fixes the server counts, what is left is which replicas fill 144 + 24 GPUs at the least energy, to
  within the 1e-4 gap (0.045 $/h, a third of a percent of the energy): thousands of nodes, whatever the start.
  With the server counts fixed at the optimum's, SCIP still needs 8.7 s cold. Tighter rows tried and dropped
  (slower on SCIP): per (workload, system) platform aggregation, x_c >= ceil(share D / o_c) u_c, servers only on
  platforms in use.
- Each solver's heuristics find no good plan for long (SCIP's first within 0.1% after ~500 nodes). The warm start
  (optimize/solve.py) gives one: first the full model on the two cheapest candidates per workload x system x mode
  (0.25 s, 450.996), replacing the optimum without limits (3.3 s, SCIP) as the source of candidates. How good the
  start is matters little (the full solve from the optimum itself takes as long); what it costs matters.
- From a start the solvers' own plan-finding is mostly wasted: HiGHS' sub-MIPs (3.9 -> 2.0 s without them), CBC's
  preprocessing and heuristics (3.2 -> 1.7); SCIP profits from branching on the fleet's platform binaries first
  (2.8 -> 1.9).
- The price_of relaxation (the optimum without the limits) has no limits left, but the same servers: it starts
  from the same kind of plan (SCIP 3.6 -> 1.0, HiGHS 1.5 -> 0.7, CBC 3.1 -> 1.0).
Mixed-fleet before -> after, CPU s: SCIP main solve 7.1 -> 1.9, runner-up 1.7 -> 0.6, price_of 3.5 -> 0.9
(solve_cpu_stages); this script's cpu_s, main and branch run one after the other at load ~10 on the two cores:
SCIP 13.0 -> 4.6, HiGHS 10.0 -> 4.3, CBC 12.4 -> 5.0. After main's perf change of 11:25 (816 candidates instead
of 813; same optimum) SCIP's full solve from the same start takes 3.7-4.2 s instead of 1.9 (12.1 -> 7.3 cpu_s;
HiGHS 9.9 -> 4.8, CBC 9.9 -> 5.9): what is left is the proof, and SCIP's time for it swings with small changes
of the model. On an idle two-core machine SCIP's critical path is the parent's candidates 0.7 + solve 2-4 +
verify 0.3 s (the worker's price_of + runner-up, ~1.5-2 s, run beside it).
Tried next (m7d, 13:00-14:30), none adopted, every plan must stay identical:
- The bound, layer by layer (gap_anatomy.py): root LP 426.53, LP at the optimum's servers 449.62, per-workload
  convex hull (pattern formulation) at those servers 450.605 < 450.618 needed: no per-workload formulation
  proves the optimum without branching over how 144 + 24 GPUs are packed. Its rows (Lagrangian cuts
  sum_c (E_c + lambda g_c) x_c >= the exact per-workload minimum) lift the root LP to 438.7 and the LP at the
  optimum's servers to 450.60, yet SCIP took as long or longer (4.0-5.2 CPU s against 3.8-4.4; from the optimum
  itself 4.8 s / 2,634 nodes against 2.6 s / 803 without them): it then needs thousands of nodes for the last
  0.02 $/h and finds the optimum later.
- SCIP settings over six close variants (scip_settings.py): heuristics off, more or fewer root rounds, no
  restarts, other branching or node selection: none is faster on every variant, and the faster ones stop at
  another plan within the gap on some (the price_of relaxation, the runner-up): the plan would change.
- Splitting by fleet platforms (the start's two system types, then "some other type" with the objective capped
  at the incumbent's): 0.8 + 1.8-2.4 CPU s on mixed-fleet against 4.5, but 2.1 + 4.2 against 3.0 with 3% more
  demand, and the runner-up stops at another plan (521.965 instead of 521.963): not robust.
- Racing two settings on the second core gives whichever plan the winner stops at (another plan within the
  gap, as above): not deterministic; and that core runs the price_of / runner-up worker already.
m7f (15:25-17:20), the critical path. Mixed-fleet's work, CPU s measured in-process at load 5-8 (inflated; idle
~0.8x): candidates 0.52, main solve 2.31 (restricted start 0.32 + full 2.44 in another run), price_of
relaxation 0.49, runner-up 2.9 (start 0.43 + full 2.47), verify ~0.3. The worker runs the relaxation (it names
the runner-up's guess, gb200, right) then the runner-up: cand + 0.49 + 2.9 against the parent's cand + 2.31 +
verify, so the parent waited ~0.6 s for the runner-up and then verified. Now (exact by construction, the same
solves): the parent verifies while the worker still solves (`verify_side_figures` checks the runner-up and
price_of figures once they are in) and takes side tasks the worker has not started while it solves the
runner-up (simplicity-and-failure-domains' two relaxations). That takes verify (0.25 s idle) off the critical
path; what is left is the work itself: ~5.6 CPU s after ~0.5 s of candidates on one core, >= 3.0 s on two
cores even perfectly balanced, so <= 3 s needs less solver work, not another schedule (moving the relaxation
to the parent, or forking the worker after the main's start to guess from it, measured no better on paper:
one of the two paths grows by what the other loses).
- A warm start on every min_cost problem (tried, not adopted): brownfield-h100 3.18 -> 2.27 CPU s with the same
  plan on the 15:25 main, but 2.5-2.7 -> 3.4-3.6 after the perf-model merges of 16:45-17:00 (same objective):
  SCIP's swing again, not a robust gain; power-limited-site 0.86 -> 0.30 with the same deployments but its
  racks listed otherwise (an equal-cost tie between rack patterns), and its price_of relaxation, warm, stops at
  another plan within the gap (1,376.77 instead of 1,376.74 $/h).
- The runner-up is the one solve whose search may change: its value is the exact optimum (bound = objective)
  whichever way it is searched on every example. But no setting is faster on close variants (mixed-fleet's
  runner-up with demand x 1.0 / 0.97 / 1.03 / 0.94 / 1.06, CPU s at load ~6): baseline 3.88/5.48/1.12/0.96/0.83,
  SCIP heuristics on 2.91/6.78/1.23/0.97/1.37, no platform-first branching 2.54/6.73/1.21/0.88/1.16, start over
  3 candidates per group 2.39/12.41/1.93/1.45/1.28 (on the examples' runner-ups it looked better: brownfield
  0.86 -> 0.36, mixed-fleet 3.24 -> 1.96, simplicity 1.61 -> 1.25); no restarts 1.60/5.44/1.36/1.04/1.09 and one
  restart 2.69/5.01/0.86/0.79/1.25 against a baseline of 4.56/6.06/1.17/0.88/0.91 in that run. None adopted.
s7h (18:20-20:15; load 5-9 on the two cores throughout: CPU s, in-process unless said):
- CBC mixed-fleet 4.0 -> 7.2 s at 62e4ce7: the cause was the price_of relaxation (the optimum without limits, a
  pure integer model, no binaries). From its warm start CBC ran without heuristics (then CBC_FROM_START) and
  needed 13,400 nodes, 3.4-4.3 CPU s, to get from the start 452.351 to 452.228: after the perf-model merges that
  start sits 3e-4 above the relaxation's optimum, and without binaries the tree alone rarely meets an integral
  LP solution. CBC's runner-up itself did not slow down (1.9-2.1 CPU s either way): its 4.1 s were the wait for
  the worker, which solves the relaxation first. Now CBC drops its heuristics only where the platform binaries
  are branched on first: relaxation 3.5 -> 0.72 CPU s (same optimum as cold), bench cpu_s 9.1 -> 5.7.
- HiGHS diurnal-own-rent: its whole hour-class model took 3.1-3.3 CPU s after the refit; class by class
  (optimize.hourly_split) with the class solves' presolve off (`cuts=False`; 81 class solves 3.4 -> 1.8 CPU s)
  it takes 1.9, shared with the forked helper: bench cpu_s 4.6 -> 3.2, objective 188.458 (was 188.510; the
  pinned SCIP optimum 188.452, gap 1e-3). Its runner-up (258 integers) stays whole: split 0.84 -> 2.0 s.
- SCIP without a start separates cuts at the root only (SCIP_ROOT_CUTS_ONLY, cold min-cost solves):
  brownfield-h100's main solve 3.05-3.22 -> 2.54-2.73 (exact optimum, unchanged); the restricted solve of the
  warm start keeps the defaults (mixed-fleet's pinned 452.3188 is where SCIP stops from that start's plan; with
  root cuts only there it stopped at 452.3076, within the gap but not the pin).
- Tried, not adopted: the runner-up's restricted start to a looser gap (1e-4 / 1e-3 / 5e-3 / 2e-2: full solve
  2.0 / 2.0 / 1.4 / 4.6 CPU s, the same swing as above); the runner-up as the best of its platform pairs
  (mixed-fleet without gb200: 0.20 + 3.41 + 0.64 against 2.26 for the whole model; the b200 + mi355x pair alone,
  without the platform binaries to branch on first, is slower than the whole); SCIP's tree cuts off on the warm-
  started solves (changes mixed-fleet's plan within the gap).
- Why SCIP mixed-fleet stays above 3 s on two cores: its work after candidates is main 1.96 (start 0.3 + full
  1.66), runner-up 2.1 (start 0.4 + full 1.7), price_of relaxation 0.59, verify 0.26 (CPU s, load ~6). The
  worker's path (relaxation, which names the runner-up's accelerator, then the runner-up) is 2.7 s after
  candidates, the parent's 2.2 + its wait: <= 3 s end to end needs candidates <= ~0.3 s (c7h) and a runner-up
  faster by ~0.5 s; its full solve spends ~80% of its nodes on the last 0.07% of the gap (which replicas fill
  the servers at the least energy), the part no formulation tried so far proves faster.
s8 (21:00-22:30; load 5-9 on the two cores: wall figures with the bench in an autogroup of its own at nice -20,
which gives it ~1.7 of the two CPUs; main and branch run one after the other):
- None of the three solves is exact: mixed-fleet's main stops at 452.3188 (bound 452.2741), the price_of
  relaxation at 452.2212 (452.1785), the runner-up at 523.6011 (523.5505, gap 9.7e-5). Each value is where
  SCIP's search stops within the gap, so any change of a search (another start, a cutoff, the main solve's
  incumbents as a start, "the best plan that differs from the optimum", a relaxation skipped because "its
  limits do not bind") can change the plan's runner-up or price_of figures: every solve stays the same call.
  SCIP settings that do not change its path (timing/statistictiming off, misc/calcintegral off,
  timing/rareclockcheck on): same plans, CPU s within noise (main 2.20-2.45 against 2.23-2.44).
- So the work is fixed: after candidates (0.8 s idle, one CPU) main 1.96 + verify 0.26, runner-up 2.1,
  relaxation 0.59 CPU s: >= 2.46 s on two CPUs, >= 3.26 s end to end before any overhead. The old schedule was
  at 2.69 (the worker: the relaxation for the guess, then the runner-up). Adopted (optimize/side.py): the
  runner-up in a process of its own, started as soon as the worker's guess is known, and the guess taken from
  the relaxation's warm start (0.2 s into its 0.6 s; it names the final accelerator on all four warm-started
  examples) instead of its optimum; where several requirements are in force the guess's own solve stops
  there. Three solves share the two CPUs (runner-up 2.1 against the main's 1.96 + 0.26: they end together).
  Model on the figures above: 2.69 -> 2.47 s after candidates (3.67 -> ~3.45 end to end). Measured, mixed-fleet
  SCIP: 3.88 -> 3.49 and 4.34 -> 3.90 (load ~6-7); at load ~9, where the bench has less than two CPUs, min of
  five 4.61 -> 4.49; at 22:24 (load ~8), three pairs main/branch 3.71/3.98, 3.69/3.76, 3.77/3.56: the gain is
  within this machine's noise, measured on an idle one it is still to be confirmed. The other examples:
  within noise (all 10 at load ~7, main -> branch: brownfield
  2.88 -> 2.75, enterprise 2.35 -> 2.19, power-limited 2.01 -> 2.12, simplicity 1.68 -> 1.89, quickstart
  0.35 -> 0.41). Where the main solve is the long pole it now shares the CPUs for its first ~0.8 s: HiGHS
  mixed-fleet 4.60-5.03 -> 4.79-5.42 (three pairs, load ~9), CBC 3.83 -> 4.18 (one pair).
- Tried, not adopted: the candidates of half the workloads built by a worker meanwhile (the one phase where a
  CPU idles; tables merged to the single build's, exactly): min of five, load ~8, whole -> split: mixed-fleet
  0.50 -> 0.51, enterprise 0.34 -> 0.43, power-limited 0.34 -> 0.41, offline 0.22 -> 0.24, ai-factory
  0.10 -> 0.16. Each build has ~0.09 s of fixed cost and the workloads' costs are uneven (mixed-fleet's batch
  tier alone 0.29 of 0.60; the other five together 0.40); a split of the rows inside evaluation.evaluate_grid
  (c8's) would avoid the fixed costs. The runner-up started from the main solve's warm start in the parent
  (0.57 s in, at load ~6): later than from the relaxation's (0.26 s), 3.85-4.18 end to end.
- What <= 3 s needs: candidates <= ~0.35 s (two CPUs during them, or 2.3x faster), or less solver work, which
  with these gaps means other plans (another runner-up or price_of figure) to be accepted and re-pinned.
s9 (23:50-01:40; load 5-12 on the two cores throughout, so every figure is a median of runs interleaved round by
round, main and branch each in a long-lived process of its own, all in an autogroup at nice -20 (~1.7 of the
two CPUs); the plans compared byte for byte (plan.json minus solve_time_s and timing): identical on all 30
example x backend pairs, runner-up and price_of included):
- s8's runner-up process merged, then narrowed (optimize/side.py): (1) it starts only where the guess comes
  from the warm start of a relaxation the worker goes on solving (one requirement in force, `needs_warm_start`:
  mixed-fleet, reasoning-deepseek-r1). Elsewhere the guess ends the worker's first solve anyway, and the
  process more only cost: quickstart 0.30 -> 0.35, simplicity-and-failure-domains 1.58 -> 1.64-1.80 (SCIP,
  load ~11); there the worker solves the runner-up itself, as before. (2) Once it has sent the guess, the
  worker waits until the main solve or the runner-up is over before the rest of its relaxation: two long
  solves on two CPUs, the main solve keeps its CPU (s8's HiGHS/CBC concern). Waiting until the parent had
  also verified was worse: the relaxation's rest (~0.5 s) then ran alone at the end while the other CPU idled
  (traces at load ~10: 4.0-4.2 s). (3) The solver library is imported before the forks (in a fresh
  `planner solve` each process imported it: OR-Tools ~0.1 s, PuLP ~0.3 s, the runner-up's on the critical
  path; the bench's warm processes do not show it).
- Mixed-fleet, total_s main -> branch (cpu_s): SCIP 2.95 -> 2.80 (4.78 -> 4.80; 10 pairs, load ~5.4),
  3.27 -> 3.10 and 3.24 -> 3.12 (load 8-11, 3 pairs each), 3.81 -> 3.69 (8 rounds, load ~9-10; s8 as it was:
  3.77); HiGHS 2.88 -> 2.84 (6 pairs, load ~5.5), 3.10 -> 3.20 (3 pairs, load ~11), 3.72 -> 3.71 (8 rounds);
  CBC 2.90 -> 2.71, 3.13 -> 2.93, 3.29 -> 3.15. `planner solve problems/mixed-fleet.yaml` in a fresh
  process (imports and catalog included), 5 pairs at load ~9.5: median 3.88 -> 3.80 s. This script, mixed-fleet
  --repeat 3, run as main, branch, branch, main (load 7-10; fastest of 3): SCIP 2.83, 2.59 -> 2.51, 2.50
  (cpu_s 4.56, 4.08 -> 4.19, 4.27); HiGHS 2.77, 2.83 -> 2.75, 2.70; CBC 2.70, 2.70 -> 2.47, 2.53. verify_s
  grows (0.2 -> 0.35): the verify now shares the CPUs with the runner-up and the relaxation's rest.
- Every other example and backend within +-0.1 s of main (3 pairs each, load 8-12); the one steady cost:
  reasoning-deepseek-r1 HiGHS 0.37 -> 0.42 (10 pairs; its runner-up is 0.07 s, the process does not pay).
- Where mixed-fleet's time goes now (SCIP, stage clocks of one run at load ~6.5, nice -20): candidates
  0.00-0.45; solves from 0.49; the worker's guess 0.73 (the relaxation's warm start, 0.19 CPU s); runner-up
  0.74-3.32 (2.2 CPU s: its start 0.32 + full 1.9); main 0.49-2.56; verify 2.59-3.05; the relaxation's rest
  2.56-3.29. In CPU s (in-process): main 1.8, runner-up 2.0, relaxation 0.63, verify 0.24, after candidates
  0.43 on one CPU: ~4.7 CPU s of solves and checks on two CPUs is >= 2.35 s, and the runner-up's chain (guess
  0.2 + 2.0) is about as long: ~2.9-3.0 s end to end on an idle machine, with no slack left in the schedule.
  What is left for <= 3 s with margin: candidates on both CPUs (c9), or less solver work (other plans within
  the gap, see s8).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.catalog import load_catalog  # noqa: E402
from planner.optimize.backends import available_backends  # noqa: E402
from planner.optimize.pipeline import solve_file  # noqa: E402
from planner.optimize.solve import solve_instance  # noqa: E402

STAGES = ("candidates_s", "build_s", "solve_s", "runner_up_s", "price_of_s", "platforms_s", "verify_s")


def cpu_now() -> float:
    """CPU seconds of this process and of its finished children (every solve runs in a forked child)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def help_time(repeat: int) -> tuple[float, float]:
    """Fastest wall time and CPU time (user + system) of `planner --help` in a fresh interpreter, start-up
    included."""
    import resource

    wall = cpu = float("inf")
    for _ in range(max(repeat, 3)):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sys; from planner.cli import main; sys.argv = ['planner', "
                        "'--help']; main()"], capture_output=True, cwd=ROOT)
        wall = min(wall, time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def run_one(path: str, cat, backend: str, repeat: int, runner_up: bool) -> dict:
    best: dict | None = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), cpu_now()
        out = solve_file(path, cat, backend=backend, runner_up=runner_up)
        total, cpu = time.perf_counter() - t0, cpu_now() - c0
        grid = next((int(n.split()[1]) for n in out.plan.notes if n.startswith("candidates:")), 0)
        row = {"total_s": total, "cpu_s": cpu, **{k: out.plan.timing.get(k, 0.0) for k in STAGES}, "grid": grid,
               "status": out.plan.status, "objective": out.plan.objective_value}
        if best is None or total < best["total_s"]:
            best = row
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("problems", nargs="*")
    ap.add_argument("--backend", action="append")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-runner-up", action="store_true")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()
    wall, cpu = help_time(args.repeat)
    print(f"planner --help: {wall:.3f} s wall, {cpu:.3f} s CPU (fastest of {max(args.repeat, 3)})", flush=True)
    cat = load_catalog()
    backends = args.backend or available_backends()
    paths = args.problems or sorted(str(p) for p in (ROOT / "problems").glob("*.yaml"))
    heads = ("total_s", "cpu_s", "cand_s", "build_s", "solve_s", "runup_s", "priceof", "platfs", "verif_s",
             "configs", "cfg/s")
    print(f"{'problem':28s} {'backend':7s} " + " ".join(f"{h:>8s}" for h in heads) + f"  {'status':10s} objective")
    for p in paths:
        for b in backends:
            r = run_one(p, cat, b, args.repeat, not args.no_runner_up)
            rate = r["grid"] / r["candidates_s"] if r["candidates_s"] else 0.0
            figures = [r["total_s"], r["cpu_s"], *(r[k] for k in STAGES)]
            print(f"{Path(p).stem:28s} {b:7s} " + " ".join(f"{x:8.2f}" for x in figures)
                  + f" {r['grid']:8d} {rate:8,.0f}  {r['status']:10s} {r['objective']:,.6g}", flush=True)
    if args.synthetic:
        from benchmarks.synthetic import synthetic_instance

        inst, cands = synthetic_instance(cat, workloads=50, systems=15)
        for b in backends:
            sol = solve_instance(inst, cands, b, time_limit_s=args.time_limit)
            obj = "-" if sol.objective_value is None else f"{sol.objective_value:,.6g}"
            print(f"{'synthetic-50x15':28s} {b:7s} build {sol.build_time_s:.3f} s, "
                  f"solve {sol.solve_time_s:.2f} s, "
                  f"{sol.status!s}, objective {obj}", flush=True)


if __name__ == "__main__":
    main()
