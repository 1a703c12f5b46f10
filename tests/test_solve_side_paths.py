"""The speed paths around the MIP (issue 7): the side re-solves in a worker, the runner-up started on a guess,
and the resuming first-fit placement. Each must give exactly what the plain path gives."""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.optimize import background, failure, side
from planner.optimize.background import Background, WorkerLost
from planner.optimize.pipeline import solve_candidates
from tests.optimize_fixtures import cand, instance, system, table, workload


def _first_fit_by_scan(deployments, servers, domain_of, gpus_of):
    """The plain first-fit-decreasing the planner used before: every search scans the servers from the first."""
    out = []
    for (s, mode), n in sorted(servers.items()):
        G, D = gpus_of(s), domain_of(s)
        full, rest = divmod(G, D)
        bins = [[D] * full + ([rest] if rest else []) for _ in range(n)]
        deps = [dict() for _ in range(n)]
        items = [(d.group_gpus, d.gpus_per_replica // max(d.group_gpus, 1), d.key)
                 for d in sorted((d for d in deployments if (d.system, d.mode) == (s, mode)), key=lambda d: d.key)
                 for _ in range(d.replicas)]
        items.sort(key=lambda it: (-it[0] * it[1], -it[0], it[2]))
        for g, count, key in items:
            touched = None
            for j in range(n):
                free = list(bins[j])
                for _ in range(count):
                    k = next((b for b, f in enumerate(free) if f >= g), None)
                    if k is None:
                        break
                    free[k] -= g
                else:
                    bins[j], touched = free, [j]
                    break
            if touched is None:
                touched = []
                for _ in range(count):
                    for j in range(n):
                        k = next((b for b, f in enumerate(bins[j]) if f >= g), None)
                        if k is not None:
                            bins[j][k] -= g
                            touched += [] if j in touched else [j]
                            break
            for j in touched:
                deps[j][key] = deps[j].get(key, 0) + 1
        out.extend({"system": s, "mode": mode, "deployments": dd} for dd in deps)
    return out


deployment = st.builds(
    lambda k, g, mult, reps, s, mode: SimpleNamespace(key=f"k{k}", group_gpus=g, gpus_per_replica=g * mult,
                                                      replicas=reps, system=s, mode=mode),
    st.integers(0, 6), st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2, 3]), st.integers(0, 14),
    st.sampled_from(["a", "b"]), st.sampled_from(["own", "rent"]),
)


SYSTEM_MODE = st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["own", "rent"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(deployment, max_size=6, unique_by=lambda d: d.key),
       st.dictionaries(SYSTEM_MODE, st.integers(0, 12)),
       st.sampled_from([(8, 8), (8, 4), (4, 2), (72, 72), (6, 4)]))
def test_resuming_first_fit_places_exactly_as_the_plain_scan(deps, servers, shape_b):
    gpus, domain = {"a": 8, "b": shape_b[0]}, {"a": 8, "b": shape_b[1]}
    assert failure.pack_placement(deps, servers, domain.get, gpus.get) == _first_fit_by_scan(
        deps, servers, domain.get, gpus.get)


def _steps(parent_pid: int, die_after: int | None):
    for k in range(4):
        if die_after is not None and k == die_after and os.getpid() != parent_pid:
            os._exit(3)  # the worker dies mid-way
        yield {"item": k, "square": k * k}


def test_background_sends_the_items_then_reports_a_lost_worker():
    want = [{"item": k, "square": k * k} for k in range(4)]
    bg = Background(_steps, os.getpid(), None)
    try:
        assert [bg.next() for _ in range(4)] == want
        with pytest.raises(WorkerLost):  # the generator has ended: the worker is gone
            bg.next()
    finally:
        bg.cancel()
    bg = Background(_steps, os.getpid(), 2)
    try:
        assert [bg.next() for _ in range(2)] == want[:2]
        with pytest.raises(WorkerLost):
            bg.next()
    finally:
        bg.cancel()


def _two_platforms():
    inst = instance(
        [workload("chat", 6000, min_replicas=2), workload("code", 3000)],
        [system("h100", "h100", price=250_000), system("h200", "h200", price=330_000)],
    )
    cands = table(
        cand("chat", "h100", "h100", gpus=2, out=1500, watts=1000),
        cand("chat", "h100", "h100", gpus=4, out=2900, watts=1900, tp=4),
        cand("chat", "h200", "h200", gpus=1, out=1000, watts=600),
        cand("chat", "h200", "h200", gpus=4, out=3800, watts=2300, tp=4),
        cand("code", "h100", "h100", gpus=4, out=1400, watts=2000),
        cand("code", "h200", "h200", gpus=8, out=3300, watts=4500),
        cand("code", "h200", "h200", gpus=2, out=800, watts=1100),
    )
    return dataclasses.replace(inst, max_configs_per_workload=1), cands


def _plan_parts(plan):
    return plan.runner_up, plan.price_of, plan.deployments, plan.objective_value


def test_side_solves_give_the_same_plan_whatever_the_guess_the_schedule_or_a_dying_worker(monkeypatch):
    inst, cands = _two_platforms()
    assert side.relaxations(inst)  # the side worker runs and guesses
    if not background.worth_a_worker():
        pytest.skip("needs fork and two CPUs for the side worker")
    monkeypatch.setenv("PLANNER_SOLVE_IN_PROCESS", "1")  # no worker: everything in this process, in order
    plain = solve_candidates(inst, cands).plan
    monkeypatch.delenv("PLANNER_SOLVE_IN_PROCESS")
    assert _plan_parts(solve_candidates(inst, cands).plan) == _plan_parts(plain)
    main = plain.runner_up.excluded_accelerator
    other = "h100" if main == "h200" else "h200"
    for guess in (main, other, "no-such-accelerator"):
        monkeypatch.setattr(side, "solution_gpus", lambda sol, g=guess: Counter({g: 8}))
        assert _plan_parts(solve_candidates(inst, cands).plan) == _plan_parts(plain), guess
    monkeypatch.undo()
    parent, real = os.getpid(), side.solve_without

    def dies_in_the_worker(*args):
        if os.getpid() != parent:
            os._exit(3)
        return real(*args)

    monkeypatch.setattr(side, "solve_without", dies_in_the_worker)
    assert _plan_parts(solve_candidates(inst, cands).plan) == _plan_parts(plain)


def test_verified_before_the_side_results_then_their_figures_alone(monkeypatch):
    """`planner solve` verifies the plan while the side worker still solves the runner-up and price_of, then
    checks their figures once they are in: together every check `verify_plan` makes of the finished plan (one
    more: the side figures' own finiteness check), and a forged side figure still fails."""
    from planner.optimize.verify import verify_plan, verify_side_figures

    inst, cands = _two_platforms()
    out = solve_candidates(inst, cands)
    assert out.plan.runner_up is not None and out.plan.runner_up.objective_value is not None
    assert out.plan.price_of
    whole = verify_plan(out.plan, inst)
    assert whole.ok and out.verify.ok
    assert out.verify.checks == whole.checks + 1
    side_only = verify_side_figures(out.plan)
    assert side_only.ok and side_only.checks == 1 + 2 + 2 * len(out.plan.price_of)
    forged = out.plan.model_copy(deep=True)
    forged.runner_up.difference += 1.0
    forged.price_of["limits"].add_usd_per_hour += 1.0
    bad = verify_side_figures(forged)
    assert not bad.ok and len(bad.violations) == 3  # the difference, the price and its share
    forged.runner_up.difference = float("nan")
    assert verify_side_figures(forged).violations == ["not finite numbers: runner_up.difference"]


def test_the_parent_takes_the_tasks_the_worker_has_not_started_while_the_runner_up_is_solved(monkeypatch):
    """Where the guess is a solve of its own (several requirements in force) and the worker is slow to start
    its tasks, the parent, done with the main plan, takes the price_of relaxation while the worker solves the
    runner-up: the same plan as everything in one process, and the task solved once, by the parent."""
    inst, cands = _two_platforms()
    if not background.worth_a_worker():
        pytest.skip("needs fork and two CPUs for the side worker")
    monkeypatch.setenv("PLANNER_SOLVE_IN_PROCESS", "1")
    plain = solve_candidates(inst, cands).plan
    monkeypatch.delenv("PLANNER_SOLVE_IN_PROCESS")
    parent, runs = os.getpid(), []
    real_run, real_claim = side.SideSolves.run, side.SideSolves._claim

    def run(self, k):
        runs.append((k, os.getpid() == parent))
        return real_run(self, k)

    def slow_claim(self, k, who):  # the worker reaches its tasks late: the parent is done first
        if os.getpid() != parent:
            time.sleep(1.0)
        return real_claim(self, k, who)

    both = lambda s: (side.without_survive(side.without_limits(s.inst)), None)  # noqa: E731
    monkeypatch.setattr(side, "_guess_instance", both)
    monkeypatch.setattr(side.SideSolves, "run", run)
    monkeypatch.setattr(side.SideSolves, "_claim", slow_claim)
    assert _plan_parts(solve_candidates(inst, cands).plan) == _plan_parts(plain)
    assert runs == [(0, True)]  # the parent's own list: the worker's runs happen in its process


def _warm_started_two_platforms(monkeypatch):
    """`_two_platforms` with a requirement that calls for a warm start (the guess comes from its plan), and its
    plan solved with everything in one process, in order (no side processes)."""
    inst, cands = _two_platforms()
    inst = dataclasses.replace(inst, max_platforms=1)
    if not background.worth_a_worker():
        pytest.skip("needs fork and two CPUs for the side processes")
    assert side.needs_warm_start(inst) and len(side.relaxations(inst)) == 1
    probe = side.SideSolves(inst, cands, "scip", None)
    try:
        assert probe.early is not None  # the runner-up's process starts
    finally:
        probe.cancel()
    monkeypatch.setenv("PLANNER_SOLVE_IN_PROCESS", "1")
    plain = solve_candidates(inst, cands).plan
    monkeypatch.delenv("PLANNER_SOLVE_IN_PROCESS")
    assert plain.runner_up is not None and plain.runner_up.objective_value is not None
    return inst, cands, plain


def test_the_early_runner_up_gives_the_sequential_record_and_a_wrong_guess_is_solved_again(monkeypatch):
    """The runner-up's process starts on the accelerator the relaxation's warm start leans on. Where that is the
    main plan's accelerator, its record is the one of everything in one process and the parent solves no
    runner-up; where it is another, the parent solves the runner-up without the right one itself: the same
    record again."""
    inst, cands, plain = _warm_started_two_platforms(monkeypatch)
    main = plain.runner_up.excluded_accelerator
    parent, real_without = os.getpid(), side.solve_without
    solved_here: list[str] = []  # the parent's runner-up solves (the processes' own go to their copies)

    def without(inst, cands, backend, time_limit_s, acc):
        if os.getpid() == parent:
            solved_here.append(acc)
        return real_without(inst, cands, backend, time_limit_s, acc)

    monkeypatch.setattr(side, "solve_without", without)
    for guess, again in ((main, []), ("h100" if main == "h200" else "h200", [main])):
        monkeypatch.setattr(side, "values_gpus", lambda ix, values, g=guess: Counter({g: 8}))
        solved_here.clear()
        assert _plan_parts(solve_candidates(inst, cands).plan) == _plan_parts(plain), guess
        assert solved_here == again, guess


def test_the_worker_goes_on_once_the_main_solve_leaves_it_a_cpu(monkeypatch, tmp_path):
    """After its guess the worker waits to go on with the relaxation until the main solve is over or the
    runner-up's process is done with the runner-up (two CPUs, two long solves at a time): here the runner-up
    takes long, so the relaxation goes on only after the main solve; the plan is the one of everything in one
    process."""
    inst, cands, plain = _warm_started_two_platforms(monkeypatch)
    log = tmp_path / "events"
    parent = os.getpid()

    def note(event: str) -> None:
        with open(log, "a") as f:
            f.write(f"{event} {time.monotonic()}\n")

    real_relaxed, real_main_solved, real_without = (side.SideSolves.solve_relaxed, side.SideSolves.main_solved,
                                                    side.solve_without)

    def solve_relaxed(self, relaxed, on_start=None):
        def go_on(ix, values):
            on_start(ix, values)
            note("relaxation-goes-on")
        return real_relaxed(self, relaxed, on_start=go_on if on_start else None)

    def main_solved(self):
        time.sleep(0.5)  # a main solve that takes longer than the worker's start
        note("main-solved")
        real_main_solved(self)

    def slow_without(*args):
        if os.getpid() != parent:
            time.sleep(1.5)  # the runner-up's process: still solving when the main solve ends
        return real_without(*args)

    monkeypatch.setattr(side.SideSolves, "solve_relaxed", solve_relaxed)
    monkeypatch.setattr(side.SideSolves, "main_solved", main_solved)
    monkeypatch.setattr(side, "solve_without", slow_without)
    assert _plan_parts(solve_candidates(inst, cands).plan) == _plan_parts(plain)
    events = dict(line.split() for line in log.read_text().splitlines())
    assert set(events) == {"main-solved", "relaxation-goes-on"}
    assert float(events["relaxation-goes-on"]) >= float(events["main-solved"])


def test_no_runner_up_says_every_side_solve_it_skips():
    """`solve --no-runner-up` also drops price_of (what limits and survive cost) and the platforms table; its
    help named only the runner-up, so a plan without price_of looked like a plan whose limits cost nothing."""
    from pathlib import Path

    from click.testing import CliRunner

    from planner.cli import main

    quick = Path(__file__).resolve().parents[1] / "problems" / "quickstart.yaml"
    res = CliRunner().invoke(main, ["solve", str(quick), "--json", "--no-runner-up"])
    assert res.exit_code == 0, res.output
    assert '"price_of": {}' in res.output and '"runner_up": null' in res.output
    helptext = " ".join(CliRunner().invoke(main, ["solve", "--help"]).output.split())
    assert "(price_of)" in helptext and "per platform" in helptext
