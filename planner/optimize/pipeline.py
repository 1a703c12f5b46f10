"""problem file -> instance -> candidates -> checks -> MIP -> plan -> explanation -> verify: one call."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from pydantic import ValidationError

from planner.catalog.catalog import Catalog
from planner.catalog.fingerprint import catalog_fingerprint
from planner.errors import InfeasibleError, InputError, SolverError
from planner.inputs import display_path, format_validation_error, ids_in_path, parse_json, read_file_text
from planner.optimize import backends, guards
from planner.optimize.backends import SolveStatus
from planner.optimize.candidates import CandidateCache, build_candidates, perf_data_key
from planner.optimize.checks import run_checks
from planner.optimize.diagnose import binding_constraints, elastic_relaxation
from planner.optimize.extract import build_plan
from planner.optimize.extract_economics import add_economics
from planner.optimize.instance import Instance
from planner.optimize.price_of import priced
from planner.optimize.problem import Problem, load_problem, problem_from_text
from planner.optimize.resolve_problem import build_instance
from planner.optimize.runner_up import main_accelerator, plan_gpus, runner_up_record, solve_without
from planner.optimize.side import SideSolves
from planner.optimize.side import needed as side_needed
from planner.optimize.solve import solve_instance
from planner.optimize.verify import VerifyReport, verify_plan, verify_side_figures
from planner.perf import predict_under_slo
from planner.plan import PLAN_FORMAT_VERSION, Binding, Plan


@dataclass
class Outcome:
    plan: Plan
    instance: Instance
    verify: VerifyReport | None = None
    candidates: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)


def load_instance(problem_path: str | Path, catalog: Catalog) -> Instance:
    problem = load_problem(problem_path)
    return build_instance(problem, catalog, display_path(Path(problem_path)))


def load_plan_file(path: str | Path) -> Plan:
    """Read a plan.json (exit code 2 naming the file and field when it is not one)."""
    p = Path(path)
    where = display_path(p)
    text = read_file_text(p)
    data = parse_json(text, f"{where}: not a plan.json")
    if isinstance(data, dict):
        version = data.setdefault("format_version", 0)  # absent: written before plan.json had versions
        if isinstance(version, int) and not isinstance(version, bool) and version > PLAN_FORMAT_VERSION:
            raise InputError(f"{where}: format_version {version} was written by a newer planner (this one reads "
                             f"up to {PLAN_FORMAT_VERSION})")
    if not isinstance(data, dict):
        raise InputError(f"{where}: not a plan.json: the top level must be a JSON object")
    try:
        return Plan.model_validate(data)
    except ValidationError as err:
        lines = [ids_in_path(x, where, data) for x in format_validation_error(where, "@", err)]
        raise InputError(
            "\n".join(x.replace("`planner catalog schema` lists the fields", "compare with a plan.json from "
                                "`planner solve --out`") for x in lines)
        ) from None


def verify_file(plan_path: str | Path, problem_path: str | Path | None, catalog: Catalog,
                plan: Plan | None = None) -> VerifyReport:
    """`planner verify`: re-check a plan.json against the problem it was solved for: the given file, else the
    verbatim copy of the problem that `planner solve` stores in the plan. `plan`: plan_path already read."""
    plan = plan if plan is not None else load_plan_file(plan_path)
    where_plan = display_path(Path(plan_path))
    if problem_path is None:
        if not plan.problem_yaml:
            raise InputError(f"{where_plan}: the plan carries no copy of its problem: give PROBLEM.yaml")
        where = f"{where_plan}: problem_yaml"
        inst = build_instance(problem_from_text(plan.problem_yaml, where), catalog, where)
    else:
        inst = load_instance(problem_path, catalog)
    if plan.problem != inst.name:
        raise InputError(
            f"{where_plan}: the plan is for problem {plan.problem!r}, but "
            f"{display_path(Path(problem_path or plan_path))} is problem {inst.name!r}: give the problem it was "
            "solved from"
        )
    return verify_plan(plan, inst, catalog, _perf_predictor(catalog))


def solve_problem(
    problem: Problem,
    catalog: Catalog,
    *,
    backend: str | None = None,
    time_limit_s: float | None = None,
    runner_up: bool = True,
    candidate_cache: CandidateCache | None = None,
    problem_text: str | None = None,
) -> Plan:
    """The one entry point: a validated problem and a catalog -> the optimal, independently verified plan.

    The plan keeps a verbatim copy of the problem (`problem_text` when given, else a YAML dump of `problem`).
    `candidate_cache` reuses the performance evaluation across solves that change only money, power, budget,
    supply or demand. Raises InputError (exit 2), InfeasibleError (3), SolverError (4)."""
    return solve_outcome(problem, catalog, backend=backend, time_limit_s=time_limit_s, runner_up=runner_up,
                         candidate_cache=candidate_cache, problem_text=problem_text).plan


def problem_yaml(problem: Problem) -> str:
    """A YAML copy of a problem that reads back to the same problem."""
    return yaml.safe_dump(problem.model_dump(mode="json", exclude_none=True), sort_keys=False)


def solve_outcome(
    problem: Problem,
    catalog: Catalog,
    *,
    backend: str | None = None,
    time_limit_s: float | None = None,
    runner_up: bool = True,
    candidate_cache: CandidateCache | None = None,
    problem_text: str | None = None,
    where: str = "<problem>",
) -> Outcome:
    """`solve_problem` returning the instance, candidates and verification report beside the plan."""
    t0 = time.perf_counter()
    inst = build_instance(problem, catalog, where)
    guards.check_problem_size(inst, catalog, where)
    cs = build_candidates(inst, catalog, cache=candidate_cache)
    guards.check_fleet_size(inst, cs.table, where)
    t_cand = time.perf_counter() - t0
    out = solve_candidates(
        inst,
        cs.table,
        catalog=catalog,
        backend=backend,
        time_limit_s=time_limit_s,
        rejected=cs.rejected if cs.unserved(inst.workloads) else None,  # read only for those
        best_latency=cs.best_latency,
        runner_up=runner_up,
        predict=_perf_predictor(catalog, candidate_cache),
    )
    out.plan.timing["candidates_s"] = round(t_cand, 3)
    out.plan.catalog_fingerprint = catalog_fingerprint(catalog)
    out.plan.problem_yaml = problem_text if problem_text is not None else problem_yaml(problem)
    out.plan.problem_sha256 = hashlib.sha256(out.plan.problem_yaml.encode("utf-8")).hexdigest()
    out.plan.notes.append(
        f"candidates: {cs.stats.get('grid', 0)} configurations evaluated; {cs.stats.get('feasible', 0)} "
        "feasible deployments (configuration x system x own/rent) meet memory, SLOs and quality; "
        f"{cs.stats.get('after_pruning', 0)} after dominance pruning"
    )
    return out


def solve_file(
    problem_path: str | Path,
    catalog: Catalog,
    *,
    backend: str | None = None,
    time_limit_s: float | None = None,
    runner_up: bool = True,
    catalog_dirs: tuple[str, ...] = (),
    candidate_cache: CandidateCache | None = None,
) -> Outcome:
    """`planner solve`: read the problem file (errors name it) and `solve_problem` it."""
    where = display_path(Path(problem_path))
    text = read_file_text(Path(problem_path))
    out = solve_outcome(problem_from_text(text, where), catalog, backend=backend, time_limit_s=time_limit_s,
                        runner_up=runner_up, candidate_cache=candidate_cache, problem_text=text, where=where)
    out.plan.catalog_dirs = list(catalog_dirs)
    return out


def _perf_predictor(catalog: Catalog, cache: CandidateCache | None = None):
    """The verifier's re-prediction: a replica at the rate where its workload's targets hold at the SLO
    percentile (the same model the candidates were sized with), from the rows' target columns. With a
    `cache`, memoized there row by row: the solves of a sweep choose mostly the same deployments, but rarely
    the same set (4 mixed-fleet scenarios: 25 distinct rows in 4 plans of ~9), and a whole-grid memo missed
    almost every time (~0.3 CPU s of a ~6 s scenario). A row's prediction depends on that row alone
    (tests/test_sweep_fast.py checks a grid against its rows one by one), so only the rows not seen before are
    predicted, together."""
    if cache is None:
        return lambda grid: predict_under_slo(grid, catalog)
    data_key = perf_data_key(catalog)

    def predict(grid: pd.DataFrame) -> pd.DataFrame:
        cols = tuple(grid.columns)
        keys = [(data_key, cols, _row_key(row)) for row in grid.itertuples(index=False)]
        rows = [cache.known_prediction(k) for k in keys]
        missing = [i for i, r in enumerate(rows) if r is None]
        if missing:
            new = predict_under_slo(grid.iloc[missing].reset_index(drop=True), catalog).reset_index(drop=True)
            for j, i in enumerate(missing):
                rows[i] = cache.predicted(keys[i], lambda j=j: new.iloc[[j]])
        return pd.concat(rows, ignore_index=True) if rows else predict_under_slo(grid, catalog)

    return predict


def _row_key(row) -> tuple:
    """A grid row as a memo key: NaN (a column this row does not use) as None, which equals itself."""
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)


def solve_candidates(
    inst: Instance,
    cands: pd.DataFrame,
    *,
    catalog: Catalog | None = None,
    backend: str | None = None,
    time_limit_s: float | None = None,
    rejected: pd.DataFrame | None = None,
    best_latency: dict | None = None,
    runner_up: bool = True,
    predict=None,
) -> Outcome:
    backend = backend or backends.DEFAULT_BACKEND
    if time_limit_s is not None and not (math.isfinite(time_limit_s) and time_limit_s > 0):
        raise InputError(f"time limit must be a finite number of seconds > 0, got {time_limit_s!r}")
    if backend not in backends.BACKENDS:
        raise InputError(f"unknown backend {backend!r} (choose one of: {', '.join(backends.BACKENDS)})")
    rejected = rejected if rejected is not None else pd.DataFrame(columns=["workload", "reason"])
    findings = run_checks(inst, cands, rejected, best_latency or {})
    if findings.errors:
        raise InfeasibleError("the problem cannot be solved:\n  - " + "\n  - ".join(findings.errors))
    side = SideSolves(inst, cands, backend, time_limit_s) if runner_up and side_needed(inst, cands) else None
    try:
        return _solve_and_report(inst, cands, catalog, backend, time_limit_s, findings, runner_up, side,
                                 predict)
    finally:
        if side is not None:
            side.cancel()


def _solve_and_report(inst, cands, catalog, backend, time_limit_s, findings, runner_up, side, predict) -> Outcome:
    sol = solve_instance(inst, cands, backend, time_limit_s=time_limit_s)
    if side is not None:  # its CPU is free for the side tasks (the runner-up has the other)
        side.main_solved()
    if sol.status in (SolveStatus.INFEASIBLE,):
        found, lines = elastic_relaxation(sol.model, backend)
        if found and lines:
            raise InfeasibleError(
                "no plan satisfies every constraint; the smallest changes that would make it "
                "feasible:\n  - " + "\n  - ".join(lines)
            )
        raise InfeasibleError(
            "no plan satisfies every constraint (the relaxation found no single limit to blame: "
            "check rack cooling, scale-up domains and existing inventory)"
        )
    if sol.status is SolveStatus.UNBOUNDED:
        raise InputError(f"objective {inst.objective} is unbounded: add a budget, a power limit or supply limits")
    if sol.status is SolveStatus.ERROR:
        raise SolverError(f"{backend}: {sol.message or 'solver error'}")
    guards.check_solution_size(sol.ix.gpus, [sol.values[v] for v in sol.ix.x], inst.name)
    plan = build_plan(inst, sol, len(cands))
    add_economics(plan, inst, sol, len(cands))
    if plan.hourly:  # servers rented by the hour change from hour class to hour class: no one placement
        plan.placement = []
    plan.timing = {"build_s": round(sol.build_time_s, 3), "solve_s": round(sol.solve_time_s, 3)}
    plan.binding = [
        Binding(constraint=n, family=f, message=m)
        for n, f, m in binding_constraints(sol.model, sol.values, set(sol.ix.z))
    ]
    plan.notes.extend(findings.warnings)
    if sol.status is SolveStatus.FEASIBLE_TIME_LIMIT:
        plan.notes.append(
            f"time limit reached: the plan is feasible, gap {plan.gap if plan.gap is not None else '?'}"
        )
    # verify the plan before the runner-up and price_of arrive: the side worker solves them meanwhile on the
    # other CPU (mixed-fleet: its runner-up ends ~0.5 s after the main solve), their own figures are checked
    # once they are in (`verify_side_figures`; the two reports together make the checks `verify_plan` makes)
    t0 = time.perf_counter()
    report = verify_plan(plan, inst, catalog, predict)
    plan.timing["verify_s"] = round(time.perf_counter() - t0, 3)
    _raise_unless_verified(report)
    if runner_up:
        t0 = time.perf_counter()
        main = main_accelerator(plan_gpus(plan))
        if main is not None:
            alt = (side.runner_up(main) if side is not None
                   else solve_without(inst, cands, backend, time_limit_s, main))
            plan.runner_up = runner_up_record(inst, main, alt, sol.objective_value)
        plan.timing["runner_up_s"] = round(time.perf_counter() - t0, 3)
    if side is not None:
        t0 = time.perf_counter()
        optima, plan.platforms, price_of_s, platforms_s = side.results()
        plan.price_of = priced(plan, optima)
        # the side solves ran (partly) in a worker beside the main solve: their own seconds, and what the wait
        # for them (or the parent's share of them) added after the runner-up
        plan.timing["price_of_s"] = round(price_of_s, 3)
        if plan.platforms:
            plan.timing["platforms_s"] = round(platforms_s, 3)
        plan.timing["side_wait_s"] = round(time.perf_counter() - t0, 3)
    if plan.runner_up is not None or plan.price_of:
        more = verify_side_figures(plan)
        _raise_unless_verified(more)
        report = VerifyReport(True, [], report.checks + more.checks)
    return Outcome(plan, inst, report, cands, findings.warnings)


def _raise_unless_verified(report: VerifyReport) -> None:
    if not report.ok:
        raise SolverError("the plan failed independent verification:\n  - " + "\n  - ".join(report.violations))
