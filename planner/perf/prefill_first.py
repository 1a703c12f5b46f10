"""SGLang's prefill-first schedule in the analytic queueing model (engines.yaml `scheduler: prefill_first`): a
prompt step runs alone while the running requests' decode waits, as the simulator's `prio` path does. Per
occupancy m of the step table's decode grid, the figures queueing.service() reads: the steps a prompt takes,
the gap that holds a pause (ITL), a prompt's own prefill, a running request's mean step, the GPU time one prompt
adds and the pauses per prompt."""

from __future__ import annotations

import numpy as np

from planner.perf.steptable import StepTables, prefill_at
from planner.perf.steptable_read import chunk_floored


def alone_s(tab: StepTables, tokens: np.ndarray) -> np.ndarray:
    """Seconds of a step carrying `tokens` (R, K) prompt tokens and no decode: the table's decode-0 row along
    the prefill axis (linear beyond the budget), at least the floor of a step with prompt tokens (as
    interp_step at zero decode sequences, without the decode-axis lookup)."""
    row = tab.time_s[:, 0, :]
    k, w = prefill_at(tab.prefill, tokens)
    t0 = np.take_along_axis(row, k, axis=1)
    t = t0 + (np.take_along_axis(row, k + 1, axis=1) - t0) * w
    return chunk_floored(t, tokens, tab, tab.chunk_floor_s[:, :1])


def prefill_first_terms(tab: StepTables, m: np.ndarray, others: np.ndarray, dec_s: np.ndarray, life: np.ndarray):
    """(chunks, chunk_s, prefill_s, step_s, work_s, gaps per prompt) of an engine that runs prompt steps alone
    while decode waits (SGLang, engines.yaml `scheduler: prefill_first`; the simulator's `prio`).

    A prompt step packs every prompt waiting, up to the budget: the q = (m - 1) / life prompts arriving per step in
    steady state (each other seat completes one request in the `life` steps of a request's life, its own prompt
    steps included: step_mix.own_steps, serving.life_steps) share a pause with probability 1 - e^-q (more steps
    when their tokens exceed the budget). A running request's mean step is its decode step plus that pause; a gap
    that holds a pause is the decode step plus the mean pause (ITL); a prompt's own prefill runs at the whole
    budget; the GPU time one prompt adds, on which prompts queue for each other, is its per-token part above the
    floor of a step with prompt tokens. (Prompts arriving during a pause extend it: at high load the simulator's
    pauses are fewer and longer than this, see tests/test_perf_load.py's tolerance for prefill-first.)"""
    zero = np.zeros_like(m)
    budget = tab.token_budget[:, None]
    isl = tab.isl[:, None]
    chunks = np.ceil(isl / budget)
    prefill_s = chunks * alone_s(tab, isl / chunks)  # per row (R, 1); broadcast on return
    q = others / life
    gap = -np.expm1(-q)  # share of decode steps followed by a pause
    steps = np.maximum(gap * chunks, q * isl / budget)  # prompt steps per decode step
    with np.errstate(divide="ignore", invalid="ignore"):
        per_step = np.where(steps > 1e-12, q * isl / steps, isl / chunks)  # prompt tokens in one
        pause = steps * alone_s(tab, per_step)  # step time is max(floor, linear): not a sum
        per_gap = np.where(gap > 1e-12, pause / gap, prefill_s)
        per_prompt = np.where(q > 1e-12, gap / q, 1.0)
    half = budget / 2.0
    c_tok = (alone_s(tab, budget) - alone_s(tab, half)) / half  # above the floor
    return (chunks + zero, dec_s + per_gap, prefill_s + zero, dec_s + pause, np.maximum(isl * c_tok, 0.0) + zero,
            per_prompt)


__all__ = ["alone_s", "prefill_first_terms"]
