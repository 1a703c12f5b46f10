"""One scenario's inputs: the base problem with its values set, and a catalog copy with its figures changed.

Pure: nothing is written back to the base problem data or the base catalog.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import OrderedDict

from pydantic import ValidationError

from planner.catalog.catalog import Catalog
from planner.errors import InputError
from planner.inputs import format_validation_error
from planner.sweep import adapter
from planner.sweep.paths import PRICE_FIELDS, Target

_CATALOGS: OrderedDict[tuple, Catalog] = OrderedDict()  # per process: perf caches are per catalog object


def catalog_hash(catalog: Catalog) -> str:
    data = {kind: {i: e.model_dump(mode="json") for i, e in sorted(t.items())}
            for kind, t in sorted(catalog.entries.items())}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def set_problem_value(data: dict, target: Target, value) -> None:
    node = data
    steps = target.steps
    for n, step in enumerate(steps):
        last = n == len(steps) - 1
        if step[0] == "item":
            _, name, keyf, ident = step
            node = next(x for x in node[name] if isinstance(x, dict) and str(x.get(keyf)) == ident)
            continue
        name = step[1]
        if last and target.multiplier:
            demand = node[name]
            for f in ("requests_per_s", "output_tokens_per_s", "tokens_per_day"):
                if demand.get(f) is not None:
                    demand[f] = float(demand[f]) * float(value)
            return
        if last:
            node[name] = value
            return
        if not isinstance(node.get(name), dict):
            node[name] = {}
        node = node[name]


def scenario_problem(sweep, values: dict, where: str | None = None):
    """The scenario's problem; an InputError's lines are led by `where` (default '<sweep file>: scenario')."""
    data = copy.deepcopy(sweep.problem_data)
    for p in sweep.parameters:
        if p.path in values and p.target.scope == "problem":
            set_problem_value(data, p.target, values[p.path])
    if sweep.spec.solver.gap is not None:
        solver = data.get("solver") if isinstance(data.get("solver"), dict) else {}
        data["solver"] = {**solver, "gap": sweep.spec.solver.gap}
    return adapter.parse_problem(data, where or f"{sweep.where}: scenario")


def scenario_catalog(sweep, values: dict, base: Catalog, where: str | None = None) -> Catalog:
    """The catalog with this scenario's figures (memoized per process: perf caches are per catalog object); an
    InputError is led by `where` (default the sweep file)."""
    changes = tuple((p.path, values[p.path]) for p in sweep.parameters
                    if p.target.scope == "catalog" and p.path in values)
    if not changes:
        return base
    key = (id(base), changes)
    hit = _CATALOGS.get(key)
    if hit is None:
        hit = apply_catalog(base, [(p.target, v) for (_, v), p in
                                   zip(changes, _catalog_params(sweep, changes), strict=True)],
                            where or sweep.where)
        adapter.share_perf_caches(base, hit)
        _CATALOGS[key] = hit
        if len(_CATALOGS) > 64:
            _CATALOGS.popitem(last=False)
    else:
        _CATALOGS.move_to_end(key)
    return hit


def _catalog_params(sweep, changes):
    by_path = {p.path: p for p in sweep.parameters}
    return [by_path[path] for path, _ in changes]


def apply_catalog(base: Catalog, changes: list[tuple[Target, object]], where: str) -> Catalog:
    entries = dict(base.entries)
    for target, value in changes:
        kind, ident = target.steps[0][1], target.steps[1][1]
        table = dict(entries[kind])
        entry = table[ident]
        data = entry.model_dump()
        node = data
        keys = [s[1] for s in target.steps[2:]]
        for k in keys[:-1]:
            node = node[k]
        if target.price_all:
            node[keys[-1]] = {**node[keys[-1]], **dict.fromkeys(PRICE_FIELDS, value)}
        else:
            node[keys[-1]] = value
        try:
            table[ident] = type(entry).model_validate(data)
        except ValidationError as exc:  # its last line is pydantic's help link: the reasons, one a line
            raise InputError("\n".join(format_validation_error(where, f"catalog.{kind}.{ident}", exc))) from None
        entries[kind] = table
    return Catalog(entries, dict(base.origin))


def scenario_inputs(sweep, values: dict, base: Catalog, where: str | None = None):
    """(problem, instance, catalog) for one scenario; InputError when invalid, each line led by `where` (the
    caller's words for the scenario; default '<sweep file>: scenario') and then the bare reason."""
    where = where or f"{sweep.where}: scenario"
    problem = scenario_problem(sweep, values, where)
    cat = scenario_catalog(sweep, values, base, where)
    return problem, adapter.build(problem, cat, where), cat


def base_values(sweep, values: dict) -> dict:
    """The technical group's base scenario: `values` with every money, power and demand parameter at its base."""
    return {p.path: p.base if p.money else values[p.path] for p in sweep.parameters if p.path in values}


def scenario_plan(sweep, values: dict, base: Catalog, cache, hook=None):
    """Solve one scenario through the optimizer's entry point with `cache` (a `CandidateCache`: scenarios that
    change only money, power or demand reuse its performance evaluation) and `hook` (`fastsolve.FastSolve`).
    Raises PlannerError."""
    problem = scenario_problem(sweep, values)
    cat = scenario_catalog(sweep, values, base)
    return adapter.solve(problem, cat, cache, backend=sweep.spec.solver.backend,
                         time_limit_s=sweep.spec.solver.time_limit_s, hook=hook)
