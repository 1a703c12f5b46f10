"""Alternatives (best plan per accelerator family, rent vs buy, runner-up) and the cost tornado, by re-solves
on the chosen plan's candidate table (planner.proposal.solver), all run as one batch."""

from __future__ import annotations

import dataclasses

from planner.catalog.catalog import Catalog
from planner.economics import HOURS_PER_YEAR
from planner.optimize.instance import Instance
from planner.plan import Plan
from planner.proposal.bom import year_cost_usd_per_hour
from planner.proposal.model import Alternative, TornadoBar
from planner.proposal.solver import Batch, Solved, instance_for, one_mode, scale_demand

DEMAND_SWING = 0.2
UTILIZATION_LOW = 0.5  # average load as a share of the modelled (peak) operating point
# Re-solves for alternatives and sensitivity stop at this relative gap (0.1%): they are compared at the percent
# level, and the gap rounds away in the tables' one decimal.
RESOLVE_GAP = 1e-3


def family(catalog: Catalog, accelerator: str) -> str:
    """`Hopper (sm_90)` -> Hopper; `Blackwell Ultra (sm_103)` -> Blackwell: one family per generation."""
    arch = catalog.accelerators[accelerator].architecture
    return arch.split("(")[0].split()[0]


def annual_cost(plan: Plan) -> float:
    """All-in cost a year as the optimizer prices it (year average over the hour classes of a profile)."""
    return year_cost_usd_per_hour(plan) * HOURS_PER_YEAR


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


def _gap(i: Instance) -> Instance:
    return dataclasses.replace(i, gap=max(i.gap, RESOLVE_GAP))


def alternative_jobs(s: Solved, catalog: Catalog) -> list[Job]:
    """Re-solves for the alternatives; they need the candidates, not the chosen plan, so they can start first."""
    cands = s.candidates
    fams = {a: family(catalog, a) for a in sorted(set(cands["accelerator"]))}
    jobs = [Job("alternative", f"best on {fam}", _gap(s.instance), cands[cands["accelerator"].map(fams) == fam])
            for fam in sorted(set(fams.values()))]
    if any(sd.buy or sd.existing for sd in s.instance.systems.values()):
        inst, rent = one_mode(s.instance, cands, "rent")
        jobs.append(Job("alternative", "rent everything", _gap(inst), rent,
                        "no capex; no power, space or facility cost"))
    else:
        inst, own = one_mode(s.instance, cands, "own")
        jobs.append(Job("alternative", "buy everything", _gap(inst), own, "capex at catalog prices"))
    return jobs


def tornado_jobs(s: Solved, catalog: Catalog) -> list[Job]:
    """Pairs of re-solves (low, high) per driver."""
    inst, econ = s.instance, s.problem.economics
    spec = catalog.economics.get(econ.id)
    if econ.electricity_usd_per_kwh is None and spec is not None:
        lo, hi = spec.electricity_usd_per_kwh.low_usd, spec.electricity_usd_per_kwh.high_usd
    else:
        lo, hi = inst.electricity_usd_per_kwh * 0.75, inst.electricity_usd_per_kwh * 1.25
    jobs = [Job("tornado", "electricity price", _gap(instance_for(s.problem, catalog, s.where,
                                                                  electricity_usd_per_kwh=x)), s.candidates,
                f"${x:.3f}/kWh") for x in (lo, hi)]
    for case in ("low", "high"):
        over = {sid: (econ.system_prices_usd[sid] * (0.8 if case == "low" else 1.2)
                      if sid in econ.system_prices_usd else getattr(catalog.systems[sid].price, f"{case}_usd"))
                for sid in inst.systems}
        i = _gap(instance_for(s.problem, catalog, s.where, system_prices_usd=over))
        jobs.append(Job("tornado", "system prices", i, s.candidates, f"catalog {case}"))
    for sign, f in (("-", 1 - DEMAND_SWING), ("+", 1 + DEMAND_SWING)):
        jobs.append(Job("tornado", "demand", _gap(scale_demand(inst, f)), s.candidates,
                        f"{sign}{DEMAND_SWING:.0%}"))
    return jobs


def start_jobs(s: Solved, catalog: Catalog, backend: str | None = None, workers: int | None = None) -> None:
    """Start every re-solve of the proposal (alternatives, then tornado) in the background."""
    s.jobs = alternative_jobs(s, catalog) + tornado_jobs(s, catalog)
    s.pending = Batch([(j.instance, j.candidates) for j in s.jobs], catalog, backend, workers)


def compare(s: Solved, catalog: Catalog, backend: str | None = None,
            workers: int | None = None) -> tuple[list[Alternative], list[TornadoBar]]:
    """The alternatives and the tornado, from the re-solves (started here unless already running)."""
    if s.pending is None:
        start_jobs(s, catalog, backend, workers)
    results = s.pending.results()
    s.pending = None
    plan, base = s.plan, annual_cost(s.plan)
    chosen = {family(catalog, a) for a in plan.fleet.gpus}
    alt_rows, tor = [], []
    for j, r in zip(s.jobs, results, strict=True):
        if j.section == "tornado":
            tor.append((j, r))
        elif chosen == {j.name.removeprefix("best on ")}:
            alt_rows.append(_row(j.name, "family", plan, base, "the chosen plan"))
        else:
            alt_rows.append(_row(j.name, "family" if j.name.startswith("best on") else "rent-vs-buy", r, base,
                                 j.note))
    alts = [Alternative("chosen plan", "chosen", _accelerators(plan), base, plan.fleet.capex_usd,
                        plan.fleet.output_tok_s, plan.fleet.usd_per_mtok, 0.0, 0.0)]
    alts += sorted(alt_rows, key=lambda a: (a.kind != "family", a.name)) + _runner_up(plan, base)
    bars = []
    for (lo_j, lo_r), (hi_j, hi_r) in zip(tor[::2], tor[1::2], strict=True):
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
