"""The proposal's only door into the optimizer: one solve (or a re-verified plan) and small re-solves.

`solve_for_proposal` is the single adapter onto `planner.optimize` (`solve_problem` with a `CandidateCache`).
Re-solves reuse the performance evaluation: the tornado's through the sweep engine and the same cache (money,
power and demand change the MIP's coefficients, never which configurations meet the targets); the alternatives
on subsets of the candidate table.

A re-solve after a price change starts from the chosen plan (`plan_start`; `FromSolution` hands it to SCIP as a
hint it completes), which stays feasible, and closes the gap to EXACT_GAP: its answer is the proven optimum, the
same whatever the start or the solver's path, and the same for a solved plan and a --plan. Measured on
mixed-fleet (CPU s per re-solve, SCIP): 5-8 s to the 0.1% re-solve gap from scratch, 2-3.5 s to the proven
optimum from the chosen plan, 6-21 s to it from scratch.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from planner.catalog.catalog import Catalog
from planner.errors import InfeasibleError, InputError, PlannerError
from planner.optimize.instance import Instance
from planner.optimize.problem import Problem
from planner.optimize.resolve_problem import build_instance
from planner.plan import Plan
from planner.sweep.fastsolve import FAST_GAP

MAX_WORKERS = 4
# A re-solve from the chosen plan stops at the sweep fast solve's gap: the proven optimum, where the 0.1%
# re-solve gap would let the answer depend on the start.
EXACT_GAP = FAST_GAP


@dataclass
class Solved:
    """A plan with what re-solves need: the problem, its resolved instance and the candidate table; `pending`
    holds re-solves already running (started before the main solve, which they do not depend on)."""

    plan: Plan | None
    problem: Problem
    instance: Instance
    candidates: pd.DataFrame
    where: str
    text: str = ""  # the problem file's text
    cache: object = None  # the CandidateCache holding the performance evaluation (re-solves share it)
    jobs: list = field(default_factory=list)
    pending: Batch | None = None


def solve_for_proposal(
    problem_path: str | Path,
    catalog: Catalog,
    *,
    plan_path: str | Path | None = None,
    catalog_dirs: tuple[str, ...] = (),
    backend: str | None = None,
    time_limit_s: float | None = None,
    on_candidates: Callable[[Solved], None] | None = None,
) -> Solved:
    """Solve PROBLEM (with its runner-up), or take PLAN after re-verifying it against PROBLEM.

    `on_candidates(solved)` runs once the candidate table exists and before the main solve (plan still None):
    the proposal starts its re-solves there, so they overlap the main MIP."""
    from planner.inputs import display_path, read_file_text
    from planner.optimize import CandidateCache, problem_from_text, solve_problem
    from planner.optimize.candidates import build_candidates
    from planner.optimize.pipeline import load_plan_file, verify_file

    where = display_path(Path(problem_path))
    text = read_file_text(Path(problem_path))
    problem = problem_from_text(text, where)
    plan = None
    if plan_path is not None:
        plan = load_plan_file(plan_path)
        report = verify_file(plan_path, problem_path, catalog, plan)
        if not report.ok:
            raise InputError(
                f"{display_path(Path(plan_path))}: the plan fails verification against {where}:\n  - "
                + "\n  - ".join(report.violations)
            )
    inst = build_instance(problem, catalog, where)
    cache = CandidateCache()  # the solve below finds the performance evaluation done here
    solved = Solved(plan, problem, inst, build_candidates(inst, catalog, cache=cache).table, where, text, cache)
    if on_candidates is not None:
        on_candidates(solved)
    if plan is None:
        try:
            solved.plan = solve_problem(problem, catalog, backend=backend, time_limit_s=time_limit_s,
                                        runner_up=True, candidate_cache=cache, problem_text=text)
        except BaseException:
            if solved.pending is not None:  # an infeasible problem needs no alternatives
                solved.pending.cancel()
            raise
        solved.plan.catalog_dirs = list(catalog_dirs)  # as `planner solve` records them
    return solved


# Variable families of the min-cost MIP (planner.optimize.formulation, constraints) a plan fixes completely: a
# name of these families absent from `plan_start` is 0. Any other variable (rack patterns, ...) is left for the
# solver to complete; a renamed family only makes the start useless (slower), never the answer different.
PLAN_FAMILIES = ("x[", "uses[", "buy[", "existing[", "rent[", "platform[")


def plan_start(plan: Plan) -> dict[str, float]:
    """The chosen plan as a (partial) MIP start, variable name -> value: replicas per candidate, systems bought,
    kept and rented, the platforms used. Rack patterns are not recorded in a plan (a rack's fill is not its
    pattern): the solver completes them."""
    out: dict[str, float] = {}
    for d in plan.deployments:
        if d.replicas:
            out[f"x[{d.key}]"] = out.get(f"x[{d.key}]", 0.0) + d.replicas
            out[f"uses[{d.key}]"] = 1.0
            out[f"platform[{d.workload},{d.system}]"] = 1.0
    fl = plan.fleet
    for family, table in (("buy", fl.servers_new), ("existing", fl.servers_existing), ("rent", fl.servers_rented)):
        for sid, n in table.items():
            out[f"{family}[{sid}]"] = float(n)
    for sid, n in fl.servers.items():
        if n:
            out[f"platform[{sid}]"] = 1.0
    return out


@dataclass(frozen=True)
class Start:
    """The chosen plan as a start for its own MIP re-solved with other prices: values by variable name
    (`plan_start`) and the names of that MIP's variables. A solve of any other model on the way (a relaxation
    that a solve strategy solves first for a start of its own, or a model with the plan's deployments cut off)
    goes its own way."""

    values: dict[str, float]
    names: frozenset[str]


def chosen_start(s: Solved) -> Start:
    """`Start` from the chosen plan and its min-cost MIP (a price change changes coefficients, not variables)."""
    from planner.optimize.formulation import build_model

    model, _ = build_model(s.instance, s.candidates, objective="min_cost")
    return Start(plan_start(s.plan), frozenset(model.by_name))


class FromSolution:
    """A `backends.solve_hook`: the plan's MIP is solved to the proven optimum (EXACT_GAP) from `start` (values
    clipped to the bounds; see `plan_start` for absent names), so the answer does not depend on the start or on
    the solver's path. A start that is not feasible only costs time: the solver drops it. Without a start, every
    solve goes to EXACT_GAP from nothing. CBC (no best bound) keeps the caller's gap."""

    def __init__(self, start: Start | None) -> None:
        self.start = start

    def __call__(self, model, backend, *, gap, start=None, **params):
        from planner.optimize import backends

        params["start"] = start  # the caller's own start (a solve strategy's warm start), for other models
        st = self.start
        if backend == "cbc":  # it reports no bound, so no proven optimum, and drops a partial start
            return backends.solve(model, backend, gap=gap, **params)
        if st is None:
            return backends.solve(model, backend, gap=min(gap, EXACT_GAP), **params)
        if model.by_name.keys() != st.names or any(
                model.vars[model.by_name[k]].ub < x for k, x in st.values.items() if k in model.by_name):
            return backends.solve(model, backend, gap=gap, **params)  # not the plan's MIP
        params["start"] = start_values(model, st.values)
        return backends.solve(model, backend, gap=min(gap, EXACT_GAP), **params)


def start_values(model, solution: dict[str, float]) -> list[float]:
    """One start value per variable of `model`: `solution`'s (clipped to the bounds), 0 for the rest of the
    families a plan fixes, NaN (the solver completes it) for any other."""
    nan = float("nan")
    return [min(max(solution[v.name], v.lb), v.ub) if v.name in solution
            else 0.0 if v.name.startswith(PLAN_FAMILIES) else nan for v in model.vars]


def resolve(inst: Instance, cands: pd.DataFrame, catalog: Catalog, backend: str | None = None) -> Plan | str:
    """Re-solve a changed instance on a candidate table: the plan, or why there is none (one line). For what a
    problem file cannot say (one accelerator family's candidates; every system's mode switched); a change the
    problem can say goes through the sweep engine instead (`sweep_resolve`)."""
    from planner.optimize.pipeline import _perf_predictor, solve_candidates

    if cands.empty:
        return "no candidate deployment"
    try:
        out = solve_candidates(inst, cands.reset_index(drop=True), catalog=catalog, backend=backend,
                               runner_up=False, predict=_perf_predictor(catalog))
    except PlannerError as exc:
        return reason(exc)
    return out.plan


def sweep_resolve(run, values: dict, cache, exact: bool = False, start: Start | None = None) -> Plan | str:
    """One end of a tornado driver through the sweep engine (`planner.sweep.DriverRun`), sharing `cache`: money
    and demand changes skip the performance evaluation. `exact`: to the proven optimum, from `start` where given
    (`FromSolution`). The plan, or why there is none (one line)."""
    import contextlib

    from planner.optimize.backends import solve_hook

    try:
        with solve_hook(FromSolution(start)) if exact else contextlib.nullcontext():
            return run.solve(values, cache)
    except PlannerError as exc:
        return reason(exc)


def reason(exc: PlannerError) -> str:
    """Why a re-solve has no plan, in one line."""
    if isinstance(exc, InfeasibleError):
        lines = [x.strip(" -") for x in str(exc).splitlines() if x.strip(" -")]
        return "infeasible: " + (lines[1] if len(lines) > 1 else lines[0]).rstrip(":")
    return str(exc).splitlines()[0]


Job = Callable[[], "Plan | str"]
_BATCHES: dict[int, list[Job]] = {}  # read by forked workers: jobs (and the caches they close over) are
_NEXT = itertools.count()  # inherited, not pickled per task


def _run_job(batch: int, i: int) -> Plan | str:
    return _BATCHES[batch][i]()


class Batch:
    """Re-solves (each a call returning plan-or-reason) running in worker processes where there are spare cores
    while the caller goes on; results come back in job order, so the proposal is the same whatever the number
    of workers. `nice`: the workers' niceness increment (re-solves beside the main solve yield to it)."""

    def __init__(self, jobs: list[Job], workers: int | None = None, nice: int = 0) -> None:
        import os

        self._jobs = jobs
        n = workers if workers is not None else min(len(jobs), os.cpu_count() or 1, MAX_WORKERS)
        self._pool = self._futures = None
        if n > 1 and len(jobs) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._id = next(_NEXT)
            _BATCHES[self._id] = jobs
            # fork: the workers start at the first submit and inherit the jobs (catalog, candidates, cache)
            self._pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork"),
                                             initializer=os.nice if nice else None, initargs=(nice,) * bool(nice))
            self._futures = [self._pool.submit(_run_job, self._id, i) for i in range(len(jobs))]

    def cancel(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            _BATCHES.pop(self._id, None)

    def results(self, skip: set[int] | frozenset = frozenset()) -> list[Plan | str | None]:
        """Each job's result in order; None for the jobs in `skip` (not run, or cancelled if not started)."""
        if self._pool is None:
            return [None if i in skip else job() for i, job in enumerate(self._jobs)]
        try:
            for i in skip:
                self._futures[i].cancel()
            return [None if i in skip else f.result() for i, f in enumerate(self._futures)]
        finally:
            self._pool.shutdown()
            _BATCHES.pop(self._id, None)


def one_mode(inst: Instance, cands: pd.DataFrame, mode: str) -> tuple[Instance, pd.DataFrame]:
    """Everything rented (mode "rent": systems with a rental price) or everything bought ("own"), with candidate
    rows copied from the other mode where the problem allowed only that one.

    Dominance pruning compares GPUs, tokens/s, watts and group size within one mode, so the pruned rows of one
    mode are exactly the pruned rows of the other."""
    from planner.optimize.keys import make_key

    if mode == "rent":
        systems = {s: dataclasses.replace(sd, buy=False, rent=True, existing=0)
                   for s, sd in inst.systems.items() if sd.rent_usd_per_gpu_hour is not None}
        inst2 = dataclasses.replace(inst, systems=systems, budget_capex_usd=None)
    else:
        systems = {s: dataclasses.replace(sd, buy=True, rent=False) for s, sd in inst.systems.items()}
        inst2 = dataclasses.replace(inst, systems=systems)
    rows = cands[cands["system"].isin(systems)]
    same = rows[rows["mode"] == mode]
    if not same.empty:
        return inst2, same.reset_index(drop=True)
    multi_kv = {w.id for w in inst.workloads.values() if w.kv_precisions and len(w.kv_precisions) > 1}
    out = rows.assign(mode=mode)
    if out.empty:
        return inst2, out
    out["key"] = [make_key(r, r["workload"] in multi_kv) for r in out.to_dict("records")]
    return inst2, out.sort_values("key", kind="stable").reset_index(drop=True)
