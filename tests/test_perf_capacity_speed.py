"""Shortcuts of the capacity search that must not change an answer (speed, issue 7)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.perf.capacity import _cdf_over_pdf, _wait_ratio


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
