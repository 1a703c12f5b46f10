"""A generator run in a forked worker process while the parent goes on (the side re-solves of `side.py`).

Each item the generator yields reaches the parent as soon as it is ready (`next`). The worker lives in a process
group of its own and solves in-process (no solver grandchild in a group the parent would not kill); whatever
happens in the parent (result, exception, Ctrl-C), the group is killed on the way out (`cancel`). A worker that
fails or dies raises `WorkerLost` in the parent, which then does the work itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal

from planner import interrupts
from planner.optimize import isolation

_ITEM, _FAILED = "item", "failed"


def _worker(conn, steps, args) -> None:
    isolation.child_signals()  # the parent decides; it kills this group when it stops
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
    return isolation.isolated() and cpus >= 2


class WorkerLost(Exception):
    """The worker died or failed: the parent does what it has not received."""


class Background:
    """The items of the generator `steps(*args)`, computed in a worker started now."""

    def __init__(self, steps, *args) -> None:
        ctx = multiprocessing.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker, args=(send, steps, args), daemon=True)
        self.conn = recv
        try:
            with isolation.stop_signals_held():
                self.proc.start()
                with contextlib.suppress(OSError):
                    os.setpgid(self.proc.pid, self.proc.pid)
        finally:
            send.close()

    def next(self):
        """The next item; WorkerLost when the worker failed, died or was cancelled."""
        if self.proc is None:
            raise WorkerLost("cancelled")
        while True:
            interrupts.raise_if_requested()
            if self.conn.poll(0.05):
                try:
                    kind, item = self.conn.recv()
                except (EOFError, OSError):
                    break
                if kind == _ITEM:
                    return item
                break
            if not self.proc.is_alive() and not self.conn.poll(0):
                break
        self.cancel()
        raise WorkerLost("the side worker stopped")

    def ready(self) -> bool:
        """Whether `next` returns (an item, or WorkerLost) without waiting."""
        return self.proc is None or self.conn.poll(0) or not self.proc.is_alive()

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


def wait_any(workers: list[Background], timeout_s: float = 0.05) -> None:
    """Until one of `workers` has an item (or has ended), at most `timeout_s` (interrupts are checked)."""
    interrupts.raise_if_requested()
    conns = [w.conn for w in workers if w.conn is not None]
    if conns:
        multiprocessing.connection.wait(conns, timeout_s)
