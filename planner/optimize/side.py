"""The side re-solves of `planner solve`, shared between the parent and processes beside the main solve.

Besides the optimum a plan reports what the buyer's requirements cost (price_of: the optimum without the
simplicity limits, without survive), which platform earns most (platforms, max_profit) and the runner-up (the
best plan without the main accelerator). None of these needs the main plan except the runner-up, which needs
only the name of the main accelerator. Where a second CPU is there (`background.worth_a_worker`), a worker
starts before the main solve and guesses the main accelerator: the one the optimum without every requirement
puts most GPUs on (that solve is the price_of relaxation itself where only one requirement is in force), as
soon as a plan names it: the warm start of that solve where it has one, else its optimum.
  - Where the guess comes from the warm start of a relaxation the worker then goes on solving (one requirement
    in force, `needs_warm_start`: mixed-fleet, 0.2 s into a 0.6 s solve; it named the final accelerator on
    every example), a second process, the runner-up's, starts with the worker, waits for the guess and solves
    the runner-up without it. The worker, having sent the guess, waits until the main solve or the runner-up
    is over (two long solves on two CPUs; the parent's verify is short) and goes on with its tasks.
  - Elsewhere the guess ends the worker's first solve (its optimum, or the start of a solve for the guess
    alone): the worker solves the runner-up itself, then its tasks (a process more only cost: quickstart and
    simplicity-and-failure-domains 0.03-0.2 s slower with it).
The parent solves the main plan, verifies it, solves the runner-up itself if the guess was wrong (else it takes
the tasks the worker has not started while the runner-up is solved), and then takes the tasks still left. Each
task is claimed once (a flag per task, shared across the fork), so no work is done twice. Every solve is
single-threaded and deterministic, so whoever computes an item computes the same item: the plan does not depend
on the schedule. A process that dies is replaced by the parent doing the rest.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time

import pandas as pd

from planner.optimize import backends, background
from planner.optimize.instance import Instance
from planner.optimize.platforms import compare_platforms, platforms_compared
from planner.optimize.price_of import relaxations, relaxed_result, without_limits, without_survive
from planner.optimize.runner_up import main_accelerator, solution_gpus, solve_without, values_gpus
from planner.optimize.solve import needs_warm_start, solve_instance

WORKER, PARENT = 1, 2


def needed(inst: Instance, cands: pd.DataFrame) -> bool:
    return bool(relaxations(inst)) or bool(platforms_compared(inst, cands))


class SideSolves:
    """Started before the main solve; `runner_up(main)` and `results()` after it."""

    def __init__(self, inst: Instance, cands: pd.DataFrame, backend: str, time_limit_s: float | None) -> None:
        self.inst, self.cands, self.backend, self.time_limit_s = inst, cands, backend, time_limit_s
        self.tasks: list[tuple[str, Instance | None]] = relaxations(inst)
        if platforms_compared(inst, cands):
            self.tasks.append(("platforms", None))
        self.done: dict[int, tuple] = {}  # task -> (result, seconds)
        self.guess: str | None = None
        self.alt: tuple | None = None  # the runner-up without the guess
        self.worker = self.early = None  # the worker (guess, tasks), the runner-up's process
        self.cpu_free = None  # where both run: a CPU free for the worker's next solve
        use_worker = background.worth_a_worker()
        self.guess_known = not use_worker  # else a message of the worker or the runner-up's process
        if use_worker:
            # the solver library imported once, here, before the forks: else the worker and the runner-up's
            # process each import it (OR-Tools ~0.1 s, PuLP ~0.3 s), the runner-up's on the way to the plan
            backends.preload_solver(backend)
            ctx = multiprocessing.get_context("fork")
            self.claims = ctx.Array("b", max(len(self.tasks), 1))
            self.guess_from = _guess_instance(self)  # the forked worker reads it
            guess_inst, task = self.guess_from
            if guess_inst is None:  # nothing to guess from (platforms only): the parent solves it
                self.guess_known = True
            if task is None or not needs_warm_start(inst):  # the guess ends its solve: the worker goes on
                self.worker = background.Background(_worker_steps, self, None)  # with the runner-up
                return
            # the guess comes from the start of a price_of relaxation: the runner-up's process starts on it
            # while the worker solves the rest of that relaxation
            guess_recv, guess_send = ctx.Pipe(duplex=False)
            self.cpu_free = ctx.Event()  # the main solve or the runner-up is done (`_worker_steps`)
            try:  # forked: each sees this object as it is now
                self.early = background.Background(_runner_up_steps, self, guess_recv, guess_send)
                self.worker = background.Background(_worker_steps, self, guess_send)
            finally:  # the worker holds the only sending end left: its death is the runner-up's EOF
                guess_recv.close()
                guess_send.close()
        else:
            self.claims = [0] * len(self.tasks)

    # ------------------------------------------------------------------------------------------ parent side
    def main_solved(self) -> None:
        """The main solve is over: its CPU is free for the worker's tasks (the verify that follows is short)."""
        if self.cpu_free is not None:
            self.cpu_free.set()

    def runner_up(self, main: str) -> tuple:
        """(status, objective, accelerators) of the best plan without `main`."""
        self._receive(lambda: self.guess_known)
        solving = self.early if self.early is not None else self.worker
        if solving is not None and main == self.guess and self.alt is None:
            self._run_unclaimed()  # the tasks the worker has not started, while the runner-up is solved
            self._receive(lambda: self.alt is not None)
        if main == self.guess and self.alt is not None:
            return self.alt
        if self.early is not None:  # a wrong guess: its runner-up would only take CPU from this one
            self.early.cancel()
            self.early = None
        return solve_without(self.inst, self.cands, self.backend, self.time_limit_s, main)

    def results(self) -> tuple[dict, list, float, float]:
        """(price_of optima, platforms, seconds of the price_of solves, seconds of the platform solves)."""
        self._run_unclaimed()
        self._receive(lambda: len(self.done) == len(self.tasks))
        for k in range(len(self.tasks)):  # the worker's share, where it stopped before finishing it
            if k not in self.done:
                self.done[k] = self.run(k)
        optima = {name: self.done[k][0] for k, (name, _) in enumerate(self.tasks) if name != "platforms"}
        platforms = next((self.done[k][0] for k, (name, _) in enumerate(self.tasks) if name == "platforms"), [])
        seconds = [(name == "platforms", self.done[k][1]) for k, (name, _) in enumerate(self.tasks)]
        return (optima, platforms, sum(s for p, s in seconds if not p), sum(s for p, s in seconds if p))

    def _run_unclaimed(self) -> None:
        for k in range(len(self.tasks)):
            if self._claim(k, PARENT):
                self.done[k] = self.run(k)

    def cancel(self) -> None:
        for proc in (self.worker, self.early):
            if proc is not None:
                proc.cancel()

    # ----------------------------------------------------------------------------------------------- shared
    def run(self, k: int) -> tuple:
        name, relaxed = self.tasks[k]
        t0 = time.perf_counter()
        if name == "platforms":
            out = compare_platforms(self.inst, self.cands, self.backend, self.time_limit_s)
        else:
            out = relaxed_result(self.solve_relaxed(relaxed))
        return out, time.perf_counter() - t0

    def solve_relaxed(self, relaxed: Instance, on_start=None):
        """A relaxation of the problem (price_of: without its limits, without survive), warm-started where the
        problem is (`needs_warm_start`): without its limits mixed-fleet has nothing left that calls for a start,
        yet its servers of 72 GPUs leave the solvers' heuristics without a good plan for long. CPU s on
        mixed-fleet without limits, cold -> from `warm_start`'s plan (first step + solve): SCIP 3.6 -> 0.15 + 0.85,
        HiGHS 1.5 -> 0.26 + 0.47, CBC 3.1 -> 0.16 + 0.83 (HiGHS without its sub-MIPs, CBC without its
        preprocessing from a start: `backends.solve(heuristics=False)`). `on_start`: see `solve_instance`."""
        return solve_instance(relaxed, self.cands, self.backend, time_limit_s=self.time_limit_s,
                              warm=needs_warm_start(self.inst), on_start=on_start)

    def _claim(self, k: int, who: int) -> bool:
        if isinstance(self.claims, list):
            if self.claims[k]:
                return False
            self.claims[k] = who
            return True
        with self.claims.get_lock():
            if self.claims[k]:
                return False
            self.claims[k] = who
            return True

    def _receive(self, until) -> None:
        """Read the processes' messages until `until()` holds or neither has more to say (finished or lost)."""
        while not until() and (self.worker is not None or self.early is not None):
            running = [p for p in (self.early, self.worker) if p is not None]
            ready = [p for p in running if p.ready()]
            if not ready:
                background.wait_any(running)
            for proc in ready:
                self._take(proc)

    def _take(self, proc: background.Background) -> None:
        """One message of `proc` (`self.early`, the runner-up's process, or `self.worker`)."""
        try:
            kind, *rest = proc.next()
        except background.WorkerLost:
            kind, rest = "end", []
        if kind == "guess":
            self.guess, self.guess_known = rest[0], True
        elif kind == "alt":
            self.alt = rest[0]
        elif kind == "task":
            self.done[rest[0]] = rest[1]
        else:  # "end", or lost
            proc.cancel()
            if proc is self.early:  # the process that sends the guess where it runs
                self.early, self.guess_known = None, True
            else:
                self.worker = None
                if self.early is None:  # no runner-up's process: the worker sends the guess
                    self.guess_known = True


class _Guessed(Exception):
    """The guess is made from a solve's start: the rest of that solve is not needed."""


def _guess_instance(side: SideSolves) -> tuple[Instance | None, int | None]:
    """The instance whose optimum names the guess, and the task it is (None: a solve of its own)."""
    if not any(name != "platforms" for name, _ in side.tasks):
        return None, None
    if len([1 for name, _ in side.tasks if name != "platforms"]) == 1:
        return side.tasks[0][1], 0
    return without_survive(without_limits(side.inst)), None


def _runner_up_steps(side: SideSolves, guess_recv, guess_send):
    """In the runner-up's process: the worker's guess, then the runner-up without it."""
    guess_send.close()  # the worker's end: EOF here when the worker is gone without a guess
    try:
        guess = guess_recv.recv()
    except (EOFError, OSError):
        return
    yield ("guess", guess)
    try:
        if guess is not None:
            yield ("alt", solve_without(side.inst, side.cands, side.backend, side.time_limit_s, guess))
    finally:  # this CPU is free for the worker's tasks
        side.cpu_free.set()


def _worker_steps(side: SideSolves, guess_send):
    """In the worker: the guess (sent to the runner-up's process as soon as a plan names it, where there is one;
    else the runner-up without it, solved here), then every task nobody has claimed yet."""
    guess_inst, task = side.guess_from  # built in the parent before the fork
    guess, known, waited_s, parent = None, False, 0.0, os.getppid()

    def found(acc: str | None) -> None:
        nonlocal guess, known
        if known:
            return
        guess, known = acc, True
        if guess_send is not None:
            with contextlib.suppress(OSError):  # the runner-up's process is gone: the parent solves it
                guess_send.send(acc)
            guess_send.close()

    def from_start(ix, values) -> None:
        found(main_accelerator(values_gpus(ix, values)))
        if task is None:  # a solve for the guess alone: done
            raise _Guessed
        wait_for_a_cpu()

    def wait_for_a_cpu() -> None:
        nonlocal waited_s
        if side.cpu_free is None or not known:  # else the main solve and the runner-up have the two CPUs
            return
        t = time.perf_counter()
        while not side.cpu_free.wait(0.5):
            if os.getppid() != parent:  # the parent is gone (killed): nobody will read what follows
                os._exit(0)
        waited_s += time.perf_counter() - t

    if guess_inst is not None and (task is None or side._claim(task, WORKER)):
        t0 = time.perf_counter()
        try:
            sol = side.solve_relaxed(guess_inst, on_start=from_start)
            found(main_accelerator(solution_gpus(sol)))
            if task is not None:
                yield ("task", task, (relaxed_result(sol), time.perf_counter() - t0 - waited_s))
        except _Guessed:
            pass
    found(None)
    if guess_send is None and guess_inst is not None:  # no runner-up process: the runner-up is solved here
        yield ("guess", guess)
        if guess is not None:
            yield ("alt", solve_without(side.inst, side.cands, side.backend, side.time_limit_s, guess))
    wait_for_a_cpu()
    for k in range(len(side.tasks)):
        if side._claim(k, WORKER):
            yield ("task", k, side.run(k))
    yield ("end",)
