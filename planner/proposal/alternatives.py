"""Alternatives (best plan per accelerator family, rent vs buy, runner-up) and the cost tornado, by re-solves
on the chosen plan's candidate table (planner.proposal.solver.resolve)."""

from __future__ import annotations

from planner.catalog.catalog import Catalog
from planner.economics import HOURS_PER_YEAR
from planner.plan import Plan
from planner.proposal.model import Alternative, TornadoBar
from planner.proposal.solver import Solved, instance_for, rent_only, resolve, scale_demand

DEMAND_SWING = 0.2
UTILIZATION_LOW = 0.5  # average load as a share of the modelled (peak) operating point


def family(catalog: Catalog, accelerator: str) -> str:
    """`Hopper (sm_90)` -> Hopper; `Blackwell Ultra (sm_103)` -> Blackwell: one family per generation."""
    arch = catalog.accelerators[accelerator].architecture
    return arch.split("(")[0].split()[0]


def annual_cost(plan: Plan) -> float:
    return plan.fleet.cost_usd_per_hour * HOURS_PER_YEAR


def _accelerators(plan: Plan) -> str:
    return ", ".join(f"{n} x {a}" for a, n in sorted(plan.fleet.gpus.items()))


def _row(name: str, kind: str, got: Plan | str, base: float) -> Alternative:
    if isinstance(got, str):
        return Alternative(name, kind, "-", None, None, None, None, None, None, got)
    cost = annual_cost(got)
    return Alternative(name, kind, _accelerators(got), cost, got.fleet.capex_usd, got.fleet.output_tok_s,
                       got.fleet.usd_per_mtok, cost - base, 100 * (cost - base) / base if base else None)


def alternatives(s: Solved, catalog: Catalog, backend: str | None = None) -> list[Alternative]:
    plan, base = s.plan, annual_cost(s.plan)
    out = [Alternative("chosen plan", "chosen", _accelerators(plan), base, plan.fleet.capex_usd,
                       plan.fleet.output_tok_s, plan.fleet.usd_per_mtok, 0.0, 0.0)]
    cands = s.candidates
    fams = {a: family(catalog, a) for a in sorted(set(cands["accelerator"]))}
    chosen = {family(catalog, a) for a in plan.fleet.gpus}
    for fam in sorted(set(fams.values())):
        if chosen == {fam}:
            out.append(Alternative(f"best on {fam}", "family", _accelerators(plan), base, plan.fleet.capex_usd,
                                   plan.fleet.output_tok_s, plan.fleet.usd_per_mtok, 0.0, 0.0,
                                   "the chosen plan is all " + fam))
            continue
        sub = cands[cands["accelerator"].map(fams) == fam]
        out.append(_row(f"best on {fam}", "family", resolve(s.instance, sub, catalog, backend), base))
    if plan.fleet.servers_new or plan.fleet.servers_existing:
        inst, rent = rent_only(s.instance, cands)
        out.append(_row("rent everything", "rent-vs-buy", resolve(inst, rent, catalog, backend), base))
    elif plan.fleet.servers_rented:
        own = cands[cands["mode"] == "own"]
        out.append(_row("buy everything", "rent-vs-buy", resolve(s.instance, own, catalog, backend), base))
    ru = plan.runner_up
    if ru is not None:
        per_year = plan.objective == "min_cost" and ru.difference is not None
        out.append(Alternative(
            f"runner-up (without {ru.excluded_accelerator})", "runner-up", ", ".join(ru.accelerators) or "-",
            base + ru.difference * HOURS_PER_YEAR if per_year else None, None, None, None,
            ru.difference * HOURS_PER_YEAR if per_year else None, ru.difference_pct if per_year else None,
            ru.message,
        ))
    return out


def tornado(s: Solved, catalog: Catalog, backend: str | None = None) -> list[TornadoBar]:
    """Annual total cost when one driver moves to its low and high value, re-solved each time."""
    inst, econ = s.instance, s.problem.economics

    def cost(got: Plan | str) -> float | None:
        return None if isinstance(got, str) else annual_cost(got)

    def run(i) -> Plan | str:
        return resolve(i, s.candidates, catalog, backend)

    bars = []
    spec = catalog.economics.get(econ.id)
    if econ.electricity_usd_per_kwh is None and spec is not None:
        lo, hi = spec.electricity_usd_per_kwh.low_usd, spec.electricity_usd_per_kwh.high_usd
    else:
        lo, hi = inst.electricity_usd_per_kwh * 0.75, inst.electricity_usd_per_kwh * 1.25
    res = [run(instance_for(s.problem, catalog, s.where, electricity_usd_per_kwh=x)) for x in (lo, hi)]
    bars.append(TornadoBar("electricity price", f"${lo:.3f}/kWh", f"${hi:.3f}/kWh", cost(res[0]), cost(res[1]),
                           _why(res)))
    prices = []
    for case in ("low", "high"):
        over = {sid: (econ.system_prices_usd[sid] * (0.8 if case == "low" else 1.2)
                      if sid in econ.system_prices_usd else getattr(catalog.systems[sid].price, f"{case}_usd"))
                for sid in inst.systems}
        prices.append(run(instance_for(s.problem, catalog, s.where, system_prices_usd=over)))
    bars.append(TornadoBar("system prices", "catalog low", "catalog high", cost(prices[0]), cost(prices[1]),
                           _why(prices)))
    dem = [run(scale_demand(inst, f)) for f in (1 - DEMAND_SWING, 1 + DEMAND_SWING)]
    bars.append(TornadoBar("demand", f"-{DEMAND_SWING:.0%}", f"+{DEMAND_SWING:.0%}", cost(dem[0]), cost(dem[1]),
                           _why(dem)))
    bars.append(_utilization(s.plan, inst))
    return sorted(bars, key=lambda b: (-b.swing_usd, b.driver))


def _why(results: list) -> str:
    return "; ".join(f"{side}: {r}" for side, r in zip(("low", "high"), results, strict=True) if isinstance(r, str))


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
                      base - saved, base, "same fleet; GPU energy above idle scales with load")
