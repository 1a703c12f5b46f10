"""Solves in a forked child process of their own, killed as a group.

Each solve runs in a forked child process in a process group of its own. Ctrl-C or SIGTERM reaches only the
planner, which kills the whole group at once (SCIP, HiGHS, and CBC's own subprocess with it) and stops: no
solver library gets to turn an interrupt into "time limit reached", none keeps running for seconds, and none
outlives the planner. Set PLANNER_SOLVE_IN_PROCESS=1 to solve in-process (profiling, debugging).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable
from typing import TypeVar

from planner import interrupts

T = TypeVar("T")


def isolated() -> bool:
    return hasattr(os, "fork") and os.environ.get("PLANNER_SOLVE_IN_PROCESS", "") in ("", "0")


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def stop_signals_held():
    """Hold Ctrl-C and SIGTERM while forking: delivered inside the fork's own hooks, the interrupt would be printed
    and dropped ("Exception ignored"), and the planner would go on solving. Held, it arrives right after."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def child_signals() -> None:
    """In a forked child: its own process group, deaf to Ctrl-C (the parent decides and kills the group), the
    stop signals the fork held released."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    interrupts.reset()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a SIGTERM sent to the parent's group while this child was still in it is pending here (held by the fork):
    # it was meant for the parent, which decides. Ignoring a pending signal discards it; then back to default.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _child(conn, failed, target, args) -> None:
    child_signals()
    try:
        conn.send(target(*args))
    except BaseException as exc:  # report anything to the parent rather than die silently
        conn.send(failed(f"solver process failed: {exc!r}"))
    finally:
        conn.close()


def run_isolated(failed: Callable[[str], T], target: Callable[..., T], *args) -> T:
    """`target(*args)` in a forked child process; the child's process group is killed on the way out,
    whatever happens (result, exception, KeyboardInterrupt). `failed(message)` is the result when the child
    raises or dies without one."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, failed, target, args), daemon=True)
    try:
        with stop_signals_held():
            proc.start()
            with contextlib.suppress(OSError):
                os.setpgid(proc.pid, proc.pid)  # also from this side: no window where a kill would miss the child
        send.close()
        while True:
            interrupts.raise_if_requested()
            if recv.poll(0.05):
                try:
                    return recv.recv()
                except EOFError:  # the child closed its end without a result (poll stays true at EOF: no spin)
                    proc.join()
                    return failed(f"the solver process died (exit code {proc.exitcode})")
            if not proc.is_alive() and not recv.poll(0):
                proc.join()
                return failed(f"the solver process died (exit code {proc.exitcode})")
    finally:
        _kill_group(proc)
        recv.close()


def _kill_group(proc) -> None:
    if proc.pid is None:  # never started
        return
    for kill in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            kill()
    proc.join(timeout=5)
