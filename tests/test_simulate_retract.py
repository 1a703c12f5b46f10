"""SGLang's decaying new_token_ratio and retract_decode in the simulator (engines.yaml `scheduler:
kv_reserve_min`), on hand-checkable tables."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_perf_load import linear_table

from planner.perf.retract import RETRACT_DECODE_STEPS, retract
from planner.perf.simulate import Workload, simulate_one


def test_retract_takes_the_fewest_generated_longest_prompt_first_and_queues_them_last():
    """Four running requests with 5, 2, 2, 9 output tokens and prompts 100, 50, 80, 100, no free token: the two
    with 2 tokens go, the longer prompt first (request 2, 42 tokens held: 42 < 20 x 3 remaining), then request 1
    (94 >= 20 x 2); the share restarts at (decoded + 20 x remaining) / remaining max tokens. A lone request is
    never retracted (the engine stops at one)."""
    dec = np.array([0, 1, 2, 3])
    isl = np.array([100, 50, 80, 100])
    gen = np.array([5, 2, 2, 9])
    osl = np.array([50, 40, 30, 60])
    held = np.array([105.0, 52.0, 42.0, 109.0])
    done_pre = isl.astype(float).copy()
    pre_need = isl.astype(float).copy()
    waiting: deque[int] = deque([7, 8])
    keep, share, freed = retract(dec, isl, osl, gen, held, done_pre, pre_need, waiting, free=0.0)
    assert list(waiting) == [7, 8, 2, 1]  # behind the requests already waiting (FCFS)
    np.testing.assert_array_equal(keep, [0, 3])
    assert freed == 94.0 and held[1] == held[2] == 0.0
    assert pre_need[2] == 82 and pre_need[1] == 52 and done_pre[2] == 0.0  # prompt + output recomputed
    assert share == pytest.approx((5 + 9 + RETRACT_DECODE_STEPS * 2) / (50 + 60))
    # never the last one
    w2: deque[int] = deque()
    keep, _, _ = retract(np.array([3]), isl, osl, gen, held.copy(), done_pre, pre_need, w2, free=0.0)
    np.testing.assert_array_equal(keep, [3])
    assert len(w2) == 0


def test_a_full_cache_retracts_the_fewest_generated_and_requeues_it_behind():
    """Ten requests of 100 + 101 tokens at once on a 1,900-token cache, no reserve: one step computes the ten
    prompts (0.01 s, first tokens), then each decode step (0.01 s) takes 10 tokens of the 890 left; after 89 the
    cache is full at 90 tokens out each. SGLang retracts one (all tied: the first, request 0), freeing 190 >= 20 x
    9; the nine finish 11 steps later at 1.01 s, then request 0 recomputes its 190 tokens (one step) and decodes
    its last 10 tokens: done at 1.12 s. vLLM's recompute preemption takes the newest (request 9) instead."""
    base = linear_table(a=0.01, isl=100, osl=101, max_seqs=64, kv=1900)
    wl = Workload(request_rate=math.inf, num_requests=10)
    sg = simulate_one(replace(base, kv_reserve_decay=np.array([1e-3])), wl)  # reserve 0, decaying: retracts
    assert sg.preemptions == 1
    np.testing.assert_allclose(sg.finish_s[1:], 1.01)
    assert sg.finish_s[0] == pytest.approx(1.12)
    vl = simulate_one(base, wl)
    assert vl.preemptions == 1
    np.testing.assert_allclose(vl.finish_s[:9], 1.01)
    assert vl.finish_s[9] == pytest.approx(1.12)


def test_a_decaying_reserve_admits_the_next_request_before_any_completes():
    """Eight requests of 100 + 101 tokens at once on a 1,000-token cache, reserving 0.7 of every request's
    remaining output: 5 fit (5 x 170.7 <= 990, 6 do not). With the share fixed the sixth waits for a completion
    (its spare shrinks as they decode); decaying by 0.02 per decode step (floor 0.1) it is admitted at the first
    step j where 1000 - 5 (101 + j) - 5 - s (5 (100 - j) + 101) - 100 >= 10, s = max(0.7 - 0.02 j, 0.1) (the 5
    tokens the next step decodes are taken first)."""
    base = linear_table(a=0.01, isl=100, osl=101, max_seqs=64, kv=1000)
    wl = Workload(request_rate=math.inf, num_requests=8)
    fixed = simulate_one(replace(base, kv_reserve=np.array([0.7])), wl)
    assert int((fixed.first_token_s < fixed.finish_s.min()).sum()) == 5
    decaying = simulate_one(replace(base, kv_reserve=np.array([0.7]), kv_reserve_min=np.array([0.1]),
                                    kv_reserve_decay=np.array([0.02])), wl)
    j = next(j for j in range(1, 101)
             if 1000 - 5 * (101 + j) - 5 - max(0.7 - 0.02 * j, 0.1) * (5 * (100 - j) + 101) - 100 >= 10)
    # admitted after j decode steps: its prompt step ends one step later with its first token
    assert decaying.first_token_s[5] == pytest.approx(0.01 + (j + 1) * 0.01)
    assert decaying.first_token_s[5] < decaying.finish_s[:5].min()


def test_sglang_decay_reaches_the_step_tables():
    """engines.yaml sglang `scheduler:` 0.7 decaying to 0.098 over 600 steps reaches the table; the other engines
    keep a fixed share (floor = share, no decay, no retraction)."""
    import pandas as pd

    from planner.catalog import load_catalog
    from planner.perf.steptable import build_step_tables

    cat = load_catalog()
    grid = pd.DataFrame([dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="bf16", isl=500, osl=200,
                              engine=e) for e in ("vllm", "sglang", "trtllm", "")])
    tab = build_step_tables(grid, cat)
    sch = cat.engines["sglang"].scheduler
    assert (sch.kv_reserve_output, sch.kv_reserve_min, sch.kv_reserve_decay_steps) == (0.7, 0.098, 600)
    np.testing.assert_allclose(tab.kv_reserve_min, [0.0, 0.098, 1.0, 1.0])  # generic: no eviction (h37)
    np.testing.assert_allclose(tab.kv_reserve_decay, [0.0, (0.7 - 0.098) / 600, 0.0, 0.0])


@settings(max_examples=40, deadline=None)
@given(isl=st.integers(1, 3000), osl=st.integers(1, 300), seats=st.integers(1, 64), kv_seqs=st.floats(1.2, 40.0),
       n=st.integers(1, 60), rate=st.sampled_from([0.5, 5.0, math.inf]),
       dist=st.sampled_from(["fixed", "variable"]), prio=st.sampled_from([0.0, 1.0]),
       decay=st.sampled_from([1e-3, 0.05]), seed=st.integers(0, 3))
def test_retracting_runs_finish_every_request_within_the_cache(isl, osl, seats, kv_seqs, n, rate, dist, prio,
                                                               decay, seed):
    """With a decaying reserve (and so retraction), on a cache of 1.2-40 whole requests, mixed or prefill-first:
    every request gets its first token and finishes, in order, each finish after its first token; the run is
    deterministic."""
    base = linear_table(a=0.01, b=1e-4, c=1e-5, isl=isl, osl=osl, max_seqs=seats, kv=kv_seqs * (isl + osl))
    tab = replace(base, kv_reserve=np.array([0.7]), kv_reserve_min=np.array([0.098]),
                  kv_reserve_decay=np.array([decay]), prefill_first=np.array([prio]))
    wl = Workload(request_rate=rate, num_requests=n, length_dist=dist, seed=seed)
    run = simulate_one(tab, wl)
    assert np.isfinite(run.finish_s).all() and np.isfinite(run.first_token_s).all()
    assert (run.first_token_s >= run.arrival_s).all() and (run.finish_s >= run.first_token_s).all()
    assert np.array_equal(run.finish_s, simulate_one(tab, wl).finish_s)


@pytest.mark.parametrize(("sglang", "prio"), [(False, 0.0), (True, 0.0), (True, 1.0)])
def test_a_preempted_requests_wait_for_its_recompute_is_one_inter_token_gap(sglang, prio):
    """The run of test_a_full_cache_retracts_the_fewest_generated_and_requeues_it_behind: the request that leaves
    at 0.90 s (vLLM's newest, SGLang's fewest generated) streamed its 90th token then, and its client's next token
    comes when the recompute step of its 190 tokens ends at 1.02 s (after the nine finish at 1.01): one ITL gap of
    0.12 s, so the run's gaps are every request's 100 (10 x 100 of weight), 999 of 0.01 s and that one. The same
    prefill-first (SGLang's schedule: nothing waits for a prompt step here)."""
    base = replace(linear_table(a=0.01, isl=100, osl=101, max_seqs=64, kv=1900), prefill_first=np.array([prio]))
    tab = replace(base, kv_reserve_decay=np.array([1e-3])) if sglang else base
    run = simulate_one(tab, Workload(request_rate=math.inf, num_requests=10))
    assert run.preemptions == 1
    assert run.itl_weight.sum() == pytest.approx(10 * 100)
    long = run.itl_s > 0.011
    assert run.itl_s[long] == pytest.approx([0.12])
    assert run.itl_weight[long] == pytest.approx([1.0])
    np.testing.assert_allclose(run.itl_s[~long], 0.01)
