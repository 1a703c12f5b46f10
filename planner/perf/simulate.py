"""Discrete-event simulation of one replica's continuous-batching scheduler (Vidur-style), the reference for
latency under load.

Scheduler (vLLM V1 / TensorRT-LLM in-flight batching with chunked prefill): every step first gives each
running decode sequence one token, then fills the rest of the token budget with prompt chunks, first of the
running requests whose prompt is unfinished, then of waiting requests admitted first come first served while
seats (max running sequences) and KV-cache tokens allow. KV is taken as tokens are computed (paged, on
demand); when a decode step finds the cache full, the most recently admitted request is preempted: its KV is
freed and it goes back to the head of the queue, to recompute prompt + generated tokens later (vLLM's
recompute preemption). An engine that reserves KV for the output up front (engines.yaml `scheduler:
kv_reserve_output`: TensorRT-LLM GUARANTEED_NO_EVICT 1, SGLang new_token_ratio 0.7, vLLM 0) admits a request only
when its prompt plus that share of its max tokens fits beside the same share of every running request's remaining
output, so it runs fewer requests at once and rarely preempts. SGLang's share (new_token_ratio, engines.yaml
`kv_reserve_min`) decays step by step toward a floor, so it admits more and more until a decode step finds the
cache full; it then retracts the running requests with the fewest output tokens to the back of the queue (to
recompute later) and restarts the share from what the others have left. The step that finishes a prompt emits
its first token.

Time is advanced event to event: between an arrival, a completion, a prompt chunk and a full KV cache the
batch does not change, so k decode steps are taken at once (step time linear in the growing context); a
1,000-request run is a few thousand loop turns of small numpy operations.

Arrivals: open-loop Poisson at `request_rate` (inf = all at t=0), or closed-loop `concurrency` clients that
each send the next request when their previous one completes; they reach the scheduler through the engine's API
server, one request at a time (arrivals.py: a burst spreads over N x its serial time). Lengths `fixed` (the
means) or `variable` (ShareGPT's shapes, sharegpt_lengths.py, with the means; seeded). A finite run
(`num_requests`) is measured whole, as benchmark tools do; a steady-state run discards warm-up and drain.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass

import numpy as np

from planner.perf import sharegpt_lengths
from planner.perf.arrivals import arrivals, intake_s, measured, serial_intake
from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.retract import evict, retract, steps_until_admission
from planner.perf.speculative_acceptance import acceptance_rate
from planner.perf.steptable import StepTables


@dataclass(frozen=True)
class Workload:
    """Arrival process and lengths of one simulated run."""

    request_rate: float | None = None  # requests/s, Poisson; inf = all at once
    concurrency: int | None = None  # closed loop: clients with one request in flight each
    num_requests: int | None = None  # finite run; None = steady state
    length_dist: str = "fixed"  # fixed | variable
    seed: int = 0

    def run_size(self) -> tuple[bool, bool, int]:
        """(steady state, closed loop, requests simulated): a finite run's num_requests, else enough for a steady
        state (ASSUMPTIONS.steady_state_requests, at least 10 per client)."""
        if self.num_requests is not None:
            return False, self.concurrency is not None, int(self.num_requests)
        n = max(ASSUMPTIONS.steady_state_requests, 10 * int(self.concurrency or 0))
        return True, self.concurrency is not None, n


def lengths(isl: float, osl: float, n: int, dist: str, rng: np.random.Generator, max_context: float = np.inf):
    """Integer prompt and output lengths of n requests with means isl, osl: `fixed`, or `variable` drawn from
    ShareGPT's shapes as vllm bench samples them (sharegpt_lengths.py), prompt and output independently."""
    if dist == "fixed":
        return np.full(n, max(1, round(isl)), dtype=np.int64), np.full(n, max(1, round(osl)), dtype=np.int64)
    i = sharegpt_lengths.sample(isl, n, rng, "prompt")
    o = sharegpt_lengths.sample(osl, n, rng, "output")
    over = i + o > max_context
    i = np.where(over, np.maximum(1, np.minimum(i, max_context // 2)), i)
    o = np.where(over, np.maximum(1, np.minimum(o, max_context - i)), o)
    return i.astype(np.int64), o.astype(np.int64)


def length_quantile_factor(p: float, mean: np.ndarray, kind: str = "prompt") -> np.ndarray:
    """p-quantile / mean of `variable` `kind` ('prompt' | 'output') lengths with the given means (the analytic
    model's view of what `lengths` draws)."""
    return sharegpt_lengths.quantile_factor(p, mean, kind)


def token_steps(osl: np.ndarray, mean_accept: float, draft_tokens: float, rng: np.random.Generator) -> np.ndarray:
    """Per request, the speculative steps it needs for its `osl` tokens, in token-steps (steps x mean accepted
    tokens, the unit of the step tables): acceptance varies step to step (see acceptance_rate), so requests of
    the same length finish after different numbers of steps (their TPOT spread); the last step's surplus
    tokens are dropped, as engines stop at max_tokens. Without speculation, `osl` itself."""
    alpha = acceptance_rate(mean_accept, draft_tokens)
    if alpha <= 0.0 or alpha >= 1.0:
        return osl
    k = round(draft_tokens)
    steps = np.zeros(len(osl), dtype=np.int64)
    left = osl.astype(np.int64).copy()
    todo = np.flatnonzero(left > 0)
    while len(todo):  # one flat stream of steps, a segment per request sized above its expected need
        size = np.ceil(left[todo] / mean_accept * 1.25).astype(np.int64) + 8
        end = np.cumsum(size)
        start = end - size
        cum = np.cumsum(1 + np.minimum(rng.geometric(1.0 - alpha, int(end[-1])) - 1, k))
        base = np.where(start > 0, cum[start - 1], 0)
        at = np.searchsorted(cum, base + left[todo])  # the step whose tokens reach the request's length
        reached = at < end
        steps[todo] += np.where(reached, at - start + 1, size)
        left[todo] = np.where(reached, 0, left[todo] - (cum[end - 1] - base))
        todo = todo[~reached]
    return np.maximum(1, np.round(steps * mean_accept)).astype(np.int64)


class _Steps:
    """Step seconds of one configuration: dense over decode counts 0..max_seqs, linear in prefill tokens."""

    def __init__(self, tab: StepTables) -> None:
        self.max_seqs = int(tab.max_seqs[0])
        dense = np.arange(self.max_seqs + 1, dtype=float)
        cols = [np.interp(dense, tab.decode[0], tab.time_s[0, :, k]) for k in range(tab.time_s.shape[2])]
        self.table = np.stack(cols, axis=1).tolist()  # python lists: fastest scalar lookups
        self.p_grid = tab.prefill[0].tolist()  # ascending, not evenly spaced (steptable.prefill_grid)
        self.p_last = len(cols) - 2
        # seconds per context token at each decode count (the host can hide the GPU's attention at large ones)
        self.slopes = np.interp(dense, tab.decode[0], tab.ctx_slope_s[0]).tolist()
        self.ctx_ref = float(tab.ctx_ref[0])
        # a step carrying prompt tokens: at least the table's chunk floor beside its decode sequences
        floors = np.maximum(np.interp(dense, tab.decode[0], tab.chunk_floor_s[0]), float(tab.mixed_floor_s[0]))
        self.floors = floors.tolist()

    def __call__(self, n_dec: int, n_pre: float, ctx_sum: float) -> float:
        n = min(n_dec, self.max_seqs)
        row = self.table[n]
        g = self.p_grid
        k = min(max(bisect_right(g, n_pre) - 1, 0), self.p_last)  # beyond the budget: the last two, linear
        t = row[k] + (row[k + 1] - row[k]) * (n_pre - g[k]) / (g[k + 1] - g[k])
        if n_pre > 0:  # a step carrying prompt tokens runs outside the decode CUDA graphs (steptable)
            t = max(t, self.floors[n])
        return t + self.slopes[n] * (ctx_sum - n_dec * self.ctx_ref)


@dataclass
class RunResult:
    """Per-request timestamps of one simulated run and the ITL samples (value, weight)."""

    arrival_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    isl: np.ndarray
    osl: np.ndarray
    itl_s: np.ndarray
    itl_weight: np.ndarray
    preemptions: int
    measured: np.ndarray  # bool mask of the requests that count (all for a finite run)
    window_s: tuple[float, float]  # time window over which throughput is measured


def simulate_one(tab: StepTables, wl: Workload, max_context: float = np.inf) -> RunResult:
    """Simulate configuration row 0 of `tab` under workload `wl`."""
    steady, closed, n_total = wl.run_size()
    rng = np.random.default_rng(wl.seed)
    # a request longer than the whole KV cache could never run: cap its context at the cache
    isl, osl = lengths(float(tab.isl[0]), float(tab.osl[0]), n_total, wl.length_dist, rng,
                       min(max_context, 0.98 * float(tab.kv_tokens[0])))
    arrival = arrivals(tab, wl, n_total, rng)  # when the client sends each request
    # when the scheduler sees it: once the API server has done its serial work on the requests before it
    # (arrivals.py); the request's own API time (request_s) is added to TTFT outside, as at light load
    h = intake_s(tab)
    ready = serial_intake(arrival, h)
    # the API server takes the first sends as they come (ready); a re-send queues behind the first sends already
    # sent (FIFO), not behind those still to come (a random start spans an estimated life: re-sends come first)
    sent = np.isfinite(arrival)
    first_arrival, first_ready = arrival[sent], ready[sent]
    server_free = 0.0
    # speculative decoding: each request's output in token-steps, drawn per step (own stream: the lengths and
    # arrivals above stay those of the same run without speculation); `osl` is what the client receives
    osl_tokens = osl
    osl = token_steps(osl, float(tab.spec_accept[0]), float(tab.spec_draft_tokens[0]),
                      np.random.default_rng([wl.seed, 1]))
    step = _Steps(tab)
    budget = int(tab.token_budget[0])
    max_seqs = step.max_seqs
    kv_cap = float(tab.kv_tokens[0])
    watermark = 0.01 * kv_cap
    reserve = float(tab.kv_reserve[0])  # the share now; SGLang's new_token_ratio decays and restarts
    decay = float(tab.kv_reserve_decay[0])
    retracts = decay > 0.0  # SGLang: retracts the fewest-generated requests to the back of the queue
    reserve_floor = float(tab.kv_reserve_min[0])
    prio = bool(tab.prefill_first[0])  # prompt steps run alone, decode waits (engines.yaml `scheduler:`)
    burst = float(tab.burst[0])  # tokens per streamed chunk (speculative acceptance, multi-step scheduling)

    pre_need = isl.astype(float).copy()  # prompt tokens to compute (prompt + generated after a preemption)
    done_pre = np.zeros(n_total)
    gen = np.zeros(n_total, dtype=np.int64)
    held = np.zeros(n_total)  # KV tokens held
    admitted_at = np.zeros(n_total, dtype=np.int64)
    first = np.full(n_total, np.nan)
    finish = np.full(n_total, np.nan)
    itl_v: list[float] = []
    itl_w: list[float] = []
    # when each request's last token came: every running one's on a prefill-first engine (its gaps differ), a
    # preempted one's on any (the gap its client sees until the recompute's token)
    last_tok = np.zeros(n_total)
    paused = False  # prefill-first: prompt steps ran since the last decode step
    waiting: deque[int] = deque()
    prefilling: list[int] = []  # admitted, prompt unfinished (admission order)
    dec = np.zeros(0, dtype=np.int64)  # decoding sequences
    next_arrival = 0  # index of the next first request to arrive (they arrive in index order)
    issued = min(int(wl.concurrency), n_total) if closed else n_total
    first_sent = issued  # requests sent at the start (sorted); a closed loop's re-sends go to `resent`
    # a client re-sends as its request ends, which can come before a later client's first send (the random start
    # spans an estimated life): re-sends queue in time order beside the first sends, not behind them
    resent: list[tuple[float, int]] = []

    def next_ready() -> float:
        first_at = float(ready[next_arrival]) if next_arrival < first_sent else math.inf
        return min(first_at, resent[0][0]) if resent else first_at
    t = 0.0
    kv_used = 0.0
    n_done = 0
    admissions = 0
    preemptions = 0

    def complete(ids: np.ndarray, now: float) -> None:
        nonlocal kv_used, n_done, issued, server_free
        finish[ids] = now
        kv_used -= float(held[ids].sum())
        held[ids] = 0.0
        n_done += len(ids)
        if closed:  # each finished client sends its next request now
            for _ in range(len(ids)):
                if issued < n_total:
                    arrival[issued] = now
                    j = int(np.searchsorted(first_arrival, now, side="right")) - 1
                    ready[issued] = max(now, server_free, float(first_ready[j]) + h if j >= 0 else 0.0)
                    server_free = ready[issued] + h
                    heapq.heappush(resent, (float(ready[issued]), issued))
                    issued += 1

    while n_done < n_total:
        while next_ready() <= t:
            if resent and (next_arrival >= first_sent or resent[0][0] < ready[next_arrival]):
                waiting.append(heapq.heappop(resent)[1])
            else:
                waiting.append(next_arrival)
                next_arrival += 1
        # a full cache: preempt the newest running request until every decode sequence has a slot
        if retracts and len(dec) and kv_cap - kv_used < len(dec):
            if not prio:  # as for a preemption below
                last_tok[dec] = t
            dec, reserve, freed = retract(dec, isl, osl, gen, held, done_pre, pre_need, waiting,
                                           kv_cap - kv_used)
            kv_used -= freed
            preemptions += 1
        while len(dec) and kv_cap - kv_used < len(dec):
            running = np.concatenate([dec, np.array(prefilling, dtype=np.int64)])
            victim = int(running[np.argmax(admitted_at[running])])
            kv_used -= evict(victim, isl, gen, held, done_pre, pre_need)
            if victim in prefilling:
                prefilling.remove(victim)
            else:
                dec = dec[dec != victim]
                if not prio:  # a mixed schedule decoded every running sequence in the step that ended at t
                    last_tok[victim] = t
            waiting.appendleft(victim)
            preemptions += 1
        dec_tok = 0 if prio else len(dec)  # a prefill-first engine pauses decode while prompts can run
        room = budget - dec_tok
        free = kv_cap - kv_used - dec_tok
        chunks: list[tuple[int, float]] = []
        for i in prefilling:
            if room <= 0 or free <= 0:
                break
            c = min(pre_need[i] - done_pre[i], room, free)
            chunks.append((i, c))
            room -= c
            free -= c
        # a new request is admitted only when its whole prompt fits the free cache above a small watermark
        # (vLLM's can_allocate), so admissions do not thrash against decode growth; an engine that reserves
        # (a share of) every running request's remaining output first (TensorRT-LLM GUARANTEED_NO_EVICT,
        # SGLang's new_token_ratio) admits fewer at once: `reserve` is counted against the cache too
        spare = free
        if reserve > 0.0 and waiting:
            running = np.concatenate([dec, np.array(prefilling, dtype=np.int64)]) if prefilling else dec
            spare = free - reserve * float((osl[running] - gen[running]).sum())
        while (waiting and room > 0 and len(dec) + len(prefilling) < max_seqs
               and spare - (pre_need[waiting[0]] - done_pre[waiting[0]]) - reserve * (osl[waiting[0]]
                                                                                     - gen[waiting[0]])
               >= watermark):
            i = waiting.popleft()
            spare -= (pre_need[i] - done_pre[i]) + reserve * (osl[i] - gen[i])
            admissions += 1
            admitted_at[i] = admissions
            prefilling.append(i)
            c = min(pre_need[i] - done_pre[i], room, free)
            chunks.append((i, c))
            room -= c
            free -= c
        n = len(dec)
        ctx_sum = float(held[dec].sum()) if n else 0.0
        if chunks:  # one mixed step: every decode sequence gains a token, the chunks are computed
            p = sum(c for _, c in chunks)
            if prio:  # a prompt-only step: the decode sequences wait
                n, ctx_sum, paused = 0, 0.0, paused or len(dec) > 0
            dt = step(n, p, ctx_sum)
            t += dt
            if n:
                gen[dec] += 1
                held[dec] += 1.0
                itl_v.append(dt)
                itl_w.append(float(n))
                reserve = max(reserve - decay, reserve_floor)
            kv_used += p + n
            newly = []
            for i, c in chunks:
                done_pre[i] += c
                held[i] += c
                if done_pre[i] >= pre_need[i]:
                    prefilling.remove(i)
                    gen[i] += 1  # the step that finishes a prompt samples its next token
                    held[i] += 1.0
                    kv_used += 1.0
                    if np.isnan(first[i]):
                        first[i] = t
                    else:  # a preempted request's recompute: its client waited since its last token, one gap
                        itl_v.append((t - last_tok[i]) / burst)
                        itl_w.append(burst)  # one streamed chunk (weights count token-steps)
                    last_tok[i] = t
                    newly.append(i)
            if n:
                fin = dec[gen[dec] >= osl[dec]]
                if len(fin):
                    complete(fin, t)
                    dec = dec[gen[dec] < osl[dec]]
            if newly:
                new = np.array(newly, dtype=np.int64)
                done_now = new[gen[new] >= osl[new]]
                if len(done_now):
                    complete(done_now, t)
                dec = np.concatenate([dec, new[gen[new] < osl[new]]])
            continue
        if n == 0:  # idle: jump to the next arrival
            if not prefilling and not waiting:
                reserve = float(tab.kv_reserve[0])  # SGLang resets the ratio when idle
            t_next = next_ready()
            if math.isfinite(t_next):
                t = max(t, t_next)
                continue
            break  # nothing left that can run (cannot happen with a valid table)
        # decode-only stretch: k steps until the next completion, admissible arrival, or full cache
        k = int((osl[dec] - gen[dec]).min())
        t1 = step(n, 0.0, ctx_sum)
        t_next = next_ready()
        if math.isfinite(t_next) and n + len(prefilling) < max_seqs and not waiting:
            k = min(k, max(1, math.ceil((t_next - t) / max(t1, 1e-12))))
        k = max(1, min(k, int((kv_cap - kv_used) // n)))
        if decay > 0.0 and waiting and n + len(prefilling) < max_seqs and k > 1:
            head = waiting[0]
            left = float((osl[dec] - gen[dec]).sum()) + float(sum(osl[i] - gen[i] for i in prefilling))
            free_now = kv_cap - kv_used - (0 if prio else n)  # a mixed step decodes before it admits
            k = steps_until_admission(k, n, reserve, decay, reserve_floor, free_now, left,
                                       pre_need[head] - done_pre[head], float(osl[head] - gen[head]), watermark)
        dt = k * t1 + step.slopes[min(n, step.max_seqs)] * n * k * (k - 1) / 2.0
        if paused:  # the first step's gap runs from each sequence's last token (before or during the pause);
            # gaps are scaled by `burst` (tokens per streamed chunk) at the end: the pause is wall time, once.
            # Weights count token-steps (a streamed chunk is `burst` of them): that gap is one chunk a sequence,
            # the stretch's other gaps what is left of it
            gaps, counts = np.unique((t - last_tok[dec]) / burst + t1, return_counts=True)
            itl_v.extend(gaps.tolist())
            itl_w.extend((counts * burst).tolist())
            if k > 1:
                itl_v.append((dt - t1) / (k - 1))
                itl_w.append(float(n * max(k - burst, 0.0)))
            paused = False
        else:
            itl_v.append(dt / k)
            itl_w.append(float(n * k))
        t += dt
        gen[dec] += k
        held[dec] += k
        kv_used += n * k
        reserve = max(reserve - decay * k, reserve_floor)
        if prio:
            last_tok[dec] = t
        fin = dec[gen[dec] >= osl[dec]]
        if len(fin):
            complete(fin, t)
            dec = dec[gen[dec] < osl[dec]]

    mask, window = measured(arrival, finish, steady)
    # tokens reach the client in bursts (speculative acceptance, multi-step scheduling): a gap per burst
    return RunResult(arrival, first, finish, isl, osl_tokens, np.asarray(itl_v) * burst,
                     np.asarray(itl_w) / burst, preemptions, mask, window)


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """q-th percentile (0-100) of values with weights (weighted inverse CDF)."""
    if len(values) == 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return float(v[min(np.searchsorted(cum, q / 100.0 * cum[-1]), len(v) - 1)])


def summarize(run: RunResult) -> dict[str, float]:
    """Latency statistics (seconds) and throughput of a run, as benchmark tools report them."""
    m = run.measured
    ttft = run.first_token_s[m] - run.arrival_s[m]
    e2e = run.finish_s[m] - run.arrival_s[m]
    many = run.osl[m] > 1
    tpot = (run.finish_s[m][many] - run.first_token_s[m][many]) / (run.osl[m][many] - 1)
    out: dict[str, float] = {}
    for name, x in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e)):
        out[f"{name}_mean_s"] = float(np.mean(x)) if len(x) else float("nan")
        for q in (50, 90, 99):
            out[f"{name}_p{q}_s"] = float(np.percentile(x, q)) if len(x) else float("nan")
    w = run.itl_weight
    out["itl_mean_s"] = float(np.sum(run.itl_s * w) / np.sum(w)) if np.sum(w) > 0 else float("nan")
    for q in (50, 90, 99):
        out[f"itl_p{q}_s"] = weighted_percentile(run.itl_s, w, q)
    lo, hi = run.window_s
    if run.measured.all():
        span = hi - lo
        n_req = len(run.finish_s)
        out_tok = float(run.osl.sum())
        in_tok = float(run.isl.sum())
    else:
        inside = (run.finish_s >= lo) & (run.finish_s <= hi)
        span = hi - lo
        n_req = int(inside.sum()) - 1  # completions between the first and the last counted one
        out_tok = float(run.osl[inside].sum()) * n_req / max(int(inside.sum()), 1)
        in_tok = float(run.isl[inside].sum()) * n_req / max(int(inside.sum()), 1)
    span = max(span, 1e-12)
    out["requests_s"] = n_req / span
    out["output_tok_s"] = out_tok / span
    out["total_tok_s"] = (out_tok + in_tok) / span
    out["preemptions"] = float(run.preemptions)
    out["duration_s"] = float(hi - lo)
    return out


__all__ = ["RunResult", "Workload", "acceptance_rate", "length_quantile_factor", "lengths", "simulate_one",
           "summarize", "token_steps", "weighted_percentile"]
