"""Plan + problem + catalog -> `Proposal` (all content computed here; planner.report renders it)."""

from __future__ import annotations

from collections import Counter

from planner.catalog.catalog import Catalog
from planner.optimize.instance import Instance, WorkloadData
from planner.perf.slo_policy import recorded_basis
from planner.plan import GENERIC_ENGINE, Plan, WorkloadResult
from planner.proposal import alternatives as alt
from planner.proposal.assumptions import assumptions, prediction_errors, risks
from planner.proposal.bom import (
    build_bom,
    horizon_years,
    most_rented,
    opex_usd_per_year,
    profiled,
    tco_by_year,
)
from planner.proposal.model import DeploymentRow, Figure, Proposal, RackDrawing, RackSlot
from planner.proposal.solver import Solved

# The performance model's own calibrated engine, named as plan.json, `solve` and `predict` name it (the proposal
# called it "TRT-LLM-like" beside a plan.json saying `generic`: a buyer would plan to run TensorRT-LLM on it).


def _engine(d) -> str:
    """The deployment's engine; `generic` (empty in older plans) for the performance model's calibrated one."""
    e = getattr(d, "engine", None)
    return e or GENERIC_ENGINE


# What the plan's economics (revenue, profit, investment view) adds to the summary, where present.
ECONOMICS_FIGURES = (
    ("revenue_usd_per_year", "Revenue per year", "usd_per_year", 1.0),
    ("profit_usd_per_year", "Profit per year (after capital charge)", "usd_per_year", 1.0),
    ("gross_margin", "Gross margin", "pct", 100.0),
    ("payback_years", "Payback", "years", 1.0),
    ("npv_usd", "Net present value", "usd", 1.0),
    ("irr", "Internal rate of return", "pct", 100.0),
    ("utilization", "Average utilization (served / capacity)", "pct", 100.0),
)


def figures(s: Solved) -> list[Figure]:
    fl = s.plan.fleet
    econ = getattr(s.plan, "economics", None)
    # year-average load, from the plan's economics; a plan.json without them (an older planner's, which `propose
    # --plan` takes: it verifies without them where the objective is not money by value) has the fleet's own
    # figure at the stated average demand (the proposal's own sum missed the peak factor of a rate demand: 2.5x)
    at_avg = getattr(econ, "usd_per_mtok_served", None)
    if at_avg is None:
        at_avg = fl.usd_per_mtok_at_average
    out = [
        Figure("capex_usd", "Capex (servers, network, racks)", fl.capex_usd, "usd"),
        Figure("opex_usd_per_year", "Operating cost per year", opex_usd_per_year(s.plan), "usd_per_year",
               "energy, facility, maintenance, rentals"),
        Figure("annual_cost_usd", "Total cost per year (capex annualized)", alt.annual_cost_usd(s.plan),
               "usd_per_year", "capital recovery + operating cost"),
        Figure("usd_per_mtok", "$ per million output tokens at capacity", fl.usd_per_mtok, "usd_per_mtok"),
        Figure("usd_per_mtok_at_average", "$ per million output tokens at average load", at_avg, "usd_per_mtok"),
        Figure("tokens_per_usd", "Output tokens per $ at capacity", fl.tokens_per_usd, "tokens_per_usd"),
        Figure("tokens_per_kwh", "Output tokens per kWh (owned)", fl.tokens_per_kwh, "tokens_per_kwh"),
        Figure("output_tok_s", "Output tokens/s at capacity", fl.output_tok_s, "tok_s"),
        Figure("facility_power_kw", "Site power (IT nameplate x PUE)", fl.facility_power_kw, "kw"),
        Figure("it_power_kw", "IT power nameplate", fl.it_power_kw, "kw"),
    ]
    if econ is not None:
        for key, label, unit, scale in ECONOMICS_FIGURES:
            v = getattr(econ, key, None)
            if v is not None:
                out.append(Figure(f"economics.{key}", label, float(v) * scale, unit))
    return out


def buy_summary(plan: Plan, catalog: Catalog) -> list[str]:
    fl = plan.fleet
    out = []
    terms = getattr(fl, "rental_terms", None) or {}
    for label, table in (("buy", fl.servers_new), ("keep", fl.servers_existing)):
        for sid, n in sorted(table.items()):
            s = catalog.systems[sid]
            out.append(f"{label} {n} x {sid} ({n * s.accelerator_count} x {s.accelerator})")
    for sid, (n, hours) in most_rented(plan).items():  # with demand profiles, each system's busiest hours
        s = catalog.systems[sid]
        term = f", {terms[sid]} term" if sid in terms else ""
        when = f"; most in {hours}" if hours else ""
        out.append(f"rent {'up to ' if hours else ''}{n} x {sid} ({n * s.accelerator_count} x {s.accelerator}"
                   f"{term}{when})")
    if fl.racks:
        kinds = Counter(r.rack_type for r in fl.racks)
        out.append("in " + ", ".join(f"{n} x {k} rack{'s' if n > 1 else ''}" for k, n in sorted(kinds.items())))
    return out


def _serving(d) -> str:
    """Serving mode (a disaggregated replica's prefill and decode instances), speculative decoding, reasoning
    effort and checkpoint where the plan records them. A disaggregated row said only "disaggregated" beside 14
    GPUs for 2 replicas of TP1, and a speculative deployment did not say it runs a draft."""
    mode = d.serving
    p, n = getattr(d, "prefill_instances", None), getattr(d, "decode_instances", None)
    if mode == "disaggregated" and p and n:
        pre = f"TP{d.prefill_tp or d.tp} PP{d.prefill_pp or d.pp}"
        mode += f" ({p} prefill {pre} + {n} decode instances a replica)"
    spec = getattr(d, "speculative", None)
    extra = [f"speculative {spec}"] if spec and spec != "none" else []
    extra += [f"{k} {getattr(d, k)}" for k in ("effort", "checkpoint") if getattr(d, k, None)]
    return ", ".join([mode, *extra])


def _target_ms(w: WorkloadResult | WorkloadData | None, kind: str) -> float | None:
    """A workload's TTFT/TPOT target in ms, None where it has none: a plan's WorkloadResult records None (its
    `ttft_s` is what the plan achieves), an instance's WorkloadData has no TTFT target where `has_ttft_target`
    is false."""
    if w is None:
        return None
    if isinstance(w, WorkloadResult):
        v = getattr(w, f"{kind}_target_s")
        return None if v is None else 1000 * v
    if kind == "ttft" and not w.has_ttft_target:
        return None
    return 1000 * getattr(w, f"{kind}_target_s")


def _basis(plan: Plan, r: WorkloadResult | None) -> str:
    """What the workload's targets hold at, as solve's Targets table says it (a plan without the workload's
    result predates recorded percentiles: solved against means)."""
    return "mean" if r is None else recorded_basis(r.slo_basis, r.slo_percentile, plan.servings_of(r.workload))


def _floor(w: WorkloadResult | WorkloadData | None) -> str:
    """A workload's quality floor in words, as the plan records it (else as the instance has it)."""
    if isinstance(w, WorkloadResult):
        bench, score = w.quality_floor_benchmark, w.quality_floor_score
    elif w is not None:
        bench, score = w.floor_benchmark, w.floor_score
    else:
        return "-"
    return f"{bench} >= {score:g}" if bench and score is not None else "-"


def deployment_rows(s: Solved) -> list[DeploymentRow]:
    """Each deployment beside its workload's targets, as the plan records them (else as the instance has them)."""
    out = []
    recorded = {r.workload: r for r in s.plan.workloads}
    for d in s.plan.deployments:
        r = recorded.get(d.workload)
        w = r if r is not None and r.tpot_target_s is not None else s.instance.workloads.get(d.workload)
        par = f"TP{d.tp} PP{d.pp}" + (f" EP{d.ep}" if d.ep > 1 else "") + (
            f" attn-DP{d.attn_dp}" if d.attn_dp > 1 else "")
        out.append(DeploymentRow(
            d.workload, d.model, d.precision, d.kv_precision, _engine(d),
            d.accelerator, d.system, d.mode, par, _serving(d), d.replicas, d.gpus, d.output_tok_s, d.ttft_s * 1000,
            _target_ms(w, "ttft"), d.tpot_s * 1000, _target_ms(w, "tpot"),
            _basis(s.plan, r), d.quality, _floor(w),
        ))
    return out


def deployments_note(plan: Plan) -> str:
    """What the rows' counts are where it is not obvious: a profiled plan's are its peak class's, and rows of 0
    replicas (configurations that run only off-peak) stood unexplained beside the others."""
    if not profiled(plan):
        return ""
    return ("Replicas, GPUs and output tok/s are the peak hour class's; a row with 0 replicas runs only in other "
            "hours (the hour classes are in plan.json `hourly`).")


def rack_drawings(plan: Plan, inst: Instance, catalog: Catalog) -> list[RackDrawing]:
    groups: Counter = Counter()
    for r in plan.fleet.racks:
        groups[(r.rack_type, tuple(sorted(r.systems.items())), round(r.power_kw, 6), r.rack_units_used)] += 1
    out = []
    for (rtype, systems, kw, used), n in sorted(groups.items()):
        rt = catalog.racks.get(rtype)
        slots = []
        for sid, count in systems:
            sd = catalog.systems[sid]
            slots += [RackSlot(sid, 0 if sd.whole_rack else (sd.rack_units or 1), sd.nameplate_power_kw)] * count
        out.append(RackDrawing(rtype, n, rt.rack_units if rt else 0, rt.max_power_kw if rt else None, kw,
                               used or sum(x.units for x in slots), tuple(slots)))
    return out


def build_proposal(s: Solved, catalog: Catalog, *, title: str | None, date: str,
                   backend: str | None = None, workers: int | None = None) -> Proposal:
    plan, inst = s.plan, s.instance
    bom, net_notes = build_bom(plan, inst, catalog, s.problem.economics)
    years = horizon_years(inst)
    errors = prediction_errors(catalog, sorted(plan.fleet.gpus))
    alternatives, tornado = alt.compare(s, catalog, backend, workers)
    return Proposal(
        title=title or f"Inference fleet proposal: {plan.problem}",
        date=date,
        problem=plan.problem,
        description=s.problem.description or "",
        objective=plan.objective,
        status=plan.status,
        buy_summary=tuple(buy_summary(plan, catalog)),
        figures=tuple(figures(s)),
        deployments=tuple(deployment_rows(s)),
        deployments_note=deployments_note(plan),
        racks=tuple(rack_drawings(plan, inst, catalog)),
        bom=tuple(bom),
        horizon_years=years,
        cost_of_capital=inst.cost_of_capital,
        tco=tuple(tco_by_year(plan, years)),
        alternatives=tuple(alternatives),
        base_usd_per_year=alt.annual_cost_usd(plan),
        tornado=tuple(tornado),
        assumptions=tuple(assumptions(plan, s.problem, inst, catalog, bom)),
        risks=tuple(risks(plan, inst, catalog, bom, errors)),
        notes=tuple(net_notes) + tuple(plan.notes),
    )
