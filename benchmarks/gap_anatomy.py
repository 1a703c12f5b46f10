"""Where a min_cost solve spends its time: the bound it must prove, layer by layer (issue 7, mixed-fleet).

    python benchmarks/gap_anatomy.py [problems/mixed-fleet.yaml]

Prints the optimum (SCIP, as `planner solve` finds it), the bound the relative gap asks for, and three lower
bounds on the optimum, each with the share of the root gap it closes:
  1. the LP relaxation of the whole model (fractional servers);
  2. the same LP with servers, racks and platform binaries fixed at the optimum's (what is left once branching
     has chosen the servers: which replicas fill them at the least energy);
  3. at those servers, the bound of the per-workload convex hull (a pattern / Dantzig-Wolfe formulation of
     "replicas of at most K configurations covering the demand"): the Lagrangian dual of the GPU rows,
     max over lambda >= 0 of  fixed cost + sum_w min_{plans p of w} (E_p + lambda . G_p) - lambda . capacity,
     the inner minimum exact (`cheapest_cover`), lambda found by a pattern search polished by Nelder-Mead (any
     lambda gives a valid bound; the search may stop short of the maximum).
Measured on mixed-fleet (optimum 450.6629 with the tie-break, 450.6626 $/h without; the 1e-4 gap needs a bound
of 450.6179): root LP 426.53, LP at the optimum's servers 449.62 (95.7% of the root gap closed), convex-hull
bound at those servers 450.605 (99.8%; multipliers 0.103 $/GPU-h on GB200, 0.017 on MI355X). So even a
formulation whose LP were the convex hull of every workload's plans would leave ~0.06 $/h of the gap at the
optimum's own servers, more than the 0.045 $/h the gap allows: the last part of the proof is the combinatorics
of packing 144 + 24 GPUs, which only branching closes. Valid inequalities from (3) (one row per workload:
sum_c (E_c + lambda g_c) x_c >= the exact minimum) lift the root LP to 438.7 and the LP at the optimum's
servers to 450.60, yet made SCIP no faster (bench_solve.py's docstring has the figures).
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.catalog import load_catalog  # noqa: E402
from planner.optimize import constraints as C  # noqa: E402
from planner.optimize.candidates import build_candidates  # noqa: E402
from planner.optimize.pipeline import load_instance  # noqa: E402
from planner.optimize.solve import fleet_platforms, solve_instance  # noqa: E402


def cheapest_cover(cost, out, need: float, min_replicas: int, max_configs: int, share_need: float = 0.0) -> float:
    """The least sum_c cost_c n_c over integer replica counts n >= 0 with at most `max_configs` (1 or 2)
    candidates in use, sum_c out_c n_c >= need, sum_c n_c >= min_replicas, and out_c n_c >= share_need for every
    candidate in use (the model's demand, min_replicas, max_configs and min_share rows for one workload); inf
    when no plan exists. Costs must be >= 0 (then more replicas of a configuration that alone suffices never
    help). Counts are rounded up with a 1e-9 tolerance, which can only lower the result: a valid lower bound."""
    a, o = np.asarray(cost, dtype=float), np.asarray(out, dtype=float)
    if max_configs not in (1, 2):
        raise ValueError("max_configs must be 1 or 2 (more would need another enumeration)")
    if np.any(a < 0):
        raise ValueError("costs must be >= 0")
    if need <= 0 and min_replicas <= 0:
        return 0.0  # nothing to serve: the empty plan
    keep = o > 0
    a, o = a[keep], o[keep]
    if len(a) == 0:
        return math.inf
    lo = np.maximum(np.ceil(share_need / o - 1e-9), 1.0)  # fewest replicas of a configuration in use
    alone = np.maximum(np.maximum(np.ceil(need / o - 1e-9), min_replicas), lo)  # enough on its own
    best = float(np.min(a * alone))
    if max_configs == 1:
        return best
    for i in range(len(a)):
        n_i = np.arange(lo[i], alone[i])  # fewer than alone[i]: a second configuration must make up the rest
        if len(n_i) == 0:
            continue
        short = np.maximum(need - n_i * o[i], 0.0)
        n_j = np.maximum(np.ceil(short[:, None] / o[None, :] - 1e-9), (min_replicas - n_i)[:, None])
        n_j = np.maximum(n_j, lo[None, :])
        total = a[i] * n_i[:, None] + a[None, :] * n_j
        total[:, i] = np.inf
        best = min(best, float(total.min()))
    return best


def lp_bound(model, fixed: dict[int, float] | None = None) -> float:
    """The LP relaxation's optimum (HiGHS), with the variables of `fixed` fixed at their values."""
    import highspy

    from planner.optimize.backends_solvers import highs_lp, silence_highs_banner

    silence_highs_banner()
    m = model.copy()
    for var, value in (fixed or {}).items():
        m.fix(var, value, value)
    lp = highs_lp(m)
    lp.integrality_ = []
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    h.run()
    return h.getInfo().objective_function_value + m.objective_constant


def servers_of(ix, values) -> dict[tuple[str, str], int]:
    """Servers per (system, mode) in a solution."""
    out: dict[tuple[str, str], int] = {}
    for mode, tables in (("own", (ix.buy, ix.exist)), ("rent", (ix.rent,))):
        for table in tables:
            for s, var in table.items():
                out[(s, mode)] = out.get((s, mode), 0) + round(values[var])
    return out


def hull_bound(ix, values) -> tuple[float, dict[tuple[str, str], float]]:
    """(bound 3 of the docstring, the multipliers $/GPU-h it was found at) at the servers of `values`."""
    inst = ix.inst
    k_max = inst.max_configs_per_workload
    if k_max is None or k_max > 2:
        raise SystemExit("gap_anatomy: the convex-hull bound needs max_configs_per_workload <= 2")
    coefs = C.cost_coefs(ix)
    server_vars = [v for t in (ix.buy, ix.exist, ix.rent) for v in t.values()] + list(ix.z)
    fixed = sum(coefs.get(v, 0.0) * round(values[v]) for v in server_vars)  # complexity charge left out: >= 0
    cap = {k: n * inst.systems[k[0]].domain_capacity(1) for k, n in servers_of(ix, values).items() if n > 0}
    keys = sorted(cap)
    share = inst.min_deployment_share or 0.0
    groups = []
    for w, rows in sorted(ix.by_workload.items()):
        rows = [i for i in rows if (ix.system[i], ix.mode[i]) in cap]
        wl = inst.workloads[w]
        groups.append((np.array([ix.energy_usd_per_hour[i] for i in rows]), np.array([ix.out[i] for i in rows]),
                       np.array([float(ix.gpus[i]) for i in rows]),
                       np.array([keys.index((ix.system[i], ix.mode[i])) for i in rows], dtype=int), wl))

    def bound(lam: np.ndarray) -> float:
        total = fixed - float(lam @ np.array([cap[k] for k in keys], dtype=float))
        for energy, out, gpus, where, wl in groups:
            total += cheapest_cover(energy + lam[where] * gpus, out, wl.required_out_tok_s, wl.min_replicas,
                                    k_max, share * (wl.demand_out_tok_s or 0.0))
        return total

    # pattern search over every direction in {-1, 0, 1}^d (the function is concave but has kinks, where moves
    # along one axis stall); every point tried is a valid bound
    directions = [np.array(d, dtype=float) for d in itertools.product((-1, 0, 1), repeat=len(keys)) if any(d)]
    lam, best, step = np.zeros(len(keys)), bound(np.zeros(len(keys))), 0.1
    while step > 1e-4:
        moved = False
        for d in directions:
            trial = np.maximum(lam + step * d, 0.0)
            value = bound(trial)
            if value > best + 1e-12:
                lam, best, moved = trial, value, True
        if not moved:
            step /= 2
    try:  # pattern search stalls at kinks: polish with Nelder-Mead (SciPy comes with the dev extras)
        from scipy.optimize import minimize
    except ImportError:  # pragma: no cover
        return best, {k: float(x) for k, x in zip(keys, lam, strict=True)}
    res = minimize(lambda z: -bound(np.maximum(z, 0.0)), lam, method="Nelder-Mead",
                   options={"xatol": 1e-6, "fatol": 1e-8, "initial_simplex": None})
    if -res.fun > best:
        lam, best = np.maximum(res.x, 0.0), -res.fun
    return best, {k: float(x) for k, x in zip(keys, lam, strict=True)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("problem", nargs="?", default=str(ROOT / "problems" / "mixed-fleet.yaml"))
    args = ap.parse_args()
    cat = load_catalog()
    inst = load_instance(args.problem, cat)
    cands = build_candidates(inst, cat).table
    sol = solve_instance(inst, cands, "scip")
    ix, values = sol.ix, sol.values
    optimum = sol.model.objective_value(values)  # with the tie-break, as the solver sees it
    need = optimum - inst.gap * abs(optimum)
    fixed = {v: float(round(values[v])) for t in (ix.buy, ix.exist, ix.rent) for v in t.values()}
    fixed.update({v: float(round(values[v])) for v in (*ix.z, *fleet_platforms(sol.model))})
    root = lp_bound(sol.model)
    rows = [("LP relaxation (root)", root), ("LP at the optimum's servers", lp_bound(sol.model, fixed))]
    hull, lam = hull_bound(ix, values)
    rows.append(("convex hull per workload, same servers", hull))
    print(f"{Path(args.problem).stem}: optimum {optimum:.4f} (incl. tie-break), gap {inst.gap:g} needs a bound "
          f">= {need:.4f}")
    for name, value in rows:
        closed = 100 * (value - root) / (optimum - root) if optimum > root else 100.0
        print(f"  {name:42s} {value:12.4f}  ({closed:5.1f}% of the root gap closed)")
    print("  multipliers ($/GPU-h): " + ", ".join(f"{s} {m}: {x:.4f}" for (s, m), x in lam.items()))


if __name__ == "__main__":
    main()
