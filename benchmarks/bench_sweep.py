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


def bench(name: str, sweep_path: Path, workers: int, target_s: float) -> None:
    cat = load_catalog(())
    sw = load_sweep(sweep_path, cat)
    with tempfile.TemporaryDirectory() as tmp:
        cpu0 = _cpu_s()
        t0 = time.perf_counter()
        s = run_sweep(sw, cat, Path(tmp), workers=workers)
        wall = time.perf_counter() - t0
        cpu = _cpu_s() - cpu0
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(s.statuses.items()))
    verdict = "STOPPED" if s.stopped else "OK" if wall <= target_s else "SLOWER THAN TARGET"
    print(f"{name:10s} {s.ran:5d} scenarios {wall:7.1f} s  {s.ran / wall:7.2f}/s  candidate evaluations "
          f"{s.evaluations} computed, {s.reused} reused  [{statuses}]  target <= {target_s:.0f} s: {verdict}",
          flush=True)
    # the machine may be shared: CPU seconds of this process and its workers, / workers = the wall time on
    # `workers` idle cores
    print(f"{'':10s} CPU {cpu:.1f} s in all processes = {cpu / workers:.1f} s per worker", flush=True)


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
    args = ap.parse_args()
    if args.only in (None, "quickstart"):
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "quickstart-bench.yaml"
            n = args.samples or 1000
            p.write_text(QUICKSTART.replace("samples: 1000", f"samples: {n}"))
            bench("quickstart", p, args.workers, 60 * n / 1000)
    if args.only in (None, "mixed"):
        path = ROOT / "sweeps" / "mixed-fleet-prices.yaml"
        if args.samples is None:
            bench("mixed", path, args.workers, 600)
            return
        with tempfile.TemporaryDirectory() as tmp:  # the same design, fewer samples: target scaled
            p = Path(tmp) / "mixed.yaml"
            p.write_text(path.read_text().replace("problem: ../problems/", f"problem: {ROOT}/problems/")
                         .replace("samples: 200", f"samples: {args.samples}"))
            bench("mixed", p, args.workers, 600 * args.samples / 200)


if __name__ == "__main__":
    main()
