"""Judge a SCIP setting or a model change on several close variants of the warm-started solves, not on one run.

    python benchmarks/scip_settings.py                                   # the baseline only
    python benchmarks/scip_settings.py --set "noheur=heuristics/rins/freq = -1\\nheuristics/crossover/freq = -1"
    python benchmarks/scip_settings.py --cuts 1 --cuts 0,0.5,1           # per-workload convex-hull rows

SCIP is deterministic for one model, but its time on mixed-fleet swings by 2x with small changes of the model
(another start, 3 more candidates, 3% more demand), so one run says little. Each setting runs on the solves of
`planner solve` that start from `solve.warm_start`'s plan: mixed-fleet (start over 2 and over 3 candidates per
group), its runner-up (without GB200), its price_of relaxation (without limits), mixed-fleet with 3% more
demand, and simplicity-and-failure-domains. Per variant: CPU s / branch-and-bound nodes, and "!value" where the
plan's objective differs from the baseline's (another plan within the gap: it would change the example's plan,
which must stay identical). `--cuts T1,T2,...` adds, per workload and multiplier theta, the valid row
sum_c (E_c + theta * p_s g_c) x_c >= min over the workload's plans (p_s the $/h of a GPU of system s,
`gap_anatomy.cheapest_cover`).

Measured at load ~5 on the two cores, CPU s / nodes ("other": stops at another plan within the gap):
                  mf         mf-k3      runner-up  no-limits  dem+3%     simpl
  baseline        4.35/1924  3.11/1059  0.49/40    1.58/1472  3.03/961   0.17/5
  heuristics off  3.01/1667  1.58/433   0.36/38    other      2.45/806   0.19/10
  + 10 root rnds  2.94/217   2.17/133   0.53/32    other      2.59/702   0.45/6
  hull theta=1    3.88/1123  1.80/257   0.96/163   other      12.31/5190 0.14/4
  + heur. off     1.58/341   3.16/1475  other      other      4.59/1256  0.20/10
Single runs on the mixed-fleet model alone (CPU s / nodes): no restarts 3.37/755, best-first 3.86/1702, no
cuts in the tree 4.79/4482, 1 root round 4.45/2184, 10 root rounds 5.09/1001, most-infeasible branching
17.0/15890, pseudo-cost 6.80/5470, inference 20.0/16136, no strong branching 5.00/3680; restarts off +
heuristics off + 10 root rounds 1.64/157 but it stops at another plan (450.6689 with the tie-break instead of
450.6629); hull rows theta in {0, 1} 15.6/10345, {0, .25, .5, 1, 2} 3.67/884. No setting is faster on every
variant and keeps every plan: none was adopted.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PLANNER_SOLVE_IN_PROCESS", "1")

from benchmarks.gap_anatomy import cheapest_cover  # noqa: E402
from planner.catalog import load_catalog  # noqa: E402
from planner.optimize import solve as S  # noqa: E402
from planner.optimize.backends import SolveStatus  # noqa: E402
from planner.optimize.candidates import build_candidates  # noqa: E402
from planner.optimize.formulation import build_model  # noqa: E402
from planner.optimize.pipeline import load_instance  # noqa: E402
from planner.optimize.price_of import without_limits, without_survive  # noqa: E402
from planner.optimize.solver_options import SCIP_WITH_START  # noqa: E402


def scip(model, start, params: str, branch_first=(), gap=1e-4) -> dict:
    """`backends_solvers.solve_scip` with the node count: CPU s, nodes, objective (tie-break included)."""
    from ortools.linear_solver import pywraplp

    s = pywraplp.Solver.CreateSolver("SCIP")
    inf = s.infinity()
    s.SetNumThreads(1)
    xs = []
    for v in model.vars:
        lb, ub = (-inf if v.lb == -math.inf else v.lb), (inf if v.ub == math.inf else v.ub)
        xs.append(s.IntVar(lb, ub, f"x{v.index}") if v.integer else s.NumVar(lb, ub, f"x{v.index}"))
    for i in branch_first:
        xs[i].SetBranchingPriority(1)
    for k, con in enumerate(model.constraints):
        row = s.RowConstraint(-inf if con.lo == -math.inf else con.lo, inf if con.hi == math.inf else con.hi,
                              f"c{k}")
        for i, c in con.coefs.items():
            row.SetCoefficient(xs[i], c)
    obj = s.Objective()
    for i, c in model.objective.items():
        obj.SetCoefficient(xs[i], c)
    obj.SetMinimization()
    s.SetSolverSpecificParametersAsString("limits/absgap = 1e-06\n" + params)
    if start is not None:
        s.SetHint(xs, [float(v) for v in start])
    p = pywraplp.MPSolverParameters()
    p.SetDoubleParam(pywraplp.MPSolverParameters.RELATIVE_MIP_GAP, gap)
    c0 = time.process_time()
    s.Solve(p)
    return {"cpu": time.process_time() - c0, "nodes": s.nodes(), "obj": obj.Value()}


def gpu_price(inst, system: str, mode: str) -> float:
    sd = inst.systems[system]
    if mode == "rent":
        return sd.rent_usd_per_hour / sd.gpus
    return (sd.existing_usd_per_hour if sd.existing else sd.new_usd_per_hour) / sd.gpus


def add_hull_rows(m, ix, thetas) -> None:
    """Per workload and theta: sum_c (E_c + theta p_s g_c) x_c >= its least value over the workload's plans."""
    inst = ix.inst
    share = inst.min_deployment_share or 0.0
    k_max = inst.max_configs_per_workload
    if k_max is None or k_max > 2:
        return
    for w, rows in sorted(ix.by_workload.items()):
        wl = inst.workloads[w]
        for theta in thetas:
            a = [ix.energy_usd_per_hour[i] + theta * gpu_price(inst, ix.system[i], ix.mode[i]) * ix.gpus[i]
                 for i in rows]
            if not rows or min(a) < 0:
                continue
            least = cheapest_cover(a, [ix.out[i] for i in rows], wl.required_out_tok_s, wl.min_replicas, k_max,
                                   share * (wl.demand_out_tok_s or 0.0))
            if math.isfinite(least):
                m.add(f"hull[{w},{theta}]", "hull", {ix.x[i]: c for i, c in zip(rows, a, strict=True)},
                      lo=least * (1 - 1e-9) - 1e-9)


def variants(cat):
    """(name, instance, candidates, candidates per group of the start)."""
    inst = load_instance(ROOT / "problems" / "mixed-fleet.yaml", cat)
    cands = build_candidates(inst, cat).table
    yield "mf", inst, cands, 2
    yield "mf-k3", inst, cands, 3
    yield "runner-up", inst, cands[cands["accelerator"] != "gb200"], 2
    yield "no-limits", without_survive(without_limits(inst)), cands, 2
    more = {w: dataclasses.replace(x, demand_out_tok_s=(x.demand_out_tok_s or 0.0) * 1.03)
            for w, x in inst.workloads.items()}
    yield "dem+3%", dataclasses.replace(inst, workloads=more), cands, 2
    simple = load_instance(ROOT / "problems" / "simplicity-and-failure-domains.yaml", cat)
    yield "simpl", simple, build_candidates(simple, cat).table, 2


def prepared(cat) -> list[tuple]:
    out = []
    for name, inst, cands, k in variants(cat):
        m, ix = build_model(inst, cands, objective="min_cost")
        sol = S.Solution(SolveStatus.ERROR, "min_cost", "scip", m, ix)
        saved, S.CHEAPEST_PER_GROUP = S.CHEAPEST_PER_GROUP, k
        try:
            start = S.warm_start(sol, inst, cands, 60.0, inst.gap)
        finally:
            S.CHEAPEST_PER_GROUP = saved
        out.append((name, m, ix, start))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", default=[], metavar="NAME=PARAMS",
                    help="SCIP parameters added to SCIP_WITH_START (\\n between them)")
    ap.add_argument("--cuts", action="append", default=[], metavar="THETAS", help="e.g. 0,1: hull rows")
    args = ap.parse_args()
    settings = [("baseline", "", None)]
    settings += [(s.split("=", 1)[0], s.split("=", 1)[1].replace("\\n", "\n") + "\n", None) for s in args.set]
    settings += [(f"hull {c}", "", [float(t) for t in c.split(",")]) for c in args.cuts]
    runs = prepared(load_catalog())
    ref: dict[str, float] = {}
    for label, params, thetas in settings:
        total, cells = 0.0, []
        for name, m, ix, start in runs:
            if start is None:
                cells.append(f"{name} no start")
                continue
            model = m
            if thetas is not None:
                model = m.copy()
                add_hull_rows(model, ix, thetas)
            r = scip(model, start, SCIP_WITH_START + params, S.fleet_platforms(m))
            ref.setdefault(name, r["obj"])
            other = "" if abs(r["obj"] - ref[name]) <= 1e-7 * abs(ref[name]) else f" !{r['obj']:.4f}"
            total += r["cpu"]
            cells.append(f"{name} {r['cpu']:.2f}/{r['nodes']}{other}")
        print(f"{label:20s} {total:6.2f} CPU s | " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
