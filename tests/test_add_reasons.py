"""`resolve.add_reasons` (every stage of the model writes why a row does not run through it): a row keeps the
first reason and kind written (the stage where it failed), the rest of the mask gets the message of its own key
values, and numbers read in a message as numpy scalars do (b4f4eea formats float64 and integers as Python numbers
for speed: the same text)."""

from __future__ import annotations

import numpy as np

from planner.perf.resolve import add_reasons


def test_a_row_keeps_its_first_reason_and_kind():
    reason = np.array(["", "memory: too big", "", ""], dtype=object)
    kinds = np.array(["", "memory", "", ""], dtype=object)
    tp = np.array([3, 2, 3, 5], dtype=np.int64)
    add_reasons(reason, kinds, "config", np.array([True, True, False, True]), [tp], lambda t: f"tp {t} odd")
    assert reason.tolist() == ["tp 3 odd", "memory: too big", "", "tp 5 odd"]
    assert kinds.tolist() == ["config", "memory", "", "config"]


def test_numbers_read_as_numpy_prints_them():
    values = [np.array([0.1 + 0.2, 1e-7, 3.0]), np.array([7, -2, 0], dtype=np.int64),
              np.array([0.1, 2.5, 1e-7], dtype=np.float32), np.array([True, False, True])]
    for v in values:
        reason, kinds = np.full(len(v), "", dtype=object), np.full(len(v), "", dtype=object)
        add_reasons(reason, kinds, "config", np.ones(len(v), dtype=bool), [v], lambda x: f"{x} / {x:g} / {x:.3f}")
        assert reason.tolist() == [f"{x} / {x:g} / {x:.3f}" for x in v], v.dtype
