"""Domain packing by counts (issue 13): same answers as first-fit decreasing on explicit lists, and a forged
plan with a billion servers or replicas is checked by its counts instead of exhausting memory (how fast:
benchmarks/bench_packing.py; a wall-clock assert here broke on a loaded CI machine without a code change)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.optimize.layout import pack_groups


def ffd(groups: list[int], domain: int, gpus_per_server: int, servers: int) -> bool:
    """The reference: first-fit decreasing over one bin per scale-up domain."""
    full, rest = divmod(gpus_per_server, domain)
    bins = ([domain] * full + ([rest] if rest else [])) * servers
    for g in sorted(groups, reverse=True):
        for i, free in enumerate(bins):
            if free >= g:
                bins[i] = free - g
                break
        else:
            return False
    return True


SHAPES = st.sampled_from([(8, 8), (4, 8), (72, 72), (8, 16), (2, 8), (36, 72)])


@settings(max_examples=300, deadline=None)
@given(SHAPES, st.integers(0, 6), st.lists(st.sampled_from([1, 2, 4, 8, 16, 32, 64]), max_size=40))
def test_counted_packing_agrees_with_first_fit_decreasing(shape, servers, groups):
    domain, gpus = shape
    groups = [g for g in groups if g <= domain]
    assert pack_groups(groups, domain, gpus, servers) == ffd(groups, domain, gpus, servers)
    counts: dict[int, int] = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    assert pack_groups(counts, domain, gpus, servers) == ffd(groups, domain, gpus, servers)


def test_a_billion_servers_and_replicas_are_checked_by_counts():
    assert pack_groups({8: 10**9}, 8, 8, 10**9)
    assert not pack_groups({8: 10**9 + 1}, 8, 8, 10**9)
    assert pack_groups({4: 2 * 10**9, 2: 1}, 8, 8, 10**9 + 1)


def test_hand_checked_packings():
    assert pack_groups([8, 8], 8, 8, 2) and not pack_groups([8, 8, 4], 8, 8, 2)
    assert not pack_groups([4] * 5, 8, 8, 2) and pack_groups([4] * 4, 8, 8, 2)
    assert pack_groups([64, 8, 64], 72, 72, 2) and not pack_groups([64, 16], 72, 72, 1)
    assert pack_groups([36, 36], 36, 72, 1) and pack_groups([], 8, 8, 0)  # nothing to place: always fits
