"""The one place where sweeps touch the optimizer: parse a problem, key and run the performance evaluation,
solve (`planner.optimize.solve_outcome` with a `CandidateCache`, its MIPs taken by `fastsolve`), summarize a
plan.

Reuse: the performance evaluation of the candidate grid depends on the workloads' shapes, latency targets and
model/precision choices, the accelerators and the catalog's performance data; not on money, power or demand.
`evaluation_key` is the optimizer's own cache key (`perf_key`), so a shared evaluation is used only where the
optimizer itself would have reused it.
"""

from __future__ import annotations

from typing import Any

from planner.catalog.catalog import Catalog
from planner.errors import InputError


def share_perf_caches(base: Catalog, copy: Catalog) -> None:
    """Let a catalog copy whose performance data is the base's (a price changed) reuse the base's per-catalog
    caches: the resolved efficiency table (~0.5 s to build) and the performance fingerprint (a hash of every
    perf entry). `apply_catalog` copies only the tables it changes, so "the same performance data" is checked
    as the same table objects. Only speed depends on this: a cache shaped differently is left alone."""
    from planner.catalog import fingerprint
    from planner.perf import params

    perf_kinds = [k for k in base.entries if k not in fingerprint.NON_PERF_KINDS]
    if any(copy.entries.get(k) is not base.entries.get(k) for k in perf_kinds):
        return
    params.load_efficiency(base)
    fingerprint.perf_fingerprint(base)
    for cache in (getattr(params, "_CACHE", None), getattr(fingerprint, "_MEMO", None)):
        if not isinstance(cache, dict):
            continue
        for key, hit in list(cache.items()):
            if isinstance(key, tuple) and key and key[0] == id(base) and isinstance(hit, tuple) and hit[0] is base:
                cache[(id(copy), *key[1:])] = (copy, *hit[1:])


def problem_model():
    from planner.optimize import Problem

    return Problem


def parse_problem(data: dict, where: str):
    from planner.optimize import parse_problem as parse

    return parse(data, where)


def parse_problem_text(text: str, where: str):
    from planner.optimize import problem_from_text

    return problem_from_text(text, where)


def build(problem, catalog: Catalog, where: str = "<problem>"):
    from planner.optimize.resolve_problem import build_instance

    return build_instance(problem, catalog, where)


def backend_names() -> tuple[str, ...]:
    from planner.optimize.backends import BACKENDS

    return tuple(BACKENDS)


def check_references(pdata: dict, catalog: Catalog, where: str) -> None:
    build(parse_problem(pdata, where), catalog, where)


def evaluation_key(inst, catalog: Catalog) -> str:
    from planner.optimize.candidates import perf_key

    return perf_key(inst, catalog)


def evaluate(inst, catalog: Catalog):
    """The expensive, shareable part of the candidates (`Evaluated`; picklable)."""
    from planner.optimize.candidates import evaluate_configurations

    return evaluate_configurations(inst, catalog)


def new_cache(max_entries: int = 16):
    from planner.optimize import CandidateCache

    return CandidateCache(max_entries=max_entries)


def mip_variables(inst, catalog: Catalog, cache) -> int | None:
    """Variables of an instance's main MIP (its min-cost form: the other objectives only add to it), built from
    `cache`'s candidates; None for the problems solved on the hourly model, which is built elsewhere."""
    from planner.optimize import guards
    from planner.optimize.candidates import build_candidates
    from planner.optimize.formulation import build_model
    from planner.optimize.solve_hourly import uses_hourly_model

    if uses_hourly_model(inst):
        return None
    guards.check_problem_size(inst, catalog, "<problem>")  # what solve_outcome checks before it builds the model
    table = build_candidates(inst, catalog, cache=cache).table
    guards.check_fleet_size(inst, table, "<problem>")
    model, _ = build_model(inst, table, objective="min_cost")
    return len(model.vars)


def solve(problem, catalog: Catalog, cache, *, backend: str | None, time_limit_s: float | None, hook=None):
    """One scenario through the optimizer's one entry point (`solve_outcome`, without the runner-up, so without
    its side solves): `cache` holds the shared performance evaluation, its expansion and the verifier's
    re-predictions; `hook` (a `fastsolve.FastSolve`) takes the MIP solves. The plan's copy of the problem is
    left empty (a sweep keeps only `summarize`; the YAML dump was ~5% of a quickstart scenario). Raises
    PlannerError (infeasible, solver failure, bad input)."""
    import contextlib

    from planner.optimize import solve_outcome
    from planner.optimize.backends import solve_hook

    with solve_hook(hook) if hook is not None else contextlib.nullcontext():
        return solve_outcome(problem, catalog, backend=backend, time_limit_s=time_limit_s, runner_up=False,
                             candidate_cache=cache, problem_text="").plan


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
    if econ is not None and getattr(plan, "hourly", None):  # demand profile: year averages, not the peak hour
        served, cost = econ.served_output_tok_s, econ.cost_usd_per_hour
        metrics.update(cost_usd_per_hour=cost, output_tok_s=served, usd_per_mtok=econ.usd_per_mtok_served,
                       tokens_per_usd=served * 3600 / cost if cost > 0 else None)
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
