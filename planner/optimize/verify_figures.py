"""The second half of `verify`: every figure of a plan that a reader takes away, re-derived from the problem,
the catalog and the plan's own deployments and servers, so that no number in plan.json is taken on trust.

`verify.py` checks the constraints (demand, supply, domains, racks, site power, budgets) and the cost, capex,
IT power and objective; this module checks everything else: that no number is NaN or infinite, that the
status agrees with the gap and the gap with the objective and bound, that each deployment's key names its own
fields, its total tok/s and quality; the fleet's server counts, throughput, average power, opex, cost
breakdown and headline ratios (tokens per $, $ per Mtok, tokens per kWh); each rack's power and units; each
workload's demand, targets and achieved values; the limits it reports; the catalog fingerprint; the
runner-up's difference. Shares no code with the MIP or the plan extraction.

Not re-derivable, so not checked: wall-clock fields (`solve_time_s`, `timing`), `iterations` and `candidates`
(counts of the solver's and the candidate generator's work; re-deriving them would mean re-running both).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from planner.catalog.catalog import Catalog
from planner.catalog.fingerprint import catalog_fingerprint
from planner.catalog.quality import quality_of
from planner.optimize.instance import Instance
from planner.optimize.verify_cost import HOURS_PER_YEAR, cost_parts_usd_per_hour, owned_avg_w, rack_capex_usd
from planner.perf.slo_policy import utilization_cap
from planner.plan import PLAN_FORMAT_VERSION, Plan

UNVERIFIABLE = ("solve_time_s", "timing", "iterations", "candidates")
FIG_TOL = 5e-5  # figures derived from figures each rounded to 6 significant digits in plan.json
GAP_ABS = 1e-9
OBJECTIVE_UNITS = {
    "min_cost": "USD/h",
    "max_throughput": "output tok/s",
    "max_tokens_per_dollar": "output tokens/USD",
    "max_profit": "USD/h profit (revenue - all-in cost)",
}

Check = Callable[[bool, str], None]


def _close(a: float | None, b: float | None, tol: float = FIG_TOL) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def _numbers(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(node, float | int) and not isinstance(node, bool):
        yield path, node


def check_finite(plan: Plan, check: Check) -> bool:
    """Every number in the plan is finite (a forged `Infinity` compares equal to itself in a closeness test)."""
    bad = [p for p, x in _numbers(plan.model_dump(), "") if isinstance(x, float) and not math.isfinite(x)]
    check(not bad, f"not finite numbers: {', '.join(bad[:10])}")
    return not bad


def check_plan_figures(plan: Plan, inst: Instance, catalog: Catalog | None, check: Check) -> None:
    """Every re-derivable figure of `plan` (see the module docstring), each mismatch one violation."""
    if not check_finite(plan, check):
        return
    check_integrity(plan, check)
    if catalog is not None and plan.catalog_fingerprint:
        now = catalog_fingerprint(catalog)
        check(now == plan.catalog_fingerprint,
              f"the plan was solved with catalog {plan.catalog_fingerprint}, this catalog is {now}: verify with "
              "the same catalog folders (--catalog), or solve again")
    _check_status(plan, inst, check)
    _check_deployment_figures(plan, inst, catalog, check)
    _check_fleet_figures(plan, inst, check)
    _check_workload_figures(plan, inst, check)
    _check_limits(plan, inst, check)
    _check_economics_figures(plan, inst, check)
    _check_runner_up(plan, check)


def check_side_figures(plan: Plan, check: Check) -> None:
    """The figures of the side re-solves (runner-up, price_of) alone: `planner solve` verifies the rest of the
    plan while they are still being solved in a worker (`pipeline`), then these once they are in. Together the
    same checks as `check_plan_figures` makes of them."""
    parts = {"runner_up": plan.runner_up.model_dump() if plan.runner_up is not None else None,
             "price_of": {k: p.model_dump() for k, p in (plan.price_of or {}).items()}}
    bad = [p for p, x in _numbers(parts, "") if isinstance(x, float) and not math.isfinite(x)]
    check(not bad, f"not finite numbers: {', '.join(bad[:10])}")
    if bad:
        return
    _check_runner_up(plan, check)
    _check_price_of(plan, check)


def check_integrity(plan: Plan, check: Check) -> None:
    """The plan's format, and its embedded problem against the hash taken when it was solved. (Whoever forges
    a plan can recompute the hash too: against forgery, give verify your own problem file.)"""
    check(plan.format_version in (0, PLAN_FORMAT_VERSION),
          f"format_version {plan.format_version}: this planner writes {PLAN_FORMAT_VERSION}")
    if plan.problem_yaml is not None and plan.problem_sha256 is not None:
        digest = hashlib.sha256(plan.problem_yaml.encode("utf-8")).hexdigest()
        check(digest == plan.problem_sha256,
              "problem_yaml does not match problem_sha256: the embedded problem was edited after the solve")


def _check_status(plan: Plan, inst: Instance, check: Check) -> None:
    obj, bound = plan.objective_value, plan.best_bound
    check(obj is not None, f"status {plan.status} but no objective value")
    if obj is None:
        return
    if bound is None:  # CBC reports no bound: then no gap, and no proof of optimality
        check(plan.gap is None, f"a gap of {plan.gap} without a best bound")
        check(plan.status != "optimal", "status optimal without a best bound")
        return
    slack = FIG_TOL * max(1.0, abs(obj))
    maximize = plan.objective != "min_cost"
    wrong_side = bound < obj - slack if maximize else bound > obj + slack
    check(not wrong_side, f"best bound {bound:g} is on the wrong side of the objective {obj:g} (a "
          f"{'maximum cannot exceed its upper' if maximize else 'minimum cannot be below its lower'} bound)")
    diff = abs(obj - bound)
    gap = 0.0 if diff <= GAP_ABS else diff / max(abs(obj), 1e-9)
    # objective and bound are each rounded to 6 significant digits in plan.json: the gap may move by 2e-5
    check(plan.gap is not None and abs(plan.gap - gap) <= 2 * FIG_TOL * max(1.0, abs(bound) / max(abs(obj), 1e-9)),
          f"gap {plan.gap} in the plan, {gap:.6g} from its objective {obj:g} and bound {bound:g}")
    if plan.status == "optimal":
        # the solvers stop at the problem's relative gap (or 1e-6 absolute); plan.json rounding adds ~1e-5
        check(gap <= inst.gap * 1.01 + 2e-5 or diff <= 1e-6 + slack,
              f"status optimal with a gap of {gap:.3g} (the problem's solver.gap is {inst.gap:g})")


def expected_key(d, multi_kv: bool) -> str:
    par = _parallel(d.tp, d.pp, d.ep, d.attn_dp)
    serving = "agg" if d.serving == "aggregated" else "disagg"
    pre = (d.prefill_tp, d.prefill_pp, d.prefill_ep, d.prefill_attn_dp)
    if d.serving != "aggregated" and d.prefill_tp is not None and pre != (d.tp, d.pp, d.ep, d.attn_dp):
        serving += "-prefill-" + _parallel(*(x or 1 for x in pre))  # the prefill instances' own layout
    key = "/".join([d.workload, d.model, d.system, d.precision, par, f"b{d.batch}", serving])
    if multi_kv:
        key += f"/kv-{d.kv_precision}"
    if d.speculative not in ("", "none"):
        key += f"/spec-{d.speculative}"
    return key + ("/rent" if d.mode == "rent" else "")


def _parallel(tp, pp, ep, dp) -> str:
    return f"tp{tp}pp{pp}" + (f"ep{ep}" if ep > 1 else "") + (f"dp{dp}" if dp > 1 else "")


def _quality_of(catalog: Catalog, model: str, precision: str, benchmark: str | None,
                effort: str | None = None) -> float | None:
    if model not in catalog.models or precision not in catalog.precisions:
        return None
    return quality_of(catalog, model, precision, benchmark, effort)


def _output_multiplier(catalog: Catalog | None, model: str, effort: str | None) -> float:
    if catalog is None or effort is None or model not in catalog.models:
        return 1.0
    level = catalog.models[model].effort(effort)
    return level.output_multiplier if level is not None else 1.0


def _check_deployment_figures(plan: Plan, inst: Instance, catalog: Catalog | None, check: Check) -> None:
    for d in plan.deployments:
        w = inst.workloads.get(d.workload)
        if w is None:
            continue  # verify.py names the unknown workload
        multi_kv = bool(w.kv_precisions) and len(w.kv_precisions) > 1
        want = expected_key(d, multi_kv)
        # a key with parts of other features (e.g. /slow) is checked on what names the deployment: its head
        extra = [p for p in d.key.split("/")[7:] if p != "rent" and not p.startswith(("kv-", "spec-"))]
        # workload/model/system/precision equal; parallel (may carry -engine), batch, serving (with the prefill
        # layout), speculative decoding as named
        got, exp = d.key.split("/"), want.split("/")
        named = len(got) >= 7 and got[:4] == exp[:4] and got[4].split("-")[0] == exp[4] and got[5] == exp[5] \
            and got[6] == exp[6] and [p for p in got[7:] if p.startswith("spec-")] == [
                p for p in exp[7:] if p.startswith("spec-")]
        same = d.key == want if not extra and "-" not in got[4] else (
            named and (d.mode == "rent") == ("rent" in got[7:])
            and (d.effort is None or f"effort-{d.effort}" in got[7:]))
        check(same, f"{d.key}: the key does not match the deployment's fields (expected {want})")
        # hidden reasoning tokens of an effort level are generated (and processed) like visible ones
        mult = _output_multiplier(catalog, d.model, d.effort)
        check(_close(d.total_tok_s, d.output_tok_s * (mult + w.isl / w.osl)),
              f"{d.key}: total_tok_s {d.total_tok_s:g} != output_tok_s x (effort multiplier + ISL/OSL) = "
              f"{d.output_tok_s * (mult + w.isl / w.osl):g}")
        if catalog is not None:
            q = _quality_of(catalog, d.model, d.precision, w.floor_benchmark, d.effort)
            check(_close(d.quality, q, 1e-5),
                  f"{d.key}: quality {d.quality} in the plan, {q} from the catalog "
                  f"({w.floor_benchmark or 'no quality floor'})")


def _check_fleet_figures(plan: Plan, inst: Instance, check: Check) -> None:
    fl, h = plan.fleet, HOURS_PER_YEAR
    total = Counter(fl.servers_new) + Counter(fl.servers_existing) + Counter(fl.servers_rented)
    check({s: k for s, k in fl.servers.items() if k} == dict(total),
          f"servers {dict(sorted(fl.servers.items()))} in the plan, {dict(sorted(total.items()))} as new + "
          "existing + rented")
    out = sum(d.output_tok_s for d in plan.deployments)
    check(_close(fl.output_tok_s, out), f"fleet output {fl.output_tok_s:g} tok/s, deployments sum to {out:g}")
    tot = sum(d.total_tok_s for d in plan.deployments)
    check(_close(fl.total_tok_s, tot), f"fleet total {fl.total_tok_s:g} tok/s, deployments sum to {tot:g}")
    systems = inst.systems
    owned = Counter(fl.servers_new) + Counter(fl.servers_existing)
    if any(s not in systems for s in (*owned, *fl.servers_rented)):
        return  # verify.py names the unknown system
    # rack power and units, from the systems each rack holds
    for i, r in enumerate(fl.racks):
        if any(s not in systems for s in r.systems):
            continue
        kw = sum(systems[s].nameplate_kw * k for s, k in r.systems.items())
        units = sum((systems[s].rack_units or 0) * k for s, k in r.systems.items())
        check(_close(r.power_kw, kw, 1e-3), f"rack {i} ({r.rack_type}): {r.power_kw:g} kW in the plan, {kw:g} "
              "from its systems")
        check(r.rack_units_used in (units, 0) and (units == 0 or r.rack_units_used == units),
              f"rack {i} ({r.rack_type}): {r.rack_units_used}U in the plan, {units}U from its systems")
    avg_w = owned_avg_w(inst, owned, ((d, d.replicas) for d in plan.deployments))
    own_out = sum(d.output_tok_s for d in plan.deployments if d.mode == "own" and d.system in systems)
    check(_close(fl.it_power_avg_kw, avg_w / 1000), f"average IT power {fl.it_power_avg_kw:g} kW in the plan, "
          f"{avg_w / 1000:g} recomputed")
    parts = cost_parts_usd_per_hour(inst, fl.servers_new, owned, fl.servers_rented, rack_capex_usd(plan, inst),
                                    avg_w, len(plan.deployments))
    cost = sum(parts.values())
    got = fl.cost_breakdown_usd_per_hour
    check(set(got) == set(parts), f"cost breakdown has {sorted(got)}, expected {sorted(parts)}")
    for name, value in parts.items():
        check(_close(got.get(name, 0.0), value), f"cost breakdown {name} {got.get(name, 0.0):g} $/h in the plan, "
              f"{value:g} recomputed")
    opex = (cost - parts["capital"]) * h
    check(_close(fl.opex_usd_per_year, opex), f"opex {fl.opex_usd_per_year:,.0f} $/year in the plan, {opex:,.0f} "
          "recomputed (cost without capital x 8760 h)")
    # headline ratios, from the plan's own (checked) cost and throughput
    c = fl.cost_usd_per_hour
    check(_close(fl.tokens_per_usd, out * 3600 / c if c > 0 else None),
          f"tokens per $ {fl.tokens_per_usd} in the plan, {out * 3600 / c if c > 0 else None} recomputed")
    check(_close(fl.usd_per_mtok, c / (out * 3600) * 1e6 if out > 0 else None),
          f"$ per Mtok {fl.usd_per_mtok} in the plan, {c / (out * 3600) * 1e6 if out > 0 else None} recomputed")
    kwh = own_out * 3600 / (avg_w / 1000) if avg_w > 0 else None  # all-in IT energy, before PUE
    check(_close(fl.tokens_per_kwh, kwh), f"tokens per kWh {fl.tokens_per_kwh} in the plan, {kwh} recomputed")
    prov_kw = sum(systems[s].provisioned_kw * k for s, k in owned.items())
    per_mw = own_out / (prov_kw / 1000) if prov_kw > 0 else None
    check(_close(fl.output_tok_s_per_provisioned_mw, per_mw),
          f"output tok/s per provisioned MW {fl.output_tok_s_per_provisioned_mw} in the plan, {per_mw} recomputed")
    _check_at_average(plan, inst, check)
    _check_placement_counts(plan, inst, check)
    _check_price_of(plan, check)


def _check_at_average(plan: Plan, inst: Instance, check: Check) -> None:
    """$/Mtok and tokens per $ at the stated average demand (workloads without one count at peak), each
    workload crediting at most what its deployments serve."""
    fl = plan.fleet
    peak = [w for w in inst.workloads.values() if w.demand_out_tok_s]
    if all(w.average_out_tok_s is None for w in peak):
        check(fl.usd_per_mtok_at_average is None and fl.tokens_per_usd_at_average is None,
              "figures at average load in the plan, but the problem states no average demand")
        return
    served = Counter()
    for d in plan.deployments:
        served[d.workload] += d.output_tok_s
    out = sum(min(w.average_out_tok_s if w.average_out_tok_s is not None else w.demand_out_tok_s, served[w.id])
              for w in peak)
    c = fl.cost_usd_per_hour
    if out > 0 and c > 0:
        check(_close(fl.usd_per_mtok_at_average, c / (out * 3600) * 1e6),
              f"$ per Mtok at average {fl.usd_per_mtok_at_average} in the plan, {c / (out * 3600) * 1e6} "
              "recomputed")
        check(_close(fl.tokens_per_usd_at_average, out * 3600 / c),
              f"tokens per $ at average {fl.tokens_per_usd_at_average} in the plan, {out * 3600 / c} recomputed")


def _check_placement_counts(plan: Plan, inst: Instance, check: Check) -> None:
    """Each deployment's replicas appear on the servers of `placement` (a replica larger than its server is
    listed on every server it spans): bounds, which matter for `survive` plans (the MIP's domains); without it
    verify_buyer packs the placement again and compares it exactly. Per-server GPU totals are not checked
    yet: the first-fit placement written without `survive` can list a server above its GPU count (seen on
    disaggregated and whole-rack plans)."""
    if not plan.placement:
        return
    listed = Counter()
    for srv in plan.placement:
        for key, n in srv.deployments.items():
            listed[key] += n
    for d in plan.deployments:
        if d.serving != "aggregated":
            continue  # a disaggregated unit's prefill and decode instances are placed apart: not counted here yet
        sd = inst.systems.get(d.system)
        span = max(1, -(-d.gpus_per_replica // sd.gpus)) if sd is not None and sd.gpus else 1
        # where no server has room for a whole replica, the first-fit packing places its TP/EP groups (pipeline
        # stages) one by one and lists it on each server it touches: at most one server per group
        groups = max(span, d.gpus_per_replica // max(d.group_gpus, 1))
        check(d.replicas * span <= listed[d.key] <= d.replicas * groups,
              f"placement lists {listed[d.key]} replica slots of {d.key}, the plan has {d.replicas} x {span}"
              + (f" (up to {groups} servers each)" if groups > span else ""))


def _check_price_of(plan: Plan, check: Check) -> None:
    """What each requirement costs: plan cost minus the cost without it, and that as a share."""
    for name, p in (plan.price_of or {}).items():
        if p.without_usd_per_hour is None or p.add_usd_per_hour is None:
            continue
        if plan.objective_value is None:
            continue
        add = plan.objective_value - p.without_usd_per_hour
        # a difference of two costs each rounded to 6 digits: their rounding, not its own, bounds its error
        scale = max(1.0, abs(plan.objective_value), abs(p.without_usd_per_hour))
        check(abs(p.add_usd_per_hour - add) <= FIG_TOL * scale if math.isfinite(p.add_usd_per_hour) else False,
              f"price_of {name}: +{p.add_usd_per_hour} $/h in the plan, "
              f"{add} from the plan's cost and the cost without it")
        pct = 100 * p.add_usd_per_hour / p.without_usd_per_hour if p.without_usd_per_hour > 0 else None
        check(_close(p.add_pct, pct), f"price_of {name}: +{p.add_pct}% in the plan, {pct} recomputed")


def _check_workload_figures(plan: Plan, inst: Instance, check: Check) -> None:
    seen = Counter(r.workload for r in plan.workloads)
    check(set(seen) == set(inst.workloads) and all(k == 1 for k in seen.values()),
          f"workload results for {sorted(seen)}, the problem has {sorted(inst.workloads)} (once each)")
    for r in plan.workloads:
        w = inst.workloads.get(r.workload)
        if w is None:
            continue
        demand = w.demand_out_tok_s
        check(_close(r.demand_output_tok_s, demand), f"workload {r.workload}: demand {r.demand_output_tok_s} "
              f"tok/s in the plan, {demand} from the problem")
        required = w.required_out_tok_s if demand else None
        deps = [d for d in plan.deployments if d.workload == r.workload]
        # the workload results are the peak's (as extract builds them): with hour classes the off-peak
        # deployments, 0 replicas at the peak, are listed beside them (until 2026-12-01 the figures below went
        # unchecked in such plans: a tampered utilization_cap, TTFT or TPOT passed)
        peak = [d for d in deps if d.replicas > 0] if plan.hourly else deps
        for name, mine, want in (
            ("headroom", r.headroom, w.headroom),
            ("ttft_target_s", r.ttft_target_s, w.ttft_target_or_none_s),
            ("tpot_target_s", r.tpot_target_s, w.tpot_target_s),
            ("quality_floor_score", r.quality_floor_score, w.floor_score),
            ("slo_percentile", getattr(r, "slo_percentile", None), getattr(w, "slo_percentile", None)),
            # the assumed utilization rule holds where a workload without a TTFT target has deployments
            ("utilization_cap", r.utilization_cap, utilization_cap(bool(peak), w.has_ttft_target)),
            ("ttft_s", r.ttft_s, max((d.ttft_s for d in peak), default=None)),
            ("tpot_s", r.tpot_s, max((d.tpot_s for d in peak), default=None)),
            ("quality", r.quality, min((d.quality for d in peak if d.quality is not None), default=None)),
        ):
            check(_close(mine, want, 1e-5), f"workload {r.workload}: {name} {mine} in the plan, {want} from the "
                  "problem and its deployments")
        check(r.quality_floor_benchmark == w.floor_benchmark,
              f"workload {r.workload}: quality floor benchmark {r.quality_floor_benchmark!r}, the problem's is "
              f"{w.floor_benchmark!r}")
        check(
            _close(r.required_output_tok_s, required),
            f"workload {r.workload}: required {r.required_output_tok_s} tok/s in the plan, {required} from the "
            "problem (demand x (1 + headroom))",
        )


def _check_limits(plan: Plan, inst: Instance, check: Check) -> None:
    """The limits the plan reports it was solved against are the problem's."""
    lim = plan.limits
    for name, mine, want in (
        ("site_power_kw", lim.site_power_kw, inst.power_limit_kw),
        ("pue", lim.pue, inst.pue),
        ("budget_capex_usd", lim.budget_capex_usd, inst.budget_capex_usd),
        ("budget_usd_per_hour", lim.budget_usd_per_hour, inst.budget_usd_per_hour),
    ):
        check(_close(mine, want, 1e-5), f"limits.{name} {mine} in the plan, {want} in the problem")
    power = {r.id: r.max_kw for r in inst.racks.values()}
    check(set(lim.rack_power_kw) == set(power) and all(_close(v, power[k], 1e-5) for k, v in
                                                        lim.rack_power_kw.items() if k in power),
          f"limits.rack_power_kw {lim.rack_power_kw} in the plan, {power} in the problem")
    count = {r.id: r.count for r in inst.racks.values() if r.count is not None}
    check(lim.rack_count == count, f"limits.rack_count {lim.rack_count} in the plan, {count} in the problem")


def _crf(rate: float, years: float) -> float:
    """Capital recovery factor, its own arithmetic (verify shares no code with what it checks)."""
    if years <= 0:
        return math.inf
    if rate == 0:
        return 1 / years
    grow = math.exp(years * math.log1p(rate))
    return rate * grow / math.expm1(years * math.log1p(rate))


def _per(x: float, y: float) -> float | None:
    return x / y if y > 0 else None


def _check_economics_figures(plan: Plan, inst: Instance, check: Check) -> None:
    """The investment view's identities (verify_economics.py re-derives its cost, revenue and sales): the
    horizon and rate are the problem's, the capex the fleet's, the capital charge capex x CRF, opex the rest of
    the cost, and the ratios follow from served tok/s, capacity, provisioned MW, racks and average watts."""
    e = plan.economics
    if e is None:
        return
    fl = plan.fleet
    racks = sum(1 for r in fl.racks if r.rack_type != "(not modelled)") or len(fl.racks)
    capital = fl.capex_usd * _crf(inst.cost_of_capital, inst.amortization_years)
    figures = [
        ("horizon_years", e.horizon_years, inst.amortization_years),
        ("discount_rate", e.discount_rate, inst.cost_of_capital),
        ("capex_usd", e.capex_usd, fl.capex_usd),
        ("racks", e.racks, racks),
        ("capital_charge_usd_per_year", e.capital_charge_usd_per_year, capital),
        ("opex_usd_per_year", e.opex_usd_per_year, e.cost_usd_per_hour * HOURS_PER_YEAR - capital),
        ("utilization", e.utilization, _per(e.served_output_tok_s, e.capacity_output_tok_s)),
        ("usd_per_mtok_served", e.usd_per_mtok_served, _per(e.cost_usd_per_hour * 1e6,
                                                            e.served_output_tok_s * 3600)),
        ("output_tok_s_per_mw", e.output_tok_s_per_mw, _per(e.served_output_tok_s, e.provisioned_mw)),
        ("output_tok_s_per_rack", e.output_tok_s_per_rack, _per(e.served_output_tok_s, racks)),
    ]
    if not plan.hourly and all(s in inst.systems for s in fl.servers_rented):
        # one hour class: capacity is the fleet's, and the average watts are the owned ones plus the rented
        # servers' by the same formula
        sys_ = inst.systems
        rented_w = sum(k * (sys_[s].non_gpu_avg_w + sys_[s].gpus * sys_[s].idle_w)
                       for s, k in fl.servers_rented.items())
        rented_w += sum(d.replicas * (d.avg_power_w_per_replica - d.gpus_per_replica * sys_[d.system].idle_w)
                        for d in plan.deployments if d.mode == "rent" and d.system in sys_)
        figures += [
            ("capacity_output_tok_s", e.capacity_output_tok_s, fl.output_tok_s),
            ("output_tok_s_per_w", e.output_tok_s_per_w,
             _per(e.served_output_tok_s, fl.it_power_avg_kw * 1000 + rented_w)),
        ]
    for name, mine, want in figures:
        check(_close(mine, want), f"economics.{name} {mine} in the plan, {want} recomputed")


def _check_runner_up(plan: Plan, check: Check) -> None:
    ru = plan.runner_up
    if ru is None or ru.objective_value is None or plan.objective_value is None:
        return
    diff = ru.objective_value - plan.objective_value
    # both objective values are rounded in plan.json: their difference carries the rounding of the larger
    scale = max(1.0, abs(ru.objective_value), abs(plan.objective_value))
    check(ru.difference is not None and abs(ru.difference - diff) <= FIG_TOL * scale,
          f"runner-up difference {ru.difference} in the plan, {diff:g} from the two objective values")
    if plan.objective_value:
        pct = 100 * diff / plan.objective_value
        check(ru.difference_pct is not None
              and abs(ru.difference_pct - pct) <= 100 * FIG_TOL * scale / abs(plan.objective_value),
              f"runner-up difference {ru.difference_pct}% in the plan, {pct:.6g}% recomputed")
