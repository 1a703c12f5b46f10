"""Candidate building on two processes (planner.optimize.forked, evaluation._run_jobs): the same candidates, row
for row and type for type, as one process; no process left behind; a child's failure surfaces in the parent."""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.errors import InputError
from planner.optimize import evaluation, forked
from planner.optimize.candidates import evaluate_configurations, expand_candidates
from planner.optimize.pipeline import load_instance

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not forked.available(busy=False), reason="no fork or a single CPU here")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _children() -> list[str]:
    """This process's live child processes (Linux: /proc/<pid>/task/<tid>/children)."""
    out = []
    paths = glob.glob(f"/proc/{os.getpid()}/task/*/children")
    assert paths, "/proc/<pid>/task/<tid>/children is not available: the no-child checks would pass vacuously"
    for path in paths:
        with open(path) as f:
            out += f.read().split()
    return out


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert [str(t) for t in a.dtypes] == [str(t) for t in b.dtypes]
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def _build(inst, catalog, processes: str, monkeypatch):
    monkeypatch.setenv(forked.ENV, processes)
    ev = evaluate_configurations(inst, catalog)
    return ev, expand_candidates(ev, inst, catalog)


@pytest.mark.parametrize("name", ["power-limited-site", "offline-tokens-per-dollar", "quickstart",
                                  "ai-factory-10mw", "reasoning-deepseek-r1"])
def test_two_processes_give_the_candidates_of_one(name, catalog, monkeypatch):
    """Forced onto two processes (power-limited-site, offline-tokens-per-dollar, quickstart: whole calls, one in
    the child; ai-factory-10mw and reasoning-deepseek-r1: their one call split by rows), the evaluated frame,
    the candidates and the rejections are those of one process: a share dropped, reordered or typed differently
    fails here. The fork did happen."""
    inst = load_instance(ROOT / "problems" / f"{name}.yaml", catalog)
    forks = []
    real_fork = os.fork

    def counted():
        forks.append(1)
        return real_fork()

    ev1, cs1 = _build(inst, catalog, "1", monkeypatch)
    monkeypatch.setattr(os, "fork", counted)
    ev2, cs2 = _build(inst, catalog, "2", monkeypatch)
    assert forks, "the two-process path did not fork"
    assert not _children()
    _same(ev1.results, ev2.results)
    _same(ev1.grid, ev2.grid)
    _same(cs1.table, cs2.table)
    assert list(ev1.rejected) == list(ev2.rejected)
    assert cs1.stats == cs2.stats and len(cs1.table) > 0


def test_row_shares_put_back_in_order(catalog, monkeypatch):
    """The split of one call by rows, both shares run in this process: the joined frame is the whole call's,
    and the shares interleave (a test on contiguous halves would miss a share put back by position only)."""
    inst = load_instance(ROOT / "problems" / "ai-factory-10mw.yaml", catalog)
    seen = []

    def sequential(here, there):
        a, b = here(), there()
        seen.append((a, b))
        return a, b

    ev1, _ = _build(inst, catalog, "1", monkeypatch)
    monkeypatch.setattr(forked, "both", sequential)
    ev2, _ = _build(inst, catalog, "2", monkeypatch)
    assert seen and all(len(a) == len(b) == 1 for a, b in seen)  # one call, split in two shares
    _same(ev1.results, ev2.results)
    first, second = evaluation._shares(pd.DataFrame({"serving": ["aggregated", "disaggregated"] * 3}))
    assert first.tolist() == [0, 1, 4, 5] and second.tolist() == [2, 3]  # every other row of each mode


def test_plan_balances_whole_calls_and_splits_a_dominant_one():
    def job(kind, n):
        z, rows = np.zeros(n), pd.DataFrame({"serving": ["aggregated"] * n})
        if kind == "custom":
            return evaluation._Custom(rows, {})
        return evaluation._Search(rows, z, z, z) if kind == "search" else evaluation._Capacity(rows, z, z, 90.0, z)

    here, there, split, saving = evaluation._plan([job("capacity", 2852), job("search", 14644)])
    assert (here, there, split) == ([0], [1], []) and saving > evaluation.FORK_MIN_SAVING_MS
    here, there, split, saving = evaluation._plan([job("capacity", 392)])
    assert (here, there, split) == ([], [], [0]) and saving < evaluation.FORK_MIN_SAVING_MS  # not worth it
    assert evaluation._plan([job("capacity", 100), job("custom", 5000)])[:3] == ([1], [], [0])


def test_a_failing_child_share_raises_the_same_error_here():
    """The child's exception is met again in the parent, which runs the share itself: same type, same text."""
    with pytest.raises(InputError, match="bad field x"):
        forked.both(lambda: 1, lambda: (_ for _ in ()).throw(InputError("bad field x")))
    assert not _children()


def test_a_dead_child_or_an_unpicklable_result_is_computed_here():
    parent = os.getpid()
    assert forked.both(lambda: 1, lambda: os._exit(3) if os.getpid() != parent else 7) == (1, 7)
    mine, theirs = forked.both(lambda: 1, lambda: (lambda: 5))  # a lambda does not pickle
    assert (mine, theirs()) == (1, 5)
    assert not _children()


def test_no_fork_to_be_had_runs_both_shares_here(monkeypatch):
    def refused():
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    assert forked.both(lambda: 1, lambda: 2) == (1, 2)


def test_the_child_is_killed_and_reaped_when_the_parent_fails():
    t0 = time.perf_counter()
    with pytest.raises(ZeroDivisionError):
        forked.both(lambda: 1 / 0, lambda: time.sleep(30))
    assert time.perf_counter() - t0 < 10
    assert not _children()


def test_one_process_when_asked(catalog, monkeypatch):
    inst = load_instance(ROOT / "problems" / "offline-tokens-per-dollar.yaml", catalog)
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked with PLANNER_CANDIDATE_PROCESSES=1"))
    _build(inst, catalog, "1", monkeypatch)
