"""Translate a `MipModel` for one solver, solve it, and report a typed outcome.

Backends (choose with `--backend`):

| name | library | solver | notes |
| --- | --- | --- | --- |
| `scip` | OR-Tools pywraplp | SCIP | default; every example proven within 1e-4 (bench_solve.py has the times) |
| `highs` | highspy | HiGHS | finds the plans SCIP misses without a start; model passed as arrays, no PuLP |
| `cbc` | PuLP | CBC | fallback; no best bound reported, erratic run times on large instances |

Here: a solve's options routed to one library (or to a caller's hook; in a forked child where solves are
isolated) and its outcome completed (objective, bound, gap). Each library's adapter, and the typed outcome
(`SolveStatus`, `RawResult`) they report, are `planner.optimize.backends_solvers`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
import warnings

from planner.errors import InputError
from planner.optimize import isolation
from planner.optimize.backends_solvers import (
    HIGHS_UNDECIDED,
    RawResult,
    SolveStatus,
    silence_highs_banner,
    solve_cbc,
    solve_highs,
    solve_scip,
)
from planner.optimize.model import MipModel

DEFAULT_GAP = 1e-4
BACKENDS = ("scip", "highs", "cbc")
DEFAULT_BACKEND = "scip"


def available_backends() -> list[str]:
    out = []
    try:
        import highspy  # noqa: F401
        import pulp

        out.append("highs")
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    try:
        from ortools.linear_solver import pywraplp

        if pywraplp.Solver.CreateSolver("SCIP") is not None:
            out.append("scip")
    except ImportError:  # pragma: no cover
        pass
    try:
        import pulp

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            cbc = pulp.PULP_CBC_CMD(msg=False).available()
        if cbc:
            out.append("cbc")
    except ImportError:  # pragma: no cover
        pass
    return out


def relative_gap(obj: float | None, bound: float | None) -> float | None:
    if obj is None or bound is None or not math.isfinite(bound):
        return None
    diff = abs(obj - bound)
    if diff <= 1e-9:
        return 0.0
    return diff / max(abs(obj), 1e-9)


def solve(
    model: MipModel,
    backend: str = DEFAULT_BACKEND,
    *,
    time_limit_s: float = 60.0,
    gap: float = DEFAULT_GAP,
    abs_gap: float = 1e-6,
    presolve: bool = True,
    hint: list[float] | None = None,
    isolate: bool | None = None,
    start: list[float] | None = None,
    restart: bool = True,
    heuristics: bool = True,
    branch_first: tuple[int, ...] = (),
    cuts: bool = True,
    tree_cuts: bool = True,
) -> RawResult:
    """Solve `model` with `backend`; never raises for solver trouble (status ERROR carries the message).
    presolve=False turns HiGHS' presolve off (the other backends ignore it). `hint`: a feasible solution (one
    value per variable) HiGHS starts from; SCIP and CBC ignore it (measured on enterprise-budget's second stage:
    HiGHS 6.7 s -> 0.3 s with it; OR-Tools' SCIP hint, a partial solution SCIP completes by a sub-MIP, took
    0.6 s -> 1.6 s). `isolate`: False solves in this process, None as `isolated()` says. A `solve_hook` set by the
    caller gets the call instead. `start`: a solution (one value per variable) SCIP and HiGHS start from, SCIP as a
    complete hint (a re-solve of `planner propose` after a price change, from the chosen plan: 5-8 s -> 2-3.5 s
    to a proven optimum on mixed-fleet); HiGHS takes it as `hint`, CBC as its MIP start. A NaN entry is a value
    not given: SCIP completes such a partial start (`planner propose` gives no rack patterns), HiGHS and CBC drop
    it. `restart=False`: HiGHS does not restart after the root (the sweep's fast solve). `heuristics=False`, for
    a solve that starts from a good plan: HiGHS runs none of its sub-MIP heuristics (`HIGHS_NO_SUB_MIPS`), CBC
    no preprocessing, and no heuristics either where it also has `branch_first` variables (`CBC_FROM_START`,
    `CBC_FROM_START_WITH_BINARIES`), SCIP none of its primal heuristics where it has them
    (`SCIP_NO_HEURISTICS`). `branch_first`: variables SCIP branches on before any other (a branching priority;
    HiGHS and CBC have none here). `cuts=False`, for many small models (the class solves of `hourly_split`):
    SCIP separates two rounds at the root and none in the tree (`SCIP_FEW_CUTS`), CBC none ("cuts off"),
    HiGHS runs no presolve (diurnal-own-rent's 81 class solves of ~116 variables: 3.4 -> 1.8 CPU s; its presolve
    and the restarts it triggers cost more than these models take to solve). `tree_cuts=False`: SCIP separates
    cuts at the root only (`SCIP_ROOT_CUTS_ONLY`, the cold min-cost solves); HiGHS and CBC ignore it."""
    if start is not None and any(math.isnan(x) for x in start) and backend != "scip":
        start = None
    if start is not None and hint is None and backend == "highs":
        hint = start
    hook = _HOOK.get()
    if hook is not None:
        token = _HOOK.set(None)  # the hook's own calls to solve() run unhooked
        try:
            return hook(model, backend, time_limit_s=time_limit_s, gap=gap, abs_gap=abs_gap, presolve=presolve,
                        hint=hint, start=start, restart=restart, heuristics=heuristics, branch_first=branch_first,
                        cuts=cuts, tree_cuts=tree_cuts)
        finally:
            _HOOK.reset(token)
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r} (choose one of: {', '.join(BACKENDS)})")
    fn, options = {  # each library's function and the options it takes, in its order
        "highs": (solve_highs, (presolve and cuts, hint, restart, heuristics)),
        "scip": (solve_scip, (start, branch_first, cuts, heuristics, tree_cuts)),
        "cbc": (solve_cbc, (start, heuristics, cuts, bool(branch_first))),
    }[backend]
    t0 = time.perf_counter()
    args = (backend, fn, model, time_limit_s, gap, abs_gap, *options)
    if isolation.isolated() and isolate is not False:
        preload_solver(backend)
        res = isolation.run_isolated(failed_result, _guarded, *args)
    else:
        res = _guarded(*args)
    res.solve_time_s = time.perf_counter() - t0
    res.backend = backend
    if res.status.has_solution:
        res.objective = model.objective_value(res.values)
        if res.best_bound is not None:
            res.best_bound += model.objective_constant
        if res.status is SolveStatus.OPTIMAL and res.best_bound is None:
            res.best_bound = res.objective
        res.gap = relative_gap(res.objective, res.best_bound)
    return res


_HOOK: contextvars.ContextVar = contextvars.ContextVar("planner_solve_hook", default=None)


def hook_active() -> bool:
    """Whether this context's `solve` calls go to a caller's hook (`solve_hook`)."""
    return _HOOK.get() is not None


@contextlib.contextmanager
def solve_hook(hook):
    """Route this context's `solve` calls through `hook(model, backend, **params) -> RawResult` (`planner sweep`
    solves small MIPs of a sweep in-process on HiGHS from a fixed start: planner/sweep/fastsolve.py)."""
    token = _HOOK.set(hook)
    try:
        yield
    finally:
        _HOOK.reset(token)


def failed_result(message: str) -> RawResult:
    return RawResult(SolveStatus.ERROR, message=message)


def _guarded(backend: str, fn, *args) -> RawResult:
    try:
        return fn(*args)
    except Exception as exc:  # a solver library failing is not the user's fault: report it typed
        cause = exc.__context__ or exc.__cause__  # MathOpt-style wrappers hide the real message here
        detail = f"{exc}" + (f" (cause: {cause})" if cause else "")
        return RawResult(SolveStatus.ERROR, message=f"{backend} failed: {detail}")


# ------------------------------------------------------------------------------------- isolated solves
_SCIP_WARM = False


def preload_solver(backend: str) -> None:
    """Import the solver library here, once: a forked child inherits it instead of importing it per solve."""
    global _SCIP_WARM
    if backend == "scip":
        if not _SCIP_WARM:  # the first SCIP solver of a process registers its plugins (~20 ms): do it here
            from ortools.linear_solver import pywraplp

            pywraplp.Solver.CreateSolver("SCIP")
            _SCIP_WARM = True
    else:
        import pulp  # noqa: F401

        if backend == "highs":
            silence_highs_banner()


# the outcome types and HiGHS' undecided message are the adapters' (backends_solvers), read here by the package
__all__ = ["BACKENDS", "DEFAULT_BACKEND", "DEFAULT_GAP", "HIGHS_UNDECIDED", "RawResult", "SolveStatus",
           "available_backends", "failed_result", "hook_active", "preload_solver", "relative_gap", "solve",
           "solve_hook"]
