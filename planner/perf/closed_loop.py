"""Closed-loop steady state (`concurrency` clients that each send their next request as the last ends) on the
queueing model's per-occupancy figures (`queueing.service`): min(C, B) requests run, the rest wait their turn
(C - B) / X at the throughput X = g(min(C, B)); TTFT, TPOT, ITL and end-to-end as `queueing.open_loop` reads
them at that occupancy.
"""

from __future__ import annotations

import numpy as np

from planner.perf.queueing import QUANTILES, Service, _budget_work, add_itl, at_occupancy, dataclass_rows
from planner.perf.step_mix import own_prefill, prompt_steps
from planner.perf.steptable import StepTables


def closed_loop(sv: Service, tab: StepTables, concurrency: np.ndarray, variable=None,
                quantiles=QUANTILES) -> dict[str, np.ndarray]:
    """Steady state with `concurrency` clients (R,): min(C, B) run, the rest wait their turn."""
    c = np.asarray(concurrency, dtype=float)
    var = np.zeros(len(c), dtype=bool) if variable is None else np.asarray(variable, dtype=bool)
    m = np.minimum(c, sv.cap)
    x = at_occupancy(sv, sv.rate, m)
    step = at_occupancy(sv, sv.step_s, m)
    real = at_occupancy(sv, sv.real_step_s, m)  # the real step in progress (speculative)
    # a request that gets a seat prefills beside the m - 1 others; it lands mid-step only if they run
    others = np.maximum(m - 1.0, 0.0)
    pf = at_occupancy(sv, sv.prefill_s, others)
    pf_q = {f"p{q:g}_s": pf for q in quantiles} | {"mean_s": pf}
    one = ~var & (at_occupancy(sv, sv.chunks, m) <= 1.0)
    if one.any():  # fixed lengths: a prompt rides with the others that completed at the step before (cohorts);
        # its step beside the m - 1 others decoding, less the step it would take alone (pf's own figure)
        r = np.flatnonzero(one)
        t, o = dataclass_rows(tab, r), others[r]
        dec = at_occupancy(sv, sv.dec_s, others)[r]
        room = np.maximum(t.token_budget - m[r], 1.0)
        b, p = prompt_steps(t, o, dec, x[r] * o / m[r], room, t.isl, np.ones(len(r), dtype=bool))
        for k, v in own_prefill(b, p, t.isl, room, quantiles).items():
            pf_q[k] = pf_q[k].copy()
            pf_q[k][r] += v - b.seconds[:, 1]
    busy = np.minimum(others, 1.0)
    wait = np.maximum(c - sv.cap, 0.0) / x
    # below the knee each client re-sends as its request ends; with fixed lengths the clients keep their
    # phases (prompts meet only in their cohorts, above), with variable lengths prompts collide in the token
    # budget as in M/D/1
    work = _budget_work(sv, m, pf)
    u = np.clip(x * work, 0.0, 0.999) * ((m < sv.cap) & var)
    pre_wait = u / (2.0 * (1.0 - u)) * work
    out: dict[str, np.ndarray] = {"ttft_mean_s": wait + pf_q["mean_s"] + 0.5 * real * busy + pre_wait,
                                  "tpot_mean_s": step}
    for q in quantiles:
        p = q / 100.0
        pre_q = np.where(u > 1.0 - p, np.log(np.maximum(u / (1.0 - p), 1.0)) * work / (1.0 - u), 0.0) * 0.5
        out[f"ttft_p{q:g}_s"] = wait + pf_q[f"p{q:g}_s"] + p * real * busy + pre_q
        out[f"tpot_p{q:g}_s"] = step
    # prompts arrive as others complete: a step's count follows the steps (each decoding sequence has its chance
    # to end at every step), not the time a long step takes; with fixed lengths the clients keep the phases of
    # their random start, when prompts came in time (step_mix)
    # where a step's room holds one prompt, a cohort of two cannot last: the scheduler cuts the second at the
    # room's end, its first token comes a step later and its client returns a step later ever after, so the
    # counts stay those of the steps' collisions (Poisson), not the branching cohorts (4096 / 256 tokens at 32
    # clients: the simulator's ITL p99 the one-prompt step in 6 seeds of 6, the branching counts' two-prompt step
    # +88%)
    holds_many = np.maximum(tab.token_budget - m, 1.0) >= 2.0 * np.maximum(sv.isl, 1.0)
    add_itl(sv, tab, m, x, (c > sv.cap).astype(float), quantiles, out, timed=~var & holds_many,
            variable=var)
    out["e2e_mean_s"] = out["ttft_mean_s"] + np.maximum(sv.osl - 1.0, 0.0) * step
    out["e2e_p50_s"] = out["ttft_p50_s"] + np.maximum(sv.osl - 1.0, 0.0) * step
    out["requests_s"] = x
    out["saturated"] = c > sv.cap
    return out
