"""optimize.task_pair: the results come back in the tasks' order whoever computed them, the helper really takes
some, and a helper that fails or dies leaves its tasks to the parent."""

from __future__ import annotations

import os
import signal

import pytest

from planner.optimize.task_pair import TaskPair

PARENT = os.getpid()


def square(task):
    return task * task, os.getpid()


def test_results_in_order_and_shared_with_the_helper():
    with TaskPair(square, helper=True) as pair:
        helper = pair.pid
        got = [pair.map(list(range(n))) for n in (0, 1, 2, 30)]
    for n, out in zip((0, 1, 2, 30), got, strict=True):
        assert [r for r, _ in out] == [t * t for t in range(n)]
    pids = {pid for out in got for _, pid in out}
    assert pids == {PARENT, helper}  # both took tasks
    with pytest.raises(ChildProcessError):  # closed and reaped
        os.waitpid(helper, os.WNOHANG)


def test_without_a_helper_the_parent_does_everything():
    with TaskPair(square, helper=False) as pair:
        assert pair.pid is None
        out = pair.map(list(range(5)))
    assert out == [(t * t, PARENT) for t in range(5)]


def failing_in_the_helper(task):
    if os.getpid() != PARENT:
        raise RuntimeError("helper trouble")
    return task + 1


def test_a_failing_helper_leaves_its_tasks_to_the_parent():
    with TaskPair(failing_in_the_helper, helper=True) as pair:
        assert pair.map(list(range(10))) == list(range(1, 11))
        assert pair.pid is None  # given up
        assert pair.map([5]) == [6]


def dying_in_the_helper(task):
    if os.getpid() != PARENT:
        os.kill(os.getpid(), signal.SIGKILL)
    return -task


def test_a_dead_helper_leaves_its_tasks_to_the_parent():
    with TaskPair(dying_in_the_helper, helper=True) as pair:
        assert pair.map(list(range(6))) == [-t for t in range(6)]
        assert pair.pid is None
