"""Independent tasks shared between this process and one forked helper (the small solves of the class-by-class
solve, `optimize.hourly_split`).

`TaskPair(run)` forks a helper that knows `run` as it is at the fork (nothing is pickled but the tasks and their
results, small tuples); `map(tasks)` computes `run(task)` for every task, the parent and the helper each taking
the next one as they become free, and returns the results in the tasks' order. What a task gives does not depend
on who computed it (every solve is single-threaded and deterministic), so the results do not depend on the
schedule. A helper that fails or dies leaves its task, and every later one, to the parent.

The helper is forked with os.fork: the caller runs in the forked solver child of `isolation.run_isolated` (a
daemon process, which multiprocessing does not let have children). It stays in that child's process group, so
the group kill that ends the child ends the helper too. There is no helper where a second CPU is missing or
where solves run in-process (`background.worth_a_worker`): the parent then runs every task itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from planner.optimize import background

AHEAD = 2  # tasks the helper may hold at once


class TaskPair:
    def __init__(self, run: Callable[[Any], Any], helper: bool | None = None) -> None:
        """`helper`: None forks one where `background.worth_a_worker()` says it pays; True/False forces it."""
        self.run = run
        self.pid: int | None = None
        self.conn = None
        if helper if helper is not None else background.worth_a_worker():
            self._fork()

    def _fork(self) -> None:
        mine, theirs = multiprocessing.Pipe(duplex=True)
        pid = os.fork()
        if pid == 0:  # the helper: serve tasks until told to stop or the parent goes away
            code = 0
            try:
                mine.close()
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
                _serve(theirs, self.run)
            except BaseException:  # never fall back into the parent's code
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        self.pid, self.conn = pid, mine

    def map(self, tasks: Sequence[Any]) -> list[Any]:
        results: list[Any] = [None] * len(tasks)
        queue = deque(range(len(tasks)))
        lent: deque[int] = deque()  # the tasks sent to the helper, in the order it answers them
        while queue or lent:
            # the helper gets one task ahead while the parent still has one of its own (it hears back only between
            # its own tasks; a second task keeps the helper busy meanwhile)
            while self.conn is not None and queue and (not lent or (len(lent) < AHEAD and len(queue) >= 2)):
                if not self._send(tasks[queue[0]]):
                    break
                lent.append(queue.popleft())
            if queue:
                i = queue.popleft()
                results[i] = self.run(tasks[i])
                self._collect(lent, results, queue, wait=False)
            elif lent:
                self._collect(lent, results, queue, wait=True)
        return results

    def _send(self, task) -> bool:
        try:
            self.conn.send(task)
            return True
        except (OSError, ValueError):
            self.close()
            return False

    def _collect(self, lent: deque, results: list, queue: deque, wait: bool) -> None:
        """The helper's answers that are there (`wait`: at least one); if the helper is lost, its tasks go back to
        the queue."""
        while lent:
            try:
                if not (wait or self.conn.poll(0)):
                    return
                ok, out = self.conn.recv()
            except (EOFError, OSError, ValueError):
                ok = False
            if not ok:  # it failed or died: the parent redoes its tasks (and meets the error itself, if any)
                self.close()
                queue.extendleft(reversed(lent))
                lent.clear()
                return
            results[lent.popleft()] = out
            wait = False

    def close(self) -> None:
        """Stop the helper (idempotent) and reap it, so that its CPU time counts as this process's children's."""
        if self.pid is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            self.conn.close()
        self.pid = self.conn = None

    def __enter__(self) -> TaskPair:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve(conn, run: Callable[[Any], Any]) -> None:
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            out = (True, run(task))
        except Exception as exc:
            out = (False, repr(exc))
        conn.send(out)
