"""Candidates built in two processes at once (`planner solve`, no candidate cache): each workload's candidates
depend on that workload alone, so a worker builds those of some workloads while the parent builds the rest, and
the two tables are merged into the one a single build gives (rows in key order; a column inferred per part,
such as a quality with no floor, re-inferred over the whole). tests/test_split_candidates.py checks the merge
against the single build on every example problem.

The table is all a solve reads where every workload has candidates. Where one has none, the rejections and the
best latency its explanation reads come from one build: the problem is then built again whole (an infeasible
problem pays the candidates twice, a feasible one never).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from planner.catalog.catalog import Catalog
from planner.optimize import background
from planner.optimize.candidates import CandidateSet, build_candidates
from planner.optimize.grid import build_grid
from planner.optimize.guards import grid_upper_bound
from planner.optimize.instance import Instance

# Below this many grid rows (an upper bound, `grid_upper_bound`) a build takes ~0.1 s, mostly fixed costs each
# half pays again: forking a worker for it gains nothing.
MIN_GRID_ROWS = 4000


def halves(inst: Instance, catalog: Catalog) -> tuple[list[str], list[str]] | None:
    """The workloads split in two of about the same grid, the first half's ids all before the second's (see
    `merge_tables`); None where that does not pay (one workload, a small grid)."""
    if len(inst.workloads) < 2:
        return None
    ids = sorted(inst.workloads)
    if grid_upper_bound(inst, catalog) < MIN_GRID_ROWS:
        return None
    # the grids themselves (~0.03 s for mixed-fleet's 17,496 rows): the upper bound knows neither the quality
    # floors nor the published checkpoints, and put 5,596 of mixed-fleet's rows on one side, 11,900 on the other
    sizes = [len(build_grid(_only(inst, [w]), catalog)[0]) for w in ids]
    cut = min(range(1, len(ids)), key=lambda k: (max(sum(sizes[:k]), sum(sizes[k:])), k))
    return ids[:cut], ids[cut:]


def build_split(inst: Instance, catalog: Catalog) -> CandidateSet | None:
    """The candidates of `inst`, half of its workloads built by a worker meanwhile; None where a split does not
    pay, the worker is lost, or a workload has no candidates (the caller then builds them whole)."""
    split = halves(inst, catalog) if background.worth_a_worker() else None
    if split is None:
        return None
    mine, theirs = split
    worker = background.Background(_build_steps, _only(inst, theirs), catalog)
    try:
        own = build_candidates(_only(inst, mine), catalog)
        table, stats, unserved = worker.next()
    except background.WorkerLost:
        return None
    finally:
        worker.cancel()
    if unserved or own.unserved(mine):
        return None
    return CandidateSet(merge_tables([own.table, table]), [],
                        {k: own.stats.get(k, 0) + stats.get(k, 0) for k in own.stats.keys() | stats.keys()})


def merge_tables(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The candidate tables of workloads in id order (every id of a part before the next part's) as one build
    gives them: rows in key order, each column of the type pandas infers over all of its values, and the columns
    in one build's order. That build orders them by (workload, hidden tokens), the columns of each group's
    performance call appended where not there yet (`evaluation.evaluate_grid`): a part's columns, then those of
    the later parts not there yet."""
    cols: list[str] = []
    for p in parts:
        cols += [c for c in p.columns if c not in cols]
    table = pd.concat(parts, ignore_index=True)[cols]
    for c in cols:  # e.g. a quality all None in one part (object), float in another: float with NaN, as one build
        if len({str(p[c].dtype) if c in p else "" for p in parts}) > 1:
            table[c] = pd.Series(table[c].tolist(), name=c)
    order = sorted(range(len(table)), key=table["key"].tolist().__getitem__)
    return table.take(order).reset_index(drop=True)


def _only(inst: Instance, workloads: list[str]) -> Instance:
    return dataclasses.replace(inst, workloads={w: inst.workloads[w] for w in inst.workloads if w in workloads})


def _build_steps(inst: Instance, catalog: Catalog):
    cs = build_candidates(inst, catalog)
    yield cs.table, cs.stats, cs.unserved(inst.workloads)
