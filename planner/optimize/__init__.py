"""The fleet optimizer: problem files, candidates, the backend-neutral MIP, its backends, diagnosis, verification.

Public entry points (what the CLI, proposals and sweeps call):
    load_problem(path) / problem_from_text(text, where) / parse_problem(data, where) -> Problem
    solve_problem(problem, catalog, *, backend, time_limit_s, runner_up, candidate_cache, problem_text) -> Plan
    CandidateCache(): reuses the performance evaluation across solves that change only money, power or demand
    verify_plan(plan, instance, catalog, predict) -> VerifyReport   (module planner.optimize.verify)

Flow (see `pipeline.solve_outcome`): problem.py (load, validate) -> instance.py (resolve against the catalog) ->
candidates.py (perf model, filters, keys, pruning) -> checks.py (pre-solve causes) -> formulation.py +
constraints.py + layout.py (the MIP) -> backends.py + backends_solvers.py (OR-Tools SCIP, highspy HiGHS, PuLP
CBC) -> solve.py (objectives, Dinkelbach) -> extract.py (Plan) -> diagnose.py (elastic relaxation, binding
limits) -> verify.py.

The names are resolved on first use (PEP 562) so that `planner --help`, which imports the backend names only,
does not pay for pandas and the solvers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "CandidateCache": "planner.optimize.candidates",
    "Outcome": "planner.optimize.pipeline",
    "Problem": "planner.optimize.problem",
    "load_problem": "planner.optimize.problem",
    "parse_problem": "planner.optimize.problem",
    "problem_from_text": "planner.optimize.problem",
    "solve_file": "planner.optimize.pipeline",
    "solve_outcome": "planner.optimize.pipeline",
    "solve_problem": "planner.optimize.pipeline",
    "verify_file": "planner.optimize.pipeline",
    "verify_plan": "planner.optimize.verify",
    "VerifyReport": "planner.optimize.verify",
}
__all__ = [
    "CandidateCache",
    "Outcome",
    "Problem",
    "VerifyReport",
    "load_problem",
    "parse_problem",
    "problem_from_text",
    "solve_file",
    "solve_outcome",
    "solve_problem",
    "verify_file",
    "verify_plan",
]

if TYPE_CHECKING:
    from planner.optimize.candidates import CandidateCache
    from planner.optimize.pipeline import Outcome, solve_file, solve_outcome, solve_problem, verify_file
    from planner.optimize.problem import Problem, load_problem, parse_problem, problem_from_text
    from planner.optimize.verify import VerifyReport, verify_plan


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'planner.optimize' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
