"""When the requests of a simulated run are sent, and when the engine's scheduler sees them.

Between the client and the scheduler sits the engine's API server: one process (vLLM's OpenAI server with
api-server-count 1, SGLang's TokenizerManager, trtllm-serve) that parses each request, renders its chat template
and tokenizes it, one request after another. Part of the API-server time per request (`request_s`, fitted on
light-load TTFT in engine_fit) is that serial CPU work: a burst of N requests reaches the scheduler spread over N
times it, so first tokens spread over the burst even where the engine could admit everyone at once. The rest
(network, IPC hops, streaming the token back) is latency that overlaps between requests. The simulator takes
API_SERIAL_SHARE of request_s as a FIFO server in front of the scheduler: a request reaches the scheduler once
the server has worked through the requests before it (its TTFT counts that wait), and its own request_s is added
outside the simulator (load.py, serving_fidelity.py) as at light load, where nothing waits and nothing changes.
The server is busy with a request for the serial time from when the scheduler sees it (its own API time stays
outside the simulated timeline, as before), so a closed-loop client's next request waits only if its previous
one lived shorter than that (a few ms).
"""

from __future__ import annotations

import math

import numpy as np

from planner.perf.steptable import StepTables

# Share of the API-server time per request that is serial work in the one server process. Chosen on whole
# sources (benchmarks/api_serial_share.py: grid 0, 0.1, 0.2, 0.3, 0.5; mean over sources of the mean |log error|
# of every TTFT/TPOT/ITL row under load with the fitted engine factors; within 0.5% of the best, the smallest):
# 0.3062 at 0, 0.3019 at 0.1, 0.3011 at 0.2, 0.3118 at 0.3 -> 0.1; with one source held out the others choose 0.1
# (DSTKTGI, NIM, VKV held out) or 0.2 (GPS held out). Larger shares delay TTFT in bursts further but admit the
# prompts so slowly that the steps carrying them shorten, and TPOT/ITL p99 fall further below the measured.
API_SERIAL_SHARE = 0.1


def serial_intake(arrival: np.ndarray, service_s: float) -> np.ndarray:
    """When a FIFO server taking `service_s` per request starts on each (arrivals sorted ascending; inf for
    requests not sent yet stays inf): start_i = max(arrival_i, start_(i-1) + service_s)."""
    a = np.asarray(arrival, dtype=float)
    if service_s <= 0.0 or len(a) == 0:
        return a.copy()
    k = np.arange(len(a), dtype=float)
    return np.maximum.accumulate(a - service_s * k) + service_s * k


def serial_s(request_s: float) -> float:
    """Serial API-server seconds per request of an engine whose API-server time per request is request_s."""
    return API_SERIAL_SHARE * float(request_s)


def intake_s(tab: StepTables) -> float:
    """Serial API-server seconds per request of configuration row 0."""
    return serial_s(tab.request_s[0])


def life_estimate(tab: StepTables, batch: int) -> float:
    """Seconds one request lives at `batch` running sequences: its prompt in chunks, then osl mean steps."""
    n = min(batch, int(tab.max_seqs[0]))
    avg = float(np.interp(n, tab.decode[0], tab.step_avg_s[0]))
    chunks = math.ceil(float(tab.isl[0]) / float(tab.token_budget[0]))
    return chunks * float(tab.time_s[0, 0, -1]) + float(tab.osl[0]) * avg


def arrivals(tab: StepTables | None, wl, n_total: int, rng: np.random.Generator,
             life_s: float | None = None) -> np.ndarray:
    """Send times of workload `wl` (simulate.Workload); inf for a closed loop's requests not yet sent (set as
    their client's previous one ends). `life_s`: a steady closed loop's estimated request life where the caller
    has its own estimate (a disaggregated unit has no StepTables), else life_estimate(tab)."""
    arrival = np.full(n_total, np.inf)
    if wl.concurrency is not None:
        c0 = min(int(wl.concurrency), n_total)
        arrival[:c0] = 0.0
        if wl.num_requests is None:
            # clients of a long-running service are out of phase: start them at random over one
            # request's estimated life, else the burst at t=0 keeps them in lock-step (all prompts together)
            life = life_estimate(tab, c0) if life_s is None else life_s
            arrival[:c0] = np.sort(rng.uniform(0.0, life, c0))
    elif wl.request_rate is None or math.isinf(wl.request_rate):
        arrival[:] = 0.0
    else:
        arrival[:] = np.cumsum(rng.exponential(1.0 / wl.request_rate, n_total))
    return arrival


def measured(arrival: np.ndarray, finish: np.ndarray, steady: bool) -> tuple[np.ndarray, tuple[float, float]]:
    """The requests that count and the throughput window: the whole finite run, or steady state without its
    warm-up (first 20%) and drain (last 10%)."""
    n_total = len(finish)
    mask = np.ones(n_total, dtype=bool)
    window = (float(np.nanmin(arrival)), float(np.nanmax(finish)))
    if steady:
        lo, hi = int(0.2 * n_total), int(0.9 * n_total)
        mask[:lo] = False
        mask[hi:] = False
        order = np.sort(finish)
        window = (float(order[lo]), float(order[hi - 1]))
    return mask, window


__all__ = ["API_SERIAL_SHARE", "arrivals", "intake_s", "life_estimate", "measured", "serial_intake", "serial_s"]
