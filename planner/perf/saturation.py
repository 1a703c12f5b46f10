"""A replica's saturation rate: the most requests/s it completes, the lesser of what its seats and its prompt
path allow (issue 8, plan truth: a capacity the MIP buys must be one the engine can serve).

Decode side: g(m) = m / life(m), completions/s with m requests running (queueing.service); it grows with m up to
the seat cap B (engine or KV cache). Prompt side: a mixed step (vLLM V1, TensorRT-LLM, the simulator's default
schedule) carries the m decode tokens and at most room(m) = budget - m prompt tokens, so however long prompts wait,
the replica takes in at most P(m) = room(m) / (isl x full_s(m)) prompts a second, full_s(m) being the step packed
to the budget. The service's life(m) counts the others' prompt tokens per step (m - 1) isl / (the steps of a life:
serving.life_steps) at the step's time extrapolated past the budget, as if a step could carry them all; past the
budget no step can. As the load rises the occupancy m rises with it (g is increasing), and P falls (less room,
longer steps): the load stops where the prompt path first binds, g(m_c) = P(m_c), or at the seats, g(B), whichever
comes first. Both from the step tables the queueing model already reads (no fitted number).

Prefill-first engines (SGLang; engines.yaml `scheduler: prefill_first`) pack their prompts into steps of their
own at most a budget each (prefill_first.py), so their life(m) holds the prompt path's limit already: g(B).
"""

from __future__ import annotations

import numpy as np

from planner.perf.steptable import StepTables, interp_on_grid


def prompt_limit_rps(tab: StepTables, m: np.ndarray) -> np.ndarray:
    """P(m) (R, D): prompts/s a mixed schedule takes in with m (R, D) sequences decoding, every step packed to
    the token budget; inf for prefill-first rows (their step times hold the limit)."""
    room = np.clip(tab.token_budget[:, None] - m, 1.0, None)
    full_s = interp_on_grid(tab, room)
    with np.errstate(divide="ignore"):
        limit = room / (tab.isl[:, None] * full_s)
    return np.where(tab.prefill_first[:, None] > 0, np.inf, limit)


def saturation_rps(tab: StepTables, m: np.ndarray, rate: np.ndarray, cap: np.ndarray,
                   at_cap: np.ndarray) -> np.ndarray:
    """Per row, the saturation rate (requests/s): g at the first occupancy where g(m) (`rate`, (R, D) on the
    decode grid `m`) reaches P(m), interpolated linearly between the grid points as g itself is, or `at_cap`
    (g(B), the seats' limit) where that comes before it (m_c >= B, or P never binds) or is less."""
    R = len(cap)
    gap = rate - prompt_limit_rps(tab, m)  # < 0 at m = 0 (g = 0): the crossing, if any, is past the first point
    binds = gap >= 0.0
    j = np.maximum(np.argmax(binds, axis=1), 1)
    r = np.arange(R)
    g0, g1, h0, h1, m0, m1 = rate[r, j - 1], rate[r, j], gap[r, j - 1], gap[r, j], m[r, j - 1], m[r, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(np.where(h1 > h0, -h0 / (h1 - h0), 1.0), 0.0, 1.0)
    m_c, g_c = m0 + t * (m1 - m0), g0 + t * (g1 - g0)
    # never above g(B): with more requests than seats they queue and complete at g(B) (the chain's tail), so
    # where g falls again before B (steps past a CUDA-graph limit) the seats' figure holds
    return np.where(binds.any(axis=1) & (m_c < cap), np.minimum(g_c, at_cap), at_cap)




def run_fits_seats(num_requests, seats):
    """A finite run (num_requests) whose requests the seats (running-sequence cap or KV cache; a disaggregated
    unit's decode seats) hold at once: no request waits for another to finish, so it is not saturated at any
    rate (a burst of one read "saturated ... requests queue"). At any rate, not only inf: 10 requests at 1e6/s
    arrive within 10 us, a burst as inf's are, yet read saturated where inf did not; a run of more requests than
    seats above capacity stays saturated, its requests arriving faster than they complete (issue 8). Only
    rates above capacity ask. Arrays or scalars alike."""
    return np.asarray(num_requests, dtype=float) <= seats


__all__ = ["prompt_limit_rps", "run_fits_seats", "saturation_rps"]
