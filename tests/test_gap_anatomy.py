"""benchmarks/gap_anatomy.py's per-workload minimum against brute force. The convex-hull bound it prints (and
the issue 7 report quotes) is a valid lower bound only if `cheapest_cover` never exceeds the true minimum over a
workload's plans, and it is that hull's bound only if it never falls below it: both directions are checked on
small instances with integer figures (no rounding edge cases)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.gap_anatomy import cheapest_cover


def brute_force(cost, out, need, min_replicas, max_configs, share_need) -> float:
    """Every count vector up to a cap no optimum exceeds (a configuration alone at its cap meets every row)."""
    caps = [max(math.ceil(need / o), min_replicas, math.ceil(share_need / o), 1) + 1 for o in out]
    best = math.inf
    for n in itertools.product(*(range(c + 1) for c in caps)):
        used = [i for i, k in enumerate(n) if k]
        if len(used) > max_configs or sum(n) < min_replicas:
            continue
        if sum(o * k for o, k in zip(out, n, strict=True)) < need:
            continue
        if any(out[i] * n[i] < share_need for i in used):
            continue
        best = min(best, sum(c * k for c, k in zip(cost, n, strict=True)))
    return best


@settings(max_examples=150, deadline=None)
@given(
    cands=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 12)), min_size=1, max_size=4),
    need=st.integers(0, 40),
    min_replicas=st.integers(0, 4),
    max_configs=st.sampled_from([1, 2]),
    share_need=st.sampled_from([0, 3, 7]),
)
def test_cheapest_cover_is_the_exact_minimum(cands, need, min_replicas, max_configs, share_need):
    cost, out = [float(c) for c, _ in cands], [float(o) for _, o in cands]
    got = cheapest_cover(cost, out, float(need), min_replicas, max_configs, float(share_need))
    assert got == pytest.approx(brute_force(cost, out, need, min_replicas, max_configs, share_need))


def test_two_configurations_beat_one_by_hand():
    # demand 10 from replicas of 6 tok/s at $3 or 4 tok/s at $1: three of the second ($3) beat one of each ($4);
    # at $2 for the second, one of each ($5) beats two of the first ($6) and three of the second ($6)
    assert cheapest_cover([3.0, 1.0], [6.0, 4.0], 10.0, 0, 2) == 3.0
    assert cheapest_cover([3.0, 1.0], [6.0, 4.0], 10.0, 0, 1) == 3.0
    assert cheapest_cover([3.0, 2.0], [6.0, 4.0], 10.0, 0, 2) == 5.0
    assert cheapest_cover([3.0, 2.0], [6.0, 4.0], 10.0, 0, 1) == 6.0
    # a share of 5 tok/s rules out one replica of the 4 tok/s configuration beside the other
    assert cheapest_cover([3.0, 2.0], [6.0, 4.0], 10.0, 0, 2, share_need=5.0) == 6.0


def test_negative_costs_are_refused():
    with pytest.raises(ValueError):
        cheapest_cover([-1.0], [1.0], 1.0, 0, 2)
