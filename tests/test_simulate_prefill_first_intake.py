"""SGLang's prefill-first schedule meets the API server's serial intake (issue 8, latency tails): the scheduler
takes whatever prompts have arrived at each iteration into one prompt step and runs it alone. While prompts arrive
faster than a prompt step lasts, every iteration finds one waiting, so the decode waits through one chain of
prompt steps (one long gap per running request, the only tail the simulator gives a burst: see
benchmarks/scheduler_tails.py); slower arrivals let a decode step in between, each gap then holding one prompt
step. Hand-checkable: prompt steps of 100 tokens 0.02 s alone, decode steps 0.01 s."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from test_perf_load import linear_table

from planner.perf.arrivals import API_SERIAL_SHARE
from planner.perf.simulate import Workload, simulate_one, summarize

WL = Workload(request_rate=math.inf, num_requests=4)


def _run(serial_s: float):
    base = linear_table(a=0.01, c=1e-4, isl=100, osl=11, max_seqs=64, budget=8192)
    tab = replace(base, prefill_first=np.array([1.0]), request_s=np.array([serial_s / API_SERIAL_SHARE]))
    return simulate_one(tab, WL)


def test_fast_intake_chains_the_prompts_into_one_pause():
    """Serial intake 5 ms: the scheduler sees the prompts at 0, 5, 10, 15 ms. Prompt 0 runs alone (0 -> 0.02 s);
    by then prompts 1-3 wait and run as one 300-token step (0.01 + 0.03 s: 0.02 -> 0.06 s); then all four decode
    10 steps and finish at 0.16 s. Request 0 waited 0.05 s (the prompt step and its own decode step) once."""
    run = _run(0.005)
    np.testing.assert_allclose(run.first_token_s, [0.02, 0.06, 0.06, 0.06])
    np.testing.assert_allclose(run.finish_s, 0.16)
    s = summarize(run)
    assert s["itl_p99_s"] == pytest.approx(0.05)
    assert s["itl_mean_s"] == pytest.approx((0.05 + 39 * 0.01) / 40)


def test_slow_intake_lets_a_decode_step_between_prompt_steps():
    """Serial intake 30 ms (longer than a prompt step): prompts seen at 0, 30, 60, 90 ms. Each prompt step
    (0.02 s) ends before the next prompt arrives, so one decode step runs in between: prompt 0 0 -> 0.02, decode
    -> 0.03, prompt 1 -> 0.05, decode -> 0.06, prompt 2 -> 0.08, decode -> 0.09, prompt 3 -> 0.11. Request 0's
    gaps: 0.01, then three of 0.03 (a prompt step and a decode step); first tokens at 0.02, 0.05, 0.08, 0.11."""
    run = _run(0.03)
    np.testing.assert_allclose(run.first_token_s, [0.02, 0.05, 0.08, 0.11])
    # request 0: 10 tokens after its first; 1 + 3 decode steps up to 0.11 s, then 6 more together
    np.testing.assert_allclose(run.finish_s[0], 0.11 + 6 * 0.01 + 0.01)
    s = summarize(run)
    assert s["itl_p99_s"] == pytest.approx(0.03)
    fast = summarize(_run(0.005))
    assert s["itl_p99_s"] < fast["itl_p99_s"]  # spread intake: shorter, more frequent pauses


def test_a_pause_is_one_streamed_chunk_a_sequence_with_speculative_bursts():
    """Two tokens a streamed chunk (burst 2: the step tables are per token-step, 0.01 s) and one prompt a step
    (budget 100): prompt 0 runs 0 -> 0.01 s, prompt 1 pauses request 0 (0.01 -> 0.02 s), then both decode their
    20 token-steps (10 chunks each). Request 0's first gap is the pause and a chunk's two token-steps (0.03 s),
    one gap of its 10; request 1's first is a plain chunk (0.02 s). The gaps weigh 20 chunks in all, 1 of them
    the pause's (before: 1/2, its share of token-steps, the other half spread over plain chunks)."""
    base = linear_table(a=0.01, isl=100, osl=21, max_seqs=8, budget=100)
    tab = replace(base, prefill_first=np.array([1.0]), burst=np.array([2.0]))
    run = simulate_one(tab, Workload(request_rate=math.inf, num_requests=2))
    np.testing.assert_allclose(run.first_token_s, [0.01, 0.02])
    assert run.itl_weight.sum() == pytest.approx(20.0)
    stall = run.itl_s > 0.021
    assert run.itl_s[stall] == pytest.approx([0.03])
    assert run.itl_weight[stall] == pytest.approx([1.0])
    np.testing.assert_allclose(run.itl_s[~stall], 0.02)
