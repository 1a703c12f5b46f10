"""Speculative decoding in the simulator: acceptance drawn per step (Leviathan et al. 2023's i.i.d. model), the
spread it gives TPOT, and gaps across a prefill-first pause counted once per streamed chunk."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from test_perf_load import linear_table

from planner.perf.simulate import Workload, acceptance_rate, simulate_one, summarize, token_steps


def test_acceptance_rate_inverts_the_expected_tokens_per_step():
    """k = 3 drafts at alpha = 0.5: 1 + 0.5 + 0.25 + 0.125 = 1.875 tokens a step (ICML 2023, eq. 1)."""
    assert acceptance_rate(1.875, 3) == pytest.approx(0.5, abs=1e-9)
    assert acceptance_rate(1.0, 3) == 0.0 and acceptance_rate(2.0, 0) == 0.0  # no speculation
    assert acceptance_rate(4.0, 3) == 1.0  # every draft accepted


def test_token_steps_draws_one_or_two_tokens_a_step():
    """k = 1 at mean 1.5: each step emits 1 or 2 tokens, half and half. A 2-token output needs 1 step (p 0.5)
    or 2: 1.5 or 3 token-steps (steps x 1.5), rounded to 2 or 3. A 1,000-token one needs about 1000 / 1.5
    steps with standard deviation sqrt(1000 Var / mean^3) = 8.6 steps (renewal CLT), 12.9 token-steps."""
    rng = np.random.default_rng(3)
    two = token_steps(np.full(20000, 2), 1.5, 1, rng)
    assert set(np.unique(two)) == {2, 3} and np.mean(two == 2) == pytest.approx(0.5, abs=0.02)
    long = token_steps(np.full(20000, 1000), 1.5, 1, rng)
    assert long.mean() == pytest.approx(1000.5, abs=2.0)  # plus the last step's expected surplus / 2
    assert long.std() == pytest.approx(1.5 * math.sqrt(1000 * 0.25 / 1.5 ** 3), rel=0.05)
    plain = np.array([5, 7])
    assert token_steps(plain, 1.0, 0, rng) is plain  # no speculation: the lengths themselves


def test_speculative_tpot_spreads_across_requests_of_the_same_length():
    """Fixed lengths, one client: without speculation every request has the same TPOT; with acceptance drawn
    per step p99 TPOT lies above the mean, and the mean stays near the table's token-step."""
    tab = replace(linear_table(a=0.01, isl=100, osl=201, max_seqs=4), burst=np.array([2.5]))
    wl = Workload(concurrency=1, num_requests=200)
    flat = summarize(simulate_one(tab, wl))
    assert flat["tpot_p99_s"] == pytest.approx(flat["tpot_mean_s"])
    spec = summarize(simulate_one(replace(tab, spec_accept=np.array([2.5]), spec_draft_tokens=np.array([3.0])),
                                  wl))
    assert spec["tpot_mean_s"] == pytest.approx(0.01, rel=0.03)
    assert spec["tpot_p99_s"] > 1.1 * spec["tpot_mean_s"]


def test_a_pause_is_one_gap_in_wall_time_when_tokens_stream_in_bursts():
    """test_perf_load's prefill-first case streamed 2 tokens a chunk (a real step of 0.02 s): request 0's last
    token came at 0.02 s, the other prompts run until 0.08 s, its next chunk comes one real step later, at
    0.10 s: a gap of 0.08 s (not twice the 0.07 s token-step gap)."""
    base = linear_table(a=0.01, c=1e-4, isl=100, osl=11, max_seqs=64, budget=100)
    tab = replace(base, prefill_first=np.array([1.0]), burst=np.array([2.0]))
    s = summarize(simulate_one(tab, Workload(request_rate=math.inf, num_requests=4)))
    assert s["itl_p99_s"] == pytest.approx(0.06 + 2 * 0.01)
    assert s["itl_p50_s"] == pytest.approx(2 * 0.01)
