"""How many prompts the steps of a mixed schedule carry (vLLM V1, TensorRT-LLM: every step decodes each
running sequence and fills the rest of the token budget with the prompt tokens that are ready), for the ITL
distribution and, in a closed loop with fixed lengths, the step a prompt rides in.

The prompts ready at a step are those that arrived during the step before: n_next ~ Poisson(lam T(n)), lam
prompts/s, T(n) the seconds n ready prompts take. A step that carries prompts lasts longer, so more gather for
the next one and steps with prompts come in runs: the counts of a branching process with immigration
(lam dec immigrants a step, mu = lam w offspring per prompt of w seconds), whose steady state has mean
lam E[T] (the rate balance; lam dec / (1 - mu) where T is linear) and variance mean / (1 - mu^2), wider than
Poisson. Counting them Poisson (each step independent, a share 1 - e^-f with prompts) moved the ITL p50 of 8B
at 192 clients (f ~ 0.75 prompts a step) onto the chunk step (37 vs the simulator's 11.8 ms) and missed the
p99's steps with several prompts (37 vs 151 ms). The counts here are negative binomial with that mean and
variance (Poisson where prompts come with the steps: a closed loop's completions with variable lengths). The
ready tokens fill the budget's room: n prompts run as whole steps at the room and one step with the rest (a
prompt longer than the room is cut where the room ends, as the scheduler does, not in equal chunks).
"""

from __future__ import annotations

import numpy as np

from planner.perf.serving import even_chunks, shared_chunks  # the one rule of the mean step, no load and load
from planner.perf.sharegpt_lengths import quantile_factor as length_quantile_factor
from planner.perf.speculative_prompt import own_prefill_s
from planner.perf.steptable import StepTables, interp_on_grid, interp_step

MAX_PROMPTS = 64  # prompts ready at a step resolved one by one; more (far below the budget) lump on the last
SPREAD_POINTS = 4  # equiprobable prompt-length points per prompt count (variable lengths)
MU_MAX = 0.99  # offspring per prompt: at 1 the prompts' work fills the steps (the packed-step queue's regime)
FIXED_POINT_ROUNDS = 4


def prompt_counts(mean: np.ndarray, mu: np.ndarray, n: int) -> np.ndarray:
    """(R, n + 1) probabilities of 0..n prompts ready at a step (the last lumps n and more): negative binomial
    with `mean` and the branching process's variance mean / (1 - mu^2) (Poisson at mu = 0)."""
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


class Batches:
    """n = 0..MAX_PROMPTS prompts of `prompt_tokens` ready at once beside m decoding: `full` steps at the budget's
    room (`room_s` each), then one step with the rest (`rest_s`; a decode-only step where none are ready,
    `has_rest` False where the tokens end on a full step). `seconds` (R, K + 1): the time the batch takes."""

    def __init__(self, tab: StepTables, m: np.ndarray, room: np.ndarray, prompt_tokens: np.ndarray) -> None:
        n = np.arange(MAX_PROMPTS + 1, dtype=float)[None, :]
        tokens = n * prompt_tokens[:, None]
        room = np.maximum(room, 1.0)[:, None]
        self.full = np.floor(tokens / room + 1e-9)
        left = np.maximum(tokens - self.full * room, 0.0)
        self.has_rest = (left > 0.5) | (n == 0)
        self.rest_tokens = np.where(left > 0.5, left, 0.0)
        self.rest_s = interp_step(tab, m[:, None], self.rest_tokens)
        self.room_s = interp_step(tab, m[:, None], room)[:, 0]
        self.seconds = self.full * self.room_s[:, None] + np.where(self.has_rest, self.rest_s, 0.0)


def prompt_steps(tab: StepTables, m: np.ndarray, dec: np.ndarray, lam: np.ndarray, room: np.ndarray,
                prompt_tokens: np.ndarray, timed: np.ndarray) -> tuple[Batches, np.ndarray]:
    """(batches, p): what n ready prompts take beside m decoding, and the probabilities of n (R, K + 1) at lam
    prompts/s; `timed` (R,): prompts come in time (branching), else with the steps (Poisson)."""
    b = Batches(tab, m, room, prompt_tokens)
    w = np.maximum(b.seconds[:, 1] - dec, 0.0)  # a prompt's own time (the mixed-step floor included)
    mu = np.clip(lam * w, 0.0, MU_MAX)
    # the rate balance: lam dec / (1 - mu) where a step's time is linear in its prompts, then a few fixed-point
    # rounds for the rest (the mixed-step floor a step's first prompt pays alone, the decode part of each further
    # step where the ready tokens overflow the room)
    spread = np.where(timed, mu, 0.0)
    mean = lam * dec / (1.0 - mu)
    for _ in range(FIXED_POINT_ROUNDS):  # a contraction while the prompts leave time to decode
        mean = lam * (prompt_counts(mean, spread, MAX_PROMPTS) * b.seconds).sum(axis=1)
    return b, prompt_counts(mean, spread, MAX_PROMPTS)


def weighted_percentiles(values: np.ndarray, weights: np.ndarray, quantiles, prefix: str) -> dict[str, np.ndarray]:
    """{prefix}mean_s and {prefix}p{q}_s of `values` (R, J) under `weights` (R, J)."""
    order = np.argsort(values, axis=1, kind="stable")
    values, weights = np.take_along_axis(values, order, 1), np.take_along_axis(weights, order, 1)
    cum = np.cumsum(weights, axis=1)
    tot = np.maximum(cum[:, -1], 1e-300)
    out = {f"{prefix}mean_s": (values * weights).sum(axis=1) / tot}
    rows = np.arange(len(values))
    for q in quantiles:
        i = np.minimum((cum < (q / 100.0) * tot[:, None]).sum(axis=1), values.shape[1] - 1)
        out[f"{prefix}p{q:g}_s"] = values[rows, i]
    return out


def own_prefill(b: Batches, p: np.ndarray, prompt_tokens: np.ndarray, room: np.ndarray, clients: np.ndarray,
                quantiles) -> dict[str, np.ndarray]:
    """A prompt's seconds (one that fits the room) from its first step's start to its first token (mean_s,
    p{q}_s) in a closed loop with fixed lengths: it rides with the others that completed at the same step (a
    batch of n, size-biased: n p_n); its clients return every osl steps at the same place, so a prompt a full
    step pushes back returns one step later ever after: batches settle at what the room holds (the
    simulator's 70B 5000-token prompts, one a step: TTFT p90 one step, not a queue of several). A batch holds at
    most the `clients` running (R,): the counts' tail past them lumps there (4 clients, osl 2: TTFT p99 the batch
    of 4, not the room's 7; the simulator's p99 37-55 ms over seeds 0-5, the batch of 7 +127 ms)."""
    K = p.shape[1]
    holds = np.floor(np.maximum(room, 1.0) / np.maximum(prompt_tokens, 1.0))
    holds = np.clip(np.minimum(holds, np.floor(clients)), 1, K - 1).astype(np.int64)
    n = np.arange(K)[None, :]
    settled = np.where(n == holds[:, None], np.where(n >= holds[:, None], p, 0.0).sum(axis=1, keepdims=True),
                       np.where(n < holds[:, None], p, 0.0))
    return weighted_percentiles(b.seconds[:, 1:], settled[:, 1:] * n[:, 1:], quantiles, "")


def mixed_itl(tab: StepTables, m: np.ndarray, dec: np.ndarray, n_prompt: np.ndarray, n_full: np.ndarray,
              full: np.ndarray, room: np.ndarray, prompt_tokens: np.ndarray, quantiles, timed: np.ndarray,
              variable: np.ndarray) -> dict[str, np.ndarray]:
    """itl_mean_s and itl_p{q}_s (one gap per step, per token) at occupancy m (R,): steps carrying the prompts of
    `prompt_tokens` ready at `n_prompt` prompts/s outside the steps packed full (`n_full` a second, `full` s
    each, `room` prompt tokens), decode-only steps `dec` s. `timed` (R,): prompts come in time (Poisson arrivals),
    else with the steps (a closed loop's completions); `variable` (R,): prompt lengths drawn (the tokens of a
    step with k prompts spread as their sum, where a prompt fits the room)."""
    rest = 1.0 - np.clip(n_full * full, 0.0, 0.999)  # the time outside the packed steps
    b, p = prompt_steps(tab, m, dec, n_prompt / rest, room, prompt_tokens, timed)
    per_s = rest / np.maximum((p * b.seconds).sum(axis=1), 1e-12)  # batches/s outside the packed steps
    w_rest = np.where(b.has_rest, p, 0.0) * per_s[:, None]
    values, weights = [b.rest_s], [w_rest]
    spread_rows = np.asarray(variable, dtype=bool) & (prompt_tokens < room)
    if spread_rows.any():  # a step's prompt tokens spread as the sum of k drawn lengths (~ 1 / sqrt(k) narrower)
        k = np.arange(MAX_PROMPTS + 1, dtype=float)[None, :]
        spread = np.array([length_quantile_factor((j + 0.5) / SPREAD_POINTS, prompt_tokens, "prompt") - 1.0
                           for j in range(SPREAD_POINTS)])  # (J, R)
        f = 1.0 + np.where(spread_rows, spread, 0.0)[:, :, None] / np.sqrt(np.maximum(k, 1.0))[None]
        tokens = np.minimum(b.rest_tokens[None] * f, np.maximum(room, prompt_tokens)[None, :, None])
        values = [np.where(b.rest_tokens > 0, interp_step(tab, m[:, None], tj), b.rest_s) for tj in tokens]
        weights = [w_rest / SPREAD_POINTS] * SPREAD_POINTS
    packed = (p * b.full).sum(axis=1) * per_s  # steps/s at the room within the batches
    values = np.concatenate([*values, b.room_s[:, None], full[:, None]], axis=1)
    weights = np.concatenate([*weights, packed[:, None], n_full[:, None]], axis=1)
    return weighted_percentiles(values, weights, quantiles, "itl_")


def own_steps(tab: StepTables) -> np.ndarray:
    """Token-steps (R, 1) of a prompt's own prefill in the count of a life's steps (serving.life_steps): its chunks
    at the whole token budget, in whole real steps where speculating (accept token-steps each). At the whole
    budget, not the room beside m decoding: a count that grows with m would thin the others' prompt share as the
    batch grows and TPOT would fall at each added chunk (the candidate search prunes on TPOT rising with the
    batch); the room's chunks (one more where the prompt fills the budget) are counted in the prefill itself."""
    budget, isl = tab.token_budget[:, None], tab.isl[:, None]
    acc = np.maximum(tab.spec_accept, 1.0)[:, None]
    return acc * np.ceil(isl / (acc * budget))


def mixed_terms(tab: StepTables, m: np.ndarray, others: np.ndarray, dec_s: np.ndarray, life: np.ndarray):
    """(chunks, chunk_s, prefill_s, step_s, work_s) of a mixed schedule (vLLM V1, TensorRT-LLM): every step
    gives each running sequence a token; some also carry prompt tokens (the scheduler computes prompts in big
    chunks, not spread thin), so the mean step is the mixture: in steady state each of the m - 1 others
    completes one request in the `life` token-steps of a request's life (serving.life_steps of own_steps), so
    they bring (m - 1) * isl / life prompt tokens per step, on every step of the life (the serving module's
    docstring), f chunks' worth, and the chunks that land in the same step share it."""
    budget = tab.token_budget[:, None]
    isl = tab.isl[:, None]
    room = np.clip(budget - m, 1.0, None)
    chunks, chunk_tokens = even_chunks(isl, room)
    chunk_s = interp_on_grid(tab, chunk_tokens)
    prefill_s = own_prefill_s(tab, m, room, chunks * chunk_s)  # in whole real steps where speculating
    per_step = others * isl / life  # the others' prompt tokens per step in steady state
    mixed, tokens = shared_chunks(per_step, chunk_tokens)
    carried = interp_on_grid(tab, tokens)
    step_s = (1.0 - mixed) * dec_s + mixed * carried
    # the seconds of the prompt server per prompt, on which prompts queue for each other: prompts that wait are
    # admitted together into the next step's room, so a backlog runs steps packed to the budget (m decoding,
    # budget - m prompt tokens) and a prompt takes its token share of one. A whole chunk step per prompt (the
    # mixed-step floor of a named engine counted for each prompt: 0.02-0.05 s beside 2 ms decode steps with
    # vLLM speculative decoding) put this queue at its clip at a quarter of capacity; the decode steps' part
    # left out made it look idle again as the occupancy rose (TTFT p90 18 s at 25% of capacity, 0.07 s at 85%,
    # while the simulator's grows). The packed step's whole time counts: it is what the prompts wait through
    full_s = interp_on_grid(tab, room)
    work_s = isl / room * full_s
    return chunks, chunk_s, prefill_s, step_s, work_s
