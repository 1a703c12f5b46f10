"""One-at-a-time sensitivity (tornado) as a plain function, without files: for `planner propose` and scripts.

    base, bars = run_tornado(problem, catalog, [{"path": "economics.electricity_usd_per_kwh",
                                                 "values": [0.05, 0.15]}])

`problem`: a problem file path, or a problem as a dict (what the YAML holds). Each parameter is written as in a
sweep file (path plus values, range or catalog: low_base_high; optional base). Scenarios run in this process,
sharing one candidate evaluation wherever only money, power or demand change.

A driver that moves several figures at once (every system's price, every workload's demand) is a `Driver`:
`prepare_drivers` checks its paths like a sweep file's, and `DriverRun.solve` solves one end of it with a
caller's `CandidateCache` (`planner propose` runs them in its re-solve workers).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from planner.catalog.catalog import Catalog
from planner.inputs import read_file_text


@dataclass(frozen=True)
class TornadoBar:
    path: str
    label: str
    base_value: object
    low_value: object  # the parameter's lowest and highest value
    high_value: object
    metric_at_low: float | None  # None: that scenario has no plan (see errors)
    metric_at_high: float | None
    swing: float  # |metric_at_high - metric_at_low| (0 when one side has no plan)
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Driver:
    """One bar whose low and high ends each set one or more paths together (path -> value)."""

    name: str
    low: dict
    high: dict
    low_note: str = ""
    high_note: str = ""
    # True when the driver changes only the objective's coefficients (prices): a plan feasible at the base stays
    # feasible at either end, so `planner propose` solves the ends from the chosen plan (see proposal.solver).
    objective_only: bool = False


@dataclass(frozen=True)
class DriverRun:
    """Drivers checked against the base problem and catalog, ready to solve end by end."""

    sweep: object  # planner.sweep.spec.Sweep over every path the drivers set
    catalog: Catalog
    drivers: tuple[Driver, ...]

    def solve(self, values: dict, cache):
        """The plan with `values` (path -> value) set; raises PlannerError (infeasible, bad input, ...)."""
        from planner.sweep.apply import scenario_plan

        return scenario_plan(self.sweep, values, self.catalog, cache)


def prepare_drivers(problem_path: str | Path, problem_text: str, catalog: Catalog, drivers: list[Driver], *,
                    gap: float | None = None, backend: str | None = None,
                    time_limit_s: float | None = None) -> DriverRun:
    """Check every path and value of `drivers` as a sweep file's parameters (InputError naming the path).
    `gap`: the relative optimality gap every end is solved to."""
    from planner.sweep.spec import build_sweep, parse_sweep_spec

    values: dict[str, list] = {}
    for d in drivers:
        for path, v in (*d.low.items(), *d.high.items()):
            values.setdefault(path, []).append(v)
    params = [{"path": p, "values": list(dict.fromkeys(vs))} for p, vs in values.items()]
    spec = parse_sweep_spec(
        {"name": "drivers", "problem": str(problem_path), "parameters": params,
         "design": {"kind": "one_at_a_time"},
         "solver": {"time_limit_s": time_limit_s, "backend": backend, "gap": gap}}, "drivers")
    return DriverRun(build_sweep(spec, "drivers", Path(problem_path), problem_text, catalog), catalog,
                     tuple(drivers))


def run_tornado(problem: str | Path | dict, catalog: Catalog, parameters: list[dict], *,
                metric: str | None = None, time_limit_s: float | None = None,
                backend: str | None = None) -> tuple[float | None, list[TornadoBar]]:
    """(the metric of the base scenario, one bar per parameter sorted by swing, largest first).

    metric: cost_usd_per_hour (default for min_cost), tokens_per_usd, usd_per_mtok, output_tok_s, ...
    Raises InputError for a bad parameter (naming it) and for a base problem that is not valid."""
    import pickle

    from planner.sweep import worker
    from planner.sweep.design import one_at_a_time
    from planner.sweep.runner import group_key
    from planner.sweep.spec import SweepFile, build_sweep, parse_sweep_spec

    if isinstance(problem, dict):
        path, text = Path("<problem>"), yaml.safe_dump(problem, sort_keys=False)
    else:
        path = Path(problem)
        text = read_file_text(path)
    spec: SweepFile = parse_sweep_spec(
        {"name": "tornado", "problem": str(path), "parameters": parameters, "design": {"kind": "one_at_a_time"},
         "solver": {"time_limit_s": time_limit_s, "backend": backend}, "metric": metric}, "tornado")
    sweep = build_sweep(spec, "tornado", path, text, catalog)
    worker.init(pickle.dumps((sweep, catalog, "tornado:" + json.dumps(parameters, sort_keys=True, default=str))))
    shared: dict[str, tuple] = {}
    rows = {}
    scenarios = one_at_a_time(sweep.parameters)
    sizes = Counter(group_key(sweep, s.values) for s in scenarios)  # as run_sweep: the same plans
    for s in scenarios:
        g = group_key(sweep, s.values)
        if g not in shared:
            _, key, blob, _, start = worker.candidates_task(g, s.values, sizes[g] > 1)
            shared[g] = (key, blob, start)
        rows[s.index] = (s, worker.scenario_task(s.index, s.values, *shared[g]))
    m = sweep.metric

    def value(res):
        return (res.get("metrics") or {}).get(m)

    base = value(rows[0][1])
    bars = []
    for p in sweep.parameters:
        pts = sorted(((s.values[p.path], r) for s, r in rows.values() if s.varied == p.path),
                     key=lambda t: t[0])
        pts = sorted([*pts, (p.base, rows[0][1])], key=lambda t: t[0])
        lo, hi = pts[0], pts[-1]
        a, b = value(lo[1]), value(hi[1])
        errs = tuple(f"{p.path} = {v!r}: {r['status']}: {r['error']}" for v, r in pts if r.get("error"))
        swing = abs(b - a) if a is not None and b is not None else 0.0
        bars.append(TornadoBar(p.path, p.label, p.base, lo[0], hi[0], a, b, swing, errs))
    return base, sorted(bars, key=lambda t: -t.swing)
