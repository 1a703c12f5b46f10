"""Run independent re-solves in a forked worker process while the main solve runs.

`planner solve` answers more than the optimum: what the buyer's requirements cost (price_of: the optimum without
them), which platform earns most (platforms: one solve per accelerator) and the runner-up (the best plan without
the main accelerator). The first two do not depend on the main plan and the runner-up can start on a guess, so
they run in a worker started before the main solve: on two cores the side solves cost little wall time. Every
solve stays single-threaded, so the results are those of running them one after the other (the same models, the
same solvers), byte for byte.

The work is a generator: each item it yields reaches the parent as soon as it is ready (`next`). The worker lives
in a process group of its own and solves in-process (no solver grandchild in a group the parent would not kill);
whatever happens in the parent (result, exception, Ctrl-C), the group is killed on the way out. Where the worker
fails or `fork` is not available, the generator runs in the parent instead (skipping the items already
received), with the same items.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal

from planner.optimize import backends

_ITEM, _FAILED = "item", "failed"


def _worker(conn, steps, args) -> None:
    backends.child_signals()  # the parent decides; it kills this group when it stops
    os.environ["PLANNER_SOLVE_IN_PROCESS"] = "1"  # solve here: the group kill then reaches the solver too
    try:
        for item in steps(*args):
            conn.send((_ITEM, item))
    except BaseException as exc:  # the parent re-runs the work itself and meets the error there
        with contextlib.suppress(Exception):
            conn.send((_FAILED, repr(exc)))
    finally:
        conn.close()


def worth_a_worker() -> bool:
    """A worker pays where solves may fork and a second CPU is there to run it."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return backends.isolated() and cpus >= 2


class Background:
    """The items of the generator `steps(*args)`, computed in a worker started now (or here, on demand)."""

    def __init__(self, steps, *args, use_worker: bool = True) -> None:
        self.steps, self.args = steps, args
        self.proc = self.conn = None
        self.local = None  # the generator, where it runs in this process
        self.received = 0
        if not (use_worker and backends.isolated()):
            return
        ctx = multiprocessing.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker, args=(send, steps, args), daemon=True)
        try:
            with backends.stop_signals_held():
                self.proc.start()
                with contextlib.suppress(OSError):
                    os.setpgid(self.proc.pid, self.proc.pid)
        finally:
            send.close()
        self.conn = recv

    def next(self):
        """The next item (StopIteration after the last)."""
        if self.local is None and self.proc is not None:
            got = self._from_worker()
            if got is not None and got[0] == _ITEM:
                self.received += 1
                return got[1]
            self.cancel()
        if self.local is None:
            self.local = self.steps(*self.args)
            for _ in range(self.received):
                next(self.local)
        return next(self.local)

    def _from_worker(self):
        while True:
            if self.conn.poll(0.05):
                try:
                    return self.conn.recv()
                except (EOFError, OSError):
                    return None
            if not self.proc.is_alive() and not self.conn.poll(0):
                return None

    def cancel(self) -> None:
        """Kill the worker's process group (idempotent)."""
        if self.proc is None:
            return
        for kill in (lambda: os.killpg(self.proc.pid, signal.SIGKILL), self.proc.kill):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                kill()
        self.proc.join(timeout=5)
        with contextlib.suppress(OSError):
            self.conn.close()
        self.proc = self.conn = None
