"""Candidates built in two halves of the workloads (optimize.split_candidates) are the single build's table, to
the column order, the dtypes and the stats: on the examples that split, including one whose halves have
different columns (a workload with reasoning effort only) and one with a quality that is None in one half."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.optimize import background
from planner.optimize import split_candidates as S
from planner.optimize.candidates import build_candidates
from planner.optimize.pipeline import load_instance

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert list(a.dtypes.astype(str)) == list(b.dtypes.astype(str))
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize("name", ["offline-tokens-per-dollar", "mixed-fleet"])
def test_the_halves_merged_are_the_single_build(catalog, name):
    inst = load_instance(ROOT / "problems" / f"{name}.yaml", catalog)
    halves = S.halves(inst, catalog)
    assert halves is not None and all(halves)
    first, second = halves
    assert max(first) < min(second)  # ids in order: what merge_tables' column order relies on
    whole = build_candidates(inst, catalog)
    parts = [build_candidates(S._only(inst, h), catalog) for h in halves]
    if name == "offline-tokens-per-dollar":  # the case the column order is for
        assert list(parts[0].table.columns) != list(parts[1].table.columns)
    _same(S.merge_tables([p.table for p in parts]), whole.table)
    assert {k: parts[0].stats[k] + parts[1].stats[k] for k in whole.stats} == whole.stats


def test_a_column_of_another_type_in_each_half_takes_the_single_builds_type(catalog):
    """mixed-fleet's batch tier has no quality floor (quality None: object), the others a float quality."""
    inst = load_instance(ROOT / "problems" / "mixed-fleet.yaml", catalog)
    ids = sorted(inst.workloads)
    assert ids[0] == "batch"
    parts = [build_candidates(S._only(inst, h), catalog).table for h in (ids[:1], ids[1:])]
    assert parts[0]["quality"].dtype != parts[1]["quality"].dtype
    _same(S.merge_tables(parts), build_candidates(inst, catalog).table)


def test_the_split_build_through_a_worker_is_the_single_build(catalog):
    if not background.worth_a_worker():
        pytest.skip("needs fork and two CPUs")
    inst = load_instance(ROOT / "problems" / "enterprise-budget.yaml", catalog)
    split = S.build_split(inst, catalog)
    assert split is not None
    whole = build_candidates(inst, catalog)
    _same(split.table, whole.table)
    assert split.stats == whole.stats


def test_no_split_for_one_workload_or_a_small_grid(catalog):
    assert S.halves(load_instance(ROOT / "problems" / "quickstart.yaml", catalog), catalog) is None
    assert S.halves(load_instance(ROOT / "problems" / "diurnal-own-rent.yaml", catalog), catalog) is None
