"""A closed loop's TPOT percentiles with variable lengths carry each request's own context (isl + osl / 2 over
its life) at the step's slope per context token at the loop's occupancy (`ctx_slope_s` at that decode count, as
the simulator reads it), not at the seats the KV cache holds (`s_per_ctx_token`)."""

from dataclasses import replace

import numpy as np
import pytest
from test_perf_load import linear_table

from planner.perf import queueing as Q
from planner.perf.closed_loop import closed_loop, own_context


def test_tpot_spread_is_the_slope_at_the_occupancy_times_the_context_spread():
    """Slope 1e-7 s a context token a decode sequence (1e-7 x d at d sequences), 2e-5 at the seats the cache
    holds (64): at 16 clients the p99 - p50 TPOT is 1.6e-6 x (p99 - p50 of isl + osl / 2), 1/12.5 of what the
    seats' slope read."""
    base = linear_table(a=0.01, isl=500, osl=200, max_seqs=64)
    tab = replace(base, s_per_ctx_token=np.array([2e-5]), ctx_slope_s=1e-7 * base.decode)
    sv = Q.service(tab)
    out = closed_loop(sv, tab, np.array([16.0]), np.array([True]))
    c50, c99 = own_context(tab, [0.5, 0.99])
    spread = out["tpot_p99_s"][0] - out["tpot_p50_s"][0]
    assert c99[0] > c50[0]
    assert spread == pytest.approx(1.6e-6 * (c99[0] - c50[0]), rel=1e-9)
