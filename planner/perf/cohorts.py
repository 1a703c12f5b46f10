"""Closed loops with fixed lengths on a prefill-first engine (SGLang, engines.yaml `scheduler: prefill_first`): the
clients travel in cohorts, one pause of prompts each per round (closed_cohorts)."""

from __future__ import annotations

import math

import numpy as np

from planner.perf.arrivals import serial_s
from planner.perf.prefill_first import alone_s
from planner.perf.step_mix import weighted_percentiles
from planner.perf.steptable import StepTables

# scipy is no dependency of planner (only SALib's, an extra): log Gamma from the standard library, elementwise
_log_gamma = np.vectorize(math.lgamma, otypes=[float])


def pause_s(tab: StepTables, prompts: np.ndarray, serial: np.ndarray | None = None) -> np.ndarray:
    """Seconds of a pause computing `prompts` (R, K) fixed-length prompts at once: steps packed to the whole
    budget, then one with the rest. Where the API server passes requests one at a time (arrivals.serial_s > 0)
    a cohort's re-sends reach the scheduler apart, and the first prompt's step starts alone (the others arrive
    during it): the simulator's TTFT p50 at 32-256 clients, 1024 / 64 tokens, is that step plus one full one.
    `serial`: `serial_rows(tab)`, where the caller has it."""
    budget = tab.token_budget[:, None]
    solo = (serial_rows(tab) if serial is None else serial)[:, None] & (prompts >= 1.0)
    tokens = np.maximum(prompts - solo, 0.0) * tab.isl[:, None]
    full = np.floor(tokens / budget + 1e-9)
    rest = tokens - full * budget
    packed = full * alone_s(tab, budget) + np.where(rest > 0.5, alone_s(tab, np.maximum(rest, 1.0)), 0.0)
    return packed + np.where(solo, alone_s(tab, np.broadcast_to(tab.isl[:, None], prompts.shape)), 0.0)


def first_tokens(tab: StepTables, clients: np.ndarray, n_max: int, serial: np.ndarray | None = None
                 ) -> np.ndarray:
    """(R, N, N) seconds from a pause's start to the first token of its k-th prompt (last axis) in a pause of n
    (middle axis): the end of the step holding its last token, and that step holds the prompts after it up to
    the budget (4 clients, 1024-token prompts: the first alone, then the other three in one 3072-token step).
    `serial`: `serial_rows(tab)`, where the caller has it."""
    serial = serial_rows(tab) if serial is None else serial
    n = np.arange(1, n_max + 1, dtype=float)
    solo = serial[:, None, None]
    per_step = (tab.token_budget / tab.isl)[:, None, None]  # prompts a step holds
    packed = np.maximum(n[None, None, :] - solo, 0.0)  # the k-th prompt's place after the solo one
    through = np.minimum(np.ceil(packed / per_step - 1e-9) * per_step, n[None, :, None] - solo) + solo
    through = np.minimum(np.maximum(through, np.minimum(n[None, None, :], 1.0)), n[None, :, None])
    R = len(clients)
    return pause_s(tab, through.reshape(R, -1), serial).reshape(R, n_max, n_max)


def serial_rows(tab: StepTables) -> np.ndarray:
    """Per row, whether the API server passes requests one at a time (arrivals.serial_s > 0)."""
    return np.array([serial_s(r) for r in tab.request_s]) > 0.0


def cohorts(rho: np.ndarray, clients: np.ndarray, n_max: int, starts=None) -> np.ndarray:
    """(R, n_max) probabilities of a cohort of 1..n_max prompts: Borel-Tanner, the busy period of a prompt path at
    utilization rho started by `starts` (R,) prompts (default 1: Borel), the tail past `clients` lumped there
    (no cohort holds more)."""
    n = np.arange(1, n_max + 1, dtype=float)[None, :]
    rho = np.clip(rho, 1e-9, 0.999)[:, None]
    j = np.ones_like(rho) if starts is None else np.asarray(starts, dtype=float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = (np.log(j / n) - rho * n + (n - j) * np.log(rho * n) - _log_gamma(np.maximum(n - j + 1.0, 1.0)))
    p = np.where(n >= j, np.exp(log_p), 0.0)
    c = np.floor(np.maximum(clients, 1.0))[:, None]
    below = np.where(n < c, p, 0.0)
    return below + np.where(n == c, np.maximum(1.0 - below.sum(axis=1, keepdims=True), 0.0), 0.0)


def closed_cohorts(tab: StepTables, clients: np.ndarray, x: np.ndarray, dec_s: np.ndarray, quantiles
                   ) -> dict[str, np.ndarray]:
    """TTFT, TPOT and ITL of `clients` (R,) in a closed loop with fixed lengths on a prefill-first engine, at
    throughput x (R,) and the decode step of all clients dec_s (R,).

    A pause runs while any prompt waits, so it is a busy period of the prompt path: prompts arriving during it
    join it, and every prompt of a pause starts decoding at the same decode step. With fixed lengths they all
    end at the same step and re-send together: the clients travel in cohorts, one pause each per round, fixed
    once formed (a cohort ends osl - 1 decode steps after its pause, so a round has osl - 1 places for cohorts;
    every decode step runs all clients). They form as the clients come in (the simulator starts them over one
    life, near X a second): busy periods of a path at utilization rho = X x a prompt's share of a full-budget
    step, Borel-distributed (size-biased mean 1 / (1 - rho)^2), at most the clients; where there are more of
    them than places, those landing on one place merge (Borel-Tanner, started by several). A request's TTFT is
    the end of the step holding its prompt in its cohort's pause (first_tokens), its TPOT the round (the
    decode steps and every cohort's pause) less that TTFT over osl - 1; a decode step follows a pause in the
    share (cohorts a round) / (osl - 1) of steps: the others' gap is the whole pause, the cohort's own the
    pause's rest. 8B SGLang H100, 1024 tokens, osl 2-64, 4-256 clients (benchmarks/closed_loop_grid.py), median
    |error| against the simulator: TTFT mean 0.30 -> 0.07, p99 0.29 -> 0.01, ITL p99 0.53 -> 0.06, TPOT p99
    0.05 -> 0.00, where prompts counted Poisson per decode step gave a short pause after nearly every step
    (ITL p50 up to 7x, TTFT 40-85% low). Left: the simulator's cohorts depend on its start (seeds 0-2 at osl 16,
    128 clients: TTFT 0.55-0.94 s); at osl 16-64 and 128-256 clients its start gathers more into one pause than
    the Borel count (TTFT mean still 50-60% low, ITL p50 up to 3x high). Memory (R, C, C) at C clients."""
    c = np.maximum(np.asarray(clients, dtype=float), 1.0)
    n_max = int(c.max())
    budget, isl = tab.token_budget, tab.isl
    per_prompt_s = alone_s(tab, budget[:, None])[:, 0] * isl / budget
    rho = np.clip(x * per_prompt_s, 0.0, 0.999)
    k = np.arange(1, n_max + 1, dtype=float)[None, :]
    osl = np.maximum(tab.osl - 1.0, 1.0)  # decode steps a round: the places a cohort can hold
    # more busy periods than places: those landing on one place merge (a busy period started by several)
    p = cohorts(rho, c, n_max)
    starts = np.maximum(np.ceil(c / (p * k).sum(axis=1) / osl - 1e-9), 1.0)
    p = cohorts(rho, c, n_max, np.minimum(starts, c))  # (R, N) cohort sizes, by count
    serial = serial_rows(tab)
    pause = pause_s(tab, np.broadcast_to(k, p.shape), serial)  # (R, N) a pause of n prompts
    first_s = first_tokens(tab, c, n_max, serial)  # (R, N, N) the k-th prompt's first token in a pause of n
    R = len(c)
    # a request is the k-th of a cohort of n with weight p(n) / E[N] (size-biased, k uniform)
    member = np.where(k[:, :, None] >= k[:, None, :], p[:, :, None], 0.0).reshape(R, -1)
    ttft = weighted_percentiles(first_s.reshape(R, -1), member, quantiles, "ttft_")
    per_round = c / (p * k).sum(axis=1)  # cohorts, each one pause a round
    b = tab.burst  # tokens (token-steps) a streamed chunk: a gap per chunk, a pause inside one, wall time once
    share = np.minimum(per_round * b / osl, 1.0)  # chunks that follow a pause
    round_s = osl * dec_s + per_round * (p * pause).sum(axis=1)
    # every request's round is the same: its TPOT the round less its own TTFT, over its osl - 1 gaps
    tpot_s = np.maximum((round_s[:, None] - first_s.reshape(R, -1)) / osl[:, None], dec_s[:, None])
    out = ttft | weighted_percentiles(tpot_s, member, quantiles, "tpot_")
    # after a cohort of n's pause the c - n others' gap is the whole pause; its own n's runs from their first
    # token to the pause's end
    own_s = (pause[:, :, None] - first_s).reshape(R, -1)
    chunk_s = (dec_s * b)[:, None]
    values = np.concatenate([chunk_s, chunk_s + pause, chunk_s + own_s], axis=1)
    weights = np.concatenate([(1.0 - share)[:, None], share[:, None] * p * np.maximum(c[:, None] - k, 0.0)
                              / c[:, None], share[:, None] * member / c[:, None]], axis=1)
    return out | weighted_percentiles(values, weights, quantiles, "itl_")
