"""What runs in a worker (a pool process, a Ray worker, or the main process when --workers 1).

Each process keeps the sweep and base catalog it was given once, and the candidate sets it has seen, keyed by
`adapter.technical_key`: a scenario whose key matches a shipped or cached set reuses it and only re-solves the
MIP. A set shipped for the wrong key (a parameter classified as money that did reach the candidates) is not
used: the worker computes its own, so reuse can only save time, never change a result.
"""

from __future__ import annotations

import pickle
import time
from collections import OrderedDict

from planner.errors import PlannerError
from planner.sweep import adapter
from planner.sweep.apply import scenario_inputs

_STATE: dict = {}
_CANDS: OrderedDict[str, object] = OrderedDict()
_KEEP = 8


def init(payload: bytes) -> None:
    """(sweep, base catalog) pickled once by the parent; a process re-inits only for another sweep."""
    sweep, catalog, token = pickle.loads(payload)
    if _STATE.get("token") != token:
        _STATE.update(sweep=sweep, catalog=catalog, token=token)
        _CANDS.clear()


def ensure(payload: bytes, token: str) -> None:
    if _STATE.get("token") != token:
        init(payload)


def candidates_task(group: str, values: dict) -> tuple[str, str | None, bytes | None, float]:
    """(group, technical key, pickled candidate set, seconds) for a group's first scenario; key and set None
    when its inputs are invalid (each scenario then records its own error)."""
    t0 = time.perf_counter()
    try:
        inst, cat, tech = scenario_inputs(_STATE["sweep"], values, _STATE["catalog"])
        key = adapter.technical_key(inst, tech)
        cands = _cached(key) or adapter.build_candidates(inst, cat)
        _remember(key, cands)
        return group, key, pickle.dumps(cands, protocol=pickle.HIGHEST_PROTOCOL), time.perf_counter() - t0
    except PlannerError:
        return group, None, None, time.perf_counter() - t0


def _load(handle):
    """A shared candidate set from its handle: the pickled bytes, a file path, or a Ray object reference."""
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
    sweep = _STATE["sweep"]
    out = {"idx": index, "status": "error", "objective": None, "metrics": None, "fleet": None,
           "deployments": None, "error": None, "tech_key": None, "reused": 0, "computed": 0}
    try:
        inst, cat, tech = scenario_inputs(sweep, values, _STATE["catalog"])
        mine = adapter.technical_key(inst, tech)
        out["tech_key"] = mine
        cands = _cached(mine)
        if cands is None and handle is not None and key == mine:
            cands = _load(handle)
            _remember(mine, cands)
        if cands is None:
            cands = adapter.build_candidates(inst, cat)
            _remember(mine, cands)
            out["computed"] = 1
        else:
            out["reused"] = 1
        plan = adapter.solve(inst, cands, cat, backend=sweep.spec.solver.backend,
                             time_limit_s=sweep.spec.solver.time_limit_s)
        out.update(adapter.summarize(plan))
        out["status"] = str(plan.status)  # optimal, or feasible_time_limit
        out["objective"] = plan.objective_value
    except PlannerError as exc:
        out["status"] = adapter.classify_error(exc)
        out["error"] = str(exc)
    except Exception as exc:  # a bug in one scenario must not stop the sweep: record it, with its type
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["elapsed_s"] = time.perf_counter() - t0
    return out


def _cached(key: str):
    hit = _CANDS.get(key)
    if hit is not None:
        _CANDS.move_to_end(key)
    return hit


def _remember(key: str, cands) -> None:
    _CANDS[key] = cands
    _CANDS.move_to_end(key)
    while len(_CANDS) > _KEEP:
        _CANDS.popitem(last=False)
