"""The optimizer's capacity search: per configuration, the largest Poisson request rate at which the percentile
TTFT and TPOT of the open-loop approximation (`queueing.open_loop`) meet the targets. A bisection on log(rate),
all rows at once in blocks; apart from `queueing` so that the model and the search over it stay readable."""

from __future__ import annotations

import math

import numpy as np

from planner.perf.queueing import Chain, Service, _some, chain, dataclass_rows, open_loop, service
from planner.perf.steptable import StepTables

TRICKLE = 1e-3  # the lowest rate searched, as a share of capacity


def max_rate_meeting(tab: StepTables, ttft_s=None, tpot_s=None, percentile: float = 90.0, variable=None,
                     iterations: int = 10, block: int = 4096, known: tuple[Service, Chain] | None = None,
                     hidden=None) -> np.ndarray:
    """Per configuration, the largest Poisson request rate (requests/s) at which the `percentile` TTFT and
    TPOT stay within the targets (None = no target); 0 where even a trickle (TRICKLE of capacity) misses them.
    `hidden`: reasoning tokens per request before the first visible one (per row, or None), as `open_loop`'s.

    Bisection on log(rate) between TRICKLE and 1 of the capacity, all rows at once in cache-sized blocks;
    10 halvings of the 6.9-wide log range leave the rate within 0.7% below the true limit (the answer always
    meets the targets). `known`: service(tab) and its chain where the caller has them (row by row: taken)."""
    R = len(tab)
    t_ttft = np.full(R, np.inf) if ttft_s is None else np.broadcast_to(np.asarray(ttft_s, dtype=float), (R,))
    t_tpot = np.full(R, np.inf) if tpot_s is None else np.broadcast_to(np.asarray(tpot_s, dtype=float), (R,))
    var = np.zeros(R, dtype=bool) if variable is None else np.broadcast_to(np.asarray(variable, dtype=bool), (R,))
    hid = None if hidden is None else np.broadcast_to(np.asarray(hidden, dtype=float), (R,))
    q = (float(percentile),)
    key_ttft, key_tpot = f"ttft_p{q[0]:g}_s", f"tpot_p{q[0]:g}_s"
    out = np.zeros(R)

    def meets(sv: Service, ch: Chain, rows: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """Whether `rows` (of the R configurations; `sv`, `ch` theirs) meet both targets at rates `lam`."""
        r = open_loop(ch, sv, None, lam, var[rows], q, targets_only=True,
                      hidden=None if hid is None else hid[rows])
        return (r[key_ttft] <= t_ttft[rows]) & (r[key_tpot] <= t_tpot[rows])

    # blocks of equal size, at most `block` rows: a call of the model costs ~0.45 ms besides its rows (a last
    # block of 88 rows behind one of 2,048 cost 10% of the search), ~2.3 us a row alike at 2,048 and 4,096 rows
    size = -(-R // max(-(-R // block), 1)) if R else block
    for b0 in range(0, R, size):
        b1 = min(R, b0 + size)
        rows = np.arange(b0, b1)
        # the rows' service and chain (the rate search reads no step table): a block is a view of the rows'
        # arrays, the open rows a gather only where they are some of the block's (a copy of every
        # per-occupancy array costs ~1/6 of the search)
        if known is None:
            s_sv = service(_block(tab, b0, b1, R))
            s_ch = chain(s_sv)
        else:
            s_sv, s_ch = _block(known[0], b0, b1, R), _block(known[1], b0, b1, R)
        cap = s_ch.rate_cap * (1.0 - 1e-9)
        lo, hi = np.full(len(rows), math.log(TRICKLE)), np.zeros(len(rows))
        first_ok = meets(s_sv, s_ch, rows, cap * np.exp(lo))
        # only rows meeting the targets at a trickle have a rate above 0 (the others' answer reads no other
        # probe; about half the rows of the bundled problems): the probe at full capacity runs on them alone,
        # and the bisection on those of them that miss there (the model is row by row)
        serves = first_ok & np.isfinite(cap)
        ok = np.flatnonzero(serves)
        all_ok = np.zeros(len(rows), dtype=bool)
        if len(ok):
            k_sv, k_ch = _some(s_sv, ok, len(rows)), _some(s_ch, ok, len(rows))
            k_all = meets(k_sv, k_ch, rows[ok], cap[ok] * np.exp(hi[ok]))
            all_ok[ok] = k_all
            k_open = np.flatnonzero(~k_all)
            open_ = ok[k_open]
            if len(open_):
                sel = rows[open_]
                o_sv, o_ch = _some(k_sv, k_open, len(ok)), _some(k_ch, k_open, len(ok))
                o_lo, o_hi = lo[open_], hi[open_]
                for _ in range(iterations):
                    mid = (o_lo + o_hi) / 2.0
                    good = meets(o_sv, o_ch, sel, cap[open_] * np.exp(mid))
                    o_lo, o_hi = np.where(good, mid, o_lo), np.where(good, o_hi, mid)
                lo[open_] = o_lo
        rate = np.where(all_ok, cap, cap * np.exp(lo))
        out[rows] = np.where(serves, rate, 0.0)
    return out


def _block(x, b0: int, b1: int, n: int):
    """Rows b0..b1 of x's n rows (Service, Chain, StepTables: per-row arrays), as views (`_rows` by a slice);
    x itself where they are all of them."""
    return x if (b0, b1) == (0, n) else dataclass_rows(x, slice(b0, b1))
