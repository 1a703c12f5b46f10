"""`bisection.largest_within` (the disaggregated utilization search's answer from fewer evaluations) gives what
the plain fixed-step bisection gives, to the bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.perf.bisection import largest_within


def _plain(f, target: np.ndarray, top: float, steps: int) -> np.ndarray:
    """The reference: every row evaluated at every midpoint (what disagg_capacity.disaggregated_under_slo ran)."""
    every = np.arange(len(target))
    lo, hi = np.zeros(len(target)), np.full(len(target), top)
    for _ in range(steps):
        mid = (lo + hi) / 2.0
        good = f(every, mid) <= target
        lo, hi = np.where(good, mid, lo), np.where(good, hi, mid)
    return np.where(f(every, hi) <= target, hi, lo)


def _random_rising(n: int, seed: int):
    """Per row a non-decreasing f on [0, 1): flat up to a kink, then linear, convex (a 1 / (1 - x) pole) or a
    step, some NaN above a point (no answer there), the kink sometimes a given point."""
    rng = np.random.default_rng(seed)
    base, kink = rng.uniform(0.0, 1.0, n), rng.choice([0.1, 0.5, 0.0], n) + rng.uniform(0, 0.3, n) * rng.integers(
        0, 2, n)
    slope, pole, step_at = rng.uniform(0, 5, n), rng.uniform(0, 0.2, n), rng.uniform(0, 1, n)
    kind = rng.integers(0, 4, n)
    nan_above = np.where(rng.uniform(size=n) < 0.1, rng.uniform(0.3, 1.0, n), np.inf)

    def f(rows, x):
        d = np.maximum(x - kink[rows], 0.0)
        k = kind[rows]
        with np.errstate(divide="ignore"):
            v = base[rows] + np.where(k == 0, slope[rows] * d, np.where(k == 1, pole[rows] * d / (1.0 - x),
                                      np.where(k == 2, (x >= step_at[rows]) * slope[rows], 0.0)))
        return np.where(x > nan_above[rows], np.nan, v)

    spread = rng.choice([0.0, 1e-3, 0.3, 3.0, np.inf], n)
    target = base + spread * rng.uniform(size=n) - rng.choice([0.0, 0.1], n)
    return f, target


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kink", [None, 0.1])
def test_largest_within_is_the_plain_bisection_on_random_rising_functions(seed, kink):
    f, target = _random_rising(3000, seed)
    calls = []

    def counted(rows, x):
        calls.append(len(rows))
        return f(rows, x)

    got = largest_within(counted, target, 0.999, 30, kink=kink)
    assert np.array_equal(got, _plain(f, target, 0.999, 30))
    assert sum(calls) < 0.5 * 31 * len(target)  # fewer evaluations: the point of it


def test_largest_within_is_the_plain_bisection_on_disaggregated_units(cat):
    """On the units' TTFT at the percentile (`disagg_capacity._unit_ttft_q`), several targets and percentiles."""
    from planner.perf.disagg_capacity import _unit_state, _unit_ttft_q, disaggregated_units
    from planner.perf.reasoning_disagg import step_table_rows

    rows = [dict(model=m, accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=tp, pp=1, ep=1,
                 attn_dp=1, isl=isl, osl=osl, serving="disaggregated")
            for m in ("llama-3.1-8b", "llama-3.3-70b") for tp in (1, 2, 4, 8)
            for isl, osl in ((200, 1000), (4000, 300), (1000, 200))]
    cfgs = pd.DataFrame(rows)
    units = disaggregated_units(cfgs, cat)
    s = _unit_state(units)
    run = np.flatnonzero(s["fits"])
    assert len(run) >= 10
    s_run = step_table_rows(s, run)
    for p in (0.5, 0.9, 0.99):
        zero = _unit_ttft_q(s_run, np.zeros(len(run)), p)
        for extra in (0.0, 1e-4, 0.01, 0.1, 1.0, np.inf):
            target = zero * (1.0 + extra) + extra * 0.01

            def f(at, x, p=p):
                return _unit_ttft_q(step_table_rows(s_run, at), x, p)

            assert np.array_equal(largest_within(f, target, 0.999, 30, kink=1.0 - p), _plain(f, target, 0.999, 30))
