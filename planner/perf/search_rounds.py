"""The batch search's rounds on candidate indexes (`search._largest`): which (row, candidate) pairs to judge
next, and the end of a bisection judged in one run of the model. Pure index arithmetic on the (n, K) candidate
table: no model, no targets.
"""

from __future__ import annotations

import numpy as np


def stretch(rows: np.ndarray, first: np.ndarray, width: np.ndarray, step: int = 1):
    """(row, candidate index) pairs: per row of `rows`, `width` consecutive indexes from `first` by `step`."""
    at = np.repeat(rows, width)
    return at, np.repeat(first, width) + step * (np.arange(len(at)) - np.repeat(np.cumsum(width) - width, width))


def first_equal(cand: np.ndarray) -> np.ndarray:
    """(n, K): per candidate index, the first index of its row (ascending) with the same batch."""
    k = np.arange(cand.shape[1])
    starts = np.ones(cand.shape, dtype=bool)
    starts[:, 1:] = cand[:, 1:] != cand[:, :-1]
    return np.maximum.accumulate(np.where(starts, k, 0), axis=1)


def unjudged(rows: np.ndarray, k: np.ndarray, judged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (rows, k) not `judged` yet ((n, K) mask), each once, in their order."""
    new = ~judged[rows, k]
    rows, k = rows[new], k[new]
    key = rows * judged.shape[1] + k
    if len(key) > 1 and (np.diff(np.sort(key)) == 0).any():  # a pair asked twice in one round
        _, first = np.unique(key, return_index=True)
        first.sort()
        rows, k = rows[first], k[first]
    return rows, k


def bisect_judged(run, flags: dict, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """The bisection of `rows` to its end (lo, hi in place): every candidate strictly between lo and hi judged in
    one run, then halved on those flags: the rounds' midpoints and answers (even for a predicate not a prefix)."""
    run(*stretch(rows, lo[rows] + 1, hi[rows] - lo[rows] - 1))
    while len(rows := rows[hi[rows] - lo[rows] > 1]):
        mid = (lo[rows] + hi[rows]) // 2
        p = flags["bound"][rows, mid]
        lo[rows], hi[rows] = np.where(p, mid, lo[rows]), np.where(p, hi[rows], mid)


def scan_down(run, good: np.ndarray, rows: np.ndarray, lo: np.ndarray, best: np.ndarray, width: int,
              tail_pairs: int) -> None:
    """Per row of `rows`, into `best` (in place; -1 stays where none is) the largest candidate index from lo[row]
    down to 1 that `run` judges 'good' ((n, K) flags `good`: the top, lo, was judged by the bisection or the
    limit probe that found it): `width` indexes a row in the first round, twice as many each round after, and
    every index left in one run once at most `tail_pairs` remain."""
    top = lo.copy()
    known = good[rows, top[rows]]
    best[rows[known]] = top[rows[known]]
    top[rows] -= 1
    todo = rows[~known & (top[rows] >= 1)]
    while len(todo):
        # few pairs left: all of them in one run (the largest good one is what the rounds would find)
        w = top[todo] if top[todo].sum() <= tail_pairs else np.minimum(top[todo], width)
        width *= 2  # the rows still open are few and far from their top: wider rounds, fewer of them
        at, ks = stretch(todo, top[todo], w, -1)
        ok = run(at, ks)["good"]
        found = np.full(len(lo), -1)
        np.maximum.at(found, at[ok], ks[ok])
        best[todo] = found[todo]
        top[todo] -= w
        todo = todo[(best[todo] < 0) & (top[todo] >= 1)]


def guessed(cand: np.ndarray, guide: np.ndarray, lo: np.ndarray, hi: np.ndarray, rows: np.ndarray):
    """(rows, candidate indexes) to judge next: per row, the two candidates around the batch where the guide
    (judged at lo and hi, <= 0 about where the prefix predicate holds: TPOT / target - 1, linear in the batch
    as a decode step is) crosses 0, those strictly between lo and hi; the middle where the guide says nothing.
    Any candidates may be judged: the prefix is the prefix, the search only finds it sooner."""
    r = np.arange(len(rows))
    k_lo, k_hi = lo[rows], np.minimum(hi[rows], cand.shape[1] - 1)
    b_lo, b_hi = cand[rows, k_lo], cand[rows, k_hi]
    g_lo, g_hi = guide[rows, k_lo], guide[rows, k_hi]
    with np.errstate(divide="ignore", invalid="ignore"):
        b = b_lo - g_lo * (b_hi - b_lo) / (g_hi - g_lo)
    known = np.isfinite(b) & (hi[rows] < cand.shape[1]) & (g_lo <= 0) & (g_hi > 0)
    below = (cand[rows] <= b[:, None]).sum(axis=1) - 1  # the largest candidate at or below the crossing
    k = np.where(known, below, (k_lo + hi[rows]) // 2)
    at = np.concatenate([r, r[known]])
    ks = np.concatenate([k, k[known] + 1])
    inside = (ks > lo[rows][at]) & (ks < hi[rows][at])
    return rows[at[inside]], ks[inside]


__all__ = ["bisect_judged", "first_equal", "guessed", "scan_down", "stretch", "unjudged"]
