"""Alternatives (best plan per accelerator family, rent vs buy, runner-up) and the cost tornado, by re-solves
on the chosen plan's candidate table (planner.proposal.solver), all run as one batch."""

from __future__ import annotations

import dataclasses

from planner.catalog.catalog import Catalog
from planner.economics import HOURS_PER_YEAR
from planner.optimize.instance import Instance
from planner.plan import Plan
from planner.proposal.model import Alternative, TornadoBar
from planner.proposal.solver import Solved, instance_for, rent_only, resolve_many, scale_demand

DEMAND_SWING = 0.2
UTILIZATION_LOW = 0.5  # average load as a share of the modelled (peak) operating point
# Sensitivity re-solves stop at this relative gap: the bars move total cost by percents, not by 0.01%.
SENSITIVITY_GAP = 1e-3


def family(catalog: Catalog, accelerator: str) -> str:
    """`Hopper (sm_90)` -> Hopper; `Blackwell Ultra (sm_103)` -> Blackwell: one family per generation."""
    arch = catalog.accelerators[accelerator].architecture
    return arch.split("(")[0].split()[0]


def annual_cost(plan: Plan) -> float:
    return plan.fleet.cost_usd_per_hour * HOURS_PER_YEAR


def _accelerators(plan: Plan) -> str:
    return ", ".join(f"{n} x {a}" for a, n in sorted(plan.fleet.gpus.items()))


def _row(name: str, kind: str, got: Plan | str, base: float, note: str = "") -> Alternative:
    if isinstance(got, str):
        return Alternative(name, kind, "-", None, None, None, None, None, None, got)
    cost = annual_cost(got)
    return Alternative(name, kind, _accelerators(got), cost, got.fleet.capex_usd, got.fleet.output_tok_s,
                       got.fleet.usd_per_mtok, cost - base, 100 * (cost - base) / base if base else None, note)


@dataclasses.dataclass(frozen=True)
class Job:
    section: str  # alternative | tornado
    name: str
    instance: Instance
    candidates: object
    note: str = ""


def alternative_jobs(s: Solved, catalog: Catalog) -> tuple[list[Job], list[Alternative]]:
    """Re-solves for the alternatives, and the rows that need none (the chosen plan's own family)."""
    plan, cands = s.plan, s.candidates
    fams = {a: family(catalog, a) for a in sorted(set(cands["accelerator"]))}
    chosen = {family(catalog, a) for a in plan.fleet.gpus}
    jobs, fixed = [], []
    for fam in sorted(set(fams.values())):
        if chosen == {fam}:
            fixed.append(_row(f"best on {fam}", "family", plan, annual_cost(plan), "the chosen plan"))
            continue
        jobs.append(Job("alternative", f"best on {fam}", s.instance, cands[cands["accelerator"].map(fams) == fam]))
    if plan.fleet.servers_new or plan.fleet.servers_existing:
        inst, rent = rent_only(s.instance, cands)
        jobs.append(Job("alternative", "rent everything", inst, rent,
                        "no capex; no power, space or facility cost"))
    elif plan.fleet.servers_rented:
        jobs.append(Job("alternative", "buy everything", s.instance, cands[cands["mode"] == "own"]))
    return jobs, fixed


def tornado_jobs(s: Solved, catalog: Catalog) -> list[Job]:
    inst, econ = dataclasses.replace(s.instance, gap=max(s.instance.gap, SENSITIVITY_GAP)), s.problem.economics

    def with_gap(i: Instance) -> Instance:
        return dataclasses.replace(i, gap=max(i.gap, SENSITIVITY_GAP))

    spec = catalog.economics.get(econ.id)
    if econ.electricity_usd_per_kwh is None and spec is not None:
        lo, hi = spec.electricity_usd_per_kwh.low_usd, spec.electricity_usd_per_kwh.high_usd
    else:
        lo, hi = inst.electricity_usd_per_kwh * 0.75, inst.electricity_usd_per_kwh * 1.25
    jobs = [Job("tornado", "electricity price", with_gap(instance_for(s.problem, catalog, s.where,
                                                                      electricity_usd_per_kwh=x)), s.candidates,
                f"${x:.3f}/kWh") for x in (lo, hi)]
    for case in ("low", "high"):
        over = {sid: (econ.system_prices_usd[sid] * (0.8 if case == "low" else 1.2)
                      if sid in econ.system_prices_usd else getattr(catalog.systems[sid].price, f"{case}_usd"))
                for sid in inst.systems}
        i = with_gap(instance_for(s.problem, catalog, s.where, system_prices_usd=over))
        jobs.append(Job("tornado", "system prices", i, s.candidates, f"catalog {case}"))
    for sign, f in (("-", 1 - DEMAND_SWING), ("+", 1 + DEMAND_SWING)):
        jobs.append(Job("tornado", "demand", scale_demand(inst, f), s.candidates, f"{sign}{DEMAND_SWING:.0%}"))
    return jobs


def compare(s: Solved, catalog: Catalog, backend: str | None = None,
            workers: int | None = None) -> tuple[list[Alternative], list[TornadoBar]]:
    """Every re-solve of the proposal in one batch: the alternatives and the tornado."""
    plan, base = s.plan, annual_cost(s.plan)
    alt_jobs, fixed = alternative_jobs(s, catalog)
    tor_jobs = tornado_jobs(s, catalog)
    jobs = alt_jobs + tor_jobs
    results = resolve_many([(j.instance, j.candidates) for j in jobs], catalog, backend, workers)
    alts = [Alternative("chosen plan", "chosen", _accelerators(plan), base, plan.fleet.capex_usd,
                        plan.fleet.output_tok_s, plan.fleet.usd_per_mtok, 0.0, 0.0)]
    rows = fixed + [_row(j.name, "family" if j.name.startswith("best on") else "rent-vs-buy", r, base, j.note)
                    for j, r in zip(alt_jobs, results[: len(alt_jobs)], strict=True)]
    alts += sorted(rows, key=lambda a: (a.kind != "family", a.name))
    alts += _runner_up(plan, base)
    tor = results[len(alt_jobs):]
    bars = []
    for k in range(0, len(tor_jobs), 2):
        lo_j, hi_j = tor_jobs[k], tor_jobs[k + 1]
        lo_r, hi_r = tor[k], tor[k + 1]
        why = "; ".join(f"{j.note}: {r}" for j, r in ((lo_j, lo_r), (hi_j, hi_r)) if isinstance(r, str))
        bars.append(TornadoBar(lo_j.name, lo_j.note, hi_j.note, _cost(lo_r), _cost(hi_r), why))
    bars.append(_utilization(plan, s.instance))
    return alts, sorted(bars, key=lambda b: (-b.swing_usd, b.driver))


def _cost(got: Plan | str) -> float | None:
    return None if isinstance(got, str) else annual_cost(got)


def _runner_up(plan: Plan, base: float) -> list[Alternative]:
    ru = plan.runner_up
    if ru is None:
        return []
    per_year = plan.objective == "min_cost" and ru.difference is not None
    return [Alternative(
        f"runner-up (without {ru.excluded_accelerator})", "runner-up", ", ".join(ru.accelerators) or "-",
        base + ru.difference * HOURS_PER_YEAR if per_year else None, None, None, None,
        ru.difference * HOURS_PER_YEAR if per_year else None, ru.difference_pct if per_year else None, ru.message,
    )]


def _utilization(plan: Plan, inst) -> TornadoBar:
    """Average load below the modelled operating point lowers only the GPUs' energy above idle; the fleet is
    sized for peak either way, so this driver needs no re-solve."""
    dynamic_w = sum(
        d.replicas * (d.avg_power_w_per_replica - d.gpus_per_replica * inst.systems[d.system].idle_w)
        for d in plan.deployments if d.mode == "own"
    )
    saved = (1 - UTILIZATION_LOW) * dynamic_w / 1000 * inst.pue * inst.electricity_usd_per_kwh * HOURS_PER_YEAR
    base = annual_cost(plan)
    return TornadoBar("utilization", f"{UTILIZATION_LOW:.0%} of modelled load", "100% (as planned)",
                      base - saved, base, "same fleet; GPU energy above idle scales with load (no re-solve)")
