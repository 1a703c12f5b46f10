"""Discrete-event simulation of one disaggregated unit (P prefill + D decode instances), the reference for the
latency of disaggregated serving under load, as simulate.py is for an aggregated replica.

Scheduler (the rate-matched unit of `disagg_capacity.disaggregated_units`, one row):
  - prefill: requests wait in one FCFS queue in front of the P prefill instances (a router sending each prompt
    to the first free instance); a free instance takes the waiting prompts from the head while their tokens
    fit its token budget (attention-DP ranks x the engine's chunk) and their number the model's pass (at least one
    prompt per rank, as `serving.prefill_batch_pass` fills a pass) and runs them in one pass (`step.prefill_pass`
    at those tokens; with pipeline stages it takes the next pass after one stage's interval, the prompts finish
    after the whole latency);
  - then a decode seat: a finished prompt waits FCFS for a seat on any decode instance (each runs at most the
    unit's batch of sequences, the seats the analytic model counts), goes to the instance running the fewest,
    and its KV moves there (`serving.kv_transfer_s`, per prompt length). The prefill samples the first token:
    it reaches the client when the KV has moved (TTFT = prefill wait + pass + seat wait + transfer, the
    analytic model's sum);
  - decode: each instance runs decode-only steps of its running sequences (continuous batching, the step at
    the current batch from `step.decode_step` with its draft passes, plus the context slope), taking new
    sequences at step boundaries; a speculative unit's requests need their osl - 1 tokens in token-steps
    drawn per step (`simulate.token_steps`), tokens stream in bursts (ITL = burst x the step per token).
Not modelled: KV admission and preemption on the decode instances (the seats are the unit's batch, which fits
the KV cache at isl + osl/2 per sequence), the API server. Hidden reasoning tokens are decoded first: the
first visible token is the one decode step `hidden` samples.

Arrivals and lengths are simulate.py's (`arrivals`, `lengths`, `measured`, `summarize`). Step times are exact at
the mean prompt (a pass of several prompts is interpolated in its tokens between whole numbers of mean prompts; a
pass of one prompt is exact for its length, so long prompts of `variable` lengths pay their attention), so a
1,000-request run is a few thousand loop turns (decode instances advance several steps at once between events).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.arrivals import arrivals, measured
from planner.perf.engines import rank_chunk_tokens, replica_token_budget
from planner.perf.evaluate import PREFILL_COLUMNS, _prefill_layout
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.resolve import CONFIG_COLUMNS, Cols, normalize_grid, resolve
from planner.perf.serving import draft_time_s, kv_transfer_s, speculative_terms
from planner.perf.simulate import RunResult, Workload, lengths, token_steps
from planner.perf.step import decode_step, prefill_pass


@dataclass(frozen=True)
class UnitSteps:
    """Step seconds of one disaggregated unit, from the perf model's own functions."""

    prefill_instances: int
    decode_instances: int
    seats: int  # running sequences per decode instance (the unit's batch)
    budget_tokens: float  # prompt tokens one prefill pass holds (at least one prompt)
    max_prompts: int  # prompts one prefill pass holds (the model's pass: as many as the budget, one per rank)
    pass_tokens: np.ndarray  # prompt tokens of a pass at the table's points (whole mean prompts, and one)
    pass_latency_s: np.ndarray  # a pass through all stages at those tokens
    pass_interval_s: np.ndarray  # between passes (one pipeline stage)
    transfer_lat_s: float  # the KV transfer's latency
    transfer_s_per_token: float  # its seconds per prompt token (all layers)
    transfer_window: float  # prompt tokens a sliding-window layer holds (inf: none)
    transfer_window_share: float  # share of the per-token KV in sliding-window layers
    decode_s: list  # seconds per token-step of a decode step at 0..seats sequences, at context ctx_ref
    s_per_ctx_token: float  # extra seconds per context token of a sequence beyond ctx_ref (per token-step)
    ctx_ref: float  # isl + osl / 2
    accept: float  # mean tokens a speculative step emits (1 without)
    draft_tokens: float
    burst: float  # tokens per streamed chunk
    isl: float
    osl: float
    single: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # (latency, interval) of one prompt per length
    max_context: float  # the model's context: `variable` lengths are capped there

    def pass_s(self, tokens: float) -> tuple[float, float]:
        """(latency, interval) of a prefill pass over `tokens` prompt tokens."""
        lat = float(np.interp(tokens, self.pass_tokens, self.pass_latency_s))
        iv = float(np.interp(tokens, self.pass_tokens, self.pass_interval_s))
        top = self.pass_tokens[-1]
        if tokens > top:  # longer than the table (one long prompt): linear beyond its last two points
            k = (tokens - top) / (top - self.pass_tokens[-2])
            lat += k * (self.pass_latency_s[-1] - self.pass_latency_s[-2])
            iv += k * (self.pass_interval_s[-1] - self.pass_interval_s[-2])
        return lat, iv

    def transfer_s(self, isl: np.ndarray) -> np.ndarray:
        """KV transfer seconds of prompts of `isl` tokens."""
        held = (1.0 - self.transfer_window_share) * isl + self.transfer_window_share * np.minimum(
            isl, self.transfer_window)
        return self.transfer_lat_s + self.transfer_s_per_token * held


def unit_steps(unit: pd.Series, catalog: Catalog, efficiency: Efficiency | None = None) -> UnitSteps:
    """The step times of a `disaggregated_units` row that fits (its configuration, batch, instances)."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    row = pd.DataFrame([unit]).reset_index(drop=True)
    keep = [k for k in (*CONFIG_COLUMNS, "batch", "engine", "speculative", *PREFILL_COLUMNS) if k in row]
    row = row[keep]
    c, reason = resolve(normalize_grid(row), catalog, eff)
    if reason[0]:
        raise ValueError(f"the unit does not run: {reason[0]}")
    has_pre = any(k in row and pd.notna(row[k].iloc[0]) and str(row[k].iloc[0]) != "" for k in PREFILL_COLUMNS)
    cp = _prefill_layout(row, catalog, eff)[0] if has_pre else c
    sv = eff.serving
    isl, osl = float(c.isl[0]), float(c.osl[0])
    seats = round(float(unit["batch"]))
    # prefill passes at 1..n whole mean prompts: a pass holds the model's prompts (at least one per attention-DP
    # rank) and, with other lengths, what fits the ranks' budgets
    n_max = max(1.0, math.floor(float(rank_chunk_tokens(cp)[0]) / isl)) * float(cp.attn_dp[0])
    budget = max(float(replica_token_budget(cp)[0]), n_max * isl)
    # (and a quarter and a half mean prompt: a pass of several short `variable` prompts may hold fewer tokens)
    k = np.unique(np.concatenate([[0.25, 0.5], np.arange(1.0, n_max + 2.0)]))
    lat, iv = prefill_pass(cp, sv, k, isl)
    # decode: token-step seconds at 0..seats sequences, the analytic TPOT's step (draft passes included)
    q, accept, _ = speculative_terms(c)
    n = np.arange(0, seats + 1, dtype=float)
    ctx = isl + osl / 2.0
    one = max(float(np.asarray(accept)[0] if np.ndim(accept) else accept), 1.0)

    def dstep(m, cx):
        return (decode_step(c, sv, m, cx, q_dec=q)["time_s"] + draft_time_s(c, sv, m, cx)) / one

    dec = np.broadcast_to(dstep(np.maximum(n, 1.0), ctx), n.shape).astype(float).copy()
    dec[0] = 0.0
    b = float(max(seats, 1))
    slope = float(((dstep(b, 2.0 * ctx) - dstep(b, ctx)) / (b * ctx)).ravel()[0])
    # the KV transfer: latency + seconds per held token, sliding-window layers holding at most their window
    g = c.tp * c.pp * c.attn_dp
    gp = cp.tp * cp.pp * cp.attn_dp
    unit_gpus = float(unit["prefill_instances"]) * float(gp[0]) + float(unit["decode_instances"]) * float(g[0])
    same = bool(np.asarray(cp.hbm_bytes == c.hbm_bytes).all() and np.asarray(
        cp.scale_up_domain == c.scale_up_domain).all())
    inst = np.minimum(g, gp)
    t0 = float(kv_transfer_s(Cols(dict(c, isl=np.array([0.0]))), unit_gpus if same else np.inf, inst)[0])
    t1 = float(kv_transfer_s(Cols(dict(c, isl=np.array([1.0]))), unit_gpus if same else np.inf, inst)[0])
    layers, local = float(c.layers[0]), float(np.asarray(c.local_layers).ravel()[0])
    window = float(np.asarray(c.window_tokens).ravel()[0]) if local > 0 else math.inf
    draft = float(np.asarray(c.get("spec_k", 0.0)).ravel()[0])
    stream = float(np.asarray(c.get("eng_stream", 1.0)).ravel()[0])
    return UnitSteps(round(float(unit["prefill_instances"])), round(float(unit["decode_instances"])),
                     seats, budget, round(n_max), k * isl, np.asarray(lat["time_s"], float).ravel(),
                     np.broadcast_to(np.asarray(iv, float).ravel(), k.shape).copy(), t0, t1 - t0, window,
                     local / layers if layers > 0 else 0.0, dec.tolist(), slope, ctx, one, draft,
                     max(one, stream), isl, osl, lambda x: _single_pass(cp, sv, x), float(c.max_context[0]))


def _single_pass(cp: Cols, serving: dict, isl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(latency, interval) of a pass over one prompt of each length: exact (attention grows with the square of
    the prompt, which interpolating on tokens misses for the long ones that run alone)."""
    lat, iv = prefill_pass(cp, serving, 1.0, np.asarray(isl, dtype=float))
    return np.broadcast_to(lat["time_s"], np.shape(isl)).copy(), np.broadcast_to(iv, np.shape(isl)).copy()


class _Decode:
    """One decode instance: its clock (a step boundary), the steps it has run, its running requests as a heap of
    (the step count at which each finishes, id), and their context tokens in all."""

    def __init__(self) -> None:
        self.t = 0.0
        self.steps = 0
        self.running: list[tuple[int, int]] = []
        self.hidden: list[tuple[int, int]] = []  # (the step count at which its first visible token comes, id)
        self.ctx = 0.0
        self.opened = -math.inf  # when a seat last opened on it while every seat was taken


def simulate_unit(us: UnitSteps, wl: Workload, max_context: float = np.inf, hidden: int = 0) -> RunResult:
    """Simulate one disaggregated unit under workload `wl` (simulate.Workload); `summarize` reads the result.
    `hidden`: reasoning tokens of each request's output (us.osl counts them) decoded before the visible ones:
    the result's first token is the first visible one and its osl the visible tokens (TPOT over them)."""
    steady, closed, n_total = wl.run_size()
    rng = np.random.default_rng(wl.seed)
    isl, visible = lengths(us.isl, us.osl - hidden, n_total, wl.length_dist, rng,
                           min(max_context, us.max_context) - hidden)
    osl = visible + hidden
    life_s = None
    if closed and steady:  # clients out of phase over one request's estimated life: the unit's own estimate
        c0 = min(int(wl.concurrency), n_total)
        life_s = us.pass_s(us.isl)[0] + us.osl * us.decode_s[min(c0, us.seats)]
    arrival = arrivals(None, wl, n_total, rng, life_s=life_s)
    # decode token-steps after the first token (sampled by the prefill); speculation draws them per step
    need_a = np.where(osl > 1, token_steps(np.maximum(osl - 1, 1), us.accept, us.draft_tokens,
                                           np.random.default_rng([wl.seed, 1])), 0).astype(np.int64)
    alone_lat, alone_iv = us.single(isl)  # a pass holding one prompt: exact for its length
    lat_min = float(alone_lat.min())  # the earliest a pass started now can hand a prompt on
    # per-request values as Python lists: the loop reads them one at a time
    arr, prompt, need = arrival.tolist(), isl.astype(float).tolist(), need_a.tolist()
    transfer, alone = us.transfer_s(isl.astype(float)).tolist(), list(zip(alone_lat.tolist(), alone_iv.tolist(),
                                                                            strict=True))
    first = [math.nan] * n_total
    shown = first if hidden <= 0 else [math.nan] * n_total  # when the first visible token reaches the client
    finish = [math.nan] * n_total
    itl_v: list[float] = []
    itl_w: list[float] = []
    table, slope, ctx_ref, seats = us.decode_s, us.s_per_ctx_token, us.ctx_ref, us.seats
    budget, max_prompts = us.budget_tokens, us.max_prompts
    pre_free = [0.0] * us.prefill_instances  # when each prefill instance takes its next pass
    pending: list[tuple[float, int]] = []  # (prefill done + transfer, id): waiting for a decode seat
    decs = [_Decode() for _ in range(us.decode_instances)]
    issued = min(int(wl.concurrency), n_total) if closed else n_total
    next_pre = 0  # the head of the prefill queue (requests enter it in index order)
    n_done = 0

    def complete(i: int, now: float) -> None:
        nonlocal n_done, issued
        finish[i] = now
        n_done += 1
        if closed and issued < n_total:  # the finished client sends its next request now
            arr[issued] = now
            issued += 1

    inf = math.inf
    while n_done < n_total:
        t_pre = max(pre_free[0], arr[next_pre]) if next_pre < issued else inf
        t_dec, d_next, fewest = inf, None, decs[0]
        for d in decs:
            if d.running and d.t < t_dec:
                t_dec, d_next = d.t, d
            if len(d.running) < len(fewest.running):
                fewest = d
        free_seat = len(fewest.running) < seats
        now = min(t_pre, t_dec, pending[0][0] if pending and free_seat else inf)
        if now == inf:
            break  # nothing can run (cannot happen with a valid unit)
        # prompts whose KV is ready take free seats, on the instance running the fewest; an idle one starts
        # at their time, a busy one takes them at its next step boundary
        while pending and pending[0][0] <= now:
            d = min(decs, key=lambda x: len(x.running))
            if len(d.running) >= seats:
                break
            ready, i = heapq.heappop(pending)
            # the KV moves once a seat takes it: at once, or when a seat opened on a full instance
            first[i] = max(ready, d.opened + transfer[i])
            if not d.running:
                d.t = max(d.t, first[i])
            if need[i] == 0:
                complete(i, first[i])
                continue
            heapq.heappush(d.running, (d.steps + need[i], i))
            if hidden > 0:  # decode step `hidden` samples token hidden + 1, the first visible one
                heapq.heappush(d.hidden, (d.steps + min(hidden, need[i]), i))
            d.ctx += prompt[i]
        if now == t_pre and t_pre <= t_dec:  # a prefill pass: prompts from the head up to the budget
            start = max(heapq.heappop(pre_free), arr[next_pre])
            take, tok = [], 0.0
            while next_pre < issued and arr[next_pre] <= start and (not take or (
                    tok + prompt[next_pre] <= budget and len(take) < max_prompts)):
                take.append(next_pre)
                tok += prompt[next_pre]
                next_pre += 1
            lat, iv = alone[take[0]] if len(take) == 1 else us.pass_s(tok)
            heapq.heappush(pre_free, start + iv)
            for i in take:
                heapq.heappush(pending, (start + lat + transfer[i], i))
            continue
        if t_dec > now or d_next is None:
            continue
        d = d_next
        n = len(d.running)
        t1 = table[n] + slope * (d.ctx - n * ctx_ref)
        k = d.running[0][0] - d.steps  # steps until the next completion
        if n < seats:  # the next prompt that could join: one pending, or a pass that could start now
            nxt = min(pending[0][0] if pending else inf, t_pre + lat_min)
            if nxt < inf:
                k = min(k, max(1, math.ceil((nxt - d.t) / max(t1, 1e-12))))
        k = max(1, k)
        dt = k * t1 + slope * n * k * (k - 1) / 2.0
        itl_v.append(dt / k)
        itl_w.append(float(n * k))
        while d.hidden and d.hidden[0][0] <= d.steps + k:  # step j of the k ends j t1 + slope n j(j-1)/2 in
            at, i = heapq.heappop(d.hidden)
            j = at - d.steps
            shown[i] = d.t + j * t1 + slope * n * j * (j - 1) / 2.0
        d.t += dt
        d.steps += k
        d.ctx += n * k
        while d.running and d.running[0][0] <= d.steps:
            _, i = heapq.heappop(d.running)
            d.ctx -= prompt[i] + need[i]
            complete(i, d.t)
            if n >= seats:
                d.opened = d.t

    arrival, shown, finish = np.asarray(arr), np.asarray(shown), np.asarray(finish)
    mask, window = measured(arrival, finish, steady)
    return RunResult(arrival, shown, finish, isl, visible, np.asarray(itl_v) * us.burst,
                     np.asarray(itl_w) / us.burst, 0, mask, window)


__all__ = ["UnitSteps", "simulate_unit", "unit_steps"]
