"""Explain a plan: the smallest relaxation of an infeasible problem, and the binding limits of a feasible one.

Elastic relaxation (Pyomo-style, solver-independent): every row of a relaxable family gets a slack variable,
scaled by its right-hand side, and the model minimizes the weighted sum of scaled slacks. Demand is weighted 10x
the resource limits, so the explanation prefers "add power, budget, racks or supply" over "serve less". The
non-zero slacks are reported in user terms ("site power 2.0 MW is short by 1.3 MW").
"""

from __future__ import annotations

import math

from planner.fmt import short_usd
from planner.optimize import backends
from planner.optimize.model import Constraint, MipModel

# family -> (weight, which side relaxes: "hi" adds room above an upper limit, "lo" lowers a floor)
RELAXABLE = {
    "site_power": (1.0, "hi"),
    "budget_capex": (1.0, "hi"),
    "budget_hourly": (1.0, "hi"),
    "supply": (1.0, "hi"),
    "rent_supply": (1.0, "hi"),
    "rack_count": (1.0, "hi"),
    "demand": (10.0, "lo"),
    "min_replicas": (10.0, "lo"),
}


def describe_shortfall(con: Constraint, slack: float) -> str:
    f, e = con.family, con.entity
    if f == "site_power":
        return (
            f"site power {con.hi / 1000:.3g} MW is short by {slack / 1000:.3g} MW "
            f"(raise it to {(con.hi + slack) / 1000:.3g} MW)"
        )
    if f == "budget_capex":
        raise_to = short_usd(con.hi + slack)
        return f"capex budget {short_usd(con.hi)} is short by {short_usd(slack)} (raise it to {raise_to})"
    if f == "budget_hourly":
        return (
            f"hourly budget {short_usd(con.hi)}/h is short by {short_usd(slack)}/h "
            f"(raise it to {short_usd(con.hi + slack)}/h)"
        )
    if f == "supply":
        return f"supply of {e}: {con.hi:g} servers can be bought, {math.ceil(slack - 1e-6)} more needed"
    if f == "rent_supply":
        return f"rental supply of {e}: {con.hi:g} servers, {math.ceil(slack - 1e-6)} more needed"
    if f == "rack_count":
        return f"rack type {e}: {con.hi:g} available, {math.ceil(slack - 1e-6)} more needed"
    if f == "demand":
        return (
            f"demand of workload {e} ({con.lo:,.0f} output tok/s incl. headroom) cannot be met: "
            f"short by {slack:,.0f} tok/s"
        )
    if f == "min_replicas":
        return f"workload {e} needs {con.lo:g} replicas: {math.ceil(slack - 1e-6)} cannot be placed"
    return f"{con.name} short by {slack:g} {con.unit}"


def elastic_relaxation(model: MipModel, backend: str, time_limit_s: float = 30.0) -> tuple[bool, list[str]]:
    """Minimal weighted relaxation; returns (relaxation found, messages).

    Resource limits (power, budgets, supply, racks) are relaxed first with demand held: "the capex budget is
    short by $330k" tells the user what to change, where "serve none of the demand" (which a 100x-too-small
    budget would otherwise cost less, in scaled slack, than raising the budget) does not. Only when more
    resources cannot make the problem feasible is demand relaxed too."""
    resources = {f for f, (_, side) in RELAXABLE.items() if side == "hi"}
    found, lines = _relax(model, backend, time_limit_s, resources)
    if found and lines:
        return found, lines
    return _relax(model, backend, time_limit_s, set(RELAXABLE))


def _relax(model: MipModel, backend: str, time_limit_s: float, families: set[str]) -> tuple[bool, list[str]]:
    m = model.copy()
    slacks: list[tuple[int, Constraint]] = []
    obj: dict[int, float] = {}
    for con in m.constraints:
        if con.family not in families:
            continue
        weight, side = RELAXABLE[con.family]
        rhs = con.hi if side == "hi" else con.lo
        if not math.isfinite(rhs):
            continue
        v = m.add_var(f"slack[{con.name}]")
        con.coefs[v] = -1.0 if side == "hi" else 1.0
        obj[v] = weight / max(abs(rhs), 1.0)
        slacks.append((v, con))
    if not slacks:
        return False, []
    m.set_objective(obj)
    res = backends.solve(m, backend, time_limit_s=time_limit_s, gap=1e-6)
    if not res.status.has_solution:
        return False, []
    out = []
    for v, con in slacks:
        s = res.values[v]
        if s > 1e-6 * max(1.0, abs(con.hi if RELAXABLE[con.family][1] == "hi" else con.lo)):
            out.append(describe_shortfall(con, s))
    return True, out


def binding_constraints(
    model: MipModel, values: list[float], minor: set[int] = frozenset()
) -> list[tuple[str, str, str]]:
    """Rows at their limit: no single unit of any variable in the row fits in the slack (integer-aware);
    `minor` variables (racks) are ignored when finding the smallest unit.

    Returns (row name, family, message)."""
    out = []
    for con in model.constraints:
        if con.family not in RELAXABLE and con.family != "existing":
            continue
        if con.family == "min_replicas" and con.lo <= 1:
            continue
        act = con.activity(values)
        major = [abs(c) for v, c in con.coefs.items() if v not in minor] or [abs(c) for c in con.coefs.values()]
        step = min(major, default=0.0)
        if math.isfinite(con.hi) and con.hi - act < step - 1e-9:
            out.append((con.name, con.family, _describe_binding(con, act, "hi")))
        elif math.isfinite(con.lo) and act - con.lo < step - 1e-9 and con.family in ("demand", "min_replicas"):
            out.append((con.name, con.family, _describe_binding(con, act, "lo")))
    return out


def _describe_binding(con: Constraint, act: float, side: str) -> str:
    f, e = con.family, con.entity
    if f == "site_power":
        return f"site power: {act / 1000:.3g} of {con.hi / 1000:.3g} MW in use (no room for another server)"
    if f == "budget_capex":
        return f"capex budget: {short_usd(act)} of {short_usd(con.hi)} spent"
    if f == "budget_hourly":
        return f"hourly budget: {short_usd(act)}/h of {short_usd(con.hi)}/h"
    if f in ("supply", "rent_supply"):
        what = "supply" if f == "supply" else "rental supply"
        if con.hi == 0:  # the buyer's statement that nothing is for sale, not a fleet that took all it could
            return f"{what} of {e}: none on offer (supply 0)"
        done = "purchasable servers bought" if f == "supply" else "servers rented"
        return f"{what} of {e}: all {con.hi:g} {done}"
    if f == "existing":
        return f"existing {e}: all {con.hi:g} servers in service"
    if f == "rack_count":
        return f"racks {e}: all {con.hi:g} in use"
    if f == "demand":
        return (
            f"demand of {e}: capacity {act:,.0f} tok/s for {con.lo:,.0f} required (one replica less falls short)"
        )
    if f == "min_replicas":
        return f"workload {e}: at its minimum of {con.lo:g} replicas"
    return f"{con.name}: {act:g} {con.unit}"
