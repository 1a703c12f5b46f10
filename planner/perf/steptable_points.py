"""Where the step tables' prompt axis has its points (`prefill_grid`) and the prompt tokens of the chunk floor's
step. Apart from steptable.py so that the table's construction reads on its own."""

from __future__ import annotations

import numpy as np

PROMPT_EPSILON = 1.0  # prompt tokens of the chunk floor's step (StepTables.chunk_floor_s): a step carrying any
#                      prompt runs eagerly (step.eager_launch_s) with its engine and host terms, a jump at 0 that
#                      no line from the decode-only point holds (mixed_step_floor_s is the launch part alone)


def prefill_grid(budget: np.ndarray, chunk: np.ndarray, attn_dp: np.ndarray, points: int) -> np.ndarray:
    """(R, points) ascending prompt tokens of each row's table: 0 (decode only), the prompt's chunk on one
    rank (`chunk`: min(isl, the rank's chunk), where a step's prompts leave the one rank that carries them:
    step._Pass.pre_rank), attn_dp chunks (where they spread over every rank) and the budget, as many as
    `points` holds in that order; the rest divide the gaps between them geometrically (the gap from 0 evenly,
    counted as one octave), each further point to the gap whose pieces are then the most octaves wide: the
    prompts a step carries are a few chunks far more often than the budget's worth, and above attn_dp chunks
    the step is close to linear in them. Uniform eighths of the budget (before) put the points 8,192 tokens
    apart at attention DP 8 (vLLM's 65,536-token budget), and a 1,000-4,000-token chunk step came out 16%
    fast (benchmarks/attention_dp_noload_vs_load.py)."""
    budget = np.asarray(budget, dtype=float)
    n = len(budget)
    chunk = np.broadcast_to(np.asarray(chunk, dtype=float), (n,))
    dp = np.broadcast_to(np.asarray(attn_dp, dtype=float), (n,))
    inner = [chunk, chunk * dp][:max(points - 2, 0)]
    # a knot at or beyond the budget, or within half a token of another, is none
    x = np.sort(np.stack([np.zeros(n), budget] + [np.where((k > 0) & (k < budget - 0.5), k, np.nan)
                                                  for k in inner], axis=1), axis=1)
    x[:, 1:][np.diff(x, axis=1) <= 0.5] = np.nan
    x = np.sort(x, axis=1)  # (n, K): the knots, NaN last
    lo, hi = x[:, :-1], x[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        octaves = np.where(lo > 0, np.log2(hi / lo), np.where(np.isfinite(hi), 1.0, np.nan))  # from 0: one
    extra = np.zeros(lo.shape)
    rows = np.arange(n)
    for _ in range(points - 2):
        free = np.isfinite(x).sum(axis=1) + extra.sum(axis=1) < points
        j = np.argmax(np.where(np.isfinite(octaves), octaves / (extra + 1.0), -1.0), axis=1)
        extra[rows[free], j[free]] += 1.0
    i = np.arange(points - 1, dtype=float)[None, None, :]
    share = i / (extra[:, :, None] + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # the knot, then its gap's points (even from 0)
        fill = np.where(lo[:, :, None] > 0, lo[:, :, None] * (hi / lo)[:, :, None] ** share,
                        lo[:, :, None] + (hi - lo)[:, :, None] * share)
    fill = np.where((i <= extra[:, :, None]) & np.isfinite(hi)[:, :, None], fill, np.nan).reshape(n, -1)
    return np.sort(np.concatenate([fill, budget[:, None]], axis=1), axis=1)[:, :points]


__all__ = ["PROMPT_EPSILON", "prefill_grid"]
