"""Two shares of one computation at once, the second in a forked child process: candidate building's
performance evaluation on the machine's second core (`planner.optimize.evaluation`).

A plain `os.fork` (no pool, nothing re-imported: the child starts with this process's modules, catalog and
caches), one pipe back, the child reaped before `both` returns, whatever happens: no process outlives the call,
so none is left when the optimizer starts its own workers. The child runs in a process group of its own, deaf to
Ctrl-C (the parent decides and kills it). When the child fails in any way (an exception, a crash, a result that
does not pickle), the parent computes its share itself: the same result, or the same exception (a
`PlannerError` included) raised in the parent with its own traceback.

PLANNER_CANDIDATE_PROCESSES: `1` keeps everything in one process (determinism checks, profiling); `2` forks
whenever there is something to split (tests of the forked path on small grids); unset: fork where it pays (the
caller's threshold) and is safe: Linux, a second CPU in this process's affinity and idle now (fewer processes
running or ready to run than CPUs, this one included: on a saturated machine the child only waits for a CPU;
measured 2026-12-01 at load ~6 on 2 cores: mixed-fleet 1.1 s -> 1.7 s of wall, forked), no other Python
thread (a fork copies only the calling thread: a lock another thread holds would stay held in the child), and
not inside a worker process already (sweeps and proposals run one solve per core).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from planner.optimize import isolation

ENV = "PLANNER_CANDIDATE_PROCESSES"
# (CPU seconds of here(), of the child) per fork since last emptied: read by benchmarks/bench_candidates.py, which
# empties it before each candidate build (only `both` sees the child's CPU time, from its rusage)
# the newest forks CPU_SHARES keeps: a build forks at most once per evaluate_grid call (three a build), so the
# benchmark loses nothing; the bound keeps a long-lived process (a library caller's loop of solves) from growing it
CPU_SHARES_KEPT = 100
CPU_SHARES: deque[tuple[float, float]] = deque(maxlen=CPU_SHARES_KEPT)

A = TypeVar("A")
B = TypeVar("B")


def setting() -> int | None:
    """1 (one process), 2 (fork whenever there is something to split) or None (where it pays)."""
    value = os.environ.get(ENV, "").strip()
    return int(value) if value in ("1", "2") else None


def available(busy: bool = True) -> bool:
    """Whether a fork is possible and safe here (see the module docstring); `busy`: and pays, i.e. a CPU is
    idle now (on a saturated machine the child only waits for a CPU)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    if threading.active_count() > 1 or multiprocessing.parent_process() is not None:
        return False
    cpus = len(os.sched_getaffinity(0))
    return cpus >= 2 and not (busy and _running() >= cpus)


def _running() -> int:
    """Processes running or ready to run now, this one included (/proc/loadavg's fourth field; where it cannot
    be read, unknown counts as busy: one process, never a traceback (os.getloadavg reads the same file))."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return sys.maxsize


def both(here: Callable[[], A], there: Callable[[], B]) -> tuple[A, B]:
    """(here(), there()), there() computed in a forked child while here() runs in this process."""
    read_fd, write_fd = os.pipe()
    try:
        with isolation.stop_signals_held():  # an interrupt delivered inside the fork's hooks would be dropped
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
                _child(read_fd, write_fd, there)
    except OSError:  # no fork to be had (process or memory limits): both shares here
        os.close(read_fd)
        os.close(write_fd)
        return here(), there()
    os.close(write_fd)
    done = False
    try:
        cpu_s = time.process_time()
        mine = here()
        cpu_s = time.process_time() - cpu_s
        with os.fdopen(read_fd, "rb", closefd=False) as pipe:
            payload = pipe.read()
        _, status, usage = os.wait4(pid, 0)
        done = True
    finally:
        os.close(read_fd)
        if not done:  # an exception or an interrupt here: the child's share is not needed any more
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    CPU_SHARES.append((cpu_s, usage.ru_utime + usage.ru_stime))
    if status == 0 and payload:
        with contextlib.suppress(Exception):
            return mine, pickle.loads(payload)
    return mine, there()  # the child failed: its share here (the same result, or the same exception)


def _child(read_fd: int, write_fd: int, there: Callable[[], B]) -> None:  # pragma: no cover - runs in the child
    """Compute `there()`, send it pickled, exit without running the parent's exit handlers (exit status 1:
    failed, nothing or part of a result sent)."""
    code = 1
    try:
        os.close(read_fd)
        isolation.child_signals()
        gc.disable()  # a short life: no collection walking (and so copying) the parent's pages
        payload = pickle.dumps(there(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(payload)
        code = 0
    except BaseException:  # the parent computes the share itself and meets the error there
        pass
    finally:
        os._exit(code)


__all__ = ["ENV", "available", "both", "setting"]
