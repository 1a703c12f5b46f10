"""The rate search's bisection compiled (numba): per configuration, `queueing.open_loop`'s TTFT and TPOT
percentiles at each probed rate (its `targets_only` path) and `rate_search.max_rate_meeting`'s bisection, one row
at a time in a loop instead of numpy's ~100 whole-array operations a probe (~12 probes a row: numpy's fixed cost
per operation and element was most of the search).

The same operations in the same order as the numpy path (which stays the reference:
tests/test_rate_kernel.py checks the two agree to the bit): numpy's sums along a row of 25 states are its
pairwise sum (eight partial sums for 8..128 elements, `_np_sum`), its cumulative sums left to right, its
maximum and clip NaN-propagating. No fastmath (IEEE elementwise results, as numpy's); exp, log, expm1, log1p,
pow and hypot are the C library's in both where numpy has no SIMD loop of its own (float64 on AVX2 machines).
Imported only by the rate search (`planner --help` does not load numba); compiled once per machine (cache=True,
beside this module), ~2-4 s.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

EXACT = 13  # queueing.EXACT_STATES
# arguments past which the C library's results are known exactly (the calls skipped): expm1(-x) = -1.0 for
# x > 56 ln 2 = 38.82 (e^-x below a quarter of 1.0's ulp; glibc returns -1 there without computing), exp(x) = 0.0
# for x < -745.14 (below half the least subnormal)
NO_EXPM1 = 38.9
NO_EXP = -746.0


@njit(cache=True)
def _np_sum(a, n):
    """numpy's add.reduce of a contiguous float64 row of n (8..128) elements: eight partial sums, combined
    pairwise, then the rest in order (numpy's pairwise_sum below its block of 128)."""
    if n < 8:
        s = 0.0
        for i in range(n):
            s += a[i]
        return s
    r0, r1, r2, r3, r4, r5, r6, r7 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
    i = 8
    stop = n - (n % 8)
    while i < stop:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        s += a[i]
        i += 1
    return s


@njit(cache=True)
def _nmax(a, b):
    """np.maximum: NaN if either is."""
    if a != a or b != b:
        return math.nan
    return a if a >= b else b


@njit(cache=True)
def _nmin(a, b):
    """np.minimum: NaN if either is."""
    if a != a or b != b:
        return math.nan
    return a if a <= b else b


@njit(cache=True)
def _clip(x, lo, hi):
    """np.clip (maximum then minimum, NaN-propagating)."""
    return _nmin(_nmax(x, lo), hi)


@njit(cache=True)
def _log1mexp(x):
    """log(-expm1(-x)) as queueing._log_one_minus_exp."""
    if x > NO_EXPM1:  # -expm1(-x) is 1.0 exactly, its log 0
        return 0.0
    return math.log(-math.expm1(-x))


@njit(cache=True)
def _meets(r, lam, p, zq, q100, t_ttft, t_tpot, var, isl_factor, has_hidden, hid, osl,
           rate_cap, cap, states, base, dead, lump_h, lump_log_h, lump_none, ch_step,
           grid, prefill_s, real_step_s, work_s, chunks, dec_s, chunk_s,
           logpi, logm, mass, req_w, prod):
    """Whether row r meets both targets at rate lam (open_loop targets_only, the comparisons of
    max_rate_meeting's meets)."""
    if not lam < rate_cap[r]:  # saturated: NaN figures, which meet no target
        return False
    J = states.shape[1]
    ll = math.log(_nmax(lam, 1e-300))
    share = _clip(lam * prefill_s[r, 0], 0.0, 1.0) * (1.0 - 1.0 / _nmax(cap[r], 1.0))
    kappa = 1.0 + share
    for j in range(J):
        logpi[j] = (states[r, j] * ll + base[r, j]) / kappa
    for j in range(EXACT):
        logm[j] = logpi[j] + dead[r, j]
    for i in range(J - EXACT):
        a = logpi[EXACT - 1 + i]
        b = logpi[EXACT + i]
        if lump_none[r, i]:  # a lumped state standing for no integer
            logm[EXACT + i] = -math.inf
            continue
        x = abs(b - a)
        x_h = x / lump_h[r, i]
        if x < 1e-9:
            ratio = lump_log_h[r, i]
        elif lump_h[r, i] == 1.0 and x == x:  # one integer: the same log twice, 0 (x > 0 finite or inf)
            ratio = 0.0
        else:
            ratio = _log1mexp(x) - _log1mexp(x_h)
        top = b if b >= a else a - x_h
        logm[EXACT + i] = top + ratio
    rho = lam / rate_cap[r]
    log_top = logpi[J - 1]
    rk = rho ** (1.0 / kappa)
    log_tail = log_top + math.log(rk) - math.log1p(-rk)
    mx = logm[0]
    for j in range(1, J):
        mx = _nmax(mx, logm[j])
    mx = _nmax(mx, log_tail)
    for j in range(J):
        d = logm[j] - mx
        mass[j] = 0.0 if d < NO_EXP else math.exp(d)  # exp underflows to 0 below -745.14
    tail = math.exp(log_tail - mx)
    z = _np_sum(mass, J) + tail
    p_wait = (math.exp(log_top - mx) + tail) / z
    theta = _nmax(rate_cap[r] - lam, 1e-12)
    wfac = 0.5 * (1.0 + (1.0 if var[r] else 0.0))
    busy = 1.0 - mass[0] / z
    mass[J - 1] += tail
    for j in range(J):
        req_w[j] = mass[j] * states[r, j]
    req_sum = _np_sum(req_w, J)
    for j in range(J):
        prod[j] = req_w[j] * ch_step[r, j]
    step_mean = _np_sum(prod, J) / _nmax(req_sum, 1e-300)
    m_time = req_sum / z
    # steptable.locate on the row's decode grid, then steptable.at
    D = grid.shape[1]
    logtop = math.log(_nmax(grid[r, D - 1], 1.0))
    pos = math.log(_nmax(m_time, 1.0)) / (logtop if logtop > 0 else 1.0) * (D - 2) + 1.0
    if m_time < 1.0:
        jj = 0
    else:
        jj = int(_clip(math.floor(pos), 1.0, D - 2.0))
    x0, x1 = grid[r, jj], grid[r, jj + 1]
    w = _clip((m_time - x0) / _nmax(x1 - x0, 1e-12), 0.0, 1.0)
    pf = prefill_s[r, jj] + (prefill_s[r, jj + 1] - prefill_s[r, jj]) * w
    step_at = real_step_s[r, jj] + (real_step_s[r, jj + 1] - real_step_s[r, jj]) * w
    work = _clip(work_s[r, jj] + (work_s[r, jj + 1] - work_s[r, jj]) * w, 0.0, pf)
    u = _clip(lam * work, 0.0, 0.999)
    chunks_m = chunks[r, jj] + (chunks[r, jj + 1] - chunks[r, jj]) * w
    dec_m = dec_s[r, jj] + (dec_s[r, jj + 1] - dec_s[r, jj]) * w
    chunk_m = chunk_s[r, jj] + (chunk_s[r, jj + 1] - chunk_s[r, jj]) * w
    fixed = pf - work
    h = hid[r] if has_hidden else 0.0
    vis = osl[r] - h if has_hidden else osl[r]
    n_osl = _nmax(vis - 1.0, 1.0)
    tpot_sd = math.sqrt(lam * n_osl * step_mean * chunks_m) * _nmax(chunk_m - dec_m, 0.0) / n_osl
    w_q = (math.log(_nmax(p_wait / (1.0 - p), 1.0)) / theta if p_wait > 1.0 - p else 0.0) * wfac
    pre_q = (math.log(_nmax(u / (1.0 - p), 1.0)) * work / (1.0 - u) if u > 1.0 - p else 0.0) * 0.5
    pf_q = fixed * (isl_factor[r] if chunks_m > 1.0 else 1.0) + work * isl_factor[r]
    ttft = w_q + pf_q + _nmax(p - (1.0 - busy), 0.0) * step_at + pre_q
    # queueing._quantile_rows: the state where the cumulative request weights reach the percentile
    c = req_w[0]
    for j in range(J):  # prod: the cumulative sums, left to right
        if j:
            c = c + req_w[j]
        prod[j] = c
    limit = q100 * prod[J - 1]
    k = 0
    for j in range(J):
        if prod[j] < limit:
            k += 1
    k = min(k, J - 1)
    step_q = ch_step[r, k]
    tpot = step_mean + math.hypot(0.5 * (step_q - step_mean), zq * tpot_sd)
    if has_hidden:  # reasoning.hidden_phase_s
        phase = h * step_mean + math.hypot(h * 0.5 * (step_q - step_mean), zq * tpot_sd * math.sqrt(h * n_osl))
        ttft = ttft + (phase if h > 0 else 0.0)
    return ttft <= t_ttft[r] and tpot <= t_tpot[r]


@njit(cache=True)
def bisect_rates(iterations, exp_mid, p, zq, q100, t_ttft, t_tpot, var, isl_factor, has_hidden, hid, osl,
                 rate_cap, cap, states, base, dead, lump_h, lump_log_h, lump_none, ch_step,
                 grid, prefill_s, real_step_s, work_s, chunks, dec_s, chunk_s):
    """max_rate_meeting's bisection per row: the probes at the first and last point (TRICKLE and all of the
    capacity), then `iterations` halvings of log(rate) on the rows meeting the targets at the first only.
    Points are positions 0..2^iterations of the log range (`exp_mid`: numpy's exp of each, the rates' factors
    as the numpy path computes them). Returns per row the position found (-1: not even the first point meets
    the targets, or the capacity is not finite)."""
    R, J = states.shape
    top = 1 << iterations
    out = np.full(R, -1, dtype=np.int64)
    logpi, logm, mass, req_w, prod = np.empty(J), np.empty(J), np.empty(J), np.empty(J), np.empty(J)
    for r in range(R):
        c = rate_cap[r] * (1.0 - 1e-9)
        if not math.isfinite(c):
            continue  # NaN or infinite capacity: max_rate_meeting's 0
        # one call site of the model (the compiled code holds one copy of it): the first point, the last,
        # then the halvings between them
        lo, hi, k, probe = 0, top, 0, 0
        while True:
            ok = _meets(r, c * exp_mid[k], p, zq, q100, t_ttft, t_tpot, var, isl_factor, has_hidden, hid, osl,
                        rate_cap, cap, states, base, dead, lump_h, lump_log_h, lump_none, ch_step, grid, prefill_s,
                        real_step_s, work_s, chunks, dec_s, chunk_s, logpi, logm, mass, req_w, prod)
            if probe == 0:  # a trickle
                if not ok:
                    break
                k = top
            elif probe == 1:  # all of the capacity
                if ok:
                    out[r] = top
                    break
            elif ok:
                lo = k
            else:
                hi = k
            if probe == iterations + 1:
                out[r] = lo
                break
            probe += 1
            if probe > 1:
                k = (lo + hi) // 2
    return out
