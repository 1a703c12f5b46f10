"""Translate a `MipModel` for one solver, solve it, and report a typed outcome.

Backends (choose with `--backend`):

| name | library | solver | notes |
| --- | --- | --- | --- |
| `scip` | OR-Tools pywraplp | SCIP | default; every example proven within 1e-4 (bench_solve.py has the times) |
| `highs` | highspy | HiGHS | finds the plans SCIP misses without a start; model passed as arrays, no PuLP |
| `cbc` | PuLP | CBC | fallback; no best bound reported, erratic run times on large instances |

Pitfalls handled here (measured, see STYLE.md): a time-limited HiGHS run is told from an optimum by the Highs
object's model status and primal solution status (PuLP used to report it as "Optimal"); gap defaults differ
between solvers (HiGHS 1e-4, SCIP 0), so the gap is always set; all backends run single-threaded, which makes
each run deterministic.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import math
import os
import time
import warnings
from dataclasses import dataclass, field

from planner.errors import InputError
from planner.optimize import isolation
from planner.optimize.model import MipModel
from planner.optimize.solver_options import (
    CBC_FROM_START,
    CBC_FROM_START_WITH_BINARIES,
    HIGHS_NO_SUB_MIPS,
    SCIP_FEW_CUTS,
    SCIP_NO_HEURISTICS,
    SCIP_ROOT_CUTS_ONLY,
    SCIP_WITH_START,
)


class SolveStatus(enum.StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE_TIME_LIMIT = "feasible_time_limit"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        return self in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE_TIME_LIMIT)


@dataclass
class RawResult:
    status: SolveStatus
    values: list[float] = field(default_factory=list)
    objective: float | None = None
    best_bound: float | None = None
    gap: float | None = None
    solve_time_s: float = 0.0
    backend: str = ""
    message: str = ""


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
        "highs": (_solve_highs, (presolve and cuts, hint, restart, heuristics)),
        "scip": (_solve_scip, (start, branch_first, cuts, heuristics, tree_cuts)),
        "cbc": (_solve_cbc, (start, heuristics, cuts, bool(branch_first))),
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
            _silence_highs_banner()


# ------------------------------------------------------------------------------------------------ PuLP
def _pulp_problem(model: MipModel):
    with warnings.catch_warnings():  # PuLP 3 deprecates the 2.x API that we keep for pulp>=2.8
        warnings.simplefilter("ignore", DeprecationWarning)
        return _pulp_problem_inner(model)


def _pulp_problem_inner(model: MipModel):
    import pulp

    prob = pulp.LpProblem("planner", pulp.LpMaximize if model.maximize else pulp.LpMinimize)
    xs = []
    for v in model.vars:
        xs.append(
            pulp.LpVariable(
                f"x{v.index}",
                lowBound=None if v.lb == -math.inf else v.lb,
                upBound=None if v.ub == math.inf else v.ub,
                cat=pulp.LpInteger if v.integer else pulp.LpContinuous,
            )
        )
    prob += pulp.LpAffineExpression([(xs[i], c) for i, c in model.objective.items()])
    for k, con in enumerate(model.constraints):
        expr = pulp.LpAffineExpression([(xs[i], c) for i, c in con.coefs.items()])
        if con.lo == con.hi:
            prob += pulp.LpConstraint(expr, pulp.LpConstraintEQ, f"c{k}", con.lo)
            continue
        if con.lo > -math.inf:
            prob += pulp.LpConstraint(expr, pulp.LpConstraintGE, f"c{k}lo", con.lo)
        if con.hi < math.inf:
            prob += pulp.LpConstraint(expr, pulp.LpConstraintLE, f"c{k}hi", con.hi)
    return prob, xs


def _solve_highs(
    model: MipModel, time_limit_s: float, gap: float, abs_gap: float, presolve: bool = True,
    hint: list[float] | None = None, restart: bool = True, heuristics: bool = True,
) -> RawResult:
    """`model` on highspy directly (PuLP's translation cost ~20% of a quickstart solve). `restart=False`: no
    restart after the root (a search option only, the optimum is proven either way; a sweep's quickstart
    scenario 0.10 -> 0.056 CPU s). `heuristics=False`: HIGHS_NO_SUB_MIPS."""
    import highspy

    _silence_highs_banner()
    h = highspy.Highs()
    for key, val in (("output_flag", False), ("threads", 1), ("time_limit", max(time_limit_s, 0.01)),
                     ("mip_rel_gap", gap), ("mip_abs_gap", abs_gap), ("presolve", "on" if presolve else "off"),
                     ("mip_allow_restart", restart), *(() if heuristics else HIGHS_NO_SUB_MIPS)):
        h.setOptionValue(key, val)
    h.passModel(_highs_lp(model))
    if hint is not None:
        sol = highspy.HighsSolution()
        sol.col_value = [float(x) for x in hint]
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    ms = h.getModelStatus()
    info = h.getInfo()
    has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
    S = highspy.HighsModelStatus
    if ms == S.kOptimal:
        status = SolveStatus.OPTIMAL
    elif ms in (S.kTimeLimit, S.kInterrupt, S.kIterationLimit, S.kSolutionLimit):
        if not has_sol:
            return RawResult(SolveStatus.ERROR, message="time limit reached before any feasible plan was found")
        status = SolveStatus.FEASIBLE_TIME_LIMIT
    elif ms == S.kInfeasible:
        return RawResult(SolveStatus.INFEASIBLE)
    elif ms == S.kUnbounded:
        return RawResult(SolveStatus.UNBOUNDED)
    elif ms == S.kUnboundedOrInfeasible:
        # HiGHS' presolve cannot tell which; the elastic model (always feasible) decides later
        return RawResult(SolveStatus.INFEASIBLE, message=HIGHS_UNDECIDED)
    else:
        return RawResult(SolveStatus.ERROR, message=f"HiGHS status {h.modelStatusToString(ms)}")
    if not has_sol:
        return RawResult(SolveStatus.ERROR, message="HiGHS reported an optimum without a solution")
    values = [float(x) for x in h.getSolution().col_value]
    bound = None
    if any(v.integer for v in model.vars):
        bound = float(info.mip_dual_bound)  # in the model's own sense, without its constant
    elif status is SolveStatus.OPTIMAL:
        bound = model.objective_value(values) - model.objective_constant
    return RawResult(status, values, best_bound=bound)


HIGHS_UNDECIDED = "infeasible or unbounded (HiGHS presolve)"


def _highs_lp(model: MipModel):
    """The model as a highspy LP: columns in variable order, rows as given (one row for a two-sided range)."""
    import highspy
    import numpy as np

    inf = highspy.kHighsInf
    n = len(model.vars)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(model.constraints)
    cost = np.zeros(n)
    for i, c in model.objective.items():
        cost[i] = c
    lp.col_cost_ = cost
    lp.col_lower_ = np.array([max(v.lb, -inf) for v in model.vars], dtype=float)
    lp.col_upper_ = np.array([min(v.ub, inf) for v in model.vars], dtype=float)
    lp.row_lower_ = np.array([max(c.lo, -inf) for c in model.constraints], dtype=float)
    lp.row_upper_ = np.array([min(c.hi, inf) for c in model.constraints], dtype=float)
    starts, index, value = [0], [], []
    for c in model.constraints:
        index.extend(c.coefs)
        value.extend(c.coefs.values())
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value, dtype=float)
    integer, continuous = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
    lp.integrality_ = [integer if v.integer else continuous for v in model.vars]
    if model.maximize:
        lp.sense_ = highspy.ObjSense.kMaximize
    return lp


_BANNER_SILENCED = False


def _silence_highs_banner() -> None:
    """highspy prints a copyright banner to fd 1 when the first Highs object is made; it would corrupt --json."""
    global _BANNER_SILENCED
    if _BANNER_SILENCED:
        return
    import sys

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _BANNER_SILENCED = True


def _solve_cbc(model: MipModel, time_limit_s: float, gap: float, abs_gap: float,
               start: list[float] | None = None, heuristics: bool = True, cuts: bool = True,
               binaries_first: bool = False) -> RawResult:
    import pulp

    prob, xs = _pulp_problem(model)
    from_start = CBC_FROM_START_WITH_BINARIES if binaries_first else CBC_FROM_START
    options = ([] if heuristics else from_start) + ([] if cuts else ["cuts off"])
    if start is not None:  # CBC reads the start from an .mst file PuLP writes
        for x, value in zip(xs, start, strict=True):
            x.setInitialValue(value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # no `threads` option: CBC runs single-threaded by default, and the bundled binary given `-threads 1`
        # starts its thread pool and now and then waits 10 s in it (measured: 2-3 of 30 runs of a 30-variable
        # model took 10.06 s instead of 0.02 s; that was ai-factory-10mw's 10 s on CBC)
        prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, gapRel=gap, gapAbs=abs_gap,
                                     warmStart=start is not None, options=options))
    sol = prob.sol_status  # not prob.status: a time-limited run says "Optimal" there
    if sol == pulp.LpSolutionOptimal:
        status = SolveStatus.OPTIMAL
    elif sol == pulp.LpSolutionIntegerFeasible:
        status = SolveStatus.FEASIBLE_TIME_LIMIT
    elif sol == pulp.LpSolutionInfeasible or (sol == pulp.LpSolutionNoSolutionFound
                                               and prob.status == pulp.LpStatusInfeasible):
        return RawResult(SolveStatus.INFEASIBLE)  # CBC's proof of integer infeasibility says "no solution" there
    elif sol == pulp.LpSolutionUnbounded:
        return RawResult(SolveStatus.UNBOUNDED)
    else:
        msg = "time limit reached before any feasible plan was found" if prob.status == 0 else "CBC found no plan"
        return RawResult(SolveStatus.ERROR, message=msg)
    values = [float(x.varValue or 0.0) for x in xs]
    return RawResult(status, values, best_bound=None)


# ------------------------------------------------------------------------------------------- OR-Tools


def _solve_scip(model: MipModel, time_limit_s: float, gap: float, abs_gap: float,
                start: list[float] | None = None, branch_first: tuple[int, ...] = (),
                cuts: bool = True, heuristics: bool = True, tree_cuts: bool = True) -> RawResult:
    from ortools.linear_solver import pywraplp

    s = pywraplp.Solver.CreateSolver("SCIP")
    if s is None:
        return RawResult(SolveStatus.ERROR, message="OR-Tools was built without SCIP")
    inf = s.infinity()
    s.SetNumThreads(1)
    xs = []
    for v in model.vars:
        lb = -inf if v.lb == -math.inf else v.lb
        ub = inf if v.ub == math.inf else v.ub
        xs.append(s.IntVar(lb, ub, f"x{v.index}") if v.integer else s.NumVar(lb, ub, f"x{v.index}"))
    for i in branch_first:
        xs[i].SetBranchingPriority(1)
    for k, con in enumerate(model.constraints):
        row = s.RowConstraint(
            -inf if con.lo == -math.inf else con.lo, inf if con.hi == math.inf else con.hi, f"c{k}"
        )
        for i, c in con.coefs.items():
            row.SetCoefficient(xs[i], c)
    obj = s.Objective()
    for i, c in model.objective.items():
        obj.SetCoefficient(xs[i], c)
    obj.SetMaximization() if model.maximize else obj.SetMinimization()
    s.SetTimeLimit(int(max(time_limit_s, 0.001) * 1000))
    # absolute gap: SCIP's own parameter (pywraplp exposes only the relative one)
    quiet = SCIP_NO_HEURISTICS if start and branch_first and not heuristics else ""
    cut_rounds = ((SCIP_WITH_START if start else "") + ("" if cuts else SCIP_FEW_CUTS)
                  + ("" if tree_cuts or not cuts else SCIP_ROOT_CUTS_ONLY))
    s.SetSolverSpecificParametersAsString(f"limits/absgap = {abs_gap}\n" + cut_rounds + quiet)
    if start is not None:
        given = [(x, float(v)) for x, v in zip(xs, start, strict=True) if not math.isnan(v)]
        s.SetHint([x for x, _ in given], [v for _, v in given])
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(pywraplp.MPSolverParameters.RELATIVE_MIP_GAP, gap)
    code = s.Solve(params)
    if code == pywraplp.Solver.OPTIMAL:
        status = SolveStatus.OPTIMAL
    elif code == pywraplp.Solver.FEASIBLE:
        status = SolveStatus.FEASIBLE_TIME_LIMIT
    elif code == pywraplp.Solver.INFEASIBLE:
        return RawResult(SolveStatus.INFEASIBLE)
    elif code == pywraplp.Solver.UNBOUNDED:
        return RawResult(SolveStatus.UNBOUNDED)
    elif code == pywraplp.Solver.NOT_SOLVED:
        return RawResult(SolveStatus.ERROR, message="time limit reached before any feasible plan was found")
    else:
        return RawResult(SolveStatus.ERROR, message=f"SCIP returned status {code}")
    values = [x.solution_value() for x in xs]
    bound = obj.BestBound() if any(v.integer for v in model.vars) else obj.Value()
    return RawResult(status, values, best_bound=bound)
