"""Shortcuts of the capacity search that must not change an answer (speed, issue 7)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.perf.disagg_capacity import _cdf_over_pdf, _wait_ratio


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-40.0, 40.0), min_size=1, max_size=50), st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999]))
def test_wait_ratio_shortcut_never_changes_whether_a_request_waits(betas, p):
    """Where the ratio is skipped (inf), the exact one also gives a wait probability of at most 1 - p (no
    seat wait), and elsewhere it is the exact ratio."""
    beta = np.array([*betas, 0.0, 1.0, 2.0, 2.1, 2.2, 3.0, 30.0, 31.0])
    rows = np.ones(len(beta), dtype=bool)
    fast = _wait_ratio(beta, rows, p)
    exact = _cdf_over_pdf(np.clip(beta, -30.0, 30.0))
    skipped = np.isinf(fast)
    assert np.array_equal(fast[~skipped], exact[~skipped])
    with np.errstate(over="ignore"):
        assert (1.0 / (1.0 + beta[skipped] * exact[skipped]) <= 1.0 - p).all()
    assert np.isnan(_wait_ratio(np.array([-1.0, 1.0]), np.zeros(2, dtype=bool), p)).all()


def test_wait_ratio_skips_most_of_a_lightly_loaded_range():
    beta = np.linspace(0.0, 30.0, 301)
    assert np.isinf(_wait_ratio(beta, np.ones(len(beta), dtype=bool), 0.9)).mean() > 0.9


def test_rate_search_in_blocks_gives_the_rates_of_one_block():
    """Blocks of the rate search are views of the rows' service and chain: every row's rate is the one a
    single block gives it, to the bit, whether the caller passes them or the search builds them."""
    import pandas as pd
    from perf_toy import base_catalog

    from planner.perf import queueing as Q
    from planner.perf.rate_search import max_rate_meeting
    from planner.perf.steptable import build_step_tables

    rows = [dict(model=m, accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=tp, isl=isl, osl=osl,
                 serving="aggregated")
            for m in ("llama-3.1-8b", "llama-3.3-70b") for tp in (1, 2, 4)
            for isl, osl in ((200, 1000), (4000, 300))]
    tab = build_step_tables(pd.DataFrame(rows), base_catalog(), decode_points=12, prefill_points=5)
    sv = Q.service(tab)
    ch = Q.chain(sv)
    ttft, tpot = np.geomspace(0.01, 3.0, len(rows)), np.full(len(rows), 0.04)
    one = max_rate_meeting(tab, ttft, tpot, 90.0, known=(sv, ch))
    assert (one > 0).sum() >= 4 and (one == 0).any()
    for kw in (dict(known=(sv, ch)), {}):
        assert np.array_equal(max_rate_meeting(tab, ttft, tpot, 90.0, block=5, **kw), one)


def test_bisection_judged_in_one_run_ends_where_a_run_per_halving_does():
    """search_rounds.bisect_judged (the batch search's last rounds in one run of the model) halves on the judged
    flags exactly as the rounds would, even on a predicate that is not a prefix (the path then decides)."""
    from planner.perf.search_rounds import bisect_judged

    rng = np.random.default_rng(3)
    n, k_max = 300, 24
    truth = rng.random((n, k_max)) < 0.6
    lo0 = rng.integers(0, 8, n)
    hi0 = np.minimum(lo0 + rng.integers(2, k_max, n), k_max)
    flags: dict = {}
    calls = []

    def run(rows, k):
        calls.append(len(rows))
        flags.setdefault("bound", np.zeros((n, k_max), dtype=bool))[rows, k] = truth[rows, k]
        return {"bound": truth[rows, k]}

    lo, hi = lo0.copy(), hi0.copy()
    bisect_judged(run, flags, np.arange(n), lo, hi)
    ref_lo, ref_hi = lo0.copy(), hi0.copy()
    while len(rows := np.flatnonzero(ref_hi - ref_lo > 1)):
        mid = (ref_lo[rows] + ref_hi[rows]) // 2
        p = truth[rows, mid]
        ref_lo[rows], ref_hi[rows] = np.where(p, mid, ref_lo[rows]), np.where(p, ref_hi[rows], mid)
    assert len(calls) == 1 and calls[0] == (hi0 - lo0 - 1).sum()
    assert np.array_equal(lo, ref_lo) and np.array_equal(hi, ref_hi)
