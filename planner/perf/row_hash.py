"""One 64-bit hash per row of uint64 bit columns, the rows' repeats then compared whole (`shared_groups`,
`capacity._distinct_rows`, `kernels._power_by_row`): a hash only saves work, a collision costs the saving."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

MULT, SHIFT = np.uint64(0x9E3779B97F4A7C15), np.uint64(31)


def row_hash(columns: Iterable[np.ndarray], m: int) -> np.ndarray:
    """(m,) uint64: the columns (each (m,) uint64) folded in one at a time, xor, multiply, xor-shift, wrapping.
    The shift brings high bits down: a product alone only moves bits up, so a sum of products let rows differing
    in the sign bit of an even number of fields collide ((1.5, 2.5) and (-1.5, -2.5))."""
    h = np.zeros(m, dtype=np.uint64)
    for b in columns:
        h ^= b
        h *= MULT
        h ^= h >> SHIFT
    return h


__all__ = ["row_hash"]
