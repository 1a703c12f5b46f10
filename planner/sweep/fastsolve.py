"""The sweep's fast solve: small MIPs on HiGHS, in this process, to proven optimality, from a fixed start.

Measured on the quickstart MIP (252 variables, 134 rows; CPU seconds per solve, 2-core machine): SCIP 0.35 s
(root cut rounds and four restarts), HiGHS 0.12 s, HiGHS from a start 0.065 s, and without restarts 0.05 s.
A sweep solves the same model with other prices again and again, so each technical group's base scenario
(every money, power and demand parameter at its base value) is solved once and its solution starts every
scenario of the group. The start is a fixed point of the design, not "the previous scenario", so a scenario's
plan does not depend on the order of solves, the number of workers or a resume.

Exactness: the fast solve closes the gap to FAST_GAP (1e-9, far below the problem's own gap), so it returns
the proven optimum, which is what the plain solve (SCIP to the problem's gap) returns too unless SCIP stops
at a plan within its gap of the optimum or two plans cost exactly the same (benchmarks/bench_sweep.py
--check counts the scenarios whose plan differs from `solve_problem`'s). Anything but a proven optimum
(unbounded, a limit, a solver error) is solved again the plain way; after that or a proof of infeasibility,
every later solve of the scenario on other variables (the infeasibility diagnosis) goes the plain way too:
outcomes and messages are exactly the plain solve's.

Models with more than FAST_MAX_VARS variables keep the plain solve unless the sweep file says
`solver: {fast_solve: all}`: there the plain solve stopping at the problem's gap often returns another plan
than the optimum. Measured on mixed-fleet (1,613 variables; sweeps/mixed-fleet-prices.yaml, gap 0.2%): before
main's SCIP warm start (optimize/solve.py) the fast solve took 3.4 CPU s per scenario and the plain one 6.9 s
(8 scenarios); with it, and the HBM-in-GiB refit, both take 8.2 s (4 scenarios, machine load ~3.5): `all` then only
buys the proven optimum (0.01-0.1% apart). The time limit is wall-clock: on a machine loaded 4x, 6 of 40
mixed-fleet scenarios did not close the gap to 1e-9 within the sweep's 30 s and were solved again plainly.

Signals: HiGHS installs no signal handler, so an in-process solve cannot turn a Ctrl-C into a "time limit"
(which is why plain SCIP solves run in a forked child); pool workers ignore SIGINT/SIGTERM anyway.
"""

from __future__ import annotations

FAST_BACKEND = "highs"
FAST_MAX_VARS = 1000
FAST_GAP = 1e-9


class NotEligible(Exception):
    """A probe met a model the fast solve does not take (too large, or after a failure)."""


class FastSolve:
    """A `backends.solve_hook` for one scenario. `start`: {variable name: value} of the group's base solution
    (absent names start at 0). `probe`: solving the base scenario itself, where a model the fast path does not
    take raises NotEligible instead of paying for a plain solve that only a start would have come from."""

    def __init__(self, start: dict[str, float] | None = None, *, probe: bool = False, every_size: bool = False):
        self.start = start
        self.probe = probe
        self.every_size = every_size  # the sweep's `solver: {fast_solve: all}`
        # the variables of the last model the fast solve did not prove optimal: a later model with others (the
        # infeasibility diagnosis adds slacks) goes the plain way; one within them (the full solve after an
        # infeasible warm-start restriction, optimize/solve.py) does not
        self.failed: set[str] | None = None
        self.solution: dict[str, float] | None = None  # the last proven optimum (the base solution, probing)

    def __call__(self, model, backend, *, time_limit_s, gap, abs_gap, presolve, hint, **more):
        """`more`: whatever else `backends.solve` was given (a `start` for SCIP), handed on to a plain solve."""
        import math

        from planner.optimize import backends

        after_failure = self.failed is not None and any(v.name not in self.failed for v in model.vars)
        if after_failure or (len(model.vars) > FAST_MAX_VARS and not self.every_size):
            if self.probe:
                raise NotEligible
            return backends.solve(model, backend, time_limit_s=time_limit_s, gap=gap, abs_gap=abs_gap,
                                  presolve=presolve, hint=hint, **more)
        start = hint if hint is not None else more.get("start")
        if start is not None and any(math.isnan(x) for x in start):  # a partial start: SCIP's, not HiGHS'
            start = None
        if start is None and self.start is not None:
            start = [self.start.get(v.name, 0.0) for v in model.vars]
        res = solve_highs(model, time_limit_s, min(gap, FAST_GAP), min(abs_gap, FAST_GAP), presolve, start)
        if res is not None and res.status is backends.SolveStatus.OPTIMAL:
            self.solution = {v.name: x for v, x in zip(model.vars, res.values, strict=True) if abs(x) > 1e-9}
            return res
        self.failed = {v.name for v in model.vars}
        if res is not None:  # proven infeasible (a warm start's restriction, or the scenario itself)
            return res
        return backends.solve(model, backend, time_limit_s=time_limit_s, gap=gap, abs_gap=abs_gap,
                              presolve=presolve, hint=hint, **more)


def solve_highs(model, time_limit_s: float, gap: float, abs_gap: float, presolve: bool, start):
    """`model` on highspy directly (PuLP's translation cost ~20% of a quickstart solve): the RawResult of a
    proven optimum or of proven infeasibility, else None (the caller then solves the plain way, which reports
    the failure in its words)."""
    import time

    import highspy
    import numpy as np

    from planner.optimize import backends

    t0 = time.perf_counter()
    backends._silence_highs_banner()
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
    h = highspy.Highs()
    # no restart after the root: a quickstart scenario's solve 0.10 -> 0.056 CPU s (12 scenarios), same optima
    # (a search option only: the optimum is proven either way)
    for key, val in (("output_flag", False), ("threads", 1), ("time_limit", max(time_limit_s, 0.01)),
                     ("mip_rel_gap", gap), ("mip_abs_gap", abs_gap), ("presolve", "on" if presolve else "off"),
                     ("mip_allow_restart", False)):
        h.setOptionValue(key, val)
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = [float(x) for x in start]
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    info = h.getInfo()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:  # proven infeasible (not HiGHS' "or unbounded")
        return backends.RawResult(backends.SolveStatus.INFEASIBLE, backend=FAST_BACKEND,
                                  solve_time_s=time.perf_counter() - t0)
    if status != highspy.HighsModelStatus.kOptimal or info.primal_solution_status != 2:
        return None
    values = [float(x) for x in h.getSolution().col_value]
    res = backends.RawResult(backends.SolveStatus.OPTIMAL, values, backend=FAST_BACKEND)
    res.objective = model.objective_value(values)
    is_mip = any(v.integer for v in model.vars)
    res.best_bound = float(info.mip_dual_bound) + model.objective_constant if is_mip else res.objective
    res.gap = backends.relative_gap(res.objective, res.best_bound)
    res.solve_time_s = time.perf_counter() - t0
    return res
