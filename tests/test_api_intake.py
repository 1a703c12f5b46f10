"""The engine's API server takes requests one at a time (planner/perf/arrivals.py): a burst reaches the
scheduler spread over N x its serial time per request, light load is untouched."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from test_perf_load import linear_table

from planner.perf import arrivals
from planner.perf.arrivals import serial_intake
from planner.perf.burst import finite_burst
from planner.perf.queueing import service
from planner.perf.simulate import Workload, simulate_one, summarize


def test_fifo_server_by_hand():
    # 3 at t=0, one at 0.5 (server idle by then), one at 0.52 (behind it); 0.1 s each: when service starts
    start = serial_intake(np.array([0.0, 0.0, 0.0, 0.5, 0.52]), 0.1)
    np.testing.assert_allclose(start, [0.0, 0.1, 0.2, 0.5, 0.6])
    np.testing.assert_allclose(serial_intake(np.array([0.0, 1.0]), 0.0), [0.0, 1.0])
    closed = serial_intake(np.array([0.0, 0.0, np.inf]), 0.1)  # a closed loop's unsent request stays unsent
    assert closed[:2].tolist() == pytest.approx([0.0, 0.1]) and math.isinf(closed[2])


def _burst_table(request_s: float):
    # 1 s decode steps; prompts cost nothing beyond the step: every request gets a seat and its first token in
    # the first step it is seen, so TTFT is the wait at the API server plus the step in progress
    tab = linear_table(a=1e-3, c=0.0, isl=10, osl=2, max_seqs=1000, budget=1_000_000)
    return replace(tab, request_s=np.array([request_s]))


def test_a_burst_spreads_over_the_serial_time_and_light_load_does_not(monkeypatch):
    monkeypatch.setattr(arrivals, "API_SERIAL_SHARE", 0.5)
    n, request_s = 200, 0.02  # 10 ms serial each: request i is seen after i x 10 ms
    tab = _burst_table(request_s)
    run = simulate_one(tab, Workload(request_rate=math.inf, num_requests=n))
    ttft = run.first_token_s - run.arrival_s
    waited = np.arange(n) * 0.01  # before the scheduler sees it; then it is prefilled in the next 1 ms step
    assert np.all(ttft >= waited - 1e-9) and np.all(ttft <= waited + 2.5e-3)
    s = summarize(run)
    assert s["ttft_p50_s"] == pytest.approx(np.percentile(waited, 50), abs=2.5e-3)
    assert s["ttft_p99_s"] == pytest.approx(np.percentile(waited, 99), abs=2.5e-3)
    # without the serial share everyone is seen at once
    monkeypatch.setattr(arrivals, "API_SERIAL_SHARE", 0.0)
    flat = summarize(simulate_one(tab, Workload(request_rate=math.inf, num_requests=n)))
    assert flat["ttft_p99_s"] < 2.5e-3
    # one request at a time (closed loop of 1, each living longer than the server's 10 ms on it): nothing
    # waits at the server whatever the share
    long = replace(tab, osl=np.array([30.0]))
    for share in (0.0, 0.5):
        monkeypatch.setattr(arrivals, "API_SERIAL_SHARE", share)
        one = summarize(simulate_one(long, Workload(concurrency=1, num_requests=20)))
        assert one["ttft_p99_s"] <= 2.5e-3
    # ...but where a request lives (2 ms: two 1 ms steps) shorter than the server's 10 ms on it, the next one
    # sent at its finish waits for the server: 8 ms, then the 1 ms step (by hand: request 0 seen at 0, done at
    # 2 ms; request 1 sent at 2 ms, seen at 10 ms, first token at 11 ms)
    monkeypatch.setattr(arrivals, "API_SERIAL_SHARE", 0.5)
    short = simulate_one(tab, Workload(concurrency=1, num_requests=20))
    ttft = short.first_token_s - short.arrival_s
    np.testing.assert_allclose(ttft, [1e-3] + [9e-3] * 19, atol=1e-9)


def test_analytic_burst_waits_at_the_server_as_the_simulator(monkeypatch):
    monkeypatch.setattr(arrivals, "API_SERIAL_SHARE", 0.5)
    tab = _burst_table(0.02)
    fluid = finite_burst(service(tab), tab, np.array([math.inf]), np.array([200]))
    sim = summarize(simulate_one(tab, Workload(request_rate=math.inf, num_requests=200)))
    for k in ("ttft_p50_s", "ttft_p99_s", "ttft_mean_s"):
        assert fluid[k][0] == pytest.approx(sim[k], rel=0.1, abs=5e-3), k
