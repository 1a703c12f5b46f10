"""Snapshot every example's candidates and plan, or compare against a snapshot: the behaviour guard for speed
work on the candidate search (objectives, plans and every candidate figure must stay identical).

    python benchmarks/check_plans.py --save /tmp/ref            # before a change
    python benchmarks/check_plans.py --against /tmp/ref         # after it: lists every difference, exit 1

Per problem: plan.json as `planner solve --out` writes it (rounded to 6 significant digits) minus the timing
fields (`deterministic_view`), and the candidate table and rejections of `build_candidates` written with full
float precision (stricter than the plan). The plan is compared rounded because equal-cost MIP solutions can sum
the same fleet in another order from run to run (last-digit differences, seen on enterprise-budget with the
code before this change too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.catalog import load_catalog  # noqa: E402
from planner.optimize.candidates import build_candidates  # noqa: E402
from planner.optimize.pipeline import load_instance, solve_file  # noqa: E402
from planner.plan import deterministic_view, plan_json  # noqa: E402


def snapshot(path: Path, cat) -> dict[str, str]:
    """name -> text of each artefact of one problem."""
    inst = load_instance(path, cat)
    cs = build_candidates(inst, cat)
    out = {
        "candidates.csv": cs.table.to_csv(index=False, float_format="%.17g"),
        "rejected.csv": cs.rejected.to_csv(index=False, float_format="%.17g"),
    }
    plan = solve_file(str(path), cat).plan
    out["plan.json"] = json.dumps(deterministic_view(json.loads(plan_json(plan))), sort_keys=True, indent=1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("problems", nargs="*")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path)
    group.add_argument("--against", type=Path)
    args = ap.parse_args()
    cat = load_catalog()
    paths = [Path(p) for p in args.problems] or sorted((ROOT / "problems").glob("*.yaml"))
    bad = 0
    for p in paths:
        snap = snapshot(p, cat)
        for name, text in snap.items():
            f = (args.save or args.against) / p.stem / name
            if args.save:
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(text)
                continue
            old = f.read_text() if f.is_file() else None
            same = old == text
            bad += not same
            digest = hashlib.sha256(text.encode()).hexdigest()[:12]
            print(f"{p.stem:32s} {name:15s} {'same' if same else 'DIFFERENT'} {digest}", flush=True)
            if not same and old is not None:
                import difflib

                diff = list(difflib.unified_diff(old.splitlines(), text.splitlines(), lineterm="", n=0))
                print("\n".join(diff[:12]))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
