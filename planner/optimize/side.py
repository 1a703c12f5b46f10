"""The side re-solves of `planner solve`, shared between the parent and a worker beside the main solve.

Besides the optimum a plan reports what the buyer's requirements cost (price_of: the optimum without the
simplicity limits, without survive), which platform earns most (platforms, max_profit) and the runner-up (the
best plan without the main accelerator). None of these needs the main plan except the runner-up, which needs
only the name of the main accelerator. Where a second CPU is there (`background.worth_a_worker`), a worker
started before the main solve
  1. guesses the main accelerator: the one the optimum without every requirement puts most GPUs on (that solve is
     the price_of relaxation itself where only one requirement is in force),
  2. solves the runner-up without it, then
  3. takes the remaining tasks (price_of relaxations, platforms) one by one,
while the parent solves the main plan, verifies it, solves the runner-up itself if the guess was wrong (else it
takes the tasks the worker has not started while the worker solves the runner-up), and then takes the tasks
still left. Each task is claimed once (a flag per task, shared across the fork), so no work is done twice.
Every solve is single-threaded and deterministic, so whoever computes an item computes the same item: the plan
does not depend on the schedule. A worker that dies is replaced by the parent doing the rest.
"""

from __future__ import annotations

import multiprocessing
import time

import pandas as pd

from planner.optimize import background
from planner.optimize.instance import Instance
from planner.optimize.platforms import compare_platforms, platforms_compared
from planner.optimize.price_of import relaxations, relaxed_result, without_limits, without_survive
from planner.optimize.runner_up import main_accelerator, solution_gpus, solve_without
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
        self.alt: tuple | None = None  # the worker's runner-up without the guess
        self.worker = None
        use_worker = background.worth_a_worker()
        self.guess_known = not use_worker  # else the worker's first message
        if use_worker:
            self.claims = multiprocessing.get_context("fork").Array("b", max(len(self.tasks), 1))
            self.worker = background.Background(_worker_steps, self)  # forked: it sees this object as it is now
        else:
            self.claims = [0] * len(self.tasks)

    # ------------------------------------------------------------------------------------------ parent side
    def runner_up(self, main: str) -> tuple:
        """(status, objective, accelerators) of the best plan without `main`."""
        self._receive(lambda: self.guess_known)
        if self.worker is not None and main == self.guess and self.alt is None:
            self._run_unclaimed()  # the tasks the worker has not started, while it solves the runner-up
            self._receive(lambda: self.alt is not None)
        if main == self.guess and self.alt is not None:
            return self.alt
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
        if self.worker is not None:
            self.worker.cancel()

    # ----------------------------------------------------------------------------------------------- shared
    def run(self, k: int) -> tuple:
        name, relaxed = self.tasks[k]
        t0 = time.perf_counter()
        if name == "platforms":
            out = compare_platforms(self.inst, self.cands, self.backend, self.time_limit_s)
        else:
            out = relaxed_result(self.solve_relaxed(relaxed))
        return out, time.perf_counter() - t0

    def solve_relaxed(self, relaxed: Instance):
        """A relaxation of the problem (price_of: without its limits, without survive), warm-started where the
        problem is (`needs_warm_start`): without its limits mixed-fleet has nothing left that calls for a start,
        yet its servers of 72 GPUs leave the solvers' heuristics without a good plan for long. CPU s on
        mixed-fleet without limits, cold -> from `warm_start`'s plan (first step + solve): SCIP 3.6 -> 0.15 + 0.85,
        HiGHS 1.5 -> 0.26 + 0.47, CBC 3.1 -> 0.16 + 0.83 (HiGHS without its sub-MIPs, CBC without its
        preprocessing from a start: `backends.solve(heuristics=False)`)."""
        return solve_instance(relaxed, self.cands, self.backend, time_limit_s=self.time_limit_s,
                              warm=needs_warm_start(self.inst))

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
        """Read the worker's messages until `until()` holds, the worker has finished, or it is lost."""
        while self.worker is not None and not until():
            try:
                kind, *rest = self.worker.next()
            except background.WorkerLost:
                self.worker, self.guess_known = None, True
                return
            if kind == "guess":
                self.guess, self.guess_known = rest[0], True
            elif kind == "alt":
                self.alt = rest[0]
            elif kind == "task":
                self.done[rest[0]] = rest[1]
            else:  # "end"
                self.worker.cancel()
                self.worker = None


def _guess_instance(side: SideSolves) -> tuple[Instance | None, int | None]:
    """The instance whose optimum names the guess, and the task it is (None: a solve of its own)."""
    if not any(name != "platforms" for name, _ in side.tasks):
        return None, None
    if len([1 for name, _ in side.tasks if name != "platforms"]) == 1:
        return side.tasks[0][1], 0
    return without_survive(without_limits(side.inst)), None


def _worker_steps(side: SideSolves):
    """In the worker: the guess, the runner-up without it, then every task nobody has claimed yet."""
    guess_inst, task = _guess_instance(side)
    guess = None
    if guess_inst is not None and (task is None or side._claim(task, WORKER)):
        t0 = time.perf_counter()
        sol = side.solve_relaxed(guess_inst)
        guess = main_accelerator(solution_gpus(sol))
        if task is not None:
            yield ("task", task, (relaxed_result(sol), time.perf_counter() - t0))
    yield ("guess", guess)
    if guess is not None:
        yield ("alt", solve_without(side.inst, side.cands, side.backend, side.time_limit_s, guess))
    for k in range(len(side.tasks)):
        if side._claim(k, WORKER):
            yield ("task", k, side.run(k))
    yield ("end",)
