"""The largest batch meeting latency targets, searched without evaluating every candidate batch.

`largest_batch_visible` answers exactly what evaluating every configuration at every candidate batch and keeping
the largest batch that fits and meets the targets would (the exhaustive search stays in the tests as the
reference), but evaluates a handful of batches per configuration. It rests on two properties of the step model,
pinned by tests/test_perf_search.py on every example's grid:
- fits(b) holds for a prefix of the batches (memory and the engine's cap only ever stop a larger batch);
- a step's time does not fall when it carries more sequences, so TPOT (both serving modes) and the aggregated
  TTFT are non-decreasing in the batch.
Aggregated rows: ok(b) = fits & TPOT <= target & TTFT + hidden x TPOT <= target is then a prefix, found by
bisection. Disaggregated rows: TTFT depends on the rate-matched unit (which need not grow with the batch), so
only the bound fits & TPOT <= target & hidden x TPOT <= TTFT target (implied by ok, since TTFT >= 0) is a
prefix; bisection finds it and the batches inside it are evaluated from the largest down to the first that
meets the targets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.evaluate import DEFAULT_BATCHES, evaluate
from planner.perf.params import Efficiency, load_efficiency

SCAN_WIDTH = 4  # batches per row and round of the disaggregated scan: fewer rounds, few wasted evaluations


def _per_row(x, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, dtype=float), (n,)).copy()


def largest_batch_visible(cfg: pd.DataFrame, catalog: Catalog, ttft_s, tpot_s, hidden, *,
                          efficiency: Efficiency | None = None) -> pd.DataFrame:
    """Per configuration row, the largest of DEFAULT_BATCHES whose first *visible* token (after `hidden`
    reasoning tokens, per row or one for all) meets the TTFT target and whose TPOT meets its target (targets
    per row or one for all); `ttft_s` of the result is the visible TTFT. Rows where no batch does come back
    at batch 1 with fits=False and the reason."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    base = cfg.reset_index(drop=True)
    n = len(base)
    t_ttft, t_tpot, h = _per_row(ttft_s, n), _per_row(tpot_s, n), _per_row(hidden, n)
    batches = np.array(DEFAULT_BATCHES, dtype=np.int64)
    k_max = len(batches)
    agg = (base["serving"].astype(str).to_numpy() != "disaggregated") if "serving" in base else np.ones(n, bool)

    def run(rows: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ok and the prefix predicate of `rows` at candidate indexes k."""
        ev = evaluate(base.iloc[rows].assign(batch=batches[k]), catalog, efficiency=eff)
        fits = ev["fits"].to_numpy(dtype=bool)
        tpot, ttft = ev["tpot_s"].to_numpy(dtype=float), ev["ttft_s"].to_numpy(dtype=float)
        within = fits & (tpot <= t_tpot[rows])
        ok = within & (ttft + h[rows] * tpot <= t_ttft[rows])
        return ok, np.where(agg[rows], ok, within & (h[rows] * tpot <= t_ttft[rows]))

    everyone = np.arange(n)
    ok0, pred0 = run(everyone, np.zeros(n, dtype=np.int64))
    lo = np.where(pred0, 0, -1)  # the largest index known to satisfy the prefix predicate
    hi = np.full(n, k_max)  # the smallest index known not to (k_max: past the last candidate)
    while True:
        rows = np.flatnonzero((lo >= 0) & (hi - lo > 1))
        if len(rows) == 0:
            break
        mid = (lo[rows] + hi[rows]) // 2
        _, p = run(rows, mid)
        lo[rows] = np.where(p, mid, lo[rows])
        hi[rows] = np.where(p, hi[rows], mid)
    best = np.where(agg, lo, -1)
    # disaggregated rows: down from the top of the prefix, a few batches per row and round, to the first that
    # meets the targets (batch 1 is known already)
    todo = np.flatnonzero(~agg & (lo >= 1) & (best < 0))
    top = lo.copy()
    while len(todo):
        width = np.minimum(top[todo], SCAN_WIDTH)
        rows = np.repeat(todo, width)
        ks = np.repeat(top[todo], width) - (np.arange(len(rows)) - np.repeat(np.cumsum(width) - width, width))
        ok, _ = run(rows, ks)
        found = np.full(n, -1)
        np.maximum.at(found, rows[ok], ks[ok])
        best[todo] = found[todo]
        top[todo] -= width
        todo = todo[(best[todo] < 0) & (top[todo] >= 1)]
    best = np.where(agg | (best >= 0), best, np.where(ok0, 0, -1))
    good = best >= 0
    ev = evaluate(base.assign(batch=batches[np.maximum(best, 0)]), catalog, efficiency=eff).reset_index(drop=True)
    ev["ttft_s"] = ev["ttft_s"].astype(float) + h * ev["tpot_s"].astype(float)
    ev["fits"] = good
    ev["reason"] = np.where(good, ev["reason"], _messages(h, t_ttft, t_tpot))
    return ev


def _messages(hidden: np.ndarray, ttft_s: np.ndarray, tpot_s: np.ndarray) -> np.ndarray:
    """Why no batch serves a row, one message per distinct (hidden, targets)."""
    out = np.empty(len(hidden), dtype=object)
    memo: dict[tuple, str] = {}
    for i, key in enumerate(zip(hidden.tolist(), ttft_s.tolist(), tpot_s.tolist(), strict=True)):
        msg = memo.get(key)
        if msg is None:
            h, t1, t2 = key
            msg = memo[key] = (f"{int(h)} hidden reasoning tokens before the answer: no batch meets TTFT "
                               f"{t1 * 1e3:g} ms (first visible token) and TPOT {t2 * 1e3:g} ms")
        out[i] = msg
    return out


__all__ = ["largest_batch_visible"]
