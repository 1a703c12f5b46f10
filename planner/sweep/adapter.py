"""The one place where sweeps touch the optimizer: parse a problem, build candidates, solve, summarize a plan.

Candidate reuse: the candidate table (the performance evaluation) depends on the workloads' shapes, latency
targets and model/precision choices, the systems' hardware and the rack types, and on the catalog's technical
figures; not on money, power or demand. `technical_key` hashes exactly what `build_candidates` reads, so two
scenarios with the same key can share one table and differ only in the (cheap) MIP solve.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from planner.catalog.catalog import Catalog
from planner.errors import InputError

# Instance fields that do not reach the candidate table (money, power, demand, limits).
_MONEY_WORKLOAD = {"demand_out_tok_s", "headroom", "min_replicas"}
_MONEY_SYSTEM = {"price_usd", "capex_usd", "supply", "rent_supply", "rent_usd_per_gpu_hour", "new_usd_per_hour",
                 "existing_usd_per_hour", "usd_per_w_hour", "non_gpu_avg_w", "existing", "buy"}
_MONEY_RACK = {"count", "price_usd", "usd_per_hour"}


def share_perf_caches(base: Catalog, copy: Catalog) -> None:
    """Let a catalog copy that changed no accelerator use the base catalog's resolved efficiency table.

    The performance model caches its efficiency per catalog object and builds it from the accelerator
    entries and efficiency.yaml (~0.5 s); a price change makes a new catalog object with the very same
    accelerator table (`apply_catalog` copies only the tables it changes), so the cached table is valid as is.
    Only speed depends on this: if the cache is shaped differently, nothing is shared."""
    if copy.entries.get("accelerators") is not base.entries.get("accelerators"):
        return
    from planner.perf import params

    params.load_efficiency(base)
    cache = getattr(params, "_CACHE", None)
    if not isinstance(cache, dict):
        return
    for key, (cat, eff) in list(cache.items()):
        if cat is base and isinstance(key, tuple) and key and key[0] == id(base):
            cache[(id(copy), *key[1:])] = (copy, eff)


def problem_model():
    from planner.optimize.problem import Problem

    return Problem


def parse_problem(data: dict, where: str):
    from planner.optimize.problem import parse_problem as parse

    return parse(data, where)


def parse_problem_text(text: str, where: str):
    from planner.optimize.problem import problem_from_text

    return problem_from_text(text, where)


def build(problem, catalog: Catalog, where: str = "<problem>"):
    from planner.optimize.instance import build_instance

    return build_instance(problem, catalog, where)


def backend_names() -> tuple[str, ...]:
    from planner.optimize.backends import BACKENDS

    return tuple(BACKENDS)


def check_references(pdata: dict, catalog: Catalog, where: str) -> None:
    build(parse_problem(pdata, where), catalog, where)


def technical_key(inst, catalog_tech: str) -> str:
    """What the candidate table depends on, hashed (`catalog_tech`: the catalog's technical fingerprint)."""
    def keep(obj, drop):
        return {k: v for k, v in dataclasses.asdict(obj).items() if k not in drop}

    data = {
        "workloads": {k: keep(w, _MONEY_WORKLOAD) for k, w in sorted(inst.workloads.items())},
        # owned capacity exists when buying is allowed or servers are already there: that decides the modes
        "systems": {k: {**keep(s, _MONEY_SYSTEM), "own": bool(s.buy or s.existing)}
                    for k, s in sorted(inst.systems.items())},
        "racks": {k: keep(r, _MONEY_RACK) for k, r in sorted(inst.racks.items())},
        "catalog": catalog_tech,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_candidates(inst, catalog: Catalog):
    from planner.candidates import build_candidates as build_cands

    return build_cands(inst, catalog)


def solve(inst, cands, catalog: Catalog, *, backend: str | None, time_limit_s: float | None):
    """One MIP on a ready candidate set; raises PlannerError (infeasible, solver failure, bad input)."""
    from planner.optimize.pipeline import solve_candidates

    out = solve_candidates(inst, cands.table, catalog=catalog, backend=backend, time_limit_s=time_limit_s,
                           rejected=cands.rejected, best_latency=cands.best_latency, runner_up=False)
    return out.plan


def summarize(plan) -> dict[str, Any]:
    """What a sweep keeps of a plan: headline figures, the fleet and the chosen deployments."""
    f = plan.fleet
    total_gpus = sum(f.gpus.values())
    metrics = {
        "objective": plan.objective_value,
        "cost_usd_per_hour": f.cost_usd_per_hour,
        "capex_usd": f.capex_usd,
        "opex_usd_per_year": f.opex_usd_per_year,
        "tokens_per_usd": f.tokens_per_usd,
        "usd_per_mtok": f.usd_per_mtok,
        "output_tok_s": f.output_tok_s,
        "facility_power_kw": f.facility_power_kw,
        "it_power_kw": f.it_power_kw,
        "gpus": total_gpus,
        "solver_status": plan.status,
    }
    econ = getattr(plan, "economics", None)  # token prices (plans that carry revenue and profit)
    for name in ("profit_usd_per_hour", "revenue_usd_per_hour"):
        v = getattr(econ, name, None) if econ is not None else None
        if v is not None:
            metrics[name] = v
    fleet = {"servers": dict(f.servers), "gpus": dict(f.gpus), "servers_rented": dict(f.servers_rented),
             "racks": len(f.racks)}
    deployments = [
        {k: getattr(d, k, None) for k in ("workload", "model", "precision", "kv_precision", "system",
                                           "accelerator", "mode", "serving", "engine", "tp", "pp", "ep",
                                           "batch", "replicas", "gpus", "output_tok_s")}
        for d in plan.deployments
    ]
    return {"metrics": metrics, "fleet": fleet, "deployments": deployments}


def classify_error(exc: Exception) -> str:
    from planner.errors import InfeasibleError, SolverError

    if isinstance(exc, InfeasibleError):
        return "infeasible"
    if isinstance(exc, InputError):
        return "input_error"
    if isinstance(exc, SolverError):
        return "solver_error"
    return "error"
