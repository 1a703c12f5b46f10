"""Global sensitivity indices of the sweep's metric (SALib): Sobol first-order and total indices, or Morris
mu* and sigma, from the design's unit-cube samples stored in the ledger.

Indices need every scenario of the design: while some are missing (a stopped sweep) or have no metric (an
infeasible scenario), no indices are reported and `reason` says why.
"""

from __future__ import annotations

import json
import math

import numpy as np

from planner.sweep.results import SweepData


def indices(data: SweepData) -> dict:
    spec = json.loads(data.meta.get("spec", "{}"))
    d = spec.get("design", {})
    kind = d.get("kind")
    if kind not in ("sobol", "morris"):
        return {}
    names = data.paths
    out: dict = {"method": kind, "metric": data.metric, "parameters": names}
    total = int(data.meta.get("scenarios", 0))
    df = data.table.sort_values("scenario")
    if len(df) < total:
        return {**out, "reason": f"{total - len(df)} of {total} scenarios not run yet (resume the sweep)"}
    y = df[data.metric].to_numpy(dtype=float) if data.metric in df else np.full(len(df), np.nan)
    bad = int(np.sum(~np.isfinite(y)))
    if bad:
        return {**out, "reason": f"{bad} scenarios have no {data.metric} (infeasible or failed): indices need all"}
    x = np.asarray(json.loads(data.meta["unit_samples"]), dtype=float)
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    seed = int(d.get("seed", 0))
    if kind == "sobol":
        from SALib.analyze import sobol

        res = sobol.analyze(problem, y, calc_second_order=False, seed=seed)
        cols = {"S1": "S1", "S1_conf": "S1_conf", "ST": "ST", "ST_conf": "ST_conf"}
    else:
        from SALib.analyze import morris

        res = morris.analyze(problem, x, y, num_levels=int(d.get("levels", 4)), seed=seed)
        cols = {"mu_star": "mu_star", "mu_star_conf": "mu_star_conf", "sigma": "sigma"}
    out["indices"] = {name: {k: _num(res[src][i]) for k, src in cols.items()} for i, name in enumerate(names)}
    return out


def _num(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None
