"""Rows of rows (`planner.perf.resolve.take` of a taken set of columns) gather each column once, from the
source, at the composed rows: the columns read equal two gathers one after the other, whatever the parent has
set or gathered already."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.perf.resolve import Cols, Taken, TakenTwice, take


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 30), st.data())
def test_rows_of_rows_equal_two_gathers(n, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    src = Cols(batch=rng.random(n), tp=rng.integers(1, 9, n).astype(float), name=np.array(["x"] * n, dtype=object),
               scalar=3.5, grid=rng.random((n, 4)), flags=rng.random(n) > 0.5)
    first = np.sort(rng.choice(n, data.draw(st.integers(1, n)), replace=True))
    parent = take(src, first)
    assert type(parent) is Taken
    if data.draw(st.booleans()):
        parent["batch"] = rng.random(len(first))  # set on the parent (the search sets the batch of a round)
    if data.draw(st.booleans()):
        parent["tp"]  # gathered by the parent before the child is taken
    second = rng.choice(len(first), data.draw(st.integers(0, len(first))), replace=True)
    child = take(parent, second)
    assert type(child) is TakenTwice
    got_all = {name: child[name] for name in ("tp", "batch", "name", "flags", "scalar", "grid")}  # child first
    for name, got in got_all.items():
        want = parent[name]
        want = want[second] if isinstance(want, np.ndarray) and want.ndim == 1 else want
        if isinstance(want, np.ndarray):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
        else:
            assert got == want
    assert set(child.keys()) == set(parent.keys())
    assert "tp" in child and "missing" not in child and child.get("missing") is None
