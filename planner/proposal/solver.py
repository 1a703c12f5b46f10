"""The proposal's only door into the optimizer: one solve (or a re-verified plan) and small re-solves.

`solve_for_proposal` is the single adapter onto `planner.optimize`; when the public `solve_problem` entry point
lands, only its body changes. Re-solves reuse the candidate table (the expensive performance evaluation):
money, power and demand change the MIP's coefficients, never which configurations meet the targets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from planner.catalog.catalog import Catalog
from planner.errors import InfeasibleError, InputError, PlannerError
from planner.optimize.instance import Instance, build_instance
from planner.optimize.problem import Problem
from planner.plan import Plan

MAX_WORKERS = 4


@dataclass
class Solved:
    """A plan with what re-solves need: the problem, its resolved instance and the candidate table."""

    plan: Plan
    problem: Problem
    instance: Instance
    candidates: pd.DataFrame
    where: str


def solve_for_proposal(
    problem_path: str | Path,
    catalog: Catalog,
    *,
    plan_path: str | Path | None = None,
    catalog_dirs: tuple[str, ...] = (),
    backend: str | None = None,
    time_limit_s: float | None = None,
) -> Solved:
    """Solve PROBLEM (with its runner-up), or take PLAN after re-verifying it against PROBLEM."""
    from planner.candidates import build_candidates
    from planner.catalog.loader import display_path, read_text
    from planner.optimize.pipeline import load_plan_file, solve_file, verify_file
    from planner.optimize.problem import problem_from_text

    where = display_path(Path(problem_path))
    text, unreadable = read_text(Path(problem_path))
    if unreadable:
        raise InputError(f"{where}: {unreadable}")
    problem = problem_from_text(text, where)
    if plan_path is None:
        out = solve_file(problem_path, catalog, backend=backend, time_limit_s=time_limit_s,
                         catalog_dirs=catalog_dirs)
        return Solved(out.plan, problem, out.instance, out.candidates, where)
    plan = load_plan_file(plan_path)
    report = verify_file(plan_path, problem_path, catalog, plan)
    if not report.ok:
        raise InputError(
            f"{display_path(Path(plan_path))}: the plan fails verification against {where}:\n  - "
            + "\n  - ".join(report.violations)
        )
    inst = build_instance(problem, catalog, where)
    return Solved(plan, problem, inst, build_candidates(inst, catalog).table, where)


def resolve(inst: Instance, cands: pd.DataFrame, catalog: Catalog, backend: str | None = None) -> Plan | str:
    """Re-solve a changed instance on a candidate table: the plan, or why there is none (one line).

    The sweep engine (`planner sweep`) can replace this body; callers only need plan-or-reason."""
    from planner.optimize.pipeline import _perf_predictor, solve_candidates

    if cands.empty:
        return "no candidate deployment"
    try:
        out = solve_candidates(inst, cands.reset_index(drop=True), catalog=catalog, backend=backend,
                               runner_up=False, predict=_perf_predictor(catalog))
    except InfeasibleError as exc:
        lines = [x.strip(" -") for x in str(exc).splitlines() if x.strip(" -")]
        return "infeasible: " + (lines[1] if len(lines) > 1 else lines[0]).rstrip(":")
    except PlannerError as exc:
        return str(exc).splitlines()[0]
    return out.plan


def _resolve_job(job) -> Plan | str:
    inst, cands, catalog, backend = job
    return resolve(inst, cands, catalog, backend)


def resolve_many(jobs: list[tuple[Instance, pd.DataFrame]], catalog: Catalog, backend: str | None = None,
                 workers: int | None = None) -> list[Plan | str]:
    """`resolve` for each (instance, candidates), in parallel worker processes where there are spare cores.

    Results come back in job order, so the proposal is the same whatever the number of workers."""
    import os

    workers = workers if workers is not None else min(len(jobs), os.cpu_count() or 1, MAX_WORKERS)
    args = [(i, c, catalog, backend) for i, c in jobs]
    if workers <= 1 or len(jobs) <= 1:
        return [_resolve_job(a) for a in args]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the catalog and candidate tables instead of unpickling them
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_resolve_job, args))


def instance_for(problem: Problem, catalog: Catalog, where: str, **economics) -> Instance:
    """The problem's instance with some economics fields overridden (validated like the file's own)."""
    if economics:
        problem = problem.model_copy(update={"economics": problem.economics.model_copy(update=economics)})
    return build_instance(problem, catalog, where)


def scale_demand(inst: Instance, factor: float) -> Instance:
    """The instance with every workload's peak demand multiplied by `factor`."""
    wls = {
        k: dataclasses.replace(w, demand_out_tok_s=w.demand_out_tok_s and w.demand_out_tok_s * factor)
        for k, w in inst.workloads.items()
    }
    return dataclasses.replace(inst, workloads=wls)


def rent_only(inst: Instance, cands: pd.DataFrame) -> tuple[Instance, pd.DataFrame]:
    """Everything rented: systems with a rental price, candidate rows copied from the owned ones.

    Dominance pruning compares GPUs, tokens/s, watts and group size within one mode, so the pruned owned rows
    are exactly the pruned rented rows."""
    from planner.candidates import make_key

    systems = {
        s: dataclasses.replace(sd, buy=False, rent=True, existing=0)
        for s, sd in inst.systems.items() if sd.rent_usd_per_gpu_hour is not None
    }
    inst2 = dataclasses.replace(inst, systems=systems, budget_capex_usd=None)
    own = cands[(cands["mode"] == "own") & cands["system"].isin(systems)]
    if own.empty:
        return inst2, own
    multi_kv = {w.id for w in inst.workloads.values() if w.kv_precisions and len(w.kv_precisions) > 1}
    rent = own.assign(mode="rent")
    rent["key"] = [make_key(r, r["workload"] in multi_kv) for r in rent.to_dict("records")]
    return inst2, rent.sort_values("key", kind="stable").reset_index(drop=True)
