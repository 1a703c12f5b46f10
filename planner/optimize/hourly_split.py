r"""Exact decomposition of the hour-class min_cost model over the owned fleet (issue 7, diurnal-own-rent).

With the owned servers B fixed, the hour classes are independent: each has its own replicas and rented servers
and no row joins two classes except through B. The monolithic MIP does not see this: branch and bound multiplies
the classes' rounding gaps (SCIP: one class 0.13 s, five 4.9 s; with B fixed each class 0.01-0.2 s alone, all
five together 1.7 s). Here

    cost(B) = F.B + sum_k c_k(B),    c_k(B) = min cost of class k's own variables given B (one small MIP each)

and B is enumerated, exactly, with two relaxations as bounds: the LP of the whole model at B (cheap) and, per
class, the "coarse" one: replicas continuous but servers integer (a small MIP, much closer to c_k(B) than the LP):
  1. LP relaxation of the whole model; solve the classes at the rounding of its B with the least LP bound: the
     incumbent.
  2. Every B whose LP bound is below the threshold, incumbent - 0.99 gap |incumbent|, lies in the box
     [min B_s, max B_s] of the LP region {cost_LP <= threshold} (2 LPs per owned-fleet variable).
  3. Each integer B in the box, least LP bound first: pruned when its LP or coarse bound reaches the threshold;
     else the classes are solved one by one (to a tenth of the gap), each capped at what would let B still win
     (F.B + the other classes' bounds + its cost < threshold): a class with no plan under its cap prunes B.
The reported bound is the least bound over all B (solved: F.B + the sum of the class bounds; pruned: the bound that
pruned it; outside the box: the threshold), so the plan is proven optimal within the configured gap as by a
whole-model solve. Applies when no row joins two classes except through the owned fleet (racks, capex budget and
site power are fine: the racks form one more part, rows on the owned fleet alone are checked per B; an hourly
budget joins every class) and the box has at most MAX_BOX_POINTS fleets; otherwise `split_solve` returns None and
the caller solves the whole model.

The small solves are tasks that depend on their arguments alone (`_Search.run`): the LP bounds of the fleets in
the box, the first fleet's classes (no threshold yet: independent), then the other fleets in batches of BATCH, each
evaluated against the threshold of its batch's start. They are shared between this process and a forked helper
(`optimize.task_pair`, where a second CPU is there); the results come back in task order, so the plan does not
depend on who solved what (tests/test_hourly_split.py compares with and without the helper to the last digit).

Measured on diurnal-own-rent (CPU s, in-process, whole model -> split): SCIP 4.7 -> 2.5, CBC 41 -> 2.8 (wall);
17 of the 29 fleets in the box need a coarse bound, 12 class solves, most of them one (the peak class, infeasible
under its cap). The split proves 193.378 $/h optimal to within 1e-6 in 2.7 CPU s (the performance model of
that day; after the step-model refit of 2026-11-30 the optimum is 188.452). Then (issue 7, d7d; the split alone,
isolated, at load ~8 on the two cores, old -> new): SCIP 3.5-3.7 -> 2.2-2.7 CPU s (class solves with few
cuts 1.9 -> 0.84, coarse bounds without presolve 0.72 -> 0.46), of which the parent's share ~1.1 and the helper's
~1.0 (critical path ~1.25 CPU s); CBC 3.3-3.4 -> 2.4-2.6 CPU s.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from planner.optimize import backends, isolation
from planner.optimize.backends import RawResult, SolveStatus
from planner.optimize.model import Constraint, MipModel
from planner.optimize.task_pair import TaskPair

MAX_BOX_POINTS = 400  # owned fleets to consider at most; a larger box goes to the whole-model solve
PRUNE = 0.99  # prune at 99% of the gap: the reported gap stays under the configured one (the tie-break aside)
ABS_GAP = 1e-6  # the class solves' absolute gap ($/h), the whole-model solve's
# Each class is solved to a tenth of the relative gap: the plan is then the optimum of its owned fleet to within
# ~1e-5 (diurnal-own-rent: 193.378 $/h, the exact optimum, where the whole model stops at 193.386), for ~5% more
# time than at the full gap.
CLASS_GAP = 0.1
# Fleets evaluated together against one threshold (the parent and the helper each take the next as they are free).
# A fleet that lowers the incumbent does not lower the threshold of the others in its batch: they may be solved
# where one at a time would have pruned them (never wrongly: each bound holds for its fleet). 8 is a choice, not a
# measured optimum: enough to keep both processes busy on diurnal-own-rent's 29 fleets; batches of 1 and 1000 are
# tested to reach the same optimum.
BATCH = 8
# The coarse bounds are small MIPs (two integer variables per class) solved to optimality: HiGHS' presolve,
# restart and sub-MIP heuristics cost more than they save there (diurnal-own-rent's 102, CPU s: 0.72 -> 0.46;
# the same bounds to 5e-13).
COARSE_OPTIONS = {"presolve": False, "restart": False, "heuristics": False}


@dataclass
class _Part:
    """One hour class: its sub-model (link variables first, fixed per B) and where its variables sit."""

    model: MipModel
    full_vars: list[int]  # sub-model variable -> full-model variable (link variables first)


def components(m: MipModel, link: list[int]) -> list[list[int]]:
    """Variables of `m` other than `link`, grouped by the rows that join them (union-find), sorted."""
    parent = list(range(len(m.vars)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    linked = set(link)
    for c in m.constraints:
        vs = [v for v in c.coefs if v not in linked]
        for a, b in itertools.pairwise(vs):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for v in range(len(m.vars)):
        if v not in linked:
            groups.setdefault(find(v), []).append(v)
    return sorted(groups.values())


def _part(m: MipModel, link: list[int], own: list[int]) -> _Part:
    full = list(link) + own
    local = {v: i for i, v in enumerate(full)}
    sub = MipModel()
    for v in full:
        var = m.vars[v]
        sub.add_var(var.name, lb=var.lb, ub=var.ub, integer=var.integer)
    mine = set(own)
    for c in m.constraints:
        if any(v in mine for v in c.coefs):
            sub.constraints.append(Constraint(c.name, c.family, {local[v]: a for v, a in c.coefs.items()}, c.lo,
                                              c.hi, c.entity, c.unit))
    sub.set_objective({local[v]: m.objective.get(v, 0.0) for v in own})
    return _Part(sub, full)


def _relaxed(m: MipModel) -> MipModel:
    out = m.copy()
    out.vars = [replace(v, integer=False) for v in out.vars]
    return out


def _lp(model: MipModel, time_limit_s: float) -> RawResult:
    return backends.solve(model, "highs", isolate=False, gap=0.0, time_limit_s=max(time_limit_s, 0.1))


def split_solve(m: MipModel, link: list[int], coarse: list[int], backend: str, time_limit_s: float,
                gap: float) -> RawResult | None:
    """Solve `m` (minimize) by the decomposition above; None when it does not apply or did not finish (the caller
    solves `m` whole). `link`: the integer variables every class shares (the owned fleet); `coarse`: the integer
    variables kept integer in the bound of each B (servers, racks), every other one relaxed (replicas)."""
    if m.maximize or not link or not all(m.vars[v].integer for v in link):
        return None
    own_groups = components(m, link)
    if len(own_groups) < 2:
        return None
    if backends.hook_active():  # a sweep's fast in-process solve: keep its one call per model
        return None
    t0 = time.perf_counter()
    args = (m, link, set(coarse), own_groups, backend, time_limit_s, gap)
    if isolation.isolated():  # one child process for all the small solves, as one whole-model solve would have
        backends.preload_solver(backend)
        res = isolation.run_isolated(backends.failed_result, _split, *args)
    else:
        res = _split(*args)
    if res is None or not res.status.has_solution:
        return None
    res.solve_time_s = time.perf_counter() - t0
    return res


def _split(m: MipModel, link: list[int], coarse: set[int], own_groups: list[list[int]], backend: str,
           time_limit_s: float, gap: float) -> RawResult | None:
    t0 = time.perf_counter()
    parts = [_part(m, link, g) for g in own_groups]
    s = _Search(m, link, parts, coarse, backend, gap, lambda: time_limit_s - (time.perf_counter() - t0))
    # the helper is forked before any solve: it knows the parts and solves the same tasks as the parent
    with TaskPair(s.run) as pair:
        return s.search(pair)


@dataclass
class _Fleet:
    """What evaluating one owned fleet B gave: a lower bound on cost(B); cost(B) and the classes' values when
    every class was solved; `failed` when a sub-solve did not finish."""

    bound: float
    total: float | None = None
    vals: list[list[float]] | None = None
    failed: bool = False


class _Search:
    """The enumeration of the module docstring. The small solves are tasks (`run`) that depend on their arguments
    alone, so that a `TaskPair` may run them in either process: ("lp", B), ("class", B, k, cap), ("semi", B) and
    ("fleet", B, threshold)."""

    def __init__(self, m: MipModel, link: list[int], parts: list[_Part], coarse: set[int], backend: str,
                 gap: float, left: Callable[[], float]) -> None:
        self.m, self.link, self.parts, self.backend, self.gap, self.left = m, link, parts, backend, gap, left
        self.fixed_cost = [m.objective.get(v, 0.0) for v in link]
        self.relaxed = _relaxed(m)
        self.supply = _OwnedRows(m, link)
        # replicas continuous, servers integer: per class, a relaxation much stronger than the LP and still small
        self.coarse_parts = []
        for p in parts:
            c = p.model.copy()
            c.vars = [replace(v, integer=v.integer and full in coarse) for v, full in zip(c.vars, p.full_vars,
                                                                                            strict=True)]
            self.coarse_parts.append(c)

    def run(self, task: tuple):
        kind, b, *more = task
        do = {"lp": self.lp_at, "class": self.class_at, "semi": self.semi_at, "fleet": self.fleet}[kind]
        return do(b, *more)

    def base_at(self, b: tuple[int, ...]) -> float:
        """The owned fleet's cost (and the objective's constant) at B."""
        return self.m.objective_constant + math.fsum(c * n for c, n in zip(self.fixed_cost, b, strict=True))

    def lp_at(self, b: tuple[int, ...]) -> float | None:
        """The LP bound of the whole model at B (None: no LP solution)."""
        r = _lp(_fixed_link(self.relaxed, self.link, b), self.left())
        return r.objective if r.status is SolveStatus.OPTIMAL else None

    def semi_at(self, b: tuple[int, ...]) -> tuple[float, list[float]] | None:
        """Each class's coarse bound at B and their sum with the owned fleet's cost."""
        shares = []
        for c in self.coarse_parts:
            r = backends.solve(_fixed_link(c, range(len(b)), b), "highs", isolate=False, gap=0.0, abs_gap=0.0,
                               time_limit_s=max(self.left(), 0.1), **COARSE_OPTIONS)
            if r.status is not SolveStatus.OPTIMAL:
                return None
            shares.append(r.best_bound if r.best_bound is not None else r.objective)
        return self.base_at(b) + math.fsum(shares), shares

    def class_at(self, b: tuple[int, ...], k: int, cap: float) -> RawResult:
        """Class k at B, its cost capped at `cap` (INFEASIBLE: none under the cap)."""
        sub = _fixed_link(self.parts[k].model, range(len(b)), b)
        if math.isfinite(cap):
            sub.constraints.append(Constraint("split_cutoff", "split_cutoff", dict(sub.objective), hi=cap))
        # fewer cuts (backends.solve): SCIP 1.91 -> 0.84 CPU s on diurnal-own-rent's 24 class solves, the same
        # solutions; CBC 2.5 -> 1.4 s, but other solutions of the same cost where uncapped (the first fleet's,
        # the plan's): CBC keeps its cuts there
        few_cuts = self.backend != "cbc" or math.isfinite(cap)
        return backends.solve(sub, self.backend, time_limit_s=self.left(), gap=self.gap * CLASS_GAP,
                              abs_gap=ABS_GAP, isolate=False, cuts=not few_cuts)

    def proven(self, r: RawResult) -> float:
        """A class solve's proven lower bound."""
        if self.backend == "cbc" or r.best_bound is None:  # CBC reports no bound (solve() gives its objective)
            return r.objective - max(self.gap * CLASS_GAP * abs(r.objective), ABS_GAP)
        return r.best_bound

    def fleet(self, b: tuple[int, ...], threshold: float) -> _Fleet:
        """B against `threshold`: pruned when a bound reaches it, else the classes one by one, each capped at what
        would let B still come under it (F.B + the other classes' bounds + its cost < threshold)."""
        got = self.semi_at(b)
        if got is None:
            return _Fleet(math.inf)  # no plan with this owned fleet (the relaxation has none)
        if got[0] >= threshold:
            return _Fleet(got[0])
        base = self.base_at(b)
        lows, objs, vals = list(got[1]), [], []
        for k in range(len(self.parts)):
            if self.left() <= 0:
                return _Fleet(math.inf, failed=True)
            r = self.class_at(b, k, threshold - base - math.fsum(lows) + lows[k])
            if r.status is SolveStatus.INFEASIBLE:  # no plan of class k under the cap (or none at all)
                return _Fleet(threshold)
            if r.status is not SolveStatus.OPTIMAL:
                return _Fleet(math.inf, failed=True)
            lows[k] = max(lows[k], self.proven(r))
            objs.append(r.objective)
            vals.append(r.values)
            low = base + math.fsum(lows)
            if low >= threshold:
                return _Fleet(low)
        return _Fleet(base + math.fsum(lows), base + math.fsum(objs), vals)

    def first(self, pair: TaskPair, b: tuple[int, ...]) -> _Fleet:
        """The first fleet, with no threshold yet: its classes are independent solves."""
        *solved, got = pair.map([*(("class", b, k, math.inf) for k in range(len(self.parts))), ("semi", b)])
        if got is None:
            return _Fleet(math.inf)
        if any(r.status is SolveStatus.INFEASIBLE for r in solved):
            return _Fleet(math.inf)
        if any(r.status is not SolveStatus.OPTIMAL for r in solved):
            return _Fleet(math.inf, failed=True)
        base = self.base_at(b)
        lows = [max(low, self.proven(r)) for low, r in zip(got[1], solved, strict=True)]
        return _Fleet(base + math.fsum(lows), base + math.fsum(r.objective for r in solved),
                      [r.values for r in solved])

    def search(self, pair: TaskPair) -> RawResult | None:
        m, link, left = self.m, self.link, self.left
        root = _lp(self.relaxed, left())
        if root.status is not SolveStatus.OPTIMAL:
            return None
        root_link = [root.values[v] for v in link]
        if 2 ** sum(1 for x in root_link if x != math.floor(x)) > MAX_BOX_POINTS:
            return None  # its roundings alone would be more fleets than a box may hold
        start = self.start(pair, root_link)
        if start is None:
            return None
        got = self.first(pair, start)
        if got.failed or got.total is None:
            return None
        best = (got.total, start, got.vals)
        bounds = [got.bound]

        def threshold() -> float:  # a B whose bound reaches this cannot beat the incumbent by more than the gap
            return best[0] - PRUNE * self.gap * abs(best[0])

        if root.objective >= threshold():  # the incumbent is within the gap of the LP bound of every B
            box: list[tuple[int, int]] | None = [(n, n) for n in start]
            bounds.append(root.objective)
        else:
            box = _box(self.relaxed, link, threshold(), left)
        if box is None or math.prod(hi - lo + 1 for lo, hi in box) > MAX_BOX_POINTS:
            return None
        fleets = [b for b in itertools.product(*(range(lo, hi + 1) for lo, hi in box))
                  if b != start and self.supply.within(b)]
        lps = pair.map([("lp", b) for b in fleets])
        if left() <= 0:
            return None
        points = sorted((lp, b) for lp, b in zip(lps, fleets, strict=True) if lp is not None)
        i = 0
        while i < len(points):
            # a batch of fleets against the same threshold: what each gives depends on B and the threshold alone
            cut, batch = threshold(), []
            while i < len(points) and len(batch) < BATCH:
                lp_value, b = points[i]
                i += 1
                if lp_value >= cut:
                    bounds.append(lp_value)
                else:
                    batch.append(b)
            for b, got in zip(batch, pair.map([("fleet", b, cut) for b in batch]), strict=True):
                if got.failed:
                    return None
                bounds.append(got.bound)
                if got.total is not None and got.total < best[0]:
                    best = (got.total, b, got.vals)
        total, b, vals = best
        values = [0.0] * len(m.vars)
        for v, n in zip(link, b, strict=True):
            values[v] = float(n)
        for p, sol in zip(self.parts, vals, strict=True):
            for i, v in enumerate(p.full_vars[len(link):], start=len(link)):
                values[v] = sol[i]
        bound = min([total, threshold(), *bounds])
        return RawResult(SolveStatus.OPTIMAL, values=values, objective=m.objective_value(values), best_bound=bound,
                         gap=backends.relative_gap(m.objective_value(values), bound), backend=self.backend)

    def start(self, pair: TaskPair, root: list[float]) -> tuple[int, ...] | None:
        """The first fleet to solve: of the roundings of the LP optimum (each B_s down or up), the least LP
        bound."""
        roundings = sorted(set(itertools.product(*({max(0, math.floor(x)), max(0, math.ceil(x))} for x in root))))
        roundings = [b for b in roundings if self.supply.within(b)]
        best = None
        for b, lp in zip(roundings, pair.map([("lp", b) for b in roundings]), strict=True):
            if lp is not None and (best is None or lp < best[0]):
                best = (lp, b)
        return None if best is None else best[1]


class _OwnedRows:
    """The bounds of the owned fleet and the rows on it alone (supply), indexed once."""

    def __init__(self, m: MipModel, link: list[int]) -> None:
        self.bounds = [(m.vars[v].lb, m.vars[v].ub) for v in link]
        pos = {v: i for i, v in enumerate(link)}
        self.rows = [([(pos[v], a) for v, a in c.coefs.items()], c.lo, c.hi) for c in m.constraints
                     if c.coefs and set(c.coefs) <= pos.keys()]

    def within(self, b: tuple[int, ...]) -> bool:
        if any(not lo <= n <= hi for (lo, hi), n in zip(self.bounds, b, strict=True)):
            return False
        return all(lo - 1e-9 <= math.fsum(a * b[i] for i, a in coefs) <= hi + 1e-9 for coefs, lo, hi in self.rows)


def _fixed_link(model: MipModel, link: Iterable[int], b: tuple[int, ...]) -> MipModel:
    out = model.copy()
    for v, n in zip(link, b, strict=True):
        out.fix(v, float(n), float(n))
    return out


def _box(relaxed: MipModel, link: list[int], cutoff: float,
         left: Callable[[], float]) -> list[tuple[int, int]] | None:
    """Integer range of each link variable over the LP region {objective <= cutoff}."""
    capped = relaxed.copy()
    capped.constraints.append(Constraint("split_cutoff", "split_cutoff", dict(relaxed.objective), hi=cutoff))
    out = []
    for v in link:
        ends = []
        for sign in (1.0, -1.0):
            capped.set_objective({v: sign})
            r = _lp(capped, left())
            if r.status is not SolveStatus.OPTIMAL:
                return None
            ends.append(r.values[v])
        out.append((max(0, math.ceil(ends[0] - 1e-6)), math.floor(ends[1] + 1e-6)))
    return out
