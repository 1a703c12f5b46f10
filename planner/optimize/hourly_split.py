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

Measured on diurnal-own-rent (CPU s, in-process, whole model -> split): SCIP 4.7 -> 2.5, CBC 41 -> 2.8 (wall);
17 of the 29 fleets in the box need a coarse bound, 12 class solves, most of them one (the peak class, infeasible
under its cap). The split proves 193.378 $/h optimal to within 1e-6 in 2.7 CPU s.
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

MAX_BOX_POINTS = 400  # owned fleets to consider at most; a larger box goes to the whole-model solve
PRUNE = 0.99  # prune at 99% of the gap: the reported gap stays under the configured one (the tie-break aside)
ABS_GAP = 1e-6  # the class solves' absolute gap ($/h), the whole-model solve's
# Each class is solved to a tenth of the relative gap: the plan is then the optimum of its owned fleet to within
# ~1e-5 (diurnal-own-rent: 193.378 $/h, the exact optimum, where the whole model stops at 193.386), for ~5% more
# time than at the full gap.
CLASS_GAP = 0.1


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

    def left() -> float:
        return time_limit_s - (time.perf_counter() - t0)

    parts = [_part(m, link, g) for g in own_groups]
    fixed_cost = [m.objective.get(v, 0.0) for v in link]
    relaxed = _relaxed(m)
    root = _lp(relaxed, left())
    if root.status is not SolveStatus.OPTIMAL:
        return None
    root_link = [root.values[v] for v in link]
    if 2 ** sum(1 for x in root_link if x != math.floor(x)) > MAX_BOX_POINTS:
        return None  # its roundings alone would be more fleets than a box may hold

    def base_at(b: tuple[int, ...]) -> float:
        """The owned fleet's cost (and the objective's constant) at B."""
        return m.objective_constant + math.fsum(c * n for c, n in zip(fixed_cost, b, strict=True))

    # replicas continuous, servers integer: per class, a relaxation much stronger than the LP and still small
    coarse_parts = []
    for p in parts:
        c = p.model.copy()
        c.vars = [replace(v, integer=v.integer and full in coarse) for v, full in zip(c.vars, p.full_vars,
                                                                                        strict=True)]
        coarse_parts.append(c)

    def semi_at(b: tuple[int, ...]) -> tuple[float, list[float]] | None:
        """Each class's coarse bound at B and their sum with the owned fleet's cost."""
        shares = []
        for c in coarse_parts:
            r = backends.solve(_fixed_link(c, range(len(b)), b), "highs", isolate=False, gap=0.0, abs_gap=0.0,
                               time_limit_s=max(left(), 0.1))
            if r.status is not SolveStatus.OPTIMAL:
                return None
            shares.append(r.best_bound if r.best_bound is not None else r.objective)
        return base_at(b) + math.fsum(shares), shares

    best: tuple[float, tuple[int, ...], list[list[float]]] | None = None
    bounds: list[float] = []

    def threshold() -> float:  # a B whose bound reaches this cannot beat the incumbent by more than the gap
        return math.inf if best is None else best[0] - PRUNE * gap * abs(best[0])

    def evaluate(b: tuple[int, ...]) -> bool:
        """Solve the classes at B unless a bound shows B cannot win; False when a sub-solve failed."""
        nonlocal best
        got = semi_at(b)
        if got is None:
            bounds.append(math.inf)  # no plan with this owned fleet (the relaxation has none)
            return True
        if got[0] >= threshold():
            bounds.append(got[0])
            return True
        base = base_at(b)
        lows, objs, vals = list(got[1]), [], []
        for k, p in enumerate(parts):
            if left() <= 0:
                return False
            sub = _fixed_link(p.model, range(len(b)), b)
            cap = threshold() - base - math.fsum(lows) + lows[k]  # class k above this: B cannot win
            if math.isfinite(cap):
                sub.constraints.append(Constraint("split_cutoff", "split_cutoff", dict(sub.objective), hi=cap))
            r = backends.solve(sub, backend, time_limit_s=left(), gap=gap * CLASS_GAP, abs_gap=ABS_GAP,
                               isolate=False)
            if r.status is SolveStatus.INFEASIBLE:  # no plan of class k under the cap (or none at all)
                bounds.append(threshold())
                return True
            if r.status is not SolveStatus.OPTIMAL:
                return False
            proven = r.best_bound
            if backend == "cbc" or proven is None:  # CBC reports no bound (solve() puts its objective there)
                proven = r.objective - max(gap * CLASS_GAP * abs(r.objective), ABS_GAP)
            lows[k] = max(lows[k], proven)
            objs.append(r.objective)
            vals.append(r.values)
            low = base + math.fsum(lows)
            if low >= threshold():
                bounds.append(low)
                return True
        bounds.append(base + math.fsum(lows))
        total = base + math.fsum(objs)
        if best is None or total < best[0]:
            best = (total, b, vals)
        return True

    start = _start(m, relaxed, link, root_link, left)
    if start is None or not evaluate(start) or best is None:
        return None
    if root.objective >= threshold():  # the incumbent is within the gap of the LP bound of every B
        box: list[tuple[int, int]] = [(n, n) for n in start]
        bounds.append(root.objective)
    else:
        box = _box(relaxed, link, threshold(), left)
    if box is None or math.prod(hi - lo + 1 for lo, hi in box) > MAX_BOX_POINTS:
        return None
    points = []
    for b in itertools.product(*(range(lo, hi + 1) for lo, hi in box)):
        if left() <= 0:
            return None
        if b == start or not _within(m, link, b):
            continue
        r = _lp(_fixed_link(relaxed, link, b), left())
        if r.status is SolveStatus.OPTIMAL:
            points.append((r.objective, b))
    points.sort()
    for lp_value, b in points:
        if lp_value >= threshold():
            bounds.append(lp_value)
        elif not evaluate(b):
            return None
    total, b, vals = best
    values = [0.0] * len(m.vars)
    for v, n in zip(link, b, strict=True):
        values[v] = float(n)
    for p, sol in zip(parts, vals, strict=True):
        for i, v in enumerate(p.full_vars[len(link):], start=len(link)):
            values[v] = sol[i]
    bound = min([total, threshold(), *bounds])
    return RawResult(SolveStatus.OPTIMAL, values=values, objective=m.objective_value(values), best_bound=bound,
                     gap=backends.relative_gap(m.objective_value(values), bound), backend=backend)


def _start(m: MipModel, relaxed: MipModel, link: list[int], root: list[float],
           left: Callable[[], float]) -> tuple[int, ...] | None:
    """The first fleet to solve: of the roundings of the LP optimum (each B_s down or up), the least LP bound."""
    best = None
    for b in sorted(set(itertools.product(*({max(0, math.floor(x)), max(0, math.ceil(x))} for x in root)))):
        if _within(m, link, b) and left() > 0:
            r = _lp(_fixed_link(relaxed, link, b), left())
            if r.status is SolveStatus.OPTIMAL and (best is None or r.objective < best[0]):
                best = (r.objective, b)
    return None if best is None else best[1]


def _within(m: MipModel, link: list[int], b: tuple[int, ...]) -> bool:
    """B within its bounds and the rows on the owned fleet alone (supply)."""
    at = dict(zip(link, b, strict=True))
    if any(not m.vars[v].lb <= n <= m.vars[v].ub for v, n in at.items()):
        return False
    rows = [c for c in m.constraints if set(c.coefs) <= set(at)]
    return all(c.lo - 1e-9 <= math.fsum(a * at[v] for v, a in c.coefs.items()) <= c.hi + 1e-9 for c in rows)


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
