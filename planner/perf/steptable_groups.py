"""Groups of step-table rows that share every input of the step model but the output length: the model runs
once per group (steptable.SHARE_GRID_POINTS), each member reading its own context where the model does. Apart
from steptable.py so that the table's construction reads on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.perf.resolve import Cols, Taken
from planner.perf.row_hash import row_hash

MEMBER_COLUMNS = ("osl",)  # the columns the rows of a group may differ in (`shared_groups`). With "isl" too
#                            (mixed-fleet: 1,956 groups instead of 3,618) the tables took no less time (CPU ms,
#                            min of 7: mixed-fleet 144 vs 143, offline-tokens-per-dollar 58 vs 47): the prompt
#                            moves prefill attention and, with attention-DP, the ranks' tokens, so little is left
#                            to share and the broadcasting costs more


def shared_groups(c: Cols, n: int, rows: np.ndarray, extra=()) -> np.ndarray:
    """Per row of `rows` (of `c`'s n), a group id (0, 1, ...): rows in one group have every per-row column of
    `c` but `osl`, and each of the `extra` per-row arrays, equal bit for bit, so the step model computes the
    same numbers for them at the same points except where the context (or `osl`) enters. A hash of the bits
    groups them; each row is then checked against its group's first row (a collision gets a group of its
    own, so a group is exact whatever the hash)."""
    if isinstance(c, Taken):
        c._all()
    cols = [v for k, v in c.items() if k not in MEMBER_COLUMNS and isinstance(v, np.ndarray) and v.ndim == 1
            and len(v) == n]
    cols = [v for v in cols + [np.broadcast_to(np.asarray(x), (n,)) for x in extra] if n and _varies(v)]
    m = len(rows)
    bits = np.empty((len(cols), m), dtype=np.uint64)  # a column's bits contiguous
    for j, v in enumerate(cols):
        if v.dtype == np.float64:
            np.take(v.view(np.uint64), rows, out=bits[j])
        else:  # text (engine, speculative method) and integers: codes in order of appearance
            x = v[rows]
            bits[j] = pd.factorize(x.astype(object) if x.dtype.kind == "O" else x)[0]
    _, first, gid = np.unique(row_hash(bits, m), return_index=True, return_inverse=True)
    gid = gid.ravel()
    rep = first[gid]
    same = np.ones(m, dtype=bool)
    for b in bits:
        same &= b == b[rep]
    if not same.all():  # a hash collision: those rows alone
        gid = gid.copy()
        gid[~same] = len(first) + np.arange(int((~same).sum()))
    return gid


def _varies(v: np.ndarray) -> bool:
    """Whether a column's values differ bit for bit between rows (a constant one splits no group: ~40% of the
    resolved columns in the examples' grids)."""
    b = v.view(np.uint64) if v.dtype == np.float64 else v
    return bool((b != b[0]).any())


KIND_COLUMNS = ("moe_layers", "expert_params", "shared_params", "dense_layers", "tp", "ep", "pp", "attn_dp")
"""Columns whose zero (layers, parameters) or one (parallel degrees) spares the step model an op on every row
of a chunk where it holds on all (step._Pass.vanishes; kernels.allreduce_time / alltoall_time)."""


def kind_order(c: Cols, rows: np.ndarray) -> np.ndarray:
    """An order of `rows` (positions in `c`) that puts rows of one kind together (`KIND_COLUMNS`: with or without
    routed experts, shared experts, dense layers, TP, EP, PP, attention DP), so that the step tables' chunks
    of groups are mostly of one kind. The model is elementwise over rows: any order gives the same numbers."""
    keys = [np.asarray(c[k])[rows] > (1.0 if k in ("tp", "ep", "pp", "attn_dp") else 0.0) for k in KIND_COLUMNS]
    return np.lexsort(keys[::-1])
