"""expected_experts_touched's power computed once per distinct row (kernels._power_by_row, the step tables'
rows on the last axis) gives np.power's values bit for bit: rows repeated, rows all distinct, and two rows whose
hashes collide (the whole-row comparison must catch it)."""

from __future__ import annotations

import numpy as np

from planner.perf.kernels import _power_by_row, expected_experts_touched
from planner.perf.row_hash import row_hash


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint64), b.view(np.uint64))


def _rows(g: int, distinct: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, distinct, g)
    base = rng.choice([0.0, 0.875, 0.9375, 0.96875], distinct)[pick]
    t = np.floor(rng.random((1, 4, 3, distinct)) * 300.0)[..., pick]
    return base, t


def test_repeated_and_distinct_rows_give_the_powers_bits():
    for distinct in (1, 5, 40, 64):  # 64 of 64: few repeats, the plain power
        base, t = _rows(64, distinct)
        assert _same_bits(_power_by_row(base, t), np.power(base, t))
        e, k = np.full(64, 32.0), 32.0 * (1.0 - base)
        want = e * (1.0 - np.power(np.clip(1.0 - k / e, 0.0, 1.0), t))
        assert _same_bits(expected_experts_touched(e, k, t), want)


def test_a_hash_collision_is_caught():
    base, t = _rows(16, 2)
    base, t = base.copy(), t.copy()
    flat = t.reshape(-1, 16)
    # the hash folds a row's fields in one at a time (row_hash: h ^= field, then an invertible mix): with s the
    # state after the base, row j's first t set to s_0 ^ t_0 ^ s_j xors in to row 0's, so the same hash
    bits_b, bits_t = base.view(np.uint64), flat[0].view(np.uint64)
    j = 2
    bits_b[j] = bits_b[0] ^ np.uint64(1 << 63)  # the sign bit: another base
    state = row_hash([bits_b], 16)
    bits_t[j] = state[0] ^ bits_t[0] ^ state[j]
    flat[1:, j] = flat[1:, 0]
    assert base[j] != base[0]
    cols = np.concatenate([base[None], flat]).view(np.uint64)
    assert row_hash(cols, 16)[j] == row_hash(cols, 16)[0]  # forged: a collision
    with np.errstate(all="ignore"):  # the forged values are far outside a table's (overflow, NaN)
        assert _same_bits(_power_by_row(base, t), np.power(base, t))
