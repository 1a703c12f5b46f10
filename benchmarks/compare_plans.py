"""Snapshot every example's plan (minus timing fields) and compare against an earlier snapshot.

    python benchmarks/compare_plans.py save DIR [--backend scip] [problems...]
    python benchmarks/compare_plans.py diff DIR [--backend scip] [problems...]

`diff` re-solves each problem and prints, per problem, whether the deterministic view of plan.json is identical
to the saved one; where it is not, the objective of both and the first differing top-level fields. A speed
change to the MIP must leave every plan identical (or explain each difference: a tie broken differently).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.catalog import load_catalog  # noqa: E402
from planner.optimize.pipeline import solve_file  # noqa: E402
from planner.plan import deterministic_view  # noqa: E402


def view(path: str, cat, backend: str) -> dict:
    out = solve_file(path, cat, backend=backend)
    return deterministic_view(json.loads(out.plan.model_dump_json()))


def close(a, b, rel: float = 1e-12) -> bool:
    """Equal but for floating-point noise (a sum taken in another order): before this tool existed the plan's
    sums over owned systems followed the string hash seed, so snapshots differ from run to run in the last bit."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)
    return a == b


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=("save", "diff"))
    ap.add_argument("dir")
    ap.add_argument("problems", nargs="*")
    ap.add_argument("--backend", default="scip")
    args = ap.parse_args()
    cat = load_catalog()
    paths = args.problems or sorted(str(p) for p in (ROOT / "problems").glob("*.yaml"))
    snap = Path(args.dir)
    snap.mkdir(parents=True, exist_ok=True)
    bad = 0
    for p in paths:
        name = f"{Path(p).stem}.{args.backend}.json"
        now = view(p, cat, args.backend)
        if args.action == "save":
            (snap / name).write_text(json.dumps(now, indent=1, sort_keys=True), encoding="utf-8")
            print(f"{Path(p).stem:32s} saved  objective {now.get('objective_value')}", flush=True)
            continue
        before = json.loads((snap / name).read_text(encoding="utf-8"))
        now = json.loads(json.dumps(now, sort_keys=True))
        if before == now:
            print(f"{Path(p).stem:32s} same   objective {now.get('objective_value')}", flush=True)
            continue
        if close(before, now):
            print(f"{Path(p).stem:32s} same~  objective {now.get('objective_value')} (floats within 1e-12)",
                  flush=True)
            continue
        bad += 1
        keys = sorted(k for k in set(before) | set(now) if not close(before.get(k), now.get(k)))
        print(f"{Path(p).stem:32s} DIFFERS objective {before.get('objective_value')} -> "
              f"{now.get('objective_value')}; fields: {', '.join(keys)}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
