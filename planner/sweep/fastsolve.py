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

    def takes(self, variables: int) -> bool:
        """Whether a model of this many variables goes the fast way."""
        return self.every_size or variables <= FAST_MAX_VARS

    def __call__(self, model, backend, *, time_limit_s, gap, abs_gap, presolve, hint, **more):
        """`more`: whatever else `backends.solve` was given (a `start` for SCIP), handed on to a plain solve."""
        import math

        from planner.optimize import backends

        after_failure = self.failed is not None and any(v.name not in self.failed for v in model.vars)
        if after_failure or not self.takes(len(model.vars)):
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
    """`model` on HiGHS in this process, without restarts: the RawResult of a proven optimum or of proven
    infeasibility, else None (the caller then solves the plain way, which reports the failure in its words)."""
    from planner.optimize import backends

    res = backends.solve(model, FAST_BACKEND, time_limit_s=time_limit_s, gap=gap, abs_gap=abs_gap,
                         presolve=presolve, hint=start, isolate=False, restart=False)
    if res.status is backends.SolveStatus.OPTIMAL:
        return res
    if res.status is backends.SolveStatus.INFEASIBLE and res.message != backends.HIGHS_UNDECIDED:
        return res
    return None
