"""optimize.prune's group-by-group passes (rows dominated strictly by a later row found through a cover, then
the table-order rule among the rest) keep exactly the rows the pairwise rule keeps, ties and near-ties
included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.optimize import prune


def _kept_by_definition(g, o, w, q, label) -> np.ndarray:
    """`prune_dominated`'s docstring pair by pair, in table order: c dropped when a later row dominates it
    strictly or an earlier kept row dominates it at all."""
    n = len(g)
    keep = np.ones(n, dtype=bool)
    for c in range(n):
        for d in range(n):
            if d == c or label[d] != label[c] or (d < c and not keep[d]):
                continue
            m = math.floor(g[c] / g[d])
            ok = m >= 1 and m * o[d] >= o[c] * (1 - 1e-12) and m * w[d] <= w[c] * (1 + 1e-12) and q[d] <= q[c]
            strict = m * o[d] > o[c] * (1 + 1e-9) or m * w[d] < w[c] * (1 - 1e-9) or m * g[d] < g[c] or q[d] < q[c]
            if ok and (d < c or strict):
                keep[c] = False
                break
    return keep


# few distinct values: exact ties, duplicated rows, multiples of smaller counts; near-ties within the 1e-12
# tolerance and between it and 1e-9; negative and zero charged power, a missing figure now and then
_OUT = [*map(float, range(9)), 3.0 * (1 + 1e-13), 3.0 * (1 + 1e-10), float("nan")]
_WATTS = [*map(float, range(-2, 9)), 2.0 * (1 - 1e-13), 2.0 * (1 - 1e-10), float("nan")]


@st.composite
def _tables(draw):
    n = draw(st.integers(1, 70))
    rows = draw(st.lists(st.tuples(st.sampled_from([1.0, 2.0, 3.0, 4.0, 8.0]), st.sampled_from(_OUT),
                                   st.sampled_from(_WATTS), st.sampled_from([1.0, 2.0, 4.0]),
                                   st.integers(0, 2)), min_size=n, max_size=n))
    copies = draw(st.lists(st.integers(0, n - 1), max_size=n // 2))  # duplicated rows, elsewhere in the table
    rows += [rows[i] for i in copies]
    order = draw(st.permutations(range(len(rows))))
    return [np.array([rows[i][k] for i in order]) for k in range(5)]


@settings(max_examples=400, deadline=None)
@given(_tables(), st.sampled_from([1, 3, 16, 128]), st.sampled_from([0, 10**6]))
def test_group_passes_keep_what_the_pairwise_rule_keeps(cols, chunk_rows, group_at_once_rows):
    g, o, w, q, label = cols
    by = [label.astype(str), np.full(len(g), "s"), np.full(len(g), "own")]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prune, "ONE_MATRIX_ROWS", 0)  # group by group: in passes (0) or a matrix a group
        mp.setattr(prune, "GROUP_AT_ONCE_ROWS", group_at_once_rows)
        mp.setattr(prune, "LATER_CHUNK_ROWS", chunk_rows)
        keep = prune.undominated(g, o, w, q, by)
    assert (keep == _kept_by_definition(g, o, w, q, label)).all()
    assert (keep == prune._undominated_at_once(g, o, w, q, label)).all()


# rows (gpus, tok/s, charged W, group) where the first is dominated strictly by a later row only, itself
# dropped by a later one that does not dominate the first (so the second pass cannot find what the first missed)
_MISSED_ONLY_ONCE = {
    # the later dominator (2 GPUs) is beaten in tok/s and power by a row of a higher group: the cover is per
    # group
    "cover per group": [(3, 2, 2.5, 1), (2, 2, 2, 1), (1, 1.5, 1, 1), (2, 3, 1, 4)],
    # ... or by a row of a lower group with less tok/s and less power
    "staircase per group": [(3, 2, 2.5, 4), (2, 2, 2, 4), (1, 1.5, 1, 1), (2, 1, 1.5, 1)],
    # its power is beaten by a row of another GPU count: the staircase restarts with every count
    "staircase per count": [(3, 2, 2.5, 1), (2, 2, 2, 1), (1, 1.5, 1, 1)],
    # the covering row that dominates the second is earlier (and dropped): the rows after it are searched
    "covered by an earlier row": [(2, 2.5, 2, 1), (3, 2, 2.5, 1), (2, 2, 2, 1), (1, 1.5, 1, 1)],
}


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 128])
@pytest.mark.parametrize("case", sorted(_MISSED_ONLY_ONCE))
def test_a_row_dominated_strictly_only_by_a_later_dropped_one_is_dropped(case, chunk_rows, monkeypatch):
    monkeypatch.setattr(prune, "LATER_CHUNK_ROWS", chunk_rows)
    g, o, w, q = (np.array(x, dtype=float) for x in zip(*_MISSED_ONLY_ONCE[case], strict=True))
    keep = prune._undominated(g, o, w, q)
    assert (keep == _kept_by_definition(g, o, w, q, np.zeros(len(g)))).all()
    assert not keep[o == 2].any()  # the row dropped and the later row dropping it


def test_a_later_equal_row_does_not_drop_an_earlier_one():
    """Of two equal rows the first is kept: only a strict dominator drops an earlier row."""
    g, o, w, q = (np.array(x) for x in ([2.0, 1.0, 2.0], [4.0, 1.0, 4.0], [3.0, 5.0, 3.0], [1.0, 1.0, 1.0]))
    assert list(prune._undominated(g, o, w, q)) == [True, True, False]
