"""Row arithmetic of the open-loop chain's lumped states (queueing.py), on (R, J) arrays, one row a configuration:
the mass of the integers a lumped state stands for and where it lies, cumulative sums across the few states, and
a percentile read between the states. Pure numpy (nothing of the chain's model), apart so that queueing.py reads
as the model itself."""

from __future__ import annotations

import numpy as np


def log_mass(a: np.ndarray, b: np.ndarray, hh: np.ndarray, log_hh: np.ndarray, none: np.ndarray,
             mid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log sum_{i=1..h} exp(a + (b - a) i / h), the mean of i under those weights): the mass of the integers
    between two states, log pi linear in between (a geometric series; written around the larger end so nothing
    overflows), and where it lies. hh = max(h, 1), log_hh = log(hh), none = (h == 0), mid = (hh + 1) / 2: the
    chain's, which do not depend on the rate (`queueing.Chain`). The rate search calls this ~12 times per row: the
    operations run in place.

    The mean: with ratio r = e^-(x / h) per integer from the heavy end (x = |b - a|), sum i r^i / sum r^i =
    1 / (1 - r) - h r^h / (1 - r^h), counted from the heavy end ((h + 1) / 2 where flat)."""
    x = np.subtract(b, a)
    np.abs(x, out=x)
    x_h = x / hh
    om_x = _one_minus_exp(x)  # 1 - e^-x
    om_h = _one_minus_exp(x_h)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(om_x)
        ratio -= np.log(om_h)
        heavy = np.reciprocal(om_h, out=om_h)
        e = np.subtract(1.0, om_x)  # e^-x / (1 - e^-x), times h
        e /= om_x
        e *= hh
        heavy -= e
    flat = x < 1e-9
    np.copyto(ratio, log_hh, where=flat)
    np.copyto(heavy, mid, where=flat)
    up = b >= a
    top = np.where(up, b, a - x_h)
    top += ratio
    np.copyto(top, -np.inf, where=none)
    np.subtract(hh + 1.0, heavy, out=heavy, where=up)  # counted from the top where the mass leans up
    return top, heavy


def _one_minus_exp(x: np.ndarray) -> np.ndarray:
    """-expm1(-x), on a new array."""
    t = np.negative(x)
    np.expm1(t, out=t)
    return np.negative(t, out=t)


def quantile_rows(values: np.ndarray, weights: np.ndarray, q: float, cum: np.ndarray | None = None) -> np.ndarray:
    """Per row, the q-th percentile of `values` (one per state along axis 1, ascending) under `weights`, each
    state's weight centred on its value and the cumulative interpolated linearly between the centres: a lumped
    state stands for a spread of occupancies about its mean, so the percentile falls between the states, not on
    one (read on the states, a percentile jumped by a whole lump as the rate moved). `cum`: the cumulative
    weights, where the caller has them."""
    cum = cumsum_rows(weights) if cum is None else cum
    mid = cum - 0.5 * weights
    k = (mid < (q / 100.0) * cum[:, -1:]).sum(axis=1)
    R, J = values.shape
    row = np.arange(0, R * J, J)  # flat positions: one gather each, not take_along_axis's index grids
    hi = np.minimum(k, J - 1)
    hi += row
    lo = np.maximum(k - 1, 0)
    lo += row
    mid, values = mid.ravel(), np.ascontiguousarray(values).ravel()
    m0, m1, v0, v1 = mid[lo], mid[hi], values[lo], values[hi]
    t = np.clip(((q / 100.0) * cum[:, -1] - m0) / np.maximum(m1 - m0, 1e-300), 0.0, 1.0)
    return v0 + t * (v1 - v0)


def cumsum_rows(w: np.ndarray) -> np.ndarray:
    """np.cumsum(w, axis=1) of a few columns (the chain's states) by column: the same sums in the same order
    (accumulate adds left to right), ~half the time of cumsum's per-row loop over 25 states."""
    c = np.empty_like(w)
    if w.shape[1]:
        c[:, 0] = w[:, 0]
    for j in range(1, w.shape[1]):
        np.add(c[:, j - 1], w[:, j], out=c[:, j])
    return c
