"""Sweep throughput: the two speed targets of `planner sweep`.

    python benchmarks/bench_sweep.py                  # both
    python benchmarks/bench_sweep.py --only quickstart
    python benchmarks/bench_sweep.py --only mixed --workers 2
    python benchmarks/bench_sweep.py --only mixed --samples 20   # a tenth of the design, target scaled
    python benchmarks/bench_sweep.py --only quickstart --samples 100  # (another Latin hypercube of 100)

1. quickstart: 1,000 Latin-hypercube scenarios varying economics only (electricity, cost of capital,
   amortization, H100/B200 prices); target <= 60 s on 2 local workers with the candidate table computed once.
2. mixed: sweeps/mixed-fleet-prices.yaml, 200 scenarios of the mixed fleet varying prices and demand;
   target <= 10 minutes on 2 workers.

`--fast-solve small|all|none` sets the sweeps' `solver.fast_solve` (planner/sweep/fastsolve.py; default small,
as in a sweep file that does not say; none = every MIP as `planner solve`, the speed before the fast solve).
`--check N` compares N scenarios of every example sweep between the fast path and the plain solve_problem
instead (`--only mixed` to check mixed-fleet, whose MIP the fast path takes only with fast_solve: all);
`--time-limit 600` with it keeps a loaded machine from stopping one side at the sweep's wall-clock limit.

Prints scenarios, wall seconds (run only; results files excluded), scenarios/s, candidate evaluations
computed and reused, statuses.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.catalog import load_catalog  # noqa: E402
from planner.sweep import load_sweep, run_sweep  # noqa: E402

QUICKSTART = f"""
name: bench-quickstart-economics
problem: {ROOT / "problems" / "quickstart.yaml"}
parameters:
  - path: economics.electricity_usd_per_kwh
    range: {{low: 0.03, high: 0.30}}
  - path: economics.cost_of_capital
    range: {{low: 0.0, high: 0.15}}
  - path: economics.amortization_years
    range: {{low: 3, high: 6}}
  - path: catalog.systems.hgx-h100.price_usd
    catalog: low_base_high
  - path: catalog.systems.hgx-b200.price_usd
    catalog: low_base_high
design: {{kind: latin_hypercube, samples: 1000, seed: 1}}
"""


def bench(name: str, sweep_path: Path, workers: int, target_s: float, full: int) -> None:
    cat = load_catalog(())
    sw = load_sweep(sweep_path, cat)
    with tempfile.TemporaryDirectory() as tmp:
        cpu0, parent0 = _cpu_s(), time.process_time()
        t0 = time.perf_counter()
        s = run_sweep(sw, cat, Path(tmp), workers=workers)
        wall = time.perf_counter() - t0
        cpu, parent = _cpu_s() - cpu0, time.process_time() - parent0
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(s.statuses.items()))
    verdict = "STOPPED" if s.stopped else "OK" if wall <= target_s else "SLOWER THAN TARGET"
    print(f"{name} {s.ran:5d} scenarios {wall:7.1f} s  {s.ran / wall:7.2f}/s  candidate evaluations "
          f"{s.evaluations} computed, {s.reused} reused  [{statuses}]  target <= {target_s:.0f} s: {verdict}",
          flush=True)
    # the machine may be shared: CPU seconds of this process and its workers, / workers = the wall time on
    # `workers` idle cores
    print(f"{'':10s} CPU {cpu:.1f} s in all processes ({parent:.1f} s in this one) = {cpu / workers:.1f} s per "
          f"worker, {cpu / max(s.ran, 1):.3f} s per scenario", flush=True)
    if s.ran and s.ran != full:  # a part of the design: the whole one on `workers` idle cores, from CPU seconds
        print(f"{'':10s} on {workers} idle cores, all {full} scenarios: ~{cpu / s.ran * full / workers:.0f} s "
              f"(CPU per scenario x {full} / {workers}; target {target_s * full / s.ran:.0f} s)", flush=True)


def check(sweep_path: Path, samples: int) -> tuple[int, int, list[str]]:
    """Up to `samples` scenarios of a sweep (evenly spread over its design) solved by the sweep's fast path and
    by the plain solve (`solve_problem`'s SCIP, forked): (compared, scenarios started from their group's base
    solution, differences, [CPU s of the fast path, of the plain solves])."""
    import pickle

    from planner.sweep import adapter, design, worker
    from planner.sweep.apply import scenario_plan
    from planner.sweep.runner import group_key

    cat = load_catalog(())
    sw = load_sweep(sweep_path, cat)
    scen = design.expand(sw)
    pick = scen[:: max(1, len(scen) // samples)][:samples]
    worker.init(pickle.dumps((sw, cat, f"check {sweep_path}")))
    starts, diffs, fast, cpu = {}, [], 0, [0.0, 0.0]
    for s in pick:
        g = group_key(sw, s.values)
        if g not in starts:
            _, key, blob, _, start = worker.candidates_task(g, s.values, True)
            starts[g] = (key, blob, start)
        c0 = _cpu_s()
        got = worker.scenario_task(s.index, s.values, *starts[g])
        c1 = _cpu_s()
        cpu[0] += c1 - c0
        fast += starts[g][2] is not None
        try:
            want = adapter.summarize(scenario_plan(sw, s.values, cat, adapter.new_cache(), None))
            want_status = "optimal"
        except Exception as exc:
            want, want_status = {"metrics": None, "deployments": None, "error": str(exc)}, type(exc).__name__
        cpu[1] += _cpu_s() - c1
        if got["error"] is not None or want_status != "optimal":
            if got["error"] != want.get("error"):
                diffs.append(f"#{s.index}: fast {got['status']} {got['error']!r}, plain {want_status} "
                             f"{want.get('error')!r}")
            continue
        a, b = got["metrics"]["objective"], want["metrics"]["objective"]
        if abs(a - b) > 1e-6 * max(1.0, abs(b)) or got["deployments"] != want["deployments"]:
            limited = "feasible_time_limit" in (got["status"], want["metrics"]["solver_status"])
            diffs.append(f"#{s.index}: fast {a:.9g} {_fleet(got)}, plain {b:.9g} {_fleet(want)}" + (
                " [a time limit was reached: wall clock, so the machine's load decides where; --time-limit "
                "600 takes the load out]" if limited else ""))
    return len(pick), fast, diffs, cpu


def _with_fast_solve(path: Path, mode: str, tmp: Path, time_limit_s: float | None = None) -> Path:
    import yaml

    data = yaml.safe_load(path.read_text())
    data["solver"] = {**(data.get("solver") or {}), "fast_solve": mode}
    if time_limit_s is not None:
        data["solver"]["time_limit_s"] = time_limit_s
    data["problem"] = str((path.parent / data["problem"]).resolve())
    out = tmp / f"{path.stem}-{mode}.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _fleet(summary: dict) -> str:
    return ", ".join(f"{d['workload']}:{d['system']}/{d['model']}/{d['precision']}/tp{d['tp']}x{d['replicas']}"
                     for d in summary["deployments"])


def _cpu_s() -> float:
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["quickstart", "mixed"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--samples", type=int, default=None,
                    help="run this many scenarios of the design (1,000 quickstart, 200 mixed; target scaled)")
    ap.add_argument("--check", type=int, metavar="N",
                    help="instead of timing: N scenarios of each example sweep (and of the quickstart benchmark), "
                         "fast path vs plain solve_problem; prints every difference")
    ap.add_argument("--fast-solve", choices=["small", "all", "none"], default="small",
                    help="the sweeps' solver.fast_solve (default small, as a sweep file that does not say)")
    ap.add_argument("--time-limit", type=float, metavar="S",
                    help="every scenario's time limit (the sweeps' are wall clock: on a loaded machine scenarios "
                         "stop at it, which --check reports as differences and the timing as fast, cut-short "
                         "solves; 600 takes the load out; quickstart's sweep has none)")
    args = ap.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "quickstart-bench.yaml"
            p.write_text(QUICKSTART)
            paths = [p, *sorted((ROOT / "sweeps").glob("*.yaml"))]
            for path in paths:
                wanted = {None: True, "quickstart": path == p, "mixed": "mixed" in path.name}[args.only]
                if not wanted:
                    continue
                n, fast, diffs, cpu = check(_with_fast_solve(path, args.fast_solve, Path(tmp), args.time_limit),
                                            args.check)
                print(f"{path.name:40s} {n:4d} scenarios, {fast:4d} from a start, {len(diffs)} differ; CPU s per "
                      f"scenario: fast path {cpu[0] / n:.3f}, plain {cpu[1] / n:.3f}", flush=True)
                for d in diffs:
                    print("    " + d, flush=True)
        return
    fast = f"fast_solve: {args.fast_solve}"
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "quickstart"):
            p = Path(tmp) / "quickstart-bench.yaml"
            n = args.samples or 1000
            p.write_text(QUICKSTART.replace("samples: 1000", f"samples: {n}") + f"solver: {{{fast}}}\n")
            bench(f"quickstart (fast_solve {args.fast_solve})", p, args.workers, 60 * n / 1000, 1000)
        if args.only in (None, "mixed"):  # the example sweep file, its solver settings plus fast_solve
            path = ROOT / "sweeps" / "mixed-fleet-prices.yaml"
            n = args.samples or 200
            text = path.read_text().replace("problem: ../problems/", f"problem: {ROOT}/problems/")
            p = Path(tmp) / "mixed.yaml"
            text = text.replace("samples: 200", f"samples: {n}").replace("gap: 0.002}", f"gap: 0.002, {fast}}}")
            if args.time_limit:
                text = text.replace("time_limit_s: 30,", f"time_limit_s: {args.time_limit},")
            assert fast in text, "sweeps/mixed-fleet-prices.yaml: solver line changed, update the benchmark"
            p.write_text(text)
            bench(f"mixed (fast_solve {args.fast_solve})", p, args.workers, 600 * n / 200, 200)

if __name__ == "__main__":
    main()
