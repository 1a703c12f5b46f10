"""Reading the step tables (steptable.StepTables): where a decode count or a prompt-token count falls on a
row's grid, and the step seconds there (`interp_step`, `interp_on_grid`), with the chunk floor a step carrying
prompt tokens keeps. Apart from steptable.py, which builds the tables; steptable re-exports these names."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from planner.perf.steptable import StepTables


def locate(m_grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where x (R, K) falls on each row's decode grid (0, then geometric from 1 to the max, as the step tables
    build it): flat indexes of the left grid point and the weight of the right one. O(1) per value."""
    R, D = m_grid.shape
    x = np.asarray(x, dtype=float).reshape(R, -1)
    logtop = np.log(np.maximum(m_grid[:, -1:], 1.0))
    pos = np.log(np.maximum(x, 1.0)) / np.where(logtop > 0, logtop, 1.0) * (D - 2) + 1.0
    j = np.where(x < 1.0, 0, np.clip(np.floor(pos), 1, D - 2)).astype(np.int64)
    flat = j + (np.arange(R, dtype=np.int64) * D)[:, None]
    g = m_grid.ravel()
    x0, x1 = g[flat], g[flat + 1]
    return flat, np.clip((x - x0) / np.maximum(x1 - x0, 1e-12), 0.0, 1.0)


def at(fp: np.ndarray, loc: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Values of fp (R, D) interpolated at a located position."""
    flat, w = loc
    f = fp.ravel()
    f0 = f[flat]
    return f0 + (f[flat + 1] - f0) * w


def prefill_at(prefill: np.ndarray, n_pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where n_pre (R, K) prompt tokens fall on each row's prefill points (R, P): the left point's index k
    (0 .. P - 2) and the right one's weight (> 1 beyond the budget: linear extrapolation from the last two)."""
    R, P = prefill.shape
    x = np.asarray(n_pre, dtype=float)
    # the inner points at or below x counted one point at a time: the same counts as a sum of an (R, K, P - 2)
    # comparison along its short last axis, whose per-row reduction cost ~8x more (~2% of a candidate build)
    k = np.zeros(np.broadcast_shapes(x.shape, prefill[:, :1].shape), dtype=np.int64)
    for j in range(1, P - 1):
        k += x >= prefill[:, j, None]
    # the two points about each count by flat position: take_along_axis's index grids cost ~1.5x more
    flat = k + np.arange(0, R * P, P, dtype=np.int64)[:, None]
    f = prefill.ravel()
    x0, x1 = f[flat], f[flat + 1]
    return k, (x - x0) / np.maximum(x1 - x0, 1e-12)


def interp_step(tab: StepTables, n_dec, n_pre) -> np.ndarray:
    """Step seconds at (n_dec, n_pre), arrays of shape (R, K) (or broadcastable to it), bilinear in the grid;
    prefill beyond the budget extrapolates linearly from the last two grid points."""
    R = len(tab)
    shape = np.broadcast_shapes(np.shape(n_dec), np.shape(n_pre), (R, 1))
    nd = np.broadcast_to(np.asarray(n_dec, dtype=float), shape)
    npre = np.broadcast_to(np.asarray(n_pre, dtype=float), shape)
    P = tab.time_s.shape[2]
    flat_d, wd = locate(tab.decode, nd)
    k, wp = prefill_at(tab.prefill, npre)
    t = tab.time_s.reshape(-1)
    base = flat_d * P + k  # (row, d, k) in the flattened (R, D, P) array
    t0 = t[base] + (t[base + 1] - t[base]) * wp
    t1 = t[base + P] + (t[base + P + 1] - t[base + P]) * wp
    return chunk_floored(t0 + (t1 - t0) * wd, npre, tab, at(tab.chunk_floor_s, (flat_d, wd)))


def chunk_floored(t: np.ndarray, npre: np.ndarray, tab: StepTables, chunk_floor: np.ndarray,
             floored: bool = True) -> np.ndarray:
    """A step that carries prompt tokens lasts at least the table's chunk floor beside its decode sequences
    (`chunk_floor`, StepTables.chunk_floor_s at them: the time of an eager step is the larger of its launch
    and the work, a jump at 0 tokens that no line through the grid points holds) and, `floored`, the engine's
    mixed-step floor (the launch alone, real seconds: `floored=False` for token-steps of a speculative row)."""
    if floored:
        chunk_floor = np.maximum(chunk_floor, tab.mixed_floor_s[:, None])
    return np.where(npre > 0, np.maximum(t, chunk_floor), t)


def interp_on_grid(tab: StepTables, n_pre, floored: bool = True) -> np.ndarray:
    """Step seconds at every decode grid point (R, D) with n_pre (R, D) prefill tokens: interpolation along
    the prefill axis only; `floored=False` leaves out the engine's mixed-step floor, not the table's chunk
    floor (`chunk_floored`)."""
    R, D, P = tab.time_s.shape
    npre = np.broadcast_to(np.asarray(n_pre, dtype=float), (R, D))
    k, w = prefill_at(tab.prefill, npre)
    base = (np.arange(R * D, dtype=np.int64) * P).reshape(R, D) + k
    t = tab.time_s.reshape(-1)
    t0 = t[base]
    raw = t0 + (t[base + 1] - t0) * w
    return chunk_floored(raw, npre, tab, tab.chunk_floor_s, floored)


__all__ = ["at", "chunk_floored", "interp_on_grid", "interp_step", "locate", "prefill_at"]
