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
            done[key] = _undominated(*cols)
        keep[idx] = done[key]
    return keep


# up to this many rows, the pairs of every group are compared in one (rows x rows) matrix: the per-group and
# per-GPU-count passes of `_undominated` cost ~15 numpy calls each, most of a small table's pruning time
ONE_MATRIX_ROWS = 512


def _undominated_at_once(g: np.ndarray, o: np.ndarray, w: np.ndarray, q: np.ndarray,
                         label: np.ndarray) -> np.ndarray:
    """`_undominated` of every group (`label`: each row's group; rows in table order) in one matrix of
    (candidate c, dominating d) pairs: the same comparisons of the same products, pair by pair."""
    n = len(g)
    lo, hi, above, below = o * (1 - 1e-12), w * (1 + 1e-12), o * (1 + 1e-9), w * (1 - 1e-9)
    mult = np.floor(g[:, None] / g[None, :])  # [c, d]: replicas of d in c's GPUs
    md_o, md_w = mult * o[None, :], mult * w[None, :]
    pos = np.arange(n)
    ok = (mult >= 1) & (md_o >= lo[:, None]) & (md_w <= hi[:, None]) & (q[None, :] <= q[:, None]) & (
        pos[None, :] != pos[:, None]) & (label[None, :] == label[:, None])
    strict = (md_o > above[:, None]) | (md_w < below[:, None]) | (q[None, :] < q[:, None]) | (
        mult * g[None, :] < g[:, None])
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
    """`prune_dominated` within one group (rows in table order). The candidates of one GPU count G share
    m = floor(G/g_d) with every d, so m*o_d and m*W_d are vectors per G and the pairwise tests only compare.
    The GPU counts' members are slices of the rows sorted by count (ascending within a count), their bounds
    and multiples computed for every count at once."""
    n = len(g)
    later = np.zeros(n, dtype=bool)  # dominated strictly by a later candidate: dropped whatever happens
    earlier: dict[int, np.ndarray] = {}  # candidate -> the earlier ones dominating it: dropped if one is kept
    lo, hi, above, below = o * (1 - 1e-12), w * (1 + 1e-12), o * (1 + 1e-9), w * (1 - 1e-9)
    members = np.argsort(g, kind="stable")
    gs = g[members]
    first = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    ends = np.r_[first[1:], n].tolist()
    sizes = gs[first]
    lo_s, hi_s, q_s, above_s, below_s = (x[members] for x in (lo, hi, q, above, below))
    lo_min, hi_max, q_max = (np.minimum.reduceat(lo_s, first), np.maximum.reduceat(hi_s, first),
                             np.maximum.reduceat(q_s, first))
    mult_all = np.floor(sizes[:, None] / g[None, :])  # [count, d]
    md_o_all, md_w_all = mult_all * o, mult_all * w
    can_all = (mult_all >= 1) & (md_o_all >= lo_min[:, None]) & (md_w_all <= hi_max[:, None]) & (
        q <= q_max[:, None])
    for j, (start, end) in enumerate(zip(first.tolist(), ends, strict=True)):
        d = np.flatnonzero(can_all[j])
        if len(d) == 0:
            continue
        a = members[start:end]
        mult, size = mult_all[j, d], sizes[j]
        md_o, md_w, qd = md_o_all[j, d], md_w_all[j, d], q[d]
        qa = q_s[start:end, None]
        ok = (md_o >= lo_s[start:end, None]) & (md_w <= hi_s[start:end, None]) & (qd <= qa) & (
            d[None, :] != a[:, None])
        strict = (md_o > above_s[start:end, None]) | (md_w < below_s[start:end, None]) | (qd < qa) | (
            mult * g[d] < size)[None, :]
        after = d[None, :] > a[:, None]
        later[a] = (ok & strict & after).any(axis=1)
        prior = ok & ~after
        for r in np.flatnonzero(prior.any(axis=1) & ~later[a]):
            earlier[int(a[r])] = d[prior[r]]
    keep = ~later
    for r in sorted(earlier):  # in table order: every earlier candidate's fate is settled before
        if keep[earlier[r]].any():
            keep[r] = False
    return keep
