"""Assumptions (every catalog figure the plan used, with source and date, assumed ones flagged) and risks."""

from __future__ import annotations

from collections import Counter

from planner.catalog.catalog import Catalog
from planner.catalog.schema_base import Entry, PriceRange
from planner.catalog.schemas import Model, QualityScore, _norm
from planner.optimize.instance import Instance
from planner.optimize.problem import Problem
from planner.perf.slo_policy import no_ttft_target_words
from planner.plan import Plan
from planner.proposal.bom import most_rented
from planner.proposal.model import Assumption, BomLine, Risk

WIDE_PRICE_RANGE = 0.4  # (high - low) / base above which a price is a risk
LARGE_ERROR_PCT = 25.0  # median |predicted / published - 1| above which predictions are a risk
MATERIAL_SHARE = 0.05  # a price range matters when its spread moves capex by more than this share
LIMIT_FAMILIES = ("supply", "rent_supply", "site_power", "budget_capex", "budget_hourly", "existing", "rack_count")


def _field(topic: str, e: Entry, name: str, value: str) -> Assumption:
    p = e.provenance.get(name)
    src = (p.source if p and p.source else None) or ("assumption (no source)" if p and p.assumed
                                                      else e.sources[0].url)
    reason = (p.reason or "") if p else ""
    if p and p.range:
        reason = (reason + "; " if reason else "") + f"sources range {p.range[0]:g}-{p.range[1]:g}"
    return Assumption(topic, f"{e.id}: {name}", value, src, "", bool(p and p.assumed), reason)


def _money(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.4g}"


def _price(topic: str, item: str, p: PriceRange, unit: str, note: str | None = None) -> Assumption:
    value = f"{_money(p.base_usd)} {unit} (low {_money(p.low_usd)}, high {_money(p.high_usd)})"
    reason = "; ".join(x for x in (p.reason, note) if x)
    return Assumption(topic, item, value, p.source, p.date, p.assumed, reason)


def assumptions(plan: Plan, problem: Problem, inst: Instance, catalog: Catalog,
                bom: list[BomLine]) -> list[Assumption]:
    out: list[Assumption] = []
    fl = plan.fleet
    rented = most_rented(plan)
    for sid in sorted(fl.servers):
        s = catalog.systems[sid]
        if sid in problem.economics.system_prices_usd:
            out.append(Assumption("systems", f"{sid}: price", f"{inst.systems[sid].price_usd:,.0f} USD",
                                  "problem file", "", False))
        else:
            out.append(_price("systems", f"{sid}: price", s.price, "USD", s.notes))
        out.append(_field("systems", s, "nameplate_power_kw", f"{s.nameplate_power_kw:g} kW"))
        if s.rack_units:
            out.append(_field("systems", s, "rack_units", f"{s.rack_units} U"))
        out.append(_field("systems", s, "scale_out_nics", s.scale_out_nics))
    for aid in sorted(fl.gpus):
        a = catalog.accelerators[aid]
        out.append(_field("accelerators", a, "tdp_w", f"{a.tdp_w:g} W"))
        out.append(_field("accelerators", a, "hbm_bandwidth_tb_s", f"{a.hbm_bandwidth_tb_s:g} TB/s"))
    for r in sorted(catalog.rental_prices.values(), key=lambda r: r.id):
        if r.system in rented:  # every system rented in some hour, not only in the peak class
            out.append(_price("rentals", r.id, r.usd_per_gpu_hour, "USD/GPU-h", r.notes))
    for rid in sorted({r.rack_type for r in fl.racks} & set(catalog.racks)):
        r = catalog.racks[rid]
        if r.price:
            out.append(_price("racks", f"{rid}: price", r.price, "USD", r.notes))
        out.append(_field("racks", r, "max_power_kw", f"{r.max_power_kw:g} kW"))
    used_network = {b.item.split(" (")[0] for b in bom if b.section == "Scale-out network"}
    for item in sorted(used_network & set(catalog.network)):
        n = catalog.network[item]
        out.append(_price("network", item, n.price, "USD", n.notes))
    out += _economics(problem, inst, catalog)
    floors = {(d.model, d.effort or "", inst.workloads[d.workload].floor_benchmark) for d in plan.deployments
              if d.workload in inst.workloads and inst.workloads[d.workload].floor_benchmark}
    for mid, effort, bench in sorted(floors):
        q = _floor_score(catalog.models[mid], effort or None, bench)
        if q is not None:
            at = f" ({effort})" if effort else ""
            out.append(Assumption("models", f"{mid}{at}: {q.benchmark} (quality floor)", f"{q.score:g}", q.source,
                                  "", False, q.setting or ""))
    for mid, pid in sorted({(d.model, d.precision) for d in plan.deployments}):
        m = catalog.models[mid]
        if pid != m.native_precision:
            rec, src = catalog.precisions[pid].recovery_for(m.family, m.id)
            out.append(Assumption("models", f"{mid} at {pid}: quality recovery", f"{rec:.3f}", src, "",
                                  src.startswith("no published")))
    # the plan's own record says where the rule held and at what share of saturation (utilization_cap)
    held = {w.workload: w.utilization_cap for w in plan.workloads if w.utilization_cap is not None}
    for wid in sorted({d.workload for d in plan.deployments} & set(held)):
        words = no_ttft_target_words(held[wid])
        out.append(Assumption("performance", f"{wid}: each replica's request rate", words,
                              "planner.perf.assumptions (no_ttft_target_utilization)", "", True,
                              "toward saturation the queue's waits grow without bound"))
    out.append(Assumption("performance", "efficiency parameters", "fitted and derived per accelerator",
                          "catalogs/calibration/efficiency.yaml (planner calibrate)", "", False,
                          "predictions: see planner calibrate for the error against published results"))
    return out


def _floor_score(model: Model, effort: str | None, benchmark: str) -> QualityScore | None:
    """The score the deployment's quality rests on: its effort level's own, else the model's list (its default
    effort's), as catalog.quality.quality_of takes it (the list alone showed a thinking score beside a
    non-thinking deployment)."""
    level = model.effort(effort) if effort is not None else None
    own = next((q for q in level.quality if _norm(q.benchmark) == _norm(benchmark)), None) if level else None
    if own is not None or (effort is not None and effort != model.default_effort):
        return own
    return next((q for q in model.quality if _norm(q.benchmark) == _norm(benchmark)), None)


def _economics(problem: Problem, inst: Instance, catalog: Catalog) -> list[Assumption]:
    spec = problem.economics
    e = catalog.economics.get(spec.id)
    out = []
    for name, value in (("amortization_years", f"{inst.amortization_years:g} years"),
                        ("cost_of_capital", f"{inst.cost_of_capital:.1%}"),
                        ("maintenance_fraction_per_year", f"{inst.maintenance_fraction:.1%}"),
                        ("network_fraction_of_capex", f"{inst.network_fraction:.1%}")):
        if getattr(spec, name) is not None or e is None:
            out.append(Assumption("economics", name, value, "problem file", "", False))
        else:
            out.append(_field("economics", e, name, value))
    if spec.electricity_usd_per_kwh is not None or e is None:
        out.append(Assumption("economics", "electricity", f"{inst.electricity_usd_per_kwh:g} USD/kWh",
                              "problem file", "", False))
    else:
        out.append(_price("economics", f"{e.id}: electricity", e.electricity_usd_per_kwh, "USD/kWh", e.notes))
    site = catalog.sites.get(problem.site.id) if problem.site.id else None
    if site is not None and problem.site.pue is None:
        out.append(_field("site", site, "pue", f"{site.pue:g}"))
    else:
        out.append(Assumption("site", "pue", f"{inst.pue:g}", "problem file" if problem.site.pue else
                              "planner default (new AI facility)", "", problem.site.pue is None))
    if site is not None and problem.site.facility_usd_per_kw_month is None:
        out.append(_price("site", f"{site.id}: facility cost", site.facility_usd_per_kw_month, "USD/kW-month"))
    return out


def risks(plan: Plan, inst: Instance, catalog: Catalog, bom: list[BomLine],
          errors_pct: dict[str, float | None]) -> list[Risk]:
    out: list[Risk] = []
    fl = plan.fleet
    for b in plan.binding:
        if b.family in LIMIT_FAMILIES:
            severity = "high" if b.family in ("supply", "site_power") else "medium"
            out.append(Risk("limit reached", severity, b.message))
    for line in bom:
        lo, hi = line.unit_low_usd, line.unit_high_usd
        if line.unit_price_usd > 0 and lo is not None and hi is not None \
                and (hi - lo) / line.unit_price_usd > WIDE_PRICE_RANGE \
                and line.quantity * (hi - lo) > MATERIAL_SHARE * fl.capex_usd:
            out.append(Risk("price range", "medium",
                            f"{line.item}: unit price ${lo:,.0f}-${hi:,.0f} around ${line.unit_price_usd:,.0f} "
                            f"(${line.quantity * lo:,.0f}-${line.quantity * hi:,.0f} for {line.quantity:,.0f})"))
    assumed = sum(b.extended_usd for b in bom if b.assumed and b.recurrence == "one-time" and b.extended_usd > 0)
    if fl.capex_usd and assumed:
        out.append(Risk("assumed prices", "medium" if assumed / fl.capex_usd > 0.25 else "low",
                        f"{assumed / fl.capex_usd:.0%} of capex rests on prices marked assumed in the catalog"))
    for acc in sorted(fl.gpus):
        err = errors_pct.get(acc)
        if err is None:
            out.append(Risk("prediction error", "medium", f"{acc}: no published benchmark checks the performance "
                            "model on this accelerator; throughput and latency are unvalidated predictions"))
        elif err > LARGE_ERROR_PCT:
            out.append(Risk("prediction error", "high", f"{acc}: median error {err:.0f}% against published "
                            "results (planner calibrate); size a pilot before the full purchase"))
    for line in bom:
        if line.item == "network allowance balance" and line.unit_price_usd < 0:
            out.append(Risk("network estimate", "medium", f"the itemized scale-out network exceeds the plan's "
                            f"network allowance by ${-line.unit_price_usd:,.0f}: capex may be that much higher"))
    vendors = {catalog.accelerators[a].vendor for a in fl.gpus}
    if len(vendors) == 1 and fl.gpus:
        out.append(Risk("single vendor", "low", f"every accelerator is from {vendors.pop()}: one supply chain and "
                        "one software stack"))
    if len(fl.racks) == 1:
        out.append(Risk("single rack", "medium", "the whole fleet sits in one rack: a rack power or cooling fault "
                        "stops every workload"))
    per_wl = Counter()
    for d in plan.deployments:
        per_wl[d.workload] += d.replicas
    for w, n in sorted(per_wl.items()):
        if n == 1:
            out.append(Risk("single replica", "medium", f"{w} runs on one replica: no redundancy"))
    if inst.power_limit_kw and fl.facility_power_kw > 0.9 * inst.power_limit_kw:
        share = fl.facility_power_kw / inst.power_limit_kw
        out.append(Risk("site power", "medium", f"facility power {fl.facility_power_kw:,.0f} kW uses {share:.0%} "
                        f"of the site's {inst.power_limit_kw:,.0f} kW"))
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(out, key=lambda r: (order[r.severity], r.kind, r.text))


def prediction_errors(catalog: Catalog, accelerators: list[str]) -> dict[str, float | None]:
    """Median |error| in % of the performance model against published benchmarks, per accelerator."""
    from planner.perf.fidelity import published_fidelity

    pub = published_fidelity(catalog)
    out: dict[str, float | None] = {}
    for a in accelerators:
        rows = pub[(pub["accelerator"] == a) & pub["expressible"].astype(bool)] if len(pub) else pub
        vals = rows["abs_error_pct"].dropna() if len(rows) else []
        out[a] = float(vals.median()) if len(vals) else None
    return out
