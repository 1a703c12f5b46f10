"""verify_economics on forged schedules (the genuine ones: tests/test_profit.py)."""

from __future__ import annotations

from test_profit import BACKENDS, profile_toy

from planner.optimize.pipeline import solve_candidates
from planner.optimize.verify import verify_plan


def test_a_plan_without_its_hourly_schedule_is_refused_not_a_crash():
    """A profile problem's plan with `hourly` dropped: said, and the deployments checked as one fleet (the
    verifier raised IndexError on it before)."""
    inst, cands = profile_toy("max_profit")
    plan = solve_candidates(inst, cands, backend=BACKENDS[0], runner_up=False).plan
    assert plan.hourly
    forged = plan.model_copy(update={"hourly": []})
    report = verify_plan(forged, inst)
    assert not report.ok
    assert "the problem has demand profiles but the plan has no hourly schedule" in report.violations
