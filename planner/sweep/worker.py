"""What runs in a worker (a pool process, a Ray worker, or the main process when --workers 1).

Each process keeps the sweep and base catalog it was given once, and one `CandidateCache`. The runner has each
technical group's performance evaluation computed once (`candidates_task`, with the solution of the group's base
scenario that starts the fast solve of every scenario of the group: `fastsolve`) and shares it; a worker puts a
shared evaluation into its cache under the optimizer's own key, then solves with `solve_problem`, which looks
the key up itself. A scenario whose key differs (a parameter taken for money that did reach the performance
model) just misses and is evaluated afresh: sharing can only save time, never change a result.
"""

from __future__ import annotations

import pickle
import time

from planner.errors import PlannerError
from planner.sweep import adapter
from planner.sweep.apply import base_values, scenario_inputs, scenario_plan
from planner.sweep.fastsolve import FastSolve, NotEligible

_STATE: dict = {}


def init(payload: bytes) -> None:
    """(sweep, base catalog, token) pickled once by the parent; a process re-inits only for another sweep."""
    sweep, catalog, token = pickle.loads(payload)
    if _STATE.get("token") != token:
        _STATE.update(sweep=sweep, catalog=catalog, token=token, cache=adapter.new_cache(), loaded=set())


def ensure(payload: bytes, token: str) -> None:
    if _STATE.get("token") != token:
        init(payload)


def candidates_task(group: str, values: dict, want_start: bool = False):
    """(group, evaluation key, pickled evaluation, seconds, start) for a group's first scenario; key and
    evaluation None when its inputs are invalid (each scenario then records its own error). `start`: with
    `want_start`, the fast solve's solution of the group's base scenario ({variable name: value}), which starts
    every scenario of the group; None where there is none or the fast solve does not apply."""
    t0 = time.perf_counter()
    try:
        _, inst, cat = scenario_inputs(_STATE["sweep"], values, _STATE["catalog"])
        key = adapter.evaluation_key(inst, cat)
        ev = adapter.evaluate(inst, cat)
        _STATE["cache"].put(key, ev)
        _STATE["loaded"].add(key)
        start = _base_solution(values) if want_start else None
        return group, key, pickle.dumps(ev, protocol=pickle.HIGHEST_PROTOCOL), time.perf_counter() - t0, start
    except PlannerError:
        return group, None, None, time.perf_counter() - t0, None


def _hook(start: dict | None = None, probe: bool = False):
    """The fast solve, unless the sweep turns it off or names a backend (then every MIP is solved as `planner
    solve` would). With `fast_solve: small` only for a scenario whose group's base scenario it solved (its
    `start`): a scenario must not mix fast and plain solves (a fast warm start for a plain full solve would give
    another plan within the gap than `planner solve`)."""
    solver = _STATE["sweep"].spec.solver
    if solver.backend is not None or solver.fast_solve == "none":
        return None
    if solver.fast_solve == "small" and start is None and not probe:
        return None
    return FastSolve(start, probe=probe, every_size=solver.fast_solve == "all")


def _base_solution(values: dict) -> dict | None:
    """The group's base scenario solved on the fast path, None where it does not take the scenario's MIP. A
    main MIP too large for it is told from its size before anything is solved: the probe would otherwise meet
    it only after solving the smaller models before it (mixed-fleet: the 824-variable warm start, 2.2 CPU s on
    HiGHS, with the 1,641-variable model next), while the other workers wait for this group's candidates."""
    sweep = _STATE["sweep"]
    hook = _hook(probe=True)
    if hook is None:
        return None
    base = base_values(sweep, values)
    try:
        if not hook.every_size:
            _, inst, cat = scenario_inputs(sweep, base, _STATE["catalog"])
            size = adapter.mip_variables(inst, cat, _STATE["cache"])
            if size is not None and not hook.takes(size):
                return None
        scenario_plan(sweep, base, _STATE["catalog"], _STATE["cache"], hook)
    except (PlannerError, NotEligible):  # no plan or no fast solve: the group's scenarios start from nothing
        return None
    return hook.solution


def _load(handle):
    """A shared evaluation from its handle: the pickled bytes, a file path, or a Ray object reference."""
    if isinstance(handle, str):
        with open(handle, "rb") as fh:
            return pickle.load(fh)
    if not isinstance(handle, bytes):  # a Ray ObjectRef (nested in the arguments, so not resolved by Ray)
        import ray

        handle = ray.get(handle)
    return pickle.loads(handle)


def scenario_task(index: int, values: dict, key: str | None, handle, start: dict | None = None) -> dict:
    """Solve one scenario; every outcome (plan, infeasible, bad input, crash) becomes a ledger row."""
    t0 = time.perf_counter()
    sweep, cache = _STATE["sweep"], _STATE["cache"]
    out = {"idx": index, "status": "error", "objective": None, "metrics": None, "fleet": None,
           "deployments": None, "error": None, "tech_key": key, "reused": 0, "computed": 0}
    hits, misses = cache.hits, cache.misses
    try:
        if key is not None and handle is not None and key not in _STATE["loaded"]:
            cache.put(key, _load(handle))
            _STATE["loaded"].add(key)
        plan = scenario_plan(sweep, values, _STATE["catalog"], cache, _hook(start))
        out.update(adapter.summarize(plan))
        out["status"] = str(plan.status)  # optimal, or feasible_time_limit
        out["objective"] = plan.objective_value
    except PlannerError as exc:
        out["status"] = adapter.classify_error(exc)
        out["error"] = str(exc)
    except Exception as exc:  # a bug in one scenario must not stop the sweep: record it, with its type
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["reused"] = int(cache.hits > hits)
    out["computed"] = int(cache.misses > misses)
    out["elapsed_s"] = time.perf_counter() - t0
    return out
