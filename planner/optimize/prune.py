"""Exact dominance pruning of candidates before the MIP (step 6 of `planner.optimize.candidates`): within one
workload, system and mode, c is dropped when m = floor(g_c / g_d) >= 1 replicas of another candidate d use no
more GPUs, serve at least as many tok/s, draw no more charged power and have a group no larger.

Charged power is what the MIP charges a replica for: its board power above its GPUs' idle draw (E_c in
`optimize.formulation`; the idle draw of every GPU is in the server's fixed cost). Comparing total power instead
is not exact: m replicas of d on fewer GPUs may draw less in total yet more above idle (the GPUs d leaves free
still idle), so the optimum could need the c it dropped. Rentals are charged no energy; the same test there only
keeps more than it must.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def prune_dominated(table: pd.DataFrame, idle_w_per_gpu: dict[str, float]) -> pd.DataFrame:
    """Drop c when m = floor(g_c/g_d) >= 1 replicas of some d (same workload, system, mode) give
    m*o_d >= o_c, m*P_d <= P_c, q_d <= q_c (ties: keep the earlier key), with P = W - g * idle W per GPU of the
    system (`idle_w_per_gpu`: system id -> W).

    Candidates are visited in table order and only a candidate still kept can dominate (dominance by multiples
    is not transitive, so the order is part of the rule): c is dropped when a later candidate dominates it
    strictly, or an earlier one that is kept dominates it at all."""
    gpus = table["gpus"].to_numpy()
    idle = table["system"].map(idle_w_per_gpu).to_numpy(dtype=float)
    charged = table["avg_power_w"].to_numpy(dtype=float) - gpus * idle
    keep = undominated(gpus, table["output_tok_s"].to_numpy(), charged, table["group_gpus"].to_numpy(),
                       [table[c] for c in ("workload", "system", "mode")])
    return table[keep].reset_index(drop=True)


def undominated(gpus, out, charged_w, group, by: list) -> np.ndarray:
    """`prune_dominated`'s rows kept, from its columns (arrays in table order; `charged_w`: power above idle;
    `by`: the workload, system and mode columns)."""
    keep = np.ones(len(gpus), dtype=bool)
    g, o, w, q = (np.asarray(x).astype(float) for x in (gpus, out, charged_w, group))
    groups = _groups(by)
    if len(gpus) <= ONE_MATRIX_ROWS and groups:  # every group in one matrix (a few numpy calls in all)
        rows = np.sort(np.concatenate(groups))
        label = np.empty(len(gpus), dtype=np.int64)
        for j, idx in enumerate(groups):
            label[idx] = j
        keep[rows] = _undominated_at_once(g[rows], o[rows], w[rows], q[rows], label[rows])
        return keep
    # groups whose columns are equal value for value (one system owned and rented: the same rows in the same
    # order, charged the same power) have the same rows kept: pruned once
    done: dict[bytes, np.ndarray] = {}
    for idx in groups:
        cols = [g[idx], o[idx], w[idx], q[idx]]
        key = b"".join(x.tobytes() for x in cols)
        if key not in done:
            done[key] = _undominated(*cols) if len(idx) > GROUP_AT_ONCE_ROWS else \
                _undominated_at_once(*cols, np.zeros(len(idx), dtype=np.int64))
        keep[idx] = done[key]
    return keep


# up to this many rows, the pairs of every group are compared in one (rows x rows) matrix: `_undominated`'s
# passes cost ~40 numpy calls a group, most of a small table's pruning time (brownfield-h100's 488 rows in 12
# groups: 10 ms in one matrix, 4 ms group by group; reasoning-deepseek-r1's 296 in 5: 2.5 and 4.3 ms)
ONE_MATRIX_ROWS = 320
# and, on larger tables, a group of up to this many rows in a matrix of its own (the passes' ~40 numpy calls a
# group cost more there: all the examples' pruning 126 -> 108 ms CPU, ai-factory-10mw's 379 rows 4.9 -> 1.9 ms;
# 400 gave the same, 700 ran 47 ms instead of 18 on offline-tokens-per-dollar)
GROUP_AT_ONCE_ROWS = 250


def _undominated_at_once(g: np.ndarray, o: np.ndarray, w: np.ndarray, q: np.ndarray,
                         label: np.ndarray) -> np.ndarray:
    """`_undominated` of every group (`label`: each row's group; rows in table order) in one matrix of
    (candidate c, dominating d) pairs: the same comparisons of the same products, pair by pair."""
    n = len(g)
    mult = np.floor(g[:, None] / g[None, :])  # [c, d]: replicas of d in c's GPUs
    pos = np.arange(n)
    ok, better = _pair_tests(mult * o[None, :], mult * w[None, :], q[None, :], o[:, None], w[:, None], q[:, None])
    ok &= (mult >= 1) & (pos[None, :] != pos[:, None]) & (label[None, :] == label[:, None])
    strict = better | (mult * g[None, :] < g[:, None])
    after = pos[None, :] > pos[:, None]
    later = (ok & strict & after).any(axis=1)  # dominated strictly by a later candidate: dropped
    prior = ok & ~after  # the earlier ones dominating c: c dropped if one of them is kept
    keep = ~later
    for r in np.flatnonzero(prior.any(axis=1) & ~later):  # in table order: earlier fates settled before
        if keep[prior[r]].any():
            keep[r] = False
    return keep


def _groups(by: list) -> list[np.ndarray]:
    """The row positions of each group of equal values of the columns `by` (rows with a missing value in none),
    ascending within a group, groups in order of first appearance: groupby(by, sort=False).indices, from
    integer codes."""
    code = np.zeros(len(by[0]), dtype=np.int64)
    missing = np.zeros(len(by[0]), dtype=bool)
    for c in by:
        codes, uniques = pd.factorize(c)
        missing |= codes < 0
        code = code * (len(uniques) + 1) + codes
    rows = np.flatnonzero(~missing)
    _, first, inverse = np.unique(code[rows], return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    parts = np.split(rows[np.argsort(inverse, kind="stable")], np.cumsum(np.bincount(inverse))[:-1])
    return [parts[j] for j in np.argsort(first, kind="stable")]


def _undominated(g: np.ndarray, o: np.ndarray, w: np.ndarray, q: np.ndarray) -> np.ndarray:
    """`prune_dominated` within one group (rows in table order), in two passes: the rows dominated strictly by
    a later one (dropped whatever happens, `_later_strict`), then among the rest, the survivors, the table-order
    rule of `_undominated_at_once` (a kept row is a survivor, so the earlier kept ones that drop a row are
    survivors too; no survivor has a later strict dominator)."""
    keep = ~_later_strict(g, o, w, q)
    rest = np.flatnonzero(keep)
    keep[rest] = _undominated_at_once(g[rest], o[rest], w[rest], q[rest], np.zeros(len(rest), dtype=np.int64))
    return keep


# the rows whose covering dominators are all earlier are compared with the rows after them in chunks of this
# many rows: the rows of their own chunk after them, and a cover of the rows after the chunk. Assumed (no timing
# behind 256; it bounds a chunk's pair matrix): the rows kept do not depend on it (tests/test_prune_passes.py)
LATER_CHUNK_ROWS = 256


def _later_strict(g: np.ndarray, o: np.ndarray, w: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Whether each row is dominated strictly by a later row of its group. Only a cover's rows are compared with
    every row (`_cover`: whatever a row dominates strictly, a covering row dominates strictly too); a row
    dominated strictly by covering rows that are all earlier (or by itself) is compared with the rows after
    it."""
    n = len(g)
    pos = np.arange(n)
    f = _cover(g, o, w, q, 0)
    hit = _dominates_strictly(g, o, w, q, pos, f)
    later = (hit & (f[None, :] > pos[:, None])).any(axis=1)
    unsure = np.flatnonzero(hit.any(axis=1) & ~later)
    for start in range(0, n, LATER_CHUNK_ROWS):
        c = unsure[(unsure >= start) & (unsure < start + LATER_CHUNK_ROWS)]
        if len(c):
            end = min(start + LATER_CHUNK_ROWS, n)
            d = np.concatenate([np.arange(c[0] + 1, end), _cover(g[end:], o[end:], w[end:], q[end:], end)])
            later[c] = (_dominates_strictly(g, o, w, q, c, d) & (d[None, :] > c[:, None])).any(axis=1)
    return later


def _cover(g: np.ndarray, o: np.ndarray, w: np.ndarray, q: np.ndarray, offset: int) -> np.ndarray:
    """Rows (positions + `offset`, ascending) such that every row with numbers has one of the same GPU count and
    group with at least its tok/s and at most its charged power: for any c, the same multiple of it serves at
    least as much for no more power (a product rounds monotonically), so it dominates c (strictly) wherever the
    row does. Per (count, group), the rows of the (tok/s, power) staircase; of equal rows the last in table
    order."""
    rows = np.flatnonzero(~(np.isnan(o) | np.isnan(w)))
    if len(rows) == 0:
        return rows
    w_rank = _ranks(w[rows])
    order = np.lexsort((-rows, w_rank, -o[rows], q[rows], g[rows]))
    gs, qs = g[rows[order]], q[rows[order]]
    part = np.cumsum(np.concatenate([[0], (gs[1:] != gs[:-1]) | (qs[1:] != qs[:-1])]))
    # ranks lifted by part, later parts lower: one running minimum restarts at every part
    v = (part[-1] - part) * (len(rows) + 1) + w_rank[order]
    run = np.minimum.accumulate(v)
    return np.sort(rows[order[np.concatenate([[True], v[1:] < run[:-1]])]]) + offset


def _ranks(x: np.ndarray) -> np.ndarray:
    """Dense ranks of `x` (equal values one rank): integers ordered as the values."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ranks = np.empty(len(x), dtype=np.int64)
    ranks[order] = np.cumsum(np.concatenate([[0], xs[1:] != xs[:-1]]))
    return ranks


def _dominates_strictly(g: np.ndarray, o: np.ndarray, w: np.ndarray, q: np.ndarray, c: np.ndarray,
                        d: np.ndarray) -> np.ndarray:
    """[i, j]: row d[j] dominates row c[i] strictly (`_undominated_at_once`'s products and comparisons, but no
    exclusion of a row by itself); the multiples per GPU count of c, not per pair."""
    counts, at = np.unique(g[c], return_inverse=True)
    at = at.reshape(-1)
    mult = np.floor(counts[:, None] / g[d][None, :])  # [count, d]: replicas of d in the count's GPUs
    ok, better = _pair_tests((mult * o[d])[at], (mult * w[d])[at], q[d][None, :], o[c][:, None], w[c][:, None],
                             q[c][:, None])
    return (mult >= 1)[at] & ok & (better | (mult * g[d] < counts[:, None])[at])


def _pair_tests(md_o, md_w, qd, oc, wc, qc) -> tuple[np.ndarray, np.ndarray]:
    """The dominance tests of d's multiple (tok/s md_o, charged power md_w, group qd) against c (oc, wc, qc), one
    rule for both passes: (at least c's tok/s and at most its power and group, to 1e-12 relative; better in one
    of them, by more than 1e-9 relative for tok/s and power). The GPU-count test is the caller's."""
    ok = (md_o >= oc * (1 - 1e-12)) & (md_w <= wc * (1 + 1e-12)) & (qd <= qc)
    return ok, (md_o > oc * (1 + 1e-9)) | (md_w < wc * (1 - 1e-9)) | (qd < qc)
