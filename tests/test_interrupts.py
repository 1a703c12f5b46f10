"""Ctrl-C and SIGTERM during a solve (issue 13): exit 130 with "interrupted", no plan written, the previous
plan.json marked stale, and no solver process left behind (CBC runs as a process of its own)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner import interrupts
from planner.optimize.backends import available_backends

ROOT = Path(__file__).resolve().parents[1]
SLOW = ROOT / "tests" / "data" / "slow-solve.yaml"  # ~2 s of candidates, then a MIP of a minute or more


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to watch the solver processes")
@pytest.mark.parametrize(("backend", "signum"), [("scip", signal.SIGINT), ("cbc", signal.SIGTERM)])
def test_signal_during_solve_exits_130_without_a_plan(tmp_path, backend, signum):
    if backend not in available_backends():
        pytest.skip(f"{backend} not available")
    out = tmp_path / "out"
    out.mkdir()
    (out / "plan.json").write_text('{"from": "an earlier run"}')
    proc = subprocess.Popen(
        [sys.executable, "-c", "from planner.cli import main; main()", "solve", str(SLOW), "--backend", backend,
         "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _children(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # the solve starts when the planner forks its solver process
        assert proc.poll() is None, "the solve finished before it could be interrupted"
        time.sleep(0.3)
        solvers = _descendants(proc.pid)
        t0 = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert took < 5, f"took {took:.1f} s to stop"
    assert sorted(p.name for p in out.iterdir()) == ["plan.json.stale"]  # no plan, no temporary file
    deadline = time.monotonic() + 5
    while any(_running(p) for p in solvers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in solvers if _running(p)], "a solver process outlived the planner"


def test_in_process_solving_can_be_chosen(monkeypatch):
    from planner.optimize import isolation

    monkeypatch.setenv("PLANNER_SOLVE_IN_PROCESS", "1")
    assert not isolation.isolated()
    monkeypatch.delenv("PLANNER_SOLVE_IN_PROCESS")
    assert isolation.isolated() == hasattr(os, "fork")


class _SignalsItselfWhenCollected:
    """A finalizer interrupted by SIGTERM: Python prints "Exception ignored" and drops the KeyboardInterrupt."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between bytecodes, inside this finalizer
            pass


def _swallowed_stop() -> None:
    obj = _SignalsItselfWhenCollected()
    del obj


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped one
def test_an_interrupt_dropped_in_a_finalizer_still_stops_the_command(tmp_path):
    from planner.cli.common import INTERRUPTED_EXIT, handle_errors
    from planner.outputs import write_atomic

    target = tmp_path / "plan.json"

    @handle_errors
    def command():
        _swallowed_stop()  # the planner goes on, as it would have before
        write_atomic(target, "{}")

    with pytest.raises(SystemExit) as exc:
        command()
    assert exc.value.code == INTERRUPTED_EXIT
    assert list(tmp_path.iterdir()) == []  # no result and no temporary file
    assert signal.getsignal(signal.SIGTERM) is not interrupts.on_stop_signal  # handlers restored


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped one
def test_a_command_that_writes_nothing_exits_130_after_a_dropped_interrupt():
    from planner.cli.common import INTERRUPTED_EXIT, handle_errors

    @handle_errors
    def command():
        _swallowed_stop()
        return "done"

    with pytest.raises(SystemExit) as exc:
        command()
    assert exc.value.code == INTERRUPTED_EXIT


def test_the_wait_on_a_solver_process_stops_after_a_dropped_interrupt():
    from planner.optimize import isolation

    if not isolation.isolated():
        pytest.skip("solves run in-process here")
    interrupts.reset()
    with contextlib.suppress(KeyboardInterrupt):
        interrupts.on_stop_signal(signal.SIGTERM, None)  # what a finalizer would have swallowed
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            isolation.run_isolated(str, time.sleep, 30)
    finally:
        interrupts.reset()
    assert time.monotonic() - t0 < 5
