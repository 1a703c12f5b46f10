"""A finite run whose arrivals outpace the replica (num_requests with lambda >= capacity, or inf: all at t=0)
in the analytic model: request i starts when i - B + 1 requests have completed at the capacity X, a fluid
approximation of the benchmark run; requests reach the scheduler through the API server in turn (arrivals.py)."""

from __future__ import annotations

import math

import numpy as np

from planner.perf.arrivals import serial_intake, serial_s
from planner.perf.queueing import QUANTILES, Service, add_itl, at_occupancy
from planner.perf.steptable import StepTables, interp_step


def finite_burst(sv: Service, tab: StepTables, lam: np.ndarray, n_requests: np.ndarray,
                 quantiles=QUANTILES) -> dict[str, np.ndarray]:
    """A finite run whose arrivals outpace the replica (lam >= capacity, or inf: all at t=0), as a fluid.

    N <= B (one wave): the prompts go through the token budget in turn, in steps that also decode the
    requests already started (a prefill phase), then the batch decodes alone. N > B: the first B requests
    start as they arrive, request i >= B takes a seat when one completes, completions coming at the capacity
    X after the first (which lives while the batch fills, at the mean occupancy of a linear ramp)."""
    R = len(lam)
    out = {k: np.full(R, np.nan) for k in ("ttft_mean_s", "tpot_mean_s", "e2e_mean_s", "e2e_p50_s",
                                           "requests_s")}
    for q in quantiles:
        out[f"ttft_p{q:g}_s"] = np.full(R, np.nan)
        out[f"tpot_p{q:g}_s"] = np.full(R, np.nan)
    n_req = np.asarray(n_requests, dtype=float)
    seats = np.minimum(sv.cap, n_req)
    x = at_occupancy(sv, sv.rate, seats)
    step, dec = at_occupancy(sv, sv.step_s, seats), at_occupancy(sv, sv.dec_s, seats)
    pf = at_occupancy(sv, sv.prefill_s, seats - 1.0)
    life = at_occupancy(sv, sv.life_s, seats)
    budget = tab.token_budget
    half = seats / 2.0
    t_mix = interp_step(tab, half[:, None], np.maximum(budget - half, 1.0)[:, None])[:, 0]
    t_tok = t_mix / np.maximum(budget - half, 1.0)  # seconds per prompt token in the prefill phase
    ramp = np.minimum(seats, np.where(np.isinf(lam), np.inf, lam * life / 2.0))
    step0 = at_occupancy(sv, sv.step_s, ramp)
    n_dec = np.maximum(sv.osl - 1.0, 0.0)
    for r in range(R):
        n, k = int(n_req[r]), int(seats[r])
        i = np.arange(n, dtype=float)
        sent = np.zeros(n) if math.isinf(lam[r]) else i / lam[r]
        # the scheduler sees request i once the API server has worked through those before it (arrivals.py);
        # TTFT counts that wait (its own request_s is added in load.py)
        h = serial_s(tab.request_s[r])
        a = serial_intake(sent, h)
        wait = a - sent
        if n <= k:  # one wave
            phase = n * sv.isl[r] * t_tok[r]
            ttft = np.maximum(pf[r], (i + 1.0) / n * phase - a)
            in_phase = np.clip((phase - a - ttft) / t_mix[r], 0.0, n_dec[r])
            finish = a + ttft + in_phase * t_mix[r] + (n_dec[r] - in_phase) * dec[r]
            tpot = (finish - a - ttft) / max(n_dec[r], 1.0)
        else:
            life0 = sv.isl[r] * t_tok[r] + n_dec[r] * step0[r]
            first = i < k
            start = np.where(first, a, np.maximum(a, life0 + (i - k) / x[r]))
            ttft = np.where(first, np.maximum(pf[r], (i + 1.0) * sv.isl[r] * t_tok[r] - a), start - a + pf[r])
            finish = np.maximum(np.where(first, life0 + i / x[r], start + pf[r] + n_dec[r] * step[r]), a + ttft)
            tpot = np.full(n, step[r])
        ttft = ttft + wait
        e2e = finish - sent
        out["ttft_mean_s"][r] = ttft.mean()
        out["e2e_mean_s"][r] = e2e.mean()
        out["e2e_p50_s"][r] = np.percentile(e2e, 50)
        for q in quantiles:
            out[f"ttft_p{q:g}_s"][r] = np.percentile(ttft, q)
            out[f"tpot_p{q:g}_s"][r] = np.percentile(tpot, q)
        out["tpot_mean_s"][r] = tpot.mean()
        out["requests_s"][r] = n / (finish.max() - sent.min())
    add_itl(sv, tab, seats, x, np.ones(R), quantiles, out)
    out["saturated"] = np.ones(R, dtype=bool)
    return out


__all__ = ["finite_burst"]
