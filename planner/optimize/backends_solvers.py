"""Each solver library's adapter: a `MipModel` translated for the library, solved with the options
`planner.optimize.backends.solve` routes to it, and the library's outcome mapped to the typed outcome defined
here (`SolveStatus`, `RawResult`; the rest of the package reads them through `backends`).

Pitfalls handled here (measured, see STYLE.md): a time-limited HiGHS run is told from an optimum by the Highs
object's model status and primal solution status (PuLP used to report it as "Optimal"); gap defaults differ
between solvers (HiGHS 1e-4, SCIP 0), so the gap is always set; every library runs single-threaded, which makes
each run deterministic.
"""

from __future__ import annotations

import enum
import math
import os
import warnings
from dataclasses import dataclass, field

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


# the message of HiGHS' INFEASIBLE where its presolve could not tell infeasible from unbounded (the elastic
# model decides later; planner.sweep.fastsolve falls back to a plain solve on it)
HIGHS_UNDECIDED = "infeasible or unbounded (HiGHS presolve)"


# ------------------------------------------------------------------------------------- PuLP problem
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


# --------------------------------------------------------------------------------------------- highspy
def solve_highs(
    model: MipModel, time_limit_s: float, gap: float, abs_gap: float, presolve: bool = True,
    hint: list[float] | None = None, restart: bool = True, heuristics: bool = True,
) -> RawResult:
    """`model` on highspy directly (PuLP's translation cost ~20% of a quickstart solve). `restart=False`: no
    restart after the root (a search option only, the optimum is proven either way; a sweep's quickstart
    scenario 0.10 -> 0.056 CPU s). `heuristics=False`: HIGHS_NO_SUB_MIPS."""
    import highspy

    silence_highs_banner()
    h = highspy.Highs()
    for key, val in (("output_flag", False), ("threads", 1), ("time_limit", max(time_limit_s, 0.01)),
                     ("mip_rel_gap", gap), ("mip_abs_gap", abs_gap), ("presolve", "on" if presolve else "off"),
                     ("mip_allow_restart", restart), *(() if heuristics else HIGHS_NO_SUB_MIPS)):
        h.setOptionValue(key, val)
    h.passModel(highs_lp(model))
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


def highs_lp(model: MipModel):
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


def silence_highs_banner() -> None:
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


# ------------------------------------------------------------------------------------------ PuLP CBC
def solve_cbc(model: MipModel, time_limit_s: float, gap: float, abs_gap: float,
              start: list[float] | None = None, heuristics: bool = True, cuts: bool = True,
              binaries_first: bool = False) -> RawResult:
    """`model` on CBC through PuLP (no best bound comes back). `start`: its MIP start; `heuristics=False`: no
    preprocessing (CBC_FROM_START), and no heuristics either with `binaries_first` (CBC_FROM_START_WITH_BINARIES);
    `cuts=False`: no cuts."""
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
def solve_scip(model: MipModel, time_limit_s: float, gap: float, abs_gap: float,
               start: list[float] | None = None, branch_first: tuple[int, ...] = (),
               cuts: bool = True, heuristics: bool = True, tree_cuts: bool = True) -> RawResult:
    """`model` on SCIP through OR-Tools' pywraplp; the options as `backends.solve` describes them for SCIP."""
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
