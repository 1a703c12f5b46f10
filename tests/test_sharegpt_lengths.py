"""`length_dist=variable`: ShareGPT's prompt and output length shapes as vllm bench samples them
(planner/perf/sharegpt_lengths.py), in the simulator's draws and the analytic model's quantiles alike."""

from __future__ import annotations

import numpy as np
import pytest

from planner.perf import sharegpt_lengths as L
from planner.perf.simulate import length_quantile_factor, lengths


def test_the_tables_are_quantiles_of_length_over_mean():
    for t in (L.PROMPT, L.OUTPUT):
        assert len(t) == len(L.QUANTILES) == 201
        assert (np.diff(t) >= 0).all()
        # the mean of a quantile function is its integral over p: 1 for lengths / their mean
        assert np.trapezoid(t, L.QUANTILES) == pytest.approx(1.0, abs=0.01)


def test_short_outputs_are_as_common_as_in_sharegpt():
    """By hand from the table: the 10th percentile of outputs is 0.0498 of the mean (10 tokens at a mean of
    200) and the median 0.667 of it. The floor-plus-exponential that stood in had 3% of outputs at 10 tokens or
    fewer (1 - exp(-6 / 196)) and its median at 0.70: a burst's mean TPOT, set by the short outputs beside the
    prompt flood, came out low in every engine."""
    assert length_quantile_factor(0.10, np.array([200.0]), "output")[0] == pytest.approx(0.04976)
    assert length_quantile_factor(0.50, np.array([200.0]), "output")[0] == pytest.approx(0.6672)
    assert length_quantile_factor(0.50, np.array([200.0]), "prompt")[0] == pytest.approx(0.4741)
    i, o = lengths(220.0, 200.0, 100_000, "variable", np.random.default_rng(0))
    assert np.mean(o <= 10) == pytest.approx(0.10, abs=0.01)  # the exponential: 0.03
    assert np.mean(1.0 / np.maximum(o - 1, 1)) > 0.033  # the exponential: 0.019
    assert o.mean() == pytest.approx(200.0, rel=0.02) and i.mean() == pytest.approx(220.0, rel=0.02)
    assert np.median(i) == pytest.approx(0.474 * 220.0, rel=0.03)  # short questions beside pasted text


def test_the_floor_holds_at_small_means_and_kinds_are_checked():
    # vllm bench drops sequences under 4 tokens (ASSUMPTIONS.min_length_tokens): at a mean of 20 the table's
    # shortest (0.018 x 20 = 0.4 tokens) is lifted to 4
    assert length_quantile_factor(0.0, np.array([20.0]), "output")[0] == pytest.approx(4.0 / 20.0)
    i, o = lengths(20.0, 20.0, 1000, "variable", np.random.default_rng(1))
    assert i.min() >= 4 and o.min() >= 4
    with pytest.raises(ValueError):
        L.quantile_factor(0.5, 100.0, "completion")
