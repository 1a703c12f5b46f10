"""Closed-loop steady state (`concurrency` clients that each send their next request as the last ends) on the
queueing model's per-occupancy figures (`queueing.service`): min(C, B) requests run, the rest wait their turn
(C - B) / X at the throughput X = g(min(C, B)); TTFT, TPOT, ITL and end-to-end as `queueing.open_loop` reads
them at that occupancy. The clients are C, not an endless source: where their prompts fill the token budget the
steps are full budget steps (TPOT and ITL), and the prompts ahead of a request are the other clients', so its
wait is the round's (Little's law: C / X in system, no think time); benchmarks/closed_loop_grid.py puts the
figures beside the simulator's. A prefill-first engine's clients with fixed lengths travel in cohorts, one pause of
prompts each a round (cohorts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from planner.perf import sharegpt_lengths
from planner.perf.cohorts import closed_cohorts
from planner.perf.queueing import (
    QUANTILES,
    Service,
    add_itl,
    at_occupancy,
    budget_work_s,
    dataclass_rows,
    interp_rows,
)
from planner.perf.simulate import length_quantile_factor
from planner.perf.step_mix import own_prefill, prompt_steps
from planner.perf.steptable import StepTables, interp_step


@dataclass
class Seats:
    """A closed loop's figures at its occupancy, per row (R,): the clients `c`, whether their lengths are
    `var`iable, the m = min(C, B) running, the throughput x = g(m), the step (capped at a full budget step where
    the mixed one overfills it), the real step in progress (speculative), whether others run (`busy`, 0 or 1)
    and the wait for a seat (C - B) / X."""

    c: np.ndarray
    var: np.ndarray
    m: np.ndarray
    x: np.ndarray
    step: np.ndarray
    real: np.ndarray
    others: np.ndarray
    busy: np.ndarray
    wait: np.ndarray


class BudgetWait(NamedTuple):
    """The wait for the token budget below the knee (variable lengths): a prompt's work there, its utilization,
    the mean wait, and its shrink to the round's (1 where the round does not bind)."""

    work: np.ndarray
    u: np.ndarray
    pre_wait: np.ndarray
    shrink: np.ndarray


def closed_loop(sv: Service, tab: StepTables, concurrency: np.ndarray, variable=None,
                quantiles=QUANTILES) -> dict[str, np.ndarray]:
    """Steady state with `concurrency` clients (R,): min(C, B) run, the rest wait their turn."""
    st, queue = seated(sv, tab, concurrency, variable)
    c, var, m, x, step = st.c, st.var, st.m, st.x, st.step
    pf, pf_q = seated_prefill(sv, tab, st, quantiles)
    bw = budget_wait(sv, st, pf, pf_q)
    out: dict[str, np.ndarray] = {"ttft_mean_s": st.wait + pf_q["mean_s"] + 0.5 * st.real * st.busy + bw.pre_wait,
                                  "tpot_mean_s": step}
    add_quantiles(sv, tab, st, pf, pf_q, bw, quantiles, out)
    # prompts arrive as others complete: a step's count follows the steps (each decoding sequence has its chance
    # to end at every step), not the time a long step takes; with fixed lengths the clients keep the phases of
    # their random start, when prompts came in time (step_mix)
    # where a step's room holds one prompt, a cohort of two cannot last: the scheduler cuts the second at the
    # room's end, its first token comes a step later and its client returns a step later ever after, so the
    # counts stay those of the steps' collisions (Poisson), not the branching cohorts (4096 / 256 tokens at 32
    # clients: the simulator's ITL p99 the one-prompt step in 6 seeds of 6, the branching counts' two-prompt step
    # +88%)
    holds_many = np.maximum(tab.token_budget - m, 1.0) >= 2.0 * np.maximum(sv.isl, 1.0)
    add_itl(sv, tab, m, x, np.where(queue, 1.0, (c > sv.cap).astype(float)), quantiles, out,
            timed=~var & holds_many, variable=var)
    add_prompts_ahead(c, x, sv.osl, step, queue, out)
    add_cohorts(sv, tab, c, x, var, quantiles, out)
    out["e2e_mean_s"] = out["ttft_mean_s"] + np.maximum(sv.osl - 1.0, 0.0) * out["tpot_mean_s"]
    # the median request's output: ShareGPT's median is 0.67 of the mean (open_loop reads it alike)
    osl_med = np.where(var, sv.osl * length_quantile_factor(0.5, sv.osl, "output"), sv.osl)
    out["e2e_p50_s"] = out["ttft_p50_s"] + np.maximum(osl_med - 1.0, 0.0) * out["tpot_p50_s"]
    out["requests_s"] = x
    out["saturated"] = c > sv.cap
    return out


def seated(sv: Service, tab: StepTables, concurrency: np.ndarray, variable) -> tuple[Seats, np.ndarray]:
    """The loop at its occupancy (`Seats`), and the rows whose prompts queue for the budget (prompts_queue)."""
    c = np.asarray(concurrency, dtype=float)
    var = np.zeros(len(c), dtype=bool) if variable is None else np.asarray(variable, dtype=bool)
    m = np.minimum(c, sv.cap)
    x = at_occupancy(sv, sv.rate, m)
    step = at_occupancy(sv, sv.step_s, m)
    real = at_occupancy(sv, sv.real_step_s, m)  # the real step in progress (speculative)
    queue, over, full_s = prompts_queue(sv, tab, m, step, var)
    step = np.where(over, np.minimum(step, full_s), step)
    # a request that gets a seat prefills beside the m - 1 others; it lands mid-step only if they run
    others = np.maximum(m - 1.0, 0.0)
    busy = np.minimum(others, 1.0)
    wait = np.maximum(c - sv.cap, 0.0) / x
    return Seats(c, var, m, x, step, real, others, busy, wait), queue


def seated_prefill(sv: Service, tab: StepTables, st: Seats, quantiles) -> tuple[np.ndarray, dict]:
    """(pf, pf_q): a seated request's prefill seconds beside the m - 1 others, and its mean_s and p{q}_s."""
    m, x, others = st.m, st.x, st.others
    pf = at_occupancy(sv, sv.prefill_s, others)
    pf_q = {f"p{q:g}_s": pf for q in quantiles} | {"mean_s": pf}
    one = ~st.var & (at_occupancy(sv, sv.chunks, m) <= 1.0)
    if one.any():  # fixed lengths: a prompt rides with the others that completed at the step before (cohorts);
        # its step beside the m - 1 others decoding, less the step it would take alone (pf's own figure)
        r = np.flatnonzero(one)
        t, o = dataclass_rows(tab, r), others[r]
        dec = at_occupancy(sv, sv.dec_s, others)[r]
        room = np.maximum(t.token_budget - m[r], 1.0)
        b, p = prompt_steps(t, o, dec, x[r] * o / m[r], room, t.isl, np.ones(len(r), dtype=bool))
        for k, v in own_prefill(b, p, t.isl, room, m[r], quantiles).items():
            pf_q[k] = pf_q[k].copy()
            pf_q[k][r] += v - b.seconds[:, 1]
    return pf, pf_q


def budget_wait(sv: Service, st: Seats, pf: np.ndarray, pf_q: dict) -> BudgetWait:
    """The wait for the prompts ahead in the token budget below the knee (variable lengths), held to the
    round's."""
    c, m, x = st.c, st.m, st.x
    # below the knee each client re-sends as its request ends; with fixed lengths the clients keep their
    # phases (prompts meet only in their cohorts, above), with variable lengths prompts collide in the token
    # budget as in M/D/1
    work = budget_work_s(sv, m, pf)
    u = np.clip(x * work, 0.0, 0.999) * ((m < sv.cap) & st.var)
    pre_wait = u / (2.0 * (1.0 - u)) * work
    # the M/D/1's source is endless; a closed loop holds C clients, so the prompts ahead are at most those
    # neither decoding nor in their own prompt steps: the wait stops at the round's, C / X less the decode steps
    # less the rest of TTFT (Little's law). There each client waits for every other's prompt once a round, a sum
    # of many prompts, no M/D/1 tail: its quantiles are the round's (below). 8B vLLM, 1024 / 4 ShareGPT
    # lengths, 128 clients: TTFT mean 9.76 -> 1.88 s (u clipped at 0.999: 500 prompts' work; simulator 1.65),
    # p99 44.1 -> 2.16 s (simulator 2.04; the M/D/1's tail shrunk alike: 7.80). Where the round binds only in
    # part its tail runs short: osl 16, 128 clients p99 0.26 s against the simulator's 0.74 (the shrunk tail:
    # 0.56)
    round_s = round_wait_s(c, x, sv.osl, st.step)
    held = np.maximum(round_s - st.wait - pf_q["mean_s"] - 0.5 * st.real * st.busy, 0.0)
    shrink = np.where(pre_wait > held, held / np.maximum(pre_wait, 1e-300), 1.0)
    pre_wait = pre_wait * shrink
    return BudgetWait(work, u, pre_wait, shrink)


def add_quantiles(sv: Service, tab: StepTables, st: Seats, pf: np.ndarray, pf_q: dict, bw: BudgetWait,
                  quantiles, out: dict) -> None:
    """TTFT and TPOT at each quantile, written into `out` (after its ttft_mean_s)."""
    m, var, step = st.m, st.var, st.step
    work, u, pre_wait, shrink = bw
    # variable lengths: a longer prompt takes longer to prefill (as open_loop reads it: its own work scales with
    # the prompt-length quantile, the steps it rides on only past the token budget), and a request's steps
    # carry its own context (isl + osl / 2 over its life) beside the others'; fixed lengths: no spread
    fixed, grows = pf - work, at_occupancy(sv, sv.chunks, m) > 1.0  # work: within [0, pf]
    # weighed by the prefill's share of the mean TTFT: where waits dominate (256 clients) the analytic queue
    # already spreads, and the whole length spread on top put p90 TTFT 75% above the simulator's
    alone = pf / np.maximum(out["ttft_mean_s"], 1e-12)
    # each variable row's own context at every quantile: its tables gathered and its length pairs drawn once
    rv = np.flatnonzero(var)
    tv = dataclass_rows(tab, rv) if len(rv) else None
    ctx = dict(zip(quantiles, own_context(tv, [q / 100.0 for q in quantiles]), strict=True)) if len(rv) else {}
    # seconds a step gains per context token at the occupancy the loop runs at (the simulator's slope at its
    # decode count), not at the seats the KV cache holds: where the host hides the GPU's attention at large
    # batches the two differ
    slope = interp_rows(tv.decode, tv.ctx_slope_s, m[rv][:, None])[:, 0] if len(rv) else None
    for q in quantiles:
        p = q / 100.0
        pre_q = np.where(u > 1.0 - p, np.log(np.maximum(u / (1.0 - p), 1.0)) * work / (1.0 - u), 0.0) * 0.5
        pre_q = np.where(shrink < 1.0, pre_wait, pre_q)  # the round's
        f = np.where(var, length_quantile_factor(p, sv.isl, "prompt"), 1.0)
        own = np.where(var, fixed * np.where(grows, f, 1.0) + work * f - pf, 0.0) * alone
        # the prompt's length and the prompts ahead of it vary independently: above the median their excesses
        # add in quadrature (their sum's quantile, as open_loop's TPOT spread), not whole (p90 +75% at 256
        # clients against the simulator)
        spread = np.where(own > 0.0, np.hypot(own, pre_q), own + pre_q)
        out[f"ttft_p{q:g}_s"] = st.wait + pf_q[f"p{q:g}_s"] + p * st.real * st.busy + spread
        out[f"tpot_p{q:g}_s"] = step.copy()
        if len(rv):
            out[f"tpot_p{q:g}_s"][rv] += slope * (ctx[q] - tv.ctx_ref)


def prompts_queue(sv: Service, tab: StepTables, m: np.ndarray, step: np.ndarray,
                  var: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, over, full_s): fixed-length rows whose prompts queue for the token budget, the rows whose mixed
    step overfills the budget (capped at the full one, fixed and variable lengths: 8B, 1024 / 4 ShareGPT
    lengths, 128 clients TPOT 0.58 -> 0.149 s, simulator 0.146), and the full budget step (m decoding, the
    room's prompt tokens). At osl 1 a request is its prompt alone: the prompts are all the work; past it, with
    prompts mixed into decode steps, where the others' prompt work spread over a request's steps overfills the
    budget (the mixed step above a full one). A prefill-first engine (SGLang) pauses decode for whole prompt
    steps: its steps do last past a full one, so only its osl-1 rows."""
    full_s = interp_step(tab, m[:, None], np.maximum(tab.token_budget - m, 1.0)[:, None])[:, 0]
    over = ~(tab.prefill_first > 0) & (step > full_s)
    return ~var & ((sv.osl <= 1.0) | over), over, full_s


def round_wait_s(c: np.ndarray, x: np.ndarray, osl: np.ndarray, tpot_s: np.ndarray) -> np.ndarray:
    """A client's time in system a round less its decode steps: C / X (Little's law, no think time) less
    (osl - 1) TPOT, what its prompt's wait and TTFT share."""
    return c / np.maximum(x, 1e-300) - np.maximum(osl - 1.0, 0.0) * tpot_s


def add_prompts_ahead(c: np.ndarray, x: np.ndarray, osl: np.ndarray, tpot_s: np.ndarray, queue: np.ndarray,
                      out: dict) -> None:
    """The wait for the prompts ahead, added to TTFT in the `queue` rows (prompts_queue). The budget packs the
    steps full, so the prompt path passes one prompt per 1 / X seconds, and every client that is neither
    decoding ((osl - 1) TPOT of each round) nor in its own prompt steps (the cohorts' TTFT) waits in that queue:
    C / X - (osl - 1) TPOT - TTFT of them, 1 / X each (the closed loop's population; its mean time in system
    is then C / X, Little's law, exact with no think time). The cohorts alone missed it when more prompts
    return at once than the room holds (qwen3-32b fp8 H100, 1024 tokens, 128 clients, osl 1: TTFT 5.37 s
    against C / X 9.82 s, the simulator's 9.86). The clients keep one order round after round (each waits for
    every other client's prompt once), so at osl 1 every quantile is the mean (the simulator's p50 within 0.5%
    of its mean at osl 1, 2, 4; p99 up to 7% above; benchmarks/closed_loop_little.py). Past it the quantiles
    are whole steps (below). qwen3-32b osl 16, 128 clients: simulator p50 one full step (0.622 s), p99 two
    (1.244), mean 0.768; whole steps 0.622 / 1.244 (the cohorts' figure kept above the mean: p50 0.869, +40%;
    the cohorts' spread added to the wait: p99 +41% at osl 2, 32 clients, against the simulator's 0%)."""
    if not queue.any():
        return
    round_s = round_wait_s(c, x, osl, tpot_s)
    ahead_s = np.where(queue, np.maximum(round_s - out["ttft_mean_s"], 0.0), 0.0)
    mean_s = out["ttft_mean_s"] + ahead_s
    # past osl 1 every step is packed full and a first token comes at the end of the step that computes the
    # prompt's last tokens: TTFT is a whole number of steps, the two around the mean in the shares that make it,
    # and at least the one step that computes it (a mean under one step gave the lower quantiles 0 s)
    steps = mean_s / np.maximum(tpot_s, 1e-300)
    lo = np.floor(steps)
    for k in [k for k in out if k.startswith("ttft_p")]:
        whole = np.maximum(lo + (float(k[6:-2]) / 100.0 > 1.0 - (steps - lo)), 1.0) * tpot_s
        out[k] = np.where(queue, np.where(osl <= 1.0, mean_s, whole), out[k])
    out["ttft_mean_s"] = np.where(queue, mean_s, out["ttft_mean_s"])


# the most clients whose cohorts are resolved one by one ((R, C, C) arrays); more keep the per-step mixture.
# Assumed: a time bound (0.1 s a row at 256 clients, 0.5 s at 512, 2 s at 890), not fitted
COHORT_CLIENTS = 512


def add_cohorts(sv: Service, tab: StepTables, c: np.ndarray, x: np.ndarray, var: np.ndarray, quantiles,
                out: dict) -> None:
    """A prefill-first engine's clients with fixed lengths, past osl 1 and within the seats, travel in cohorts
    (cohorts.closed_cohorts): their TTFT, TPOT and ITL in place of the per-step mixture's."""
    rows = np.flatnonzero((tab.prefill_first > 0) & ~var & (sv.osl > 1.0) & (c <= sv.cap) & (c <= COHORT_CLIENTS))
    if not len(rows):
        return
    dec = at_occupancy(sv, sv.dec_s, c)[rows]
    got = closed_cohorts(dataclass_rows(tab, rows), c[rows], x[rows], dec, quantiles)
    for k, v in got.items():
        out[k][rows] = v


CONTEXT_POINTS = 100  # quantiles of each length drawn: 100 x 100 pairs a row (assumed: enough for p99)


def own_context(tab: StepTables, p) -> np.ndarray:
    """Per row, the p-quantile(s) of a request's mean context over its life, isl + osl / 2, with `variable`
    lengths (prompt and output drawn independently, as `simulate.lengths` draws them): (rows,) for one p,
    (len(p), rows) for several (the pairs are drawn once for all)."""
    u = (np.arange(CONTEXT_POINTS) + 0.5) / CONTEXT_POINTS
    isl = sharegpt_lengths.quantile_factor(u, tab.isl[:, None], "prompt") * tab.isl[:, None]
    half = sharegpt_lengths.quantile_factor(u, tab.osl[:, None], "output") * tab.osl[:, None] / 2.0
    pairs = (isl[:, :, None] + half[:, None, :]).reshape(len(isl), -1)
    return np.quantile(pairs, p, axis=1)
