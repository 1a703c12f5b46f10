"""What runs in a worker (a pool process, a Ray worker, or the main process when --workers 1).

Each process keeps the sweep and base catalog it was given once, and one `CandidateCache`. The runner has each
technical group's performance evaluation computed once (`candidates_task`) and shares it; a worker puts a shared
evaluation into its cache under the optimizer's own key, then solves with `solve_problem`, which looks the key
up itself. A scenario whose key differs (a parameter taken for money that did reach the performance model) just
misses and is evaluated afresh: sharing can only save time, never change a result.
"""

from __future__ import annotations

import pickle
import time

from planner.errors import PlannerError
from planner.sweep import adapter
from planner.sweep.apply import scenario_inputs, scenario_plan

_STATE: dict = {}


def init(payload: bytes) -> None:
    """(sweep, base catalog, token) pickled once by the parent; a process re-inits only for another sweep."""
    sweep, catalog, token = pickle.loads(payload)
    if _STATE.get("token") != token:
        _STATE.update(sweep=sweep, catalog=catalog, token=token, cache=adapter.new_cache(), loaded=set())


def ensure(payload: bytes, token: str) -> None:
    if _STATE.get("token") != token:
        init(payload)


def candidates_task(group: str, values: dict) -> tuple[str, str | None, bytes | None, float]:
    """(group, evaluation key, pickled evaluation, seconds) for a group's first scenario; key and evaluation None
    when its inputs are invalid (each scenario then records its own error)."""
    t0 = time.perf_counter()
    try:
        _, inst, cat = scenario_inputs(_STATE["sweep"], values, _STATE["catalog"])
        key = adapter.evaluation_key(inst, cat)
        ev = adapter.evaluate(inst, cat)
        _STATE["cache"].put(key, ev)
        _STATE["loaded"].add(key)
        return group, key, pickle.dumps(ev, protocol=pickle.HIGHEST_PROTOCOL), time.perf_counter() - t0
    except PlannerError:
        return group, None, None, time.perf_counter() - t0


def _load(handle):
    """A shared evaluation from its handle: the pickled bytes, a file path, or a Ray object reference."""
    if isinstance(handle, str):
        with open(handle, "rb") as fh:
            return pickle.load(fh)
    if not isinstance(handle, bytes):  # a Ray ObjectRef (nested in the arguments, so not resolved by Ray)
        import ray

        handle = ray.get(handle)
    return pickle.loads(handle)


def scenario_task(index: int, values: dict, key: str | None, handle) -> dict:
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
        plan = scenario_plan(sweep, values, _STATE["catalog"], cache)
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
