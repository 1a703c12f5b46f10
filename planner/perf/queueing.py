"""Fast analytic latency under load for the optimizer's candidate search, vectorized over configurations.

Open loop (Poisson `request_rate` lambda): a state-dependent birth-death chain on the requests in the replica (as
llm-d's queue analyzer). In state n <= B (B = max running sequences, or as many as the KV cache holds at the
average context, whichever is smaller) all n run, each living S(n) = prefill(n) + (osl-1) * step(n) seconds, so
requests complete at g(n) = n / S(n): the others' prompts spread over every step of a life (serving's docstring),
but where a request's own prompt steps meet them they wait on the prompt path (TTFT's M/D/1 below), outside the
seats, so the chain's S(n) leaves that share out (Service.queue_rate; counted in both, TTFT at osl 1 and 0.75 of
capacity read 366 ms, the simulator 203); with every seat busy nothing waits outside them and g(B), a closed loop's
and a burst's rates count it (Service.rate); above B the extra wait in the queue and complete at g(B).
pi(n) ~ prod lambda / g(k); the states above B form a geometric tail, and an arrival that finds n >= B waits
Exp(g(B) - lambda). Long chains are lumped on <= 25 states (log pi linear in between, exact for short ones),
each lump standing at its integers' mean occupancy under that mass. Because every prompt's chunks slow all
running requests, a burst of arrivals backed up on the prompt path slows them all at once and the occupancy
swings wider than the chain's independent departures give: log pi is divided by kappa = 1 + 0.1 u / (1 - u)^2
at the prompt path's utilization u (`queue_spread`; the form the prompt backlog's variance, its scale from the
simulator, not from measured points).
  TTFT = queue wait (Erlang-C-like tail, halved for deterministic service: M/D vs M/M) + the prompt's own
         prefill chunks at the occupancy + half a step (an arrival lands mid-step) + waiting behind other
         prompts for the step's token budget (an M/D/1 on the prefill work);
  TPOT = the mean step at the occupancy a request sees (request-weighted: m * pi(m)); percentiles from the
         occupancy distribution (interpolated between the states), whole: the occupancy wanders on the scale
         of a request's life or slower, so averaging over the life does not narrow it (TPOT_SPREAD);
  ITL  = decode-only steps and steps carrying the prompt chunks that arrived during the step before: a long
         step gathers more, so the counts spread as a branching process, wider than Poisson (step_mix.py);
         read at the occupancy whose step is TPOT's mean step (tokens see the occupancy as requests do).
An engine that runs prompt steps alone while decode waits (SGLang's prefill-first, engines.yaml `scheduler:`)
gets its own per-occupancy figures (prefill_first.py): prompts packed into pauses between decode steps.
Closed loop (`concurrency` C): min(C, B) run, the rest wait (C - B) / X at throughput X = g(min(C, B))
(closed_loop.py).
Finite bursts above capacity (num_requests with lambda >= capacity or inf): burst.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from planner.perf.lumps import cumsum_rows, log_mass, quantile_rows
from planner.perf.memory import held_context_tokens
from planner.perf.prefill_first import prefill_first_terms
from planner.perf.reasoning import hidden_phase_s
from planner.perf.saturation import saturation_rps
from planner.perf.serving import life_steps
from planner.perf.simulate import length_quantile_factor
from planner.perf.speculative_prompt import real_steps
from planner.perf.step_mix import mixed_itl, mixed_terms, own_steps
from planner.perf.steptable import StepTables, at, interp_step, locate

EXACT_STATES = 13  # states 0..12 kept exactly; beyond, lumped on a geometric grid
LUMPED_STATES = 12
MD_WAIT_FACTOR = 0.5  # M/D vs M/M waiting time (Pollaczek-Khinchine with deterministic service)
# kappa's prompt-backlog term (queue_spread): the share of the backlog's variance u / (1 - u)^2 that widens the
# occupancy. From the simulator, not from measured points: the kappa that puts the analytic TPOT mean on the
# simulated one (4 seeds of 8,000-24,000 requests, benchmarks/open_loop_occupancy.py), over (kappa - 1) /
# (u / (1 - u)^2), was 0.08-0.17 (median 0.10) for 8B and 70B on H100, 1024 / 128, at 0.5-0.95 of capacity.
QUEUE_SPREAD = 0.1
# the prompt path's utilization at most (kappa <= 1 + 0.1 x 0.95 / 0.05^2 = 39): past it the rate is the capacity's
# anyway. Assumed: a cap keeping kappa finite, not fitted
U_MAX = 0.95
# A request's TPOT at a percentile: the mean plus TPOT_SPREAD times the occupancy's percentile step less the mean
# (and its own prompt chunks' luck). From the simulator (benchmarks/open_loop_occupancy.py, 8B and 70B on H100,
# 1024 / 128, 0.3-0.95 of capacity, the lumps at their mean occupancy): the factor that puts the p90 on the
# simulated one was 0.74-1.31 (median 0.92), the p99's 0.75-1.23; 0.5 (a request averaging the occupancy over
# its life) put the p90 2-27% low. The whole spread: at these loads the occupancy wanders on the scale of a
# request's life or slower (its relaxation time is the life, longer toward capacity).
TPOT_SPREAD = 1.0
QUANTILES = (50.0, 90.0, 99.0)


def interp_rows(xp: np.ndarray, fp: np.ndarray, x: np.ndarray) -> np.ndarray:
    """np.interp row by row on a decode grid xp (R, D); x (R, K)."""
    return at(fp, locate(xp, x))


@dataclass(frozen=True)
class Service:
    """Per configuration, figures at occupancy m (decode grid of the step table) and the cap B."""

    m: np.ndarray  # (R, D) running sequences
    step_s: np.ndarray  # (R, D) mean step one of m running requests sees (TPOT at this occupancy)
    real_step_s: np.ndarray  # (R, D) step_s as real steps (speculative rows: drafts and verify included): the
    #                          step in progress an arriving prompt waits out (speculative_prompt.real_steps)
    dec_s: np.ndarray  # (R, D) decode-only step
    chunk_s: np.ndarray  # (R, D) step carrying one prompt chunk
    chunks: np.ndarray  # (R, D) steps one prompt needs
    prefill_s: np.ndarray  # (R, D) a prompt's prefill time beside m decoding sequences (chunks * chunk_s)
    life_s: np.ndarray  # (R, D) seconds a request lives (prefill + (osl - 1) steps, the others' prompt share on
    #                     every step: serving.life_steps)
    rate: np.ndarray  # (R, D) completions/s g(m) = m / life
    queue_rate: np.ndarray  # (R, D) the open-loop chain's g(m) below the seats' limit: m / (life less the others'
    #                         prompt share on the own prompt's steps, which waits on the prompt path: TTFT's M/D/1)
    cap: np.ndarray  # (R,) B: running-sequence cap (engine or KV cache)
    seats_rps: np.ndarray  # (R,) g(B): completions/s with every seat busy
    capacity_rps: np.ndarray  # (R,) the most requests/s the replica completes: g(B), or less where the prompt
    #                           path binds first (saturation.py)
    osl: np.ndarray
    isl: np.ndarray
    work_s: np.ndarray  # (R, D) GPU seconds one prompt adds beside m decoding (prompts queue on it)
    gaps: np.ndarray  # (R, D) token gaps holding prompt work, per prompt chunk (< 1 where prompts share steps)


def service(tab: StepTables) -> Service:
    m = tab.decode
    osl = tab.osl[:, None]
    dec_s = tab.time_s[:, :, 0]
    others = np.maximum(m - 1.0, 0.0)  # a running request's steps carry the prompts of the other m - 1
    own = own_steps(tab)
    steps = life_steps(own, osl)  # the others' prompts spread over all of them (serving's docstring)
    first = tab.prefill_first[:, None] > 0
    if first.all():  # every row prefill-first (one engine's candidates): the mixed schedule is not needed
        chunks, chunk_s, prefill_s, step_s, work_s, gaps = prefill_first_terms(tab, m, others, dec_s, steps)
    else:
        chunks, chunk_s, prefill_s, step_s, work_s = mixed_terms(tab, m, others, dec_s, steps)
        gaps = np.ones_like(m)  # gaps holding a prompt step, per prompt chunk
        if first.any():
            pf = prefill_first_terms(tab, m, others, dec_s, steps)
            chunks, chunk_s, prefill_s, step_s, work_s, gaps = (
                np.where(first, a, b) for a, b in zip(pf, (chunks, chunk_s, prefill_s, step_s, work_s, gaps),
                                                      strict=True))
    # the own prompt's steps carry the others' prompt share too (step_s - dec_s a step, as every step of the life):
    # with every seat busy (the seats' limit, a closed loop, a burst) nothing waits outside the seats
    part = interp_rows(m, prefill_s, others) + np.maximum(osl - 1.0, 0.0) * step_s
    life = part + own * (step_s - dec_s)
    rate = m / life
    # a running request holds its prompt and, on average, half its output; an engine that reserves a share r of
    # the remaining output at admission (engines.yaml `scheduler:`) holds r of the other half too
    # (memory.held_context_tokens, the rule of evaluate's memory check too); never more seats than that check
    # admits (kv_seats: its per-rank floors and logits buffers)
    kv_seqs = np.floor(0.99 * tab.kv_tokens / held_context_tokens(tab.isl, tab.osl, tab.kv_reserve))
    cap = np.maximum(np.minimum(np.minimum(tab.max_seqs, kv_seqs), tab.kv_seats), 1.0)
    # the seats' limit g(B), or less where the prompt path binds first (saturation.py)
    seats = interp_rows(m, rate, cap[:, None])[:, 0]
    capacity = saturation_rps(tab, m, rate, cap, seats)
    return Service(m=m, step_s=step_s, real_step_s=real_steps(tab, step_s), dec_s=dec_s, chunk_s=chunk_s,
                   chunks=chunks, prefill_s=prefill_s, life_s=life, rate=rate, queue_rate=m / part, cap=cap,
                   seats_rps=seats, capacity_rps=capacity,
                   osl=tab.osl, isl=tab.isl, work_s=work_s, gaps=gaps)


def _states(cap: np.ndarray) -> np.ndarray:
    """(R, J) integer occupancy states 0..cap: exact up to EXACT_STATES, then geometric; repeats of the cap
    (short chains) carry no mass."""
    exact = np.arange(EXACT_STATES, dtype=float)[None, :]
    top = np.maximum(cap[:, None], EXACT_STATES)
    geo = np.round(np.exp(np.linspace(0.0, 1.0, LUMPED_STATES)[None, :] * np.log(top / EXACT_STATES))
                   * EXACT_STATES)
    s = np.minimum(np.concatenate([np.broadcast_to(exact, (len(cap), EXACT_STATES)), geo], axis=1), cap[:, None])
    return np.maximum.accumulate(s, axis=1)


@dataclass(frozen=True)
class Chain:
    states: np.ndarray  # (R, J)
    base: np.ndarray  # (R, J) -sum log g(k) up to the state
    dead: np.ndarray  # (R, J) 0, or -inf for a repeated state (no mass)
    rate_cap: np.ndarray  # (R,) g(B)
    lump_h: np.ndarray  # (R, J - EXACT_STATES) max(width, 1) of the lumped states (`log_mass`)
    lump_log_h: np.ndarray  # (R, J - EXACT_STATES) log(lump_h)
    lump_none: np.ndarray  # (R, J - EXACT_STATES) bool: a lumped state standing for no integer
    lump_mid: np.ndarray  # (R, J - EXACT_STATES) (lump_h + 1) / 2: the integers' mean where log pi is flat
    lump_step_per: np.ndarray  # (R, J - EXACT_STATES) the step's rise per integer up to the lumped state
    occ_base: np.ndarray  # (R, J + 1) occupancy per state and the queue's tail (the seats); a lumped state's
    #                       the state below it, its integers' mean offset added per rate (open_loop)
    step_base: np.ndarray  # (R, J + 1) the mean step likewise (a lumped state's: the step at the state below)


def chain(sv: Service) -> Chain:
    st = _states(sv.cap)
    width = np.diff(st, axis=1, prepend=0.0)
    width[:, 0] = 1.0
    loc = locate(sv.m, np.maximum(st, 1.0))
    log_g = np.log(np.maximum(at(sv.queue_rate, loc), 1e-300))
    log_g_next = np.log(np.maximum(interp_rows(sv.m, sv.queue_rate, np.maximum(np.roll(st, 1, axis=1) + 1.0, 1.0)),
                                   1e-300))
    # sum_{k=1..n} log g(k), trapezoid between states (exact where states are consecutive integers)
    inc = width * (log_g_next + log_g) / 2.0
    inc[:, 0] = 0.0
    base = -cumsum_rows(inc)

    dead = np.where(width > 0, 0.0, -np.inf)
    E = EXACT_STATES
    lump = width[:, E:]
    lump_h = np.maximum(lump, 1.0)
    step_s = at(sv.step_s, loc)

    def with_below(x):  # (R, J + 1): exact states their own, a lumped state the one below it, then the tail's
        return np.concatenate([x[:, :E], x[:, E - 1:-1], x[:, -1:]], axis=1)

    return Chain(states=st, base=base, dead=dead, rate_cap=sv.capacity_rps,
                 lump_h=lump_h, lump_log_h=np.log(lump_h), lump_none=~(lump > 0), lump_mid=(lump_h + 1.0) / 2.0,
                 lump_step_per=(step_s[:, E:] - step_s[:, E - 1:-1]) / lump_h, occ_base=with_below(st),
                 step_base=with_below(step_s))


def queue_spread(sv: Service, lam: np.ndarray) -> np.ndarray:
    """kappa (R,): log pi is divided by it (the occupancy spread widened kappa-fold). Below the prompt path's
    limit the replica is an infinite server whose requests slow as the occupancy grows, which the chain's g(n)
    holds: kappa 1 (the simulator's TPOT mean at 0.3-0.5 of capacity within 1% on 8B and 70B, 1024 / 128). Every
    prompt's chunks ride on everyone's steps, so a burst of arrivals backs up on the prompt path and slows every
    running request at once, which the chain's independent departures lack: the occupancy swings wider by
    about the prompt backlog's variance, u / (1 - u)^2 at the prompt path's utilization u (an M/M/1's, `work_s`
    at no occupancy: a request's own prompt share of its steps). QUEUE_SPREAD scales it (from the simulator,
    see the constant). None with a single seat: there the prompt is the request's own service."""
    work = np.minimum(sv.work_s[:, 0], sv.prefill_s[:, 0])
    u = np.clip(lam * work, 0.0, U_MAX)
    return 1.0 + QUEUE_SPREAD * u / (1.0 - u) ** 2 * (1.0 - 1.0 / np.maximum(sv.cap, 1.0))


def open_loop(ch: Chain, sv: Service, tab: StepTables | None, lam: np.ndarray, variable: np.ndarray | None = None,
              quantiles=QUANTILES, targets_only: bool = False, hidden=None,
              itl: bool = True) -> dict[str, np.ndarray]:
    """Steady-state latency at Poisson rate lam (R,) requests/s; NaN where lam >= capacity (saturated).
    targets_only: just the TTFT/TPOT percentiles (the rate search; the step tables `tab`, read for the ITL
    only, may then be None). `hidden` (R,): reasoning tokens decoded before the first visible one (of the osl
    the tables hold); TTFT is then to the first visible token (`hidden_phase_s`) and TPOT over the visible ones.
    itl=False: every figure but the ITL's (`add_itl`, which no other figure reads; the candidate search's
    capacity reads none of them)."""
    lam = np.asarray(lam, dtype=float)
    R = len(lam)
    var = np.zeros(R, dtype=bool) if variable is None else np.asarray(variable, dtype=bool)
    stable = lam < ch.rate_cap
    ll = np.log(np.maximum(lam, 1e-300))[:, None]
    kappa = queue_spread(sv, lam)[:, None]  # the occupancy's spread widened by the prompt backlog
    logpi = ch.states * ll  # (states x ll + base) / kappa, in place (the rate search calls this ~12 times a row)
    logpi += ch.base
    logpi /= kappa
    # consecutive integer states are their own mass; lumped ones sum the integers since the previous state, and
    # stand at those integers' mean occupancy and the step there (at the lumped state's own, the largest of its
    # integers, the occupancy and TPOT ran high: +20% TPOT at 0.8-0.9 of capacity against the simulator where
    # a lump spans several standard deviations of the occupancy); the last column is the queue's geometric tail
    E, J = EXACT_STATES, logpi.shape[1]
    logm = np.empty((R, J + 1))
    np.add(logpi[:, :E], ch.dead[:, :E], out=logm[:, :E])  # repeated states (short chains) carry no mass
    logm[:, E:J], mean_i = log_mass(logpi[:, E - 1:-1], logpi[:, E:], ch.lump_h, ch.lump_log_h, ch.lump_none,
                                      ch.lump_mid)
    rho = np.where(stable, lam / ch.rate_cap, 0.5)
    log_top = logpi[:, -1]
    rk = rho ** (1.0 / kappa[:, 0])
    logm[:, J] = log_top + np.log(rk) - np.log1p(-rk)
    mx = logm.max(axis=1)
    logm -= mx[:, None]  # logm is not read again: the mass in its place
    mass = np.exp(logm, out=logm)
    z = mass.sum(axis=1)
    p_wait = (np.exp(log_top - mx) + mass[:, J]) / z
    theta = np.maximum(ch.rate_cap - lam, 1e-12)
    scv = np.where(var, 1.0, 0.0)  # squared CV of the service: fixed lengths ~ deterministic
    wfac = MD_WAIT_FACTOR * (1.0 + scv)
    # occupancy: time-average and request-weighted (a tagged request sees m with weight m * pi(m))
    req_w = mass * ch.occ_base  # the tail waits with every seat busy; the lumped states' occupancy below
    occ_lump = np.add(ch.occ_base[:, E:J], mean_i)
    np.multiply(mass[:, E:J], occ_lump, out=req_w[:, E:J])
    steps = ch.step_base.copy()
    mean_i *= ch.lump_step_per  # not read again: the step's rise in its place
    steps[:, E:J] += mean_i
    busy = 1.0 - mass[:, 0] / z  # an arrival waits for the step in progress only if one is running
    req_sum = req_w.sum(axis=1)
    step_mean = (req_w * steps).sum(axis=1) / np.maximum(req_sum, 1e-300)
    m_time = req_sum / z
    osl = sv.osl
    loc_mean = locate(sv.m, m_time[:, None])

    def at_mean(v):
        return at(v, loc_mean)[:, 0]

    pf = at_mean(sv.prefill_s)
    step_at = at_mean(sv.real_step_s)  # the step in progress an arrival waits out: a real one
    # other prompts ahead in the token budget: M/D/1 on the budget time of the arrivals' prompts
    work = budget_work_s(sv, m_time, pf, loc_mean)
    u = np.clip(lam * work, 0.0, 0.999)
    out: dict[str, np.ndarray] = {}
    if not targets_only:
        pre_wait_mean = u / (2.0 * (1.0 - u)) * work
        out["ttft_mean_s"] = p_wait / theta * wfac + pf + 0.5 * step_at * busy + pre_wait_mean
    isl_factor = np.ones(R)
    chunks_m, dec_m, chunk_m = at_mean(sv.chunks), at_mean(sv.dec_s), at_mean(sv.chunk_s)
    # a longer prompt adds its tokens' work; the steps it rides on grow only past the token budget (one step's
    # fixed cost scaled by the length quantile put p90 TTFT of 220-token prompts 60% above the simulator's)
    fixed, grows = pf - work, chunks_m > 1.0  # work: the prompt's own share of its steps, within [0, pf]

    vis = osl if hidden is None else osl - hidden  # the visible tokens, whose gaps TPOT is over
    n_osl = np.maximum(vis - 1.0, 1.0)
    tpot_sd = np.sqrt(lam * n_osl * step_mean * chunks_m) * np.maximum(chunk_m - dec_m, 0.0) / n_osl
    if hidden is not None and not targets_only:  # to the first visible token
        out["ttft_mean_s"] += hidden * step_mean
    cum_w = cumsum_rows(req_w)
    for q in quantiles:
        p = q / 100.0
        w_q = np.where(p_wait > 1.0 - p, np.log(np.maximum(p_wait / (1.0 - p), 1.0)) / theta, 0.0) * wfac
        pre_q = np.where(u > 1.0 - p, np.log(np.maximum(u / (1.0 - p), 1.0)) * work / (1.0 - u), 0.0) * 0.5
        if var.any():  # longer prompts take longer: the prompt-length quantile
            isl_factor = np.where(var, length_quantile_factor(p, sv.isl, "prompt"), 1.0)
        pf_q = fixed * np.where(grows, isl_factor, 1.0) + work * isl_factor
        out[f"ttft_p{q:g}_s"] = w_q + pf_q + np.clip(p - (1.0 - busy), 0.0, None) * step_at + pre_q
        # the step at the occupancy's percentile state: the chain holds it per state (read at max(state, 1))
        step_q = quantile_rows(steps, req_w, q, cum_w)
        # plus the luck of how many prompt chunks land in a request's life (Poisson, each adds a long step)
        z = NormalDist().inv_cdf(p)
        out[f"tpot_p{q:g}_s"] = step_mean + np.hypot(TPOT_SPREAD * (step_q - step_mean), z * tpot_sd)
        if hidden is not None:  # to the first visible token: the hidden tokens' steps at the percentile
            out[f"ttft_p{q:g}_s"] += hidden_phase_s(hidden, step_mean, step_q, z, tpot_sd, n_osl, TPOT_SPREAD)
    out["tpot_mean_s"] = step_mean
    if targets_only:
        return {k: np.where(stable, v, np.nan) for k, v in out.items()}
    if itl:
        # prompts queued behind each other in steps packed full: a mixed schedule's are the chunks a step cannot
        # hold (step_mix); a prefill-first engine's pauses queue as the M/D/1 on the prompt work
        add_itl(sv, tab, _seen_by_tokens(sv, step_mean, m_time), lam, np.where(tab.prefill_first > 0, u, 0.0),
                quantiles, out, variable=var)
    osl_med = np.where(var, vis * length_quantile_factor(0.5, vis, "output"), vis)
    out["e2e_mean_s"] = out["ttft_mean_s"] + np.maximum(vis - 1.0, 0.0) * step_mean
    if 50.0 in quantiles:
        out["e2e_p50_s"] = out["ttft_p50_s"] + np.maximum(osl_med - 1.0, 0.0) * out["tpot_p50_s"]
    out["requests_s"] = np.where(stable, lam, ch.rate_cap)
    out["running_mean"] = m_time
    out["p_wait"] = p_wait
    for k in list(out):
        if k.endswith("_s") and k != "requests_s":
            out[k] = np.where(stable, out[k], np.nan)
    out["saturated"] = ~stable
    return out


def _seen_by_tokens(sv: Service, step_mean: np.ndarray, m_time: np.ndarray) -> np.ndarray:
    """The occupancy whose mean step is the one a token sees (`step_mean`, over the occupancy's distribution),
    where the ITL's mixture is read: tokens see the occupancy as requests do (m pi(m)), and the step grows
    faster than linearly toward capacity, so the step at the time-average occupancy ran 8-12% short of the
    simulator's ITL mean at 0.8-0.9 of capacity once the lumps stood at their mean. Not below m_time."""
    step = np.maximum.accumulate(sv.step_s, axis=1)  # increasing in m for the inversion
    k = np.clip((step < step_mean[:, None]).sum(axis=1), 1, step.shape[1] - 1)[:, None]
    s0, s1 = np.take_along_axis(step, k - 1, axis=1)[:, 0], np.take_along_axis(step, k, axis=1)[:, 0]
    m0, m1 = np.take_along_axis(sv.m, k - 1, axis=1)[:, 0], np.take_along_axis(sv.m, k, axis=1)[:, 0]
    t = np.clip((step_mean - s0) / np.maximum(s1 - s0, 1e-300), 0.0, 1.0)
    return np.maximum(m0 + t * (m1 - m0), m_time)


def dataclass_rows(x, rows: np.ndarray):
    """Rows of a dataclass of per-row arrays (Service, Chain, StepTables): the same dataclass, for `rows` only."""
    return type(x)(**{k: getattr(x, k)[rows] for k in x.__dataclass_fields__})


def at_occupancy(sv: Service, v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per row, the per-occupancy figure `v` (one of `sv`'s (R, M) arrays over `sv.m`) at occupancy `m` (R,),
    interpolated; a negative occupancy counts as none."""
    return interp_rows(sv.m, v, np.maximum(np.asarray(m, dtype=float), 0.0)[:, None])[:, 0]


def budget_work_s(sv: Service, m, pf: np.ndarray, loc=None) -> np.ndarray:
    """Seconds of GPU time one prompt adds beside m decoding sequences: its chunk steps less the decode steps
    they carry anyway (the prompts' share of the time, the M/D/1 server other prompts wait on; for a short
    prompt beside a large batch little of its step is its own, so prompts rarely queue behind each other).
    `loc`: where m (>= 0) falls on the decode grid, where the caller has it."""
    if loc is not None:
        return np.clip(at(sv.work_s, loc)[:, 0], 0.0, pf)
    m = np.maximum(np.asarray(m, dtype=float), 0.0)
    return np.clip(at_occupancy(sv, sv.work_s, m), 0.0, pf)


def add_itl(sv: Service, tab: StepTables, m, lam, packed, quantiles, out: dict, timed=None,
            variable=None) -> None:
    """ITL over all tokens, written into `out` (itl_mean_s and itl_p{q}_s per quantile) at occupancy `m`:
    decode-only steps, steps carrying prompt chunks, and steps packed to the token budget (prompts queued behind
    each other; share `packed` of the prompts). A mixed schedule's steps carry the chunks ready at each
    (step_mix.mixed_itl: their count per step from the prompt rate lam and the steps' time, spread as a
    branching process where prompts come in time, `timed`, default all rows; Poisson where they come with the
    steps, a closed loop's completions with variable lengths; `variable` rows spread a step's prompt tokens as
    drawn lengths). A prefill-first engine's (prefill_first.py): decode-only steps, pauses with a prompt
    chunk, and packed pauses, each kind's share from lam and the time the prompt steps take."""
    m = np.maximum(np.asarray(m, dtype=float), 1.0)
    lam = lam * (m - 1.0) / m  # a prompt's own steps come before its first token: gaps of the others only
    dec, chunk, chunks = (at_occupancy(sv, v, m) for v in (sv.dec_s, sv.chunk_s, sv.chunks))
    room = np.maximum(tab.token_budget - m, 1.0)
    full = interp_step(tab, m[:, None], room[:, None])[:, 0]
    first = tab.prefill_first > 0
    if first.any():  # prefill-first: a full prompt step runs alone at the whole budget, then the decode step;
        # prompts share the pauses (sv.gaps, see prefill_first.py)
        room = np.where(first, tab.token_budget, room)
        full = np.where(first, interp_step(tab, np.zeros((len(m), 1)), room[:, None])[:, 0] + dec, full)
        chunks = chunks * at_occupancy(sv, sv.gaps, m)
    packed = np.clip(packed, 0.0, 1.0)
    n_chunk = (1.0 - packed) * lam * chunks  # prompt chunks/s outside the packed steps (prefill-first: pauses)
    n_full = packed * lam * sv.isl / room  # steps/s packed full
    busy = np.clip(n_chunk * chunk + n_full * full, 0.0, 0.999)
    n_dec = (1.0 - busy) / np.maximum(dec, 1e-12)
    mix = ~first
    got = {}
    if mix.any():  # a mixed schedule: chunks per step from the prompts that arrived during the step before
        got = mixed_itl(tab, m, dec, (1.0 - packed) * lam, n_full, full, room, sv.isl, quantiles,
                        np.ones(len(m), dtype=bool) if timed is None else timed,
                        np.zeros(len(m), dtype=bool) if variable is None else variable)
    b = tab.burst  # tokens per streamed chunk: one gap per burst
    # prefill-first: a pause is wall time, once, inside one streamed chunk of b token-steps: pauses per chunk,
    # not per token-step, and the pause not scaled by b (as the simulator weighs them)
    per = np.where(first, b, 1.0)
    total = np.maximum(n_chunk + n_full + n_dec / per, 1e-300)
    f_chunk, f_full = n_chunk / total, n_full / total
    lift, scale = np.where(first, (b - 1.0) * dec, 0.0), np.where(first, 1.0, b)  # the chunk's other steps
    dec_g, chunk_g, full_g = dec * b, (chunk + lift) * scale, (full + lift) * scale
    out["itl_mean_s"] = (1.0 - f_chunk - f_full) * dec_g + f_chunk * chunk_g + f_full * full_g
    for q in quantiles:
        p = q / 100.0
        out[f"itl_p{q:g}_s"] = np.where(p <= 1.0 - f_chunk - f_full, dec_g,
                                        np.where(p <= 1.0 - f_full, chunk_g, full_g))
    for k, v in got.items():
        out[k] = np.where(mix, v * b, out[k])
