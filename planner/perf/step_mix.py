"""How many prompt chunks a mixed step carries (vLLM V1, TensorRT-LLM: every step decodes each running sequence
and fills the rest of the token budget with the prompts that are ready), for the ITL distribution.

The chunks a step carries are the prompts that arrived during the step before it: k_next ~ Poisson(lam t(k)),
with lam chunks/s and t(k) = dec + w k the step with k chunks. A step that carries prompts lasts longer, so
more prompts gather for the next one and steps with prompts come in runs: the counts are those of a branching
process with immigration (a = lam dec immigrants a step, mu = lam w offspring per chunk), whose steady state
has mean a / (1 - mu) (the rate balance: lam chunks/s over the mean step) and variance mean / (1 - mu^2),
wider than Poisson. Taking the counts Poisson with that mean (each step independent) put the share of steps
with prompts at 1 - e^-f and, at many running sequences (f ~ 0.75 prompts a step, 8B at 192 clients), moved
the ITL p50 onto the chunk step (37 vs the simulator's 11.8 ms) while its p99 missed the steps packed with
several prompts (37 vs 151 ms). The counts here are negative binomial with the process's mean and variance
(Poisson where mu -> 0); beyond the chunks the budget holds the step is packed (the rest waits a step).
"""

from __future__ import annotations

import numpy as np

from planner.perf.sharegpt_lengths import quantile_factor as length_quantile_factor
from planner.perf.steptable import StepTables, interp_step

MAX_CHUNKS = 64  # chunks per step resolved one by one; more (prompts far below the budget) lump on the last
SPREAD_POINTS = 4  # equiprobable prompt-length points per chunk count (variable lengths)
MU_MAX = 0.99  # offspring per chunk: at 1 the prompts' work fills the steps (the packed-step queue's regime)


def chunk_counts(mean: np.ndarray, mu: np.ndarray, n: int) -> np.ndarray:
    """(R, n + 1) probabilities of 0..n chunks in a step (the last lumps n and more): negative binomial with
    `mean` and the branching process's variance mean / (1 - mu^2) (Poisson at mu = 0)."""
    mu = np.clip(mu, 0.0, MU_MAX)[:, None]
    mean = mean[:, None]
    q = mu * mu  # 1 - p of the negative binomial (p = mean / variance = 1 - mu^2)
    # log P(0) = r log(1 - q), r = mean (1 - q) / q; -> -mean as q -> 0 (Poisson)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(q > 1e-9, np.log1p(-q) / q, -1.0)
    k = np.arange(n, dtype=float)[None, :]
    # P(k + 1) / P(k) = (k + r) q / (k + 1) = (k q + mean (1 - q)) / (k + 1)
    ratio = (k * q + mean * (1.0 - q)) / (k + 1.0)
    log_p = np.concatenate([mean * (1.0 - q) * per, np.log(np.maximum(ratio, 1e-300))], axis=1)
    p = np.exp(np.cumsum(log_p, axis=1))
    p[:, -1] = np.maximum(1.0 - p[:, :-1].sum(axis=1), 0.0)  # n and more
    return p


def chunk_steps(tab: StepTables, m: np.ndarray, dec: np.ndarray, lam: np.ndarray, room: np.ndarray,
                chunk_tokens: np.ndarray, timed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t_k, p, holds): the step with k = 0..MAX_CHUNKS chunks of `chunk_tokens` beside m decoding (R, K + 1),
    the probabilities of k chunks ready at a step (R, K + 1) at lam chunks/s, the chunks a step holds (R,)."""
    holds = np.clip(np.floor(room / np.maximum(chunk_tokens, 1.0)), 1.0, MAX_CHUNKS)
    k = np.arange(MAX_CHUNKS + 1, dtype=float)[None, :]
    t_k = interp_step(tab, m[:, None], np.minimum(k, holds[:, None]) * chunk_tokens[:, None])  # t_k[:, 0]: decode
    w = np.maximum(t_k[:, 1] - dec, 0.0)  # a chunk's own time (the mixed-step floor included)
    mu = np.clip(lam * w, 0.0, MU_MAX)
    # chunks a step: lam x the mean step (the rate balance); spread as the branching process where prompts come
    # in time, as Poisson where they come with the steps
    return t_k, chunk_counts(lam * dec / (1.0 - mu), np.where(timed, mu, 0.0), MAX_CHUNKS), holds


def own_prefill(t_k: np.ndarray, p: np.ndarray, holds: np.ndarray, quantiles,
                locked: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """A one-chunk prompt's seconds from its first step's start to its first token (mean_s, p{q}_s): it rides
    with the others ready at the same step (a batch of n, size-biased: n p_n), n // holds steps packed full
    then one with the rest, in its place in the batch. `locked` (R,): a closed loop with fixed lengths, whose
    clients return every osl steps at the same place: a prompt a full step pushes back returns one step later
    ever after, so batches settle at what a step holds (the simulator's 70B 5000-token prompts, one a step:
    TTFT p90 one step, not the queue of several)."""
    R, K = p.shape
    if locked is not None and locked.any():
        h = holds.astype(np.int64)[:, None]
        n = np.arange(K)[None, :]
        top = np.where(n == h, np.where(n >= h, p, 0.0).sum(axis=1, keepdims=True), np.where(n < h, p, 0.0))
        p = np.where(locked[:, None], top, p)
    vals, wts = [], []
    h = holds.astype(np.int64)
    t_full = t_k[np.arange(R), h]
    for n in range(1, K):
        g, r = n // h, n % h
        t_rest = g * t_full + t_k[np.arange(R), np.maximum(r, 0)]
        for i in range(1, n + 1):  # the i-th packed step of the batch, while it has one
            on = i <= g
            if not on.any():
                break
            vals.append(i * t_full)
            wts.append(np.where(on, p[:, n] * h, 0.0))
        vals.append(t_rest)
        wts.append(np.where(r > 0, p[:, n] * r, 0.0))
    values, weights = np.stack(vals, axis=1), np.stack(wts, axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    values, weights = np.take_along_axis(values, order, 1), np.take_along_axis(weights, order, 1)
    cum = np.cumsum(weights, axis=1)
    tot = np.maximum(cum[:, -1], 1e-300)
    out = {"mean_s": (values * weights).sum(axis=1) / tot}
    for q in quantiles:
        i = np.minimum((cum < (q / 100.0) * tot[:, None]).sum(axis=1), values.shape[1] - 1)
        out[f"p{q:g}_s"] = values[np.arange(R), i]
    return out


def mixed_itl(tab: StepTables, m: np.ndarray, dec: np.ndarray, n_chunk: np.ndarray, n_full: np.ndarray,
              full: np.ndarray, room: np.ndarray, chunk_tokens: np.ndarray, quantiles, timed: np.ndarray,
              variable: np.ndarray) -> dict[str, np.ndarray]:
    """itl_mean_s and itl_p{q}_s (one gap per step, per token) at occupancy m (R,): steps carrying k chunks of
    `chunk_tokens` at `n_chunk` chunks/s outside the steps packed full (`n_full` a second, `full` s each,
    `room` prompt tokens), decode-only steps `dec` s. `timed` (R,): prompts come in time (Poisson arrivals),
    else with the steps (a closed loop's completions); `variable` (R,): prompt lengths drawn (the tokens of a
    step with k prompts spread as their sum)."""
    R = len(m)
    rest = 1.0 - np.clip(n_full * full, 0.0, 0.999)  # the time outside the packed steps
    t_k, p, holds = chunk_steps(tab, m, dec, n_chunk / rest, room, chunk_tokens, timed)
    k = np.arange(MAX_CHUNKS + 1, dtype=float)[None, :]
    # n chunks ready: n // holds steps packed full and one with the rest (or a decode-only step): the excess
    # waits for the next steps (their own arrivals are counted in the mean)
    n = np.arange(MAX_CHUNKS + 1)[None, :]
    h = holds.astype(np.int64)[:, None]
    rows = np.broadcast_to(np.arange(R)[:, None], p.shape)
    w_k = np.zeros_like(t_k)
    np.add.at(w_k, (rows, n % h), np.where((n % h > 0) | (n == 0), p, 0.0))
    np.add.at(w_k, (rows, np.broadcast_to(h, p.shape)), p * (n // h))
    steps = rest / np.maximum((w_k * t_k).sum(axis=1), 1e-12)  # arrival-steps/s outside the packed ones
    values, weights = [t_k], [w_k * steps[:, None]]
    if np.any(variable):  # a step's prompt tokens spread as the sum of k drawn lengths (~ 1 / sqrt(k) narrower)
        spread = np.array([length_quantile_factor((j + 0.5) / SPREAD_POINTS, chunk_tokens, "prompt") - 1.0
                           for j in range(SPREAD_POINTS)])  # (J, R)
        f = 1.0 + np.where(variable, spread, 0.0)[:, :, None] / np.sqrt(np.maximum(k, 1.0))[None]
        tokens = np.minimum(k * chunk_tokens[:, None] * f, np.maximum(room, chunk_tokens)[:, None])
        values = [np.where(k > 0, interp_step(tab, m[:, None], tj), t_k) for tj in tokens]
        weights = [weights[0] / SPREAD_POINTS] * SPREAD_POINTS
    values = np.concatenate([*values, full[:, None]], axis=1)
    weights = np.concatenate([*weights, n_full[:, None]], axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    values, weights = np.take_along_axis(values, order, 1), np.take_along_axis(weights, order, 1)
    cum = np.cumsum(weights, axis=1)
    tot = np.maximum(cum[:, -1], 1e-300)
    out = {"itl_mean_s": (values * weights).sum(axis=1) / tot}
    for q in quantiles:
        i = np.minimum((cum < (q / 100.0) * tot[:, None]).sum(axis=1), values.shape[1] - 1)
        out[f"itl_p{q:g}_s"] = values[np.arange(R), i]
    return out
