"""A replica's saturation rate is the lesser of its seats' and its prompt path's limits (issue 8, plan truth).

Before, the queueing model's capacity was g(B) = B / life(B), the completions/s with every seat busy, where
life(B) counts the other requests' prompt tokens per step at the step time extrapolated past the token budget:
as if one step could carry them all. On Llama-3.3-70B NVFP4 B200 TP8 PP2 with 8192-token prompts and 16-token
answers that said 17.7 requests/s where the simulator's engine, which puts at most budget - m prompt tokens in
a step, completes 15.7; without a TTFT target the optimizer planned 90% of the former, 15.9 requests/s, above
what the engine serves. Now the capacity stops where the prompt path binds (planner/perf/saturation.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.perf import queueing as Q
from planner.perf.capacity import CANDIDATE_GRID, capacity_under_slo
from planner.perf.saturation import prompt_limit_rps
from planner.perf.simulate import Workload, simulate_one
from planner.perf.steptable import build_step_tables

B200_70B = dict(model="llama-3.3-70b", accelerator="b200", precision="nvfp4", kv_precision="fp8", tp=8, pp=2, ep=1,
                attn_dp=1, serving="aggregated")
H100_8B = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, pp=1, ep=1,
               attn_dp=1, serving="aggregated")
# long prompts with short answers (the prompt path binds), short prompts (the seats bind), a KV-bound replica
ROWS = [{**B200_70B, "isl": i, "osl": o} for i, o in ((8192, 16), (2048, 16), (4096, 32), (16000, 128),
                                                        (1024, 256))] + [
    {**H100_8B, "isl": 8192, "osl": 64}]
TOLERANCE = 0.04  # simulator vs capacity, on the same step tables (the seats-only figure missed by 5-12%)


@pytest.fixture(scope="module")
def tables(cat):
    """The candidate search's tables (12 x 5; the full 20 x 9 give the same ratios to 0.2%)."""
    return build_step_tables(pd.DataFrame(ROWS), cat, decode_points=CANDIDATE_GRID[0],
                             prefill_points=CANDIDATE_GRID[1])


def simulated_saturation_rps(tab, rate: float, n: int) -> float:
    """Completions/s of a Poisson stream above what the replica serves (the queue grows, the engine runs
    flat out), between the 40% and the 90% completion: past the first admissions, before the drain."""
    run = simulate_one(tab, Workload(request_rate=rate, num_requests=n, seed=0))
    done = np.sort(run.finish_s)
    a, b = int(0.4 * n), int(0.9 * n)
    return (b - a) / (done[b] - done[a])


def test_capacity_is_the_simulated_saturation(tables):
    sv = Q.service(tables)
    seats = Q.interp_rows(sv.m, sv.rate, sv.cap[:, None])[:, 0]  # g(B): the seats' limit alone
    # 8 x the seats of requests: the waves of admissions of fixed lengths settle (4 x read 14-19% high)
    sim = np.array([simulated_saturation_rps(tables.row(i), 1.5 * sv.capacity_rps[i], int(max(2000, 8 * c)))
                    for i, c in enumerate(sv.cap)])
    assert sv.capacity_rps == pytest.approx(sim, rel=TOLERANCE)
    # the prompt path binds on the 70B's long prompts with short answers (the seats alone say 5-12% more than
    # the engine serves), not on its short prompts
    assert np.all(seats[:4] > sim[:4] * (1 + TOLERANCE))
    assert sv.capacity_rps[4] == pytest.approx(seats[4], rel=1e-12)


def test_prompt_limit_by_hand(tables):
    """P(m) = (budget - m) / (isl x the step packed to the budget beside m decoding sequences)."""
    sv = Q.service(tables)
    r, j = 0, 5
    m = sv.m[r, j]
    room = tables.token_budget[r] - m
    step_p = tables.token_budget[r] / (tables.time_s.shape[2] - 1)  # the prefill axis: 0 .. budget, even steps
    k = int(room // step_p)
    full_s = tables.time_s[r, j, k] + (tables.time_s[r, j, k + 1] - tables.time_s[r, j, k]) * (room / step_p - k)
    full_s = max(full_s, tables.mixed_floor_s[r])
    assert prompt_limit_rps(tables, sv.m)[r, j] == pytest.approx(room / (tables.isl[r] * full_s), rel=1e-12)


def test_without_a_ttft_target_the_plan_is_a_share_of_what_the_engine_serves(cat):
    """The case of the issue: no TTFT target, so the replica is planned at 90% of its saturation; that rate is
    now one the simulator's engine serves with a finite queue."""
    cfg = pd.DataFrame([{**B200_70B, "isl": 8192, "osl": 16}])
    planned = float(capacity_under_slo(cfg, cat)["capacity_rps"].iloc[0])
    tab = build_step_tables(cfg, cat, decode_points=CANDIDATE_GRID[0], prefill_points=CANDIDATE_GRID[1])
    served = simulated_saturation_rps(tab, 1.5 * planned, 4000)
    assert planned == pytest.approx(0.9 * Q.service(tab).capacity_rps[0], rel=1e-9)
    assert planned < 0.93 * served


def test_limited_by_names_the_prompt_path_where_it_binds(cat):
    """At full capacity (targets loose enough to reach it) a row whose prompt path binds before its seats is
    'prefill', not the decode step's largest share (it said 'compute' since capacity became the lesser of the
    two); a seat-bound row keeps the step's resource."""
    g = pd.DataFrame([{**B200_70B, "isl": 8192, "osl": 16}, {**H100_8B, "isl": 128, "osl": 1024}])
    cap = capacity_under_slo(g, cat, ttft_s=1e9, tpot_s=10.0)
    assert cap["fits"].all()
    # at capacity: the planned rate (the frame's capacity_rps) is the replica's saturation rate (its output_tok_s
    # is that rate x osl by definition, so it cannot tell)
    tab = build_step_tables(g, cat, decode_points=CANDIDATE_GRID[0], prefill_points=CANDIDATE_GRID[1],
                            queueing_only=True)
    np.testing.assert_allclose(cap["capacity_rps"], Q.service(tab).capacity_rps, rtol=1e-6)
    assert cap["limited_by"].tolist()[0] == "prefill"
    assert cap["limited_by"].tolist()[1] in ("compute", "bandwidth", "communication")
