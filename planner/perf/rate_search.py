"""The optimizer's capacity search: per configuration, the largest Poisson request rate at which the percentile
TTFT and TPOT of the open-loop approximation (`queueing.open_loop`) meet the targets. A bisection on log(rate)
in effect (its answer to the bit), all rows at once in blocks; apart from `queueing` so that the model and the
search over it stay readable."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from planner.perf.queueing import Chain, Service, chain, dataclass_rows, open_loop, service
from planner.perf.steptable import StepTables

TRICKLE = 1e-3  # the lowest rate searched, as a share of capacity
# probes that interpolate before the search bisects what is left (a bound on a row's probes: a margin that
# interpolates badly costs at most these on top of the bisection's). From the examples' open rows (a sample of
# ~1,100 probed at every point): 3.9 probes a row on average at 8, 4.1 at 6, 4.7 at 4 (the bisection: 10)
INTERPOLATED = 8
# probes of one call below which the search's last rows are probed at several points each (`_few`): a call of
# the model costs ~1 ms besides its rows, ~2.3 us a row (measured, h62); 256 itself is assumed, not tuned: a call's
# fixed cost then weighs about as much as its rows, and the answer is the bisection's whatever it is
FEW_ROWS = 256


def max_rate_meeting(tab: StepTables, ttft_s=None, tpot_s=None, percentile: float = 90.0, variable=None,
                     iterations: int = 10, block: int = 16384, known: tuple[Service, Chain] | None = None,
                     hidden=None) -> np.ndarray:
    """Per configuration, the largest Poisson request rate (requests/s) at which the `percentile` TTFT and
    TPOT stay within the targets (None = no target); 0 where even a trickle (TRICKLE of capacity) misses them.
    `hidden`: reasoning tokens per request before the first visible one (per row, or None), as `open_loop`'s.

    A bisection on log(rate) between TRICKLE and 1 of the capacity: `iterations` halvings (10 of the 6.9-wide
    log range leave the rate within 0.7% below the true limit; the answer always meets the targets). Its answer
    is the last of the 2^iterations points it can probe (`_grid`) where the targets hold, the targets holding
    at fewer rates as the rate grows (tests/test_queueing_monotone.py); `_search` finds that point in fewer
    probes. `known`: service(tab) and its chain where the caller has them (row by row: taken)."""
    R = len(tab)
    t_ttft = np.full(R, np.inf) if ttft_s is None else np.broadcast_to(np.asarray(ttft_s, dtype=float), (R,))
    t_tpot = np.full(R, np.inf) if tpot_s is None else np.broadcast_to(np.asarray(tpot_s, dtype=float), (R,))
    var = np.zeros(R, dtype=bool) if variable is None else np.broadcast_to(np.asarray(variable, dtype=bool), (R,))
    hid = None if hidden is None else np.broadcast_to(np.asarray(hidden, dtype=float), (R,))
    q = (float(percentile),)
    key_ttft, key_tpot = f"ttft_p{q[0]:g}_s", f"tpot_p{q[0]:g}_s"
    out = np.zeros(R)
    xs = _grid(iterations)

    def meets(r: _Rows, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whether rows `r` meet both targets at the log rates `x` (shares of their capacity; points of `xs`),
        and the log of their margin (the larger of latency / target: <= 0 where they meet), which the search
        reads."""
        rows = r.rows
        res = open_loop(r.ch, r.sv, None, r.cap * np.exp(x), var[rows], q, targets_only=True,
                        hidden=None if hid is None else hid[rows])
        ttft, tpot = res[key_ttft], res[key_tpot]
        with np.errstate(divide="ignore", invalid="ignore"):
            margin = np.log(np.maximum(ttft / t_ttft[rows], tpot / t_tpot[rows]))
        return (ttft <= t_ttft[rows]) & (tpot <= t_tpot[rows]), margin

    # blocks of equal size, at most `block` rows: a call of the model costs ~0.45 ms besides its rows (a last
    # block of 88 rows behind one of 2,048 cost 10% of the search), ~2.3 us a row alike at 2,048 and 4,096 rows;
    # the examples' searches in one block rather than two of ~3,500 (16,384, not 4,096: CPU ms of the captured
    # searches, min of 9, mixed-fleet 67.5 -> 61.3, power-limited-site 43.1 -> 37.9; the bound keeps a block's
    # ~20 (rows, 26) temporaries to a few MB each). The rows are searched alone: the answers do not depend on it
    size = -(-R // max(-(-R // block), 1)) if R else block
    for b0 in range(0, R, size):
        b1 = min(R, b0 + size)
        # the rows' service and chain (the rate search reads no step table): a block is a view of the rows'
        # arrays, the rows probed further a gather (a copy of every per-occupancy array costs ~1/6 of the search)
        if known is None:
            s_sv = service(_block(tab, b0, b1, R))
            s_ch = chain(s_sv)
        else:
            s_sv, s_ch = _block(known[0], b0, b1, R), _block(known[1], b0, b1, R)
        cap = s_ch.rate_cap * (1.0 - 1e-9)
        whole = _Rows(s_sv, s_ch, np.arange(b0, b1), cap)
        first_ok, first_margin = meets(whole, np.full(b1 - b0, xs[0]))
        # only rows meeting the targets at a trickle have a rate above 0 (the others' answer reads no other
        # probe; about half the rows of the bundled problems): the search runs on them alone (row by row)
        ok = np.flatnonzero(first_ok & np.isfinite(cap))
        k = _search(meets, whole.take(ok), first_margin[ok], xs)
        top = k == len(xs) - 1  # the targets hold at full capacity
        rate = np.zeros(b1 - b0)
        rate[ok] = np.where(top, cap[ok], cap[ok] * np.exp(xs[np.where(top, 0, k)]))
        out[b0:b1] = rate
    return out


@dataclass(frozen=True)
class _Rows:
    """Rows of a block the search probes: their service, chain, positions among the R configurations and
    capacity (requests/s)."""

    sv: Service
    ch: Chain
    rows: np.ndarray
    cap: np.ndarray

    def take(self, idx: np.ndarray) -> _Rows:
        """Rows `idx` (positions, ascending; repeats allowed) of these, gathered (these where they are all)."""
        n = len(self.rows)
        if len(idx) == n and (idx == np.arange(n)).all():
            return self
        return _Rows(_Gathered.of(self.sv, idx), _Gathered.of(self.ch, idx), self.rows[idx], self.cap[idx])


class _Gathered:
    """Rows `idx` of a Service or Chain as `open_loop` reads them: each field gathered from the source when
    first read (the search's probes read ~2/3 of a Service's per-occupancy arrays: its ITL and life figures
    never), and rows of these rows gathered from the source at once, not through a copy of each subset."""

    def __init__(self, src, idx: np.ndarray) -> None:
        self._src, self._idx = src, idx

    @staticmethod
    def of(x, idx: np.ndarray) -> _Gathered:
        return _Gathered(x._src, x._idx[idx]) if isinstance(x, _Gathered) else _Gathered(x, idx)

    def __getattr__(self, name: str):  # a field not read yet (a read one is in the instance's __dict__)
        if name.startswith("_"):
            raise AttributeError(name)
        v = getattr(self._src, name)[self._idx]
        setattr(self, name, v)
        return v


@lru_cache(maxsize=4)
def _grid(iterations: int) -> np.ndarray:
    """The log rates (shares of capacity) the bisection can probe, in order: index j of 0..2^iterations, each
    the float the bisection computes for it ((lo + hi) / 2 of the bracket about it; TRICKLE's and 0 the ends)."""
    n = 2 ** iterations
    j = np.arange(n + 1)
    lo, hi = np.full(n + 1, math.log(TRICKLE)), np.zeros(n + 1)
    k_lo, k_hi = np.zeros(n + 1, dtype=np.int64), np.full(n + 1, n)
    xs = np.where(j == 0, lo, hi)
    for _ in range(iterations):
        mid = (lo + hi) / 2.0
        k_mid = (k_lo + k_hi) // 2
        xs = np.where(j == k_mid, mid, xs)
        up = j > k_mid
        lo, k_lo = np.where(up, mid, lo), np.where(up, k_mid, k_lo)
        hi, k_hi = np.where(up, hi, mid), np.where(up, k_hi, k_mid)
    xs.flags.writeable = False
    return xs


@lru_cache(maxsize=4)
def _spread(iterations: int) -> np.ndarray:
    """-log(1 - utilization) at each point of `_grid` below full capacity: the scale on which a margin (log
    latency / target) is interpolated. The queue's waits grow as 1 / (1 - utilization) toward capacity, and
    its percentiles as their log; on this scale the examples' open rows took the fewest probes (3.9 a row,
    against 4.1 on the utilization's own and 6.3 on the log rate's)."""
    xs = _grid(iterations)[:-1]
    out = -np.log1p(-np.exp(xs))
    out.flags.writeable = False
    return out


def _search(meets, rows: _Rows, margin0: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Per row of `rows` (meeting the targets at `xs[0]`), the last point of `xs` where they meet (len(xs) - 1:
    at full capacity). Most rows either meet the targets up to the last point below full capacity or miss them
    well before it (58-78% of the open rows of three examples the former): that point first, full capacity on
    the rows meeting there, the others' bracket searched (`_bracketed`). `meets(rows, x)`: (met, log margin) of
    `rows` at log rates `x`; `margin0`: theirs at xs[0]."""
    n = len(xs) - 1
    m = len(rows.rows)
    k = np.zeros(m, dtype=np.int64)
    if not m:
        return k
    below = n - 1
    met, margin = (np.ones(m, dtype=bool), margin0) if below == 0 else meets(rows, np.full(m, xs[below]))
    k[met] = below
    top = np.flatnonzero(met)
    if len(top):
        full, _ = meets(rows.take(top), np.full(len(top), xs[n]))
        k[top[full]] = n
    miss = np.flatnonzero(~met)
    if len(miss):
        k[miss] = _bracketed(meets, rows.take(miss), margin0[miss], margin[miss], xs, below)
    return k


def _bracketed(meets, rows: _Rows, m_lo: np.ndarray, m_hi: np.ndarray, xs: np.ndarray, top: int) -> np.ndarray:
    """The last point of `xs` where `rows` meet the targets, known to meet them at point 0 and to miss them at
    `top` (log margins `m_lo`, `m_hi` there): each probe where the margin, interpolated linearly on `_spread`'s
    scale between the bracket's ends, crosses 0; a row whose probes keep landing on one side pushes the next one
    1, 3, 7, ... points further that way (interpolation alone creeps a point a probe toward a curved margin's
    crossing); after INTERPOLATED probes, halvings. Rows leave as their bracket closes: gathered anew once fewer
    than half of those probed are left (a gather costs about what a probe does), and once few are left, each
    probed at several points in one call (`_few`)."""
    m = len(rows.rows)
    lo, hi = np.zeros(m, dtype=np.int64), np.full(m, top, dtype=np.int64)
    e_lo, e_hi = m_lo.astype(float), m_hi.astype(float)
    streak = np.zeros(m, dtype=np.int64)  # > 0: the last probes met the targets; < 0: missed them
    spread = _spread((len(xs) - 1).bit_length() - 1)
    cur, at = rows, np.arange(m)  # the rows probed and their positions
    for probe in range(len(xs)):
        act = np.flatnonzero(hi - lo > 1)
        if not len(act):
            break
        if len(act) * 2 <= FEW_ROWS:
            _few(meets, rows, act, lo, hi, xs)
            break
        if 2 * len(act) < len(at):
            cur, at = rows.take(act), act
        a_lo, a_hi = lo[at], hi[at]
        if probe < INTERPOLATED:
            with np.errstate(divide="ignore", invalid="ignore"):
                f = -e_lo[at] / (e_hi[at] - e_lo[at])
            f = np.where(np.isfinite(f), np.clip(f, 0.0, 1.0), 0.5)
            j = np.searchsorted(spread, spread[a_lo] + f * (spread[a_hi] - spread[a_lo]))
            s = np.clip(streak[at], -20, 20)
            j = j + np.sign(s) * ((1 << np.abs(s)) - 1)
        else:
            j = (a_lo + a_hi) // 2
        live = a_hi - a_lo > 1  # rows closed already are probed at their lower end (a point they meet)
        j = np.where(live, np.clip(j, a_lo + 1, a_hi - 1), a_lo)
        met, margin = meets(cur, xs[j])
        up, down = live & met, live & ~met
        lo[at], e_lo[at] = np.where(up, j, a_lo), np.where(up, margin, e_lo[at])
        hi[at], e_hi[at] = np.where(down, j, a_hi), np.where(down, margin, e_hi[at])
        s = streak[at]
        streak[at] = np.where(up, np.where(s > 0, s + 1, 1), np.where(down, np.where(s < 0, s - 1, -1), s))
    return lo


def _few(meets, rows: _Rows, act: np.ndarray, lo: np.ndarray, hi: np.ndarray, xs: np.ndarray) -> None:
    """Close the brackets (lo, hi) of rows `act` (of `rows`), few: each probed at `ways` points spread over its
    bracket in one call, (ways + 1)-fold narrower a call (a call's ~1 ms besides its rows is then most of its
    cost). lo and hi are updated in place."""
    while len(act):
        a_lo, a_hi = lo[act], hi[act]
        ways = max(min(FEW_ROWS // len(act), int((a_hi - a_lo).max()) - 1), 1)
        j = a_lo[:, None] + ((a_hi - a_lo)[:, None] * np.arange(1, ways + 1)[None, :]) // (ways + 1)
        j = np.clip(j, a_lo[:, None] + 1, a_hi[:, None] - 1)
        met, _ = meets(rows.take(np.repeat(act, ways)), xs[j.ravel()])
        met = met.reshape(len(act), ways)
        new_hi = np.where(met, a_hi[:, None], j).min(axis=1)
        new_lo = np.where(met & (j < new_hi[:, None]), j, a_lo[:, None]).max(axis=1)
        lo[act], hi[act] = new_lo, new_hi
        act = act[new_hi - new_lo > 1]


def _block(x, b0: int, b1: int, n: int):
    """Rows b0..b1 of x's n rows (Service, Chain, StepTables: per-row arrays), as views (`dataclass_rows` by a
    slice); x itself where they are all of them."""
    return x if (b0, b1) == (0, n) else dataclass_rows(x, slice(b0, b1))
