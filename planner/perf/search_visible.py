"""The zero-load batch search to the first visible token: the largest of DEFAULT_BATCHES whose TTFT + hidden x
TPOT and TPOT meet the targets, on `planner.perf.search`'s pruned search (same properties, same rounds). The
candidate search uses it for reasoning rows of a custom `perf` function, which knows no hidden tokens
(`planner.optimize.evaluation`); the load-aware capacity threads the hidden tokens through
`largest_batch_meeting(hidden=)` instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.evaluate import DEFAULT_BATCHES
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.search import _aggregated, _largest, _per_row, _Resolved, visible_ttft


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

    def judge(ev: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
        fits = ev["fits"].astype(bool)
        tpot, ttft = ev["tpot_s"].astype(float), ev["ttft_s"].astype(float)
        within = fits & (tpot <= t_tpot[rows])
        return {"good": within & (visible_ttft(ttft, tpot, h[rows]) <= t_ttft[rows]),
                "bound": within & (visible_ttft(0.0, tpot, h[rows]) <= t_ttft[rows])}

    model = _Resolved(base, catalog, eff)
    best, _ = _largest(model, np.tile(batches, (n, 1)), _aggregated(base), judge)
    good = best >= 0
    ev = model.frame(batches[np.maximum(best, 0)]).reset_index(drop=True)
    ev["ttft_s"] = visible_ttft(ev["ttft_s"].to_numpy(dtype=float), ev["tpot_s"].to_numpy(dtype=float), h)
    ev["fits"] = good
    reason, bad = ev["reason"].to_numpy(dtype=object).copy(), np.flatnonzero(~good)
    reason[bad] = _messages(h[bad], t_ttft[bad], t_tpot[bad])
    ev["reason"] = reason
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
