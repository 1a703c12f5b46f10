"""Alternatives (best plan per accelerator family, rent vs buy, runner-up) and the cost tornado, by re-solves
(planner.proposal.solver): the alternatives on subsets of the chosen plan's candidate table, the tornado's
drivers as problem changes through the sweep engine (planner.sweep.tornado) sharing the solve's CandidateCache.

Two batches: the re-solves that need no plan (alternatives, demand) start beside the main solve; the price
drivers' ends (electricity, system prices: only the objective changes, so the chosen plan stays feasible) start
after it, from the chosen plan, to the proven optimum (mixed-fleet, CPU s: 27 s for the four from scratch to the
0.1% gap, 10 s to the optimum from the plan)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from planner.catalog.catalog import Catalog
from planner.economics import HOURS_PER_YEAR, price_usd
from planner.optimize.instance import Instance
from planner.plan import Plan
from planner.proposal.bom import year_cost_usd_per_hour
from planner.proposal.model import Alternative, TornadoBar
from planner.proposal.solver import Batch, Solved, chosen_start, one_mode, resolve, sweep_resolve
from planner.sweep.tornado import Driver

DEMAND_SWING = 0.2
UTILIZATION_LOW = 0.5  # average load as a share of the modelled (peak) operating point
# Re-solves for alternatives and sensitivity stop at this relative gap (0.1%): they are compared at the percent
# level, and the gap rounds away in the tables' one decimal.
RESOLVE_GAP = 1e-3
# The re-solves that run beside the main solve yield to it: its time limit is wall-clock, and on 2 cores two
# re-solve workers beside the main solve and its side worker took it from 10 s to the 60 s limit on a busy
# machine (a different plan than `planner solve`'s).
NICE_BESIDE_MAIN = 10


def family(catalog: Catalog, accelerator: str) -> str:
    """`Hopper (sm_90)` -> Hopper; `Blackwell Ultra (sm_103)` -> Blackwell: one family per generation."""
    arch = catalog.accelerators[accelerator].architecture
    return arch.split("(")[0].split()[0]


def annual_cost_usd(plan: Plan) -> float:
    """All-in cost a year as the optimizer prices it (year average over the hour classes of a profile)."""
    return year_cost_usd_per_hour(plan) * HOURS_PER_YEAR


def _accelerators(plan: Plan) -> str:
    return ", ".join(f"{n} x {a}" for a, n in sorted(plan.fleet.gpus.items()))


def _row(name: str, kind: str, got: Plan | str, base: float, note: str = "") -> Alternative:
    if isinstance(got, str):
        return Alternative(name, kind, "-", None, None, None, None, None, None, got)
    cost = annual_cost_usd(got)
    return Alternative(name, kind, _accelerators(got), cost, got.fleet.capex_usd, got.fleet.output_tok_s,
                       got.fleet.usd_per_mtok, cost - base, 100 * (cost - base) / base if base else None, note)


@dataclasses.dataclass(frozen=True)
class Job:
    section: str  # alternative | tornado
    name: str
    run: Callable[[], Plan | str]  # the re-solve: plan, or why there is none
    note: str = ""
    candidates: int = 0  # candidate rows it solves on (0: the full table, through the sweep engine)
    from_plan: bool = False  # solved after the main solve, from the plan (`run(start=chosen_start(solved))`)
    family: str = ""  # the accelerator family a "best on" alternative is restricted to ("": not one)


def _gap(i: Instance) -> Instance:
    return dataclasses.replace(i, gap=max(i.gap, RESOLVE_GAP))


def alternative_jobs(s: Solved, catalog: Catalog, backend: str | None = None) -> list[Job]:
    """Re-solves for the alternatives; they need the candidates, not the chosen plan, so they can start first.
    A problem file cannot restrict a solve to one family's candidates or switch every system's mode, so these
    re-solve the instance on a subset of the candidate table."""
    cands = s.candidates
    fams = {a: family(catalog, a) for a in sorted(set(cands["accelerator"]))}

    def job(name: str, inst: Instance, rows, note: str = "", fam: str = "") -> Job:
        return Job("alternative", name, functools.partial(resolve, _gap(inst), rows, catalog, backend), note,
                   len(rows), family=fam)

    jobs = [job(f"best on {fam}", s.instance, cands[cands["accelerator"].map(fams) == fam], fam=fam)
            for fam in sorted(set(fams.values()))]
    if any(sd.buy or sd.existing for sd in s.instance.systems.values()):
        inst, rent = one_mode(s.instance, cands, "rent")
        jobs.append(job("rent everything", inst, rent, "no capex; no power, space or facility cost"))
    else:
        inst, own = one_mode(s.instance, cands, "own")
        jobs.append(job("buy everything", inst, own, "capex at catalog prices"))
    return jobs


def drivers(s: Solved, catalog: Catalog) -> list[Driver]:
    """The tornado's drivers as changes of the problem file: electricity price (the catalog's low/high, else
    +-25%), every system's price together (catalog low/high, or +-20% of the problem's own price), every
    workload's demand together (+-20%)."""
    inst, econ = s.instance, s.problem.economics
    spec = catalog.economics.get(econ.id)
    if econ.electricity_usd_per_kwh is None and spec is not None:
        lo, hi = spec.electricity_usd_per_kwh.low_usd, spec.electricity_usd_per_kwh.high_usd
    else:
        lo, hi = inst.electricity_usd_per_kwh * 0.75, inst.electricity_usd_per_kwh * 1.25
    elec = "economics.electricity_usd_per_kwh"
    out = [Driver("electricity price", {elec: lo}, {elec: hi}, f"${lo:.3f}/kWh", f"${hi:.3f}/kWh",
                  objective_only=True)]

    def price(sid: str, case: str) -> float:
        if sid in econ.system_prices_usd:
            return econ.system_prices_usd[sid] * (0.8 if case == "low" else 1.2)
        return price_usd(catalog.systems[sid].price, case)

    prices = {case: {f"economics.system_prices_usd.{sid}": price(sid, case) for sid in inst.systems}
              for case in ("low", "high")}
    out.append(Driver("system prices", prices["low"], prices["high"], "catalog low", "catalog high",
                      objective_only=True))
    given = [w.id for w in s.problem.workloads if w.demand is not None]
    if given:
        out.append(Driver("demand", {f"workloads.{w}.demand": 1 - DEMAND_SWING for w in given},
                          {f"workloads.{w}.demand": 1 + DEMAND_SWING for w in given},
                          f"-{DEMAND_SWING:.0%}", f"+{DEMAND_SWING:.0%}"))
    return out


def from_plan(s: Solved) -> bool:
    """Whether the price drivers start from the chosen plan: min_cost without hour classes (one MIP whose
    variables `plan_start` names)."""
    from planner.optimize.solve_hourly import uses_hourly_model

    return s.instance.objective == "min_cost" and not uses_hourly_model(s.instance)


def tornado_jobs(s: Solved, catalog: Catalog, backend: str | None = None) -> list[Job]:
    """Pairs of re-solves (low, high) per driver, through the sweep engine with the solve's CandidateCache."""
    from planner.optimize import CandidateCache
    from planner.sweep.tornado import prepare_drivers

    ds = drivers(s, catalog)
    run = prepare_drivers(s.where, s.text, catalog, ds, gap=max(s.instance.gap, RESOLVE_GAP), backend=backend)
    cache = s.cache if s.cache is not None else CandidateCache()
    exact = from_plan(s)
    return [Job("tornado", d.name, functools.partial(sweep_resolve, run, values, cache, exact and late), note,
                from_plan=exact and late)
            for d in ds for values, note in ((d.low, d.low_note), (d.high, d.high_note))
            for late in [d.objective_only]]


def start_jobs(s: Solved, catalog: Catalog, backend: str | None = None, workers: int | None = None) -> None:
    """Start the re-solves that need no plan in the background: the tornado's first (whole candidate table, the
    longest), then the alternatives (queued last, so the one the chosen plan makes unneeded can be cancelled).
    Those from the chosen plan wait for `compare`."""
    s.jobs = tornado_jobs(s, catalog, backend) + alternative_jobs(s, catalog, backend)
    s.pending = Batch([j.run for j in s.jobs if not j.from_plan], workers, nice=NICE_BESIDE_MAIN)


def _results(s: Solved, skip: set[int], workers: int | None) -> list:
    """Every job's result in job order: the running batch's, then those from the chosen plan (a batch of their
    own, started now that the plan is there)."""
    early = [i for i, j in enumerate(s.jobs) if not j.from_plan]
    late = [i for i, j in enumerate(s.jobs) if j.from_plan]
    start = chosen_start(s) if late else None
    later = Batch([functools.partial(s.jobs[i].run, start=start) for i in late], workers) if late else None
    try:
        got = dict(zip(early, s.pending.results(skip={k for k, i in enumerate(early) if i in skip}), strict=True))
    except BaseException:  # Ctrl-C, a worker lost: the plan's re-solves stop where they have not started
        if later is not None:
            later.cancel()
        raise
    finally:
        s.pending = None
    if later is not None:
        got.update(zip(late, later.results(), strict=True))
    return [got[i] for i in range(len(s.jobs))]


def compare(s: Solved, catalog: Catalog, backend: str | None = None,
            workers: int | None = None) -> tuple[list[Alternative], list[TornadoBar]]:
    """The alternatives and the tornado, from the re-solves (started here unless already running)."""
    if s.pending is None:
        start_jobs(s, catalog, backend, workers)
    plan, base = s.plan, annual_cost_usd(s.plan)
    chosen = {family(catalog, a) for a in plan.fleet.gpus}
    # the chosen family's best plan is the plan itself: its re-solve is cancelled where it has not started
    unused = {i for i, j in enumerate(s.jobs) if j.family and chosen == {j.family}}
    results = _results(s, unused, workers)
    alt_rows, tor = [], []
    for j, r in zip(s.jobs, results, strict=True):
        if j.section == "tornado":
            tor.append((j, r))
        elif j.family and chosen == {j.family}:
            alt_rows.append(_row(j.name, "family", plan, base, "the chosen plan"))
        else:
            alt_rows.append(_row(j.name, "family" if j.family else "rent-vs-buy", r, base, j.note))
    alts = [Alternative("chosen plan", "chosen", _accelerators(plan), base, plan.fleet.capex_usd,
                        plan.fleet.output_tok_s, plan.fleet.usd_per_mtok, 0.0, 0.0)]
    alts += sorted(alt_rows, key=lambda a: (a.kind != "family", a.name)) + _runner_up(plan, base)
    bars = []
    for (lo_j, lo_r), (hi_j, hi_r) in zip(tor[::2], tor[1::2], strict=True):
        why = "; ".join(f"{j.note}: {r}" for j, r in ((lo_j, lo_r), (hi_j, hi_r)) if isinstance(r, str))
        bars.append(TornadoBar(lo_j.name, lo_j.note, hi_j.note, _usd_per_year(lo_r), _usd_per_year(hi_r), why))
    bars.append(_utilization(plan, s.instance))
    return alts, sorted(bars, key=lambda b: (-b.swing_usd, b.driver))


def _usd_per_year(got: Plan | str) -> float | None:
    return None if isinstance(got, str) else annual_cost_usd(got)


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
    saved_usd_per_year = ((1 - UTILIZATION_LOW) * dynamic_w / 1000 * inst.pue * inst.electricity_usd_per_kwh
                          * HOURS_PER_YEAR)
    base_usd_per_year = annual_cost_usd(plan)
    return TornadoBar("utilization", f"{UTILIZATION_LOW:.0%} of modelled load", "100% (as planned)",
                      base_usd_per_year - saved_usd_per_year, base_usd_per_year,
                      "same fleet; GPU energy above idle scales with load (no re-solve)")
