r"""Sales, profit and hour classes in the fleet MIP (issue 10). Adds to the model of `formulation.py`:

Hour classes k (the distinct demand levels of the week, `optimize.hours`; one class, the peak, without a
profile) with share phi_k of the year. Owned servers (b_s, e_s) and racks (z_p) are shared by every class; each
class has its own replicas x^k_c, rented servers r^k_s (rented by the hour: burst capacity) and sales v^k.
Class 0 is the peak (highest total demand); its variables keep the plain names (`x[...]`, `rent[...]`), those of
class k >= 1 end in `@h{k}`.

Price levels: a workload's candidates earn rho_c $/h per output tok/s sold (its interactivity tier's $/Mtok for
output plus isl/osl x the input price, x 3600 / 1e6; the priority weight or 1 for weighted max_throughput);
candidates with equal rho_c form one level l.

    v^k_{w,l} >= 0   (continuous) output tok/s of w sold at level l in class k
    sales        v^k_{w,l} <= sum_{c in w, l(c) = l} o_c x^k_c
    sales_cap    sum_l v^k_{w,l} <= m_{w,k} D_w (x demand_cap_multiple)     (no cap without a demand)
    demand       sum_{c in w} o_c x^k_c >= (1 + h_w) m_{w,k} D_w                        (min_cost only)
    min_replicas, server_fit (own: b + e; rent: r^k), rent_supply: per class, as in `constraints.py`
    supply, rack_fit, rack_count, site_power, capex budget: once, on the shared owned fleet
    cost  = sum_s (F^new_s b_s + F^old_s e_s) + sum_p F_p z_p + sum_k phi_k (sum_c E_c x^k_c + sum_s R_s r^k_s)
    hourly budget: cost <= B_hourly (the year's average hour)

    min_cost:         min cost
    max_profit:       max sum_k phi_k sum_{w,l} rho_{w,l} v^k_{w,l} - cost
    max_throughput:   max sum_{w,l} rho_{w,l} v_{w,l} (weighted), then min cost keeping it (one class)
Exact: cost and revenue are linear in the hours each class lasts, and every class must be feasible on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from planner.optimize import constraints as C
from planner.optimize.formulation import Index, add_variables, make_index, tie_break_coefs
from planner.optimize.hours import HOURS_PER_WEEK, HourClass
from planner.optimize.instance import Instance
from planner.optimize.model import MipModel
from planner.optimize.value_data import sales_cap

PEAK = HourClass("all hours", (), HOURS_PER_WEEK)


@dataclass
class Hourly:
    """Where the hour-class model's variables are."""

    base: Index  # candidate data and the shared owned fleet (buy, exist, z)
    classes: tuple[HourClass, ...]
    views: list[Index] = field(default_factory=list)  # per class: its x and rent, demand scaled to the class
    rate: list[float] = field(default_factory=list)  # per candidate: rho_c
    levels: dict[tuple[str, float], list[int]] = field(default_factory=dict)  # (workload, rho) -> candidates
    sales: list[dict[tuple[str, float], int]] = field(default_factory=list)  # per class: (w, rho) -> var
    caps: list[dict[str, float]] = field(default_factory=list)  # per class: workload -> sales cap (tok/s)

    @property
    def peak(self) -> Index:
        return self.views[0]


class _Scoped:
    """A MipModel whose new rows and variables carry a name suffix (the hour class)."""

    def __init__(self, m: MipModel, suffix: str, label: str | None = None) -> None:
        self.m, self.suffix, self.label = m, suffix, label

    @property
    def vars(self):
        return self.m.vars

    def add_var(self, name: str, **kw) -> int:
        return self.m.add_var(name + self.suffix, **kw)

    def add(self, name: str, family: str, coefs: dict[int, float], **kw):
        if self.label and kw.get("entity"):  # binding-limit messages name the hour class
            kw["entity"] = f"{kw['entity']} ({self.label})"
        return self.m.add(name + self.suffix, family, coefs, **kw)

    def fix(self, index: int, lb: float, ub: float) -> None:
        self.m.fix(index, lb, ub)


def candidate_rates(inst: Instance, ix: Index, objective: str) -> list[float]:
    """rho_c: $/h per output tok/s sold (max_profit, value-weighted max_throughput), else the priority weight."""
    value = inst.value
    cands = ix.cands
    rates = []
    for w, tpot in zip(ix.workload, cands["tpot_s"], strict=True):
        wl = inst.workloads[w]
        if objective == "max_throughput" and value.priority:
            rates.append(value.priority.get(w, 1.0))
        elif w in value.pricing:
            rates.append(value.pricing[w].usd_per_hour_per_out_tok_s(float(tpot), wl.isl, wl.osl))
        else:
            rates.append(1.0)
    return [float(f"{r:.12g}") for r in rates]  # equal prices compare equal: one level


def class_instance(inst: Instance, cls: HourClass) -> Instance:
    """The instance with every workload's demand scaled to the hour class (min_replicas kept: availability)."""
    if not cls.multipliers:
        return inst
    workloads = {
        w: replace(wl, demand_out_tok_s=wl.demand_out_tok_s * cls.multiplier(w)) if wl.demand_out_tok_s else wl
        for w, wl in inst.workloads.items()
    }
    return replace(inst, workloads=workloads)


def build_hourly_model(inst: Instance, cands, objective: str) -> tuple[MipModel, Hourly]:
    """The model above for `objective` (min_cost | max_profit | max_throughput), family by family."""
    m = MipModel()
    base = make_index(inst, cands)
    add_variables(m, base, "min_cost")  # x and rent of class 0; buy, exist, racks shared
    h = Hourly(base, inst.value.hour_classes or (PEAK,))
    h.rate = candidate_rates(inst, base, objective)
    for i, (w, r) in enumerate(zip(base.workload, h.rate, strict=True)):
        h.levels.setdefault((w, r), []).append(i)
    for k, cls in enumerate(h.classes):
        view = _class_view(m, base, k, class_instance(inst, cls))
        h.views.append(view)
        sm = _Scoped(m, "" if k == 0 else f"@h{k}", cls.label if inst.value.hour_classes else None)
        if objective == "min_cost":
            C.add_demand(sm, view)
        else:
            view.enforce_demand = False
            add_sales(sm, h, k, objective)
        C.add_min_replicas(sm, view)
        C.add_replica_bounds(sm, view)  # adds nothing unless the demand is enforced (min_cost)
        C.add_server_fit(sm, view)
        C.add_supply(sm, view if k == 0 else replace(view, buy={}, exist={}))
    C.add_rack_fit(m, base)
    C.add_rack_count(m, base)
    C.add_site_power(m, base)
    C.add_budget(m, replace(base, inst=replace(inst, budget_usd_per_hour=None)))
    if inst.budget_usd_per_hour is not None:
        m.add(
            "budget_hourly",
            "budget_hourly",
            hourly_cost_coefs(h),
            hi=inst.budget_usd_per_hour,
            entity="budget",
            unit="USD/h",
        )
    set_hourly_objective(m, h, objective)
    return m, h


def _class_view(m: MipModel, base: Index, k: int, inst: Instance) -> Index:
    """Class k's index: the base's shared owned fleet with its own replicas and rented servers."""
    if k == 0:
        return replace(base, inst=inst, served={}, credit_cap={}, notes=[])
    x = [m.add_var(f"x[{key}]@h{k}", integer=True) for key in base.keys]
    rent = {s: m.add_var(f"rent[{s}]@h{k}", integer=True) for s in sorted(base.rent)}
    return replace(base, inst=inst, x=x, rent=rent, served={}, credit_cap={}, notes=[])


def add_sales(m, h: Hourly, k: int, objective: str) -> None:
    """Sales of class k:  v_{w,l} <= sum_{c in w, l(c) = l} o_c x_c;   sum_l v_{w,l} <= cap_w (if any)."""
    view = h.views[k]
    inst = view.inst
    mult = inst.demand_cap_multiple
    sales: dict[tuple[str, float], int] = {}
    caps: dict[str, float] = {}
    for (w, r), rows in sorted(h.levels.items(), key=lambda t: (t[0][0], -t[0][1])):
        u = m.add_var(f"sold[{w},{r:.6g}]")
        sales[(w, r)] = u
        coefs = {view.x[i]: view.out[i] for i in rows}
        m.add(f"sales[{w},{r:.6g}]", "sales", {**coefs, u: -1.0}, lo=0.0, entity=w, unit="tok/s")
    for w, wl in sorted(inst.workloads.items()):
        if not wl.demand_out_tok_s:
            continue
        caps[w] = sales_cap(wl.demand_out_tok_s, wl.required_out_tok_s, objective, mult)
        levels = {u: 1.0 for (ww, _), u in sales.items() if ww == w}
        if levels:
            m.add(f"sales_cap[{w}]", "sales_cap", levels, hi=caps[w], entity=w, unit="tok/s")
    h.sales.append(sales)
    h.caps.append(caps)


def _fixed_view(h: Hourly) -> Index:
    return replace(h.base, keys=[], x=[], rent={})


def _class_only(view: Index) -> Index:
    return replace(view, buy={}, exist={}, patterns=[], z=[])


def _weighted(h: Hourly, per_view) -> dict[int, float]:
    """Shared owned-fleet coefficients plus each class's, weighted by its share of the year."""
    coefs = dict(per_view(_fixed_view(h)))
    for cls, view in zip(h.classes, h.views, strict=True):
        for v, c in per_view(_class_only(view)).items():
            coefs[v] = coefs.get(v, 0.0) + cls.share * c
    return coefs


def hourly_cost_coefs(h: Hourly) -> dict[int, float]:
    """Average $/h over the year: owned fleet every hour, replicas' energy and rentals in their class's hours."""
    return _weighted(h, C.cost_coefs)


def hourly_tie_break(h: Hourly) -> dict[int, float]:
    return _weighted(h, tie_break_coefs)


def revenue_coefs(h: Hourly) -> dict[int, float]:
    """Average revenue $/h (or weighted tok/s): sum_k phi_k sum rho v^k."""
    coefs: dict[int, float] = {}
    for cls, sales in zip(h.classes, h.sales, strict=True):
        for (_, r), u in sales.items():
            coefs[u] = coefs.get(u, 0.0) + cls.share * r
    return coefs


def set_hourly_objective(m: MipModel, h: Hourly, objective: str) -> None:
    cost = hourly_cost_coefs(h)
    tb = hourly_tie_break(h)
    if objective == "min_cost":
        coefs = dict(cost)
        for v, c in tb.items():
            coefs[v] = coefs.get(v, 0.0) + c
        m.set_objective(coefs)
    elif objective == "max_profit":
        coefs = revenue_coefs(h)
        for table in (cost, tb):
            for v, c in table.items():
                coefs[v] = coefs.get(v, 0.0) - c
        m.set_objective(coefs, maximize=True)
    elif objective == "max_throughput":
        m.set_objective(revenue_coefs(h), maximize=True)
    else:
        raise ValueError(f"unknown objective {objective!r}")


def value_of(coefs: dict[int, float], values: list[float]) -> float:
    return math.fsum(c * values[v] for v, c in coefs.items())
