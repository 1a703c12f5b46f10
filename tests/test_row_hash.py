"""The row hash of capacity._distinct_rows and kernels._power_by_row (row_hash, as steptable_groups has it):
a sum of products alone let rows differing in the sign bit of an even number of fields collide, (1.5, 2.5) and
(-1.5, -2.5), and a collision computes every row (the answer right, the saving lost)."""

from __future__ import annotations

import numpy as np

from planner.perf import kernels
from planner.perf.capacity import _row_keys


def test_rows_differing_in_two_signs_hash_apart():
    rows = np.array([[1.5, 2.5], [-1.5, -2.5], [1.5, 2.5]])
    keys = _row_keys([rows.view(np.uint64)], 3)
    assert keys[0] != keys[1] and keys[0] == keys[2]
    split = _row_keys([rows[:, :1].view(np.uint64), rows[:, 1:].view(np.uint64)], 3)  # the same fields, two arrays
    assert split.tolist() == keys.tolist()


def test_power_by_row_keeps_its_saving_on_sign_flipped_rows(monkeypatch):
    """Two distinct rows (base, t) and (-base, -t), 8 times each: the power computed on 2 rows, not 16."""
    base = np.tile([0.5, -0.5], 8)
    t = np.tile([3.0, -3.0], 8)[None, :]
    sizes = []

    class Counting:  # numpy, with the power's elements counted
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def power(a, b):
            sizes.append(np.broadcast(a, b).size)
            return np.power(a, b)

    monkeypatch.setattr(kernels, "np", Counting())
    got = kernels._power_by_row(base, t)
    assert np.array_equal(got, np.power(base, t))
    assert sizes == [2]
