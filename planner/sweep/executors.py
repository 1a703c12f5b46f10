"""Executors: run worker tasks in this process, a local process pool, or on Ray; results come back unordered.

`run(name, arglists, stop)` yields each task's result as it finishes and checks `stop()` between results:
when it turns true, queued tasks are cancelled, running ones are awaited, and their results still come back,
so everything that finished is recorded. Pool workers ignore SIGINT and SIGTERM (a Ctrl-C or a `kill` of the
whole process group is the parent's to handle: it lets them finish the scenario in hand, then shuts them down).

`share(blob)` publishes a candidate set once and returns a small handle that tasks carry instead of the data
(the bytes themselves in this process, a file for the pool, an object reference on Ray).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from planner.errors import InputError, PlannerError
from planner.sweep import worker

Stop = Callable[[], bool]


class WorkerDied(PlannerError):
    """A pool process died (killed from outside, out of memory): the finished scenarios are recorded."""

    exit_code = 1


def _call(name: str, args: tuple):
    return getattr(worker, name)(*args)


class SerialExecutor:
    """In this process (--workers 1): no start-up cost; a stop takes effect after the scenario in progress."""

    def __init__(self, payload: bytes, token: str):
        worker.init(payload)

    def share(self, blob: bytes):
        return blob

    def run(self, name: str, arglists: list[tuple], stop: Stop) -> Iterator:
        for args in arglists:
            if stop():
                return
            yield _call(name, args)

    def close(self) -> None:
        pass


def _pool_init(payload: bytes, close_fds: tuple[int, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for fd in close_fds:  # the ledger lock: it must die with the parent, not live on in its forked workers
        with contextlib.suppress(OSError):
            os.close(fd)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    worker.init(payload)


def _exit_with_parent(parent: int) -> None:
    """A parent killed outright (SIGKILL) never shuts its pool down, and the pool's queues stay open in the
    sibling workers: without this an orphaned worker would wait for tasks forever."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class LocalExecutor:
    """A process pool; each process keeps the sweep, the catalog and its candidate sets between tasks."""

    def __init__(self, payload: bytes, token: str, workers: int, close_fds: tuple[int, ...] = ()):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # fork: workers start with planner already imported (the parent runs no solver threads before this)
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                        initializer=_pool_init, initargs=(payload, close_fds))
        self.tmp = Path(tempfile.mkdtemp(prefix="planner-sweep-"))
        self.shared = 0

    def share(self, blob: bytes) -> str:
        self.shared += 1
        path = self.tmp / f"candidates-{self.shared}.pkl"
        path.write_bytes(blob)
        return str(path)

    def run(self, name: str, arglists: list[tuple], stop: Stop) -> Iterator:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        pending = {self.pool.submit(_call, name, args) for args in arglists}
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
                if stop():
                    for f in pending:
                        f.cancel()
                    while pending:  # the running ones finish (workers ignore the signal) and are recorded
                        done, pending = wait(pending, timeout=0.5)
                        for f in done:
                            if not f.cancelled():
                                yield f.result()
                    return
        except BrokenProcessPool:
            for f in pending:
                f.cancel()
            raise WorkerDied("a worker process died (killed from outside, or out of memory); the finished "
                             "scenarios are recorded: rerun with --resume") from None

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _ray_call(payload, token: str, name: str, args: tuple):
    worker.ensure(payload, token)
    return _call(name, args)


class RayExecutor:
    """Ray tasks: a running cluster at `address`, else a local Ray runtime with `workers` CPUs."""

    def __init__(self, payload: bytes, token: str, workers: int, address: str | None):
        try:
            import ray
        except ImportError:
            raise InputError("--executor ray needs Ray: pip install 'planner[ray]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            kw = {"address": address} if address else {"num_cpus": workers}
            try:
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise InputError(f"--ray-address {address}: cannot connect to Ray: {exc}") from None
        self.remote = ray.remote(max_retries=2)(_ray_call)
        self.payload = ray.put(payload)  # shipped once per node, not once per task
        self.token = token

    def share(self, blob: bytes):
        return self.ray.put(blob)

    def run(self, name: str, arglists: list[tuple], stop: Stop) -> Iterator:
        ray = self.ray
        refs = [self.remote.remote(self.payload, self.token, name, args) for args in arglists]
        while refs:
            done, refs = ray.wait(refs, num_returns=1, timeout=0.2)
            for r in done:
                yield ray.get(r)
            if stop():
                for r in refs:
                    ray.cancel(r)
                return

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def make_executor(kind: str, payload: bytes, token: str, workers: int, address: str | None,
                  close_fds: tuple[int, ...] = ()):
    """`close_fds`: descriptors forked workers must not keep open (the ledger lock)."""
    if kind == "ray":
        return RayExecutor(payload, token, workers, address)
    if address:
        raise InputError("--ray-address needs --executor ray")
    if workers <= 1:
        return SerialExecutor(payload, token)
    return LocalExecutor(payload, token, workers, close_fds)
