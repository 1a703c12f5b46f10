"""Random small problems either solve and verify, or end in a clean, explained infeasibility."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optimize_fixtures import cand, instance, rack, system, table, workload

from planner.errors import InfeasibleError
from planner.optimize.pipeline import solve_candidates

GPUS = st.sampled_from([1, 2, 4, 8])


@st.composite
def problems(draw):
    n_w = draw(st.integers(1, 3))
    systems = [
        system(
            "s1",
            "a1",
            price=draw(st.integers(100_000, 400_000)),
            supply=draw(st.none() | st.integers(0, 6)),
            existing=draw(st.integers(0, 2)),
        ),
        system(
            "s2",
            "a2",
            price=draw(st.integers(100_000, 400_000)),
            kw=draw(st.sampled_from([6.0, 14.0])),
            rent=draw(st.none() | st.floats(0.5, 6.0)),
        ),
    ]
    wls, rows = [], []
    for i in range(n_w):
        wid = f"w{i}"
        wls.append(
            workload(
                wid,
                draw(st.floats(100, 30_000)),
                headroom=draw(st.sampled_from([0.0, 0.2])),
                min_replicas=draw(st.integers(0, 3)),
            )
        )
        for j in range(draw(st.integers(1, 4))):
            s = draw(st.sampled_from(["s1", "s2"]))
            g = draw(GPUS)
            mode = "rent" if s == "s2" and systems[1].rent and draw(st.booleans()) else "own"
            rows.append(
                cand(
                    wid,
                    s,
                    "a1" if s == "s1" else "a2",
                    gpus=g,
                    out=draw(st.floats(200, 4000)) * g,
                    watts=draw(st.floats(200, 700)) * g,
                    batch=j + 1,
                    mode=mode,
                )
            )
    racks = [rack("air", draw(st.sampled_from([17.0, 40.0])), 42, count=draw(st.none() | st.integers(1, 10)))]
    inst = instance(
        wls,
        systems,
        racks if draw(st.booleans()) else (),
        power_limit_kw=draw(st.none() | st.floats(20, 500)),
        capex=draw(st.none() | st.floats(2e5, 3e6)),
    )
    inst.objective = draw(st.sampled_from(["min_cost", "min_cost", "max_throughput", "max_tokens_per_dollar"]))
    if inst.objective != "min_cost":
        inst.demand_cap_multiple = 1.5
    return inst, table(*rows).drop_duplicates("key")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_random_problems_solve_or_explain(case):
    inst, cands = case
    try:
        out = solve_candidates(inst, cands, runner_up=False)
    except InfeasibleError as exc:
        assert str(exc).strip()
        return
    assert out.verify.ok, out.verify.violations
    assert out.plan.status in ("optimal", "feasible_time_limit")
