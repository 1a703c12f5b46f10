"""A backend-neutral mixed-integer linear model: variables, linear constraints, one linear objective.

The formulation writes into a `MipModel`; each backend (`planner.optimize.backends`) translates it for one solver.
Constraints carry a `family` (the constraint function that added them) and a readable `name` whose parts route
slacks and duals back to catalog entities (`demand[chat]`, `site_power`, `supply[hgx-h100]`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

INF = math.inf


@dataclass(frozen=True)
class Var:
    index: int
    name: str
    lb: float = 0.0
    ub: float = INF
    integer: bool = False


@dataclass
class Constraint:
    """lo <= sum(coef * x[var]) <= hi (either side may be infinite)."""

    name: str
    family: str
    coefs: dict[int, float]
    lo: float = -INF
    hi: float = INF
    # what the row means to a user: the entity it limits and the unit of its right-hand side
    entity: str = ""
    unit: str = ""

    def activity(self, values: list[float]) -> float:
        return sum(c * values[i] for i, c in self.coefs.items())


@dataclass
class MipModel:
    vars: list[Var] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    objective: dict[int, float] = field(default_factory=dict)
    objective_constant: float = 0.0
    maximize: bool = False
    by_name: dict[str, int] = field(default_factory=dict)

    def add_var(self, name: str, lb: float = 0.0, ub: float = INF, integer: bool = False) -> int:
        if name in self.by_name:
            raise ValueError(f"duplicate variable name {name!r}")
        idx = len(self.vars)
        self.vars.append(Var(idx, name, lb, ub, integer))
        self.by_name[name] = idx
        return idx

    def var(self, name: str) -> int:
        return self.by_name[name]

    def add(
        self,
        name: str,
        family: str,
        coefs: dict[int, float],
        *,
        lo: float = -INF,
        hi: float = INF,
        entity: str = "",
        unit: str = "",
    ) -> Constraint | None:
        """Add `lo <= coefs . x <= hi`; zero coefficients are dropped; an empty row is checked, not added."""
        coefs = {i: float(c) for i, c in coefs.items() if c != 0}
        if not coefs:
            if lo > 1e-9 or hi < -1e-9:
                # an empty row that cannot hold: keep it so the solver reports infeasibility honestly
                con = Constraint(name, family, {}, lo, hi, entity, unit)
                self.constraints.append(con)
                return con
            return None
        con = Constraint(name, family, coefs, lo, hi, entity, unit)
        self.constraints.append(con)
        return con

    def set_objective(self, coefs: dict[int, float], *, maximize: bool = False, constant: float = 0.0) -> None:
        self.objective = {i: float(c) for i, c in coefs.items() if c != 0}
        self.maximize = maximize
        self.objective_constant = constant

    def objective_value(self, values: list[float]) -> float:
        return self.objective_constant + sum(c * values[i] for i, c in self.objective.items())

    def copy(self) -> MipModel:
        return MipModel(
            vars=list(self.vars),
            constraints=[
                Constraint(c.name, c.family, dict(c.coefs), c.lo, c.hi, c.entity, c.unit) for c in self.constraints
            ],
            objective=dict(self.objective),
            objective_constant=self.objective_constant,
            maximize=self.maximize,
            by_name=dict(self.by_name),
        )

    def fix(self, index: int, lb: float, ub: float) -> None:
        v = self.vars[index]
        self.vars[index] = Var(v.index, v.name, lb, ub, v.integer)

    def violations(self, values: list[float], tol: float = 1e-6) -> list[str]:
        """Rows and bounds that `values` break (relative tolerance on the right-hand side)."""
        out = []
        for v in self.vars:
            x = values[v.index]
            if x < v.lb - tol * max(1, abs(v.lb)) or x > v.ub + tol * max(1, abs(v.ub)):
                out.append(f"{v.name} = {x:g} outside [{v.lb:g}, {v.ub:g}]")
            if v.integer and abs(x - round(x)) > 1e-5:
                out.append(f"{v.name} = {x:g} is not integer")
        for c in self.constraints:
            a = c.activity(values)
            if a < c.lo - tol * max(1, abs(c.lo)) or a > c.hi + tol * max(1, abs(c.hi)):
                out.append(f"{c.name}: {a:g} outside [{c.lo:g}, {c.hi:g}]")
        return out
