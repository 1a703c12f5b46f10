"""Run independent re-solves in a forked worker process while the main solve runs.

`planner solve` answers more than the optimum: what the buyer's requirements cost (price_of: the optimum without
them) and which platform earns most (platforms: one solve per accelerator). Neither depends on the main plan, so
they run in a worker started before the main solve and collected after it: on two cores the side solves cost
little wall time. Every solve stays single-threaded, so the results are those of running them one after the
other (the same models, the same solvers), byte for byte.

The worker lives in a process group of its own and solves in-process (no solver grandchild in a group the parent
would not kill); whatever happens in the parent (result, exception, Ctrl-C), the group is killed on the way out.
Where the worker fails or `fork` is not available, the work runs in the parent instead, with the same result.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time

from planner.optimize import backends

_FAILED = "__planner_background_failed__"


def _worker(conn, target, args) -> None:
    backends.child_signals()  # the parent decides; it kills this group when it stops
    os.environ["PLANNER_SOLVE_IN_PROCESS"] = "1"  # solve here: the group kill then reaches the solver too
    try:
        t0 = time.perf_counter()
        out = target(*args)
        conn.send((out, time.perf_counter() - t0))
    except BaseException as exc:  # the parent re-runs the work itself and meets the error there
        with contextlib.suppress(Exception):
            conn.send((_FAILED, repr(exc)))
    finally:
        conn.close()


class Background:
    """`target(*args)` started now in a worker (or deferred to `result()` where workers are not used)."""

    def __init__(self, target, *args) -> None:
        self.target, self.args = target, args
        self.proc = self.conn = None
        self.seconds = 0.0  # time the work took (in the worker, or in the parent when it ran there)
        if not backends.isolated():
            return
        ctx = multiprocessing.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker, args=(send, target, args), daemon=True)
        try:
            with backends.stop_signals_held():
                self.proc.start()
                with contextlib.suppress(OSError):
                    os.setpgid(self.proc.pid, self.proc.pid)
        finally:
            send.close()
        self.conn = recv

    def result(self):
        """The target's return value; runs it here if the worker failed or none was started."""
        try:
            got = self._from_worker()
        finally:
            self.cancel()
        if got is not None and not (isinstance(got[0], str) and got[0] == _FAILED):
            out, self.seconds = got
            return out
        t0 = time.perf_counter()
        out = self.target(*self.args)
        self.seconds = time.perf_counter() - t0
        return out

    def _from_worker(self):
        if self.proc is None:
            return None
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
