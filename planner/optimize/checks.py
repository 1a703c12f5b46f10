"""Pre-solve checks: name the cause of an impossible problem before any solver runs.

Each check returns findings (one line each, in user terms). `errors` make the problem infeasible (exit 3);
`warnings` are printed with the plan.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from planner.optimize.instance import Instance
from planner.optimize.layout import fits_rack


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_checks(inst: Instance, cands: pd.DataFrame, rejected: pd.DataFrame, best_latency: dict) -> Findings:
    f = Findings()
    check_systems(inst, f)
    if f.errors:
        return f  # no system can be used: every workload's "no candidate" would only repeat it
    check_objective_bounded(inst, f)
    check_candidates(inst, cands, rejected, best_latency, f)
    check_capacity(inst, cands, f)
    return f


def check_systems(inst: Instance, f: Findings) -> None:
    if not inst.systems:
        f.errors.append("no system is allowed (fleet.systems is empty or names none in the catalog)")
        return
    kinds = ", ".join(f"{r.id} ({r.cooling}, {r.max_kw:g} kW, {r.units}U)" for r in inst.racks.values())
    usable, unplaced = [], []
    for s in sorted(inst.systems.values(), key=lambda s: s.id):
        placeable = not inst.racks or any(fits_rack(s, r) for r in inst.racks.values())
        what = f"{s.id} ({s.cooling}, {s.nameplate_kw:g} kW{'' if s.whole_rack else f', {s.rack_units}U'})"
        if not placeable and (s.buy or s.existing):
            unplaced.append(what)
            f.warnings.append(f"no available rack type can hold {what}; racks: {kinds}")
        if not (s.buy or s.existing or s.rent):
            f.warnings.append(f"{s.id} can be neither bought, reused nor rented (no rental price listed)")
        if s.rent or (placeable and (s.buy or s.existing)):
            usable.append(s.id)
    if not usable:
        f.errors.append(
            "no allowed system can be used"
            + (f": none of {', '.join(unplaced)} fits the available racks ({kinds}); change site.cooling, "
               "site.racks or fleet.systems" if unplaced else ": none can be bought, reused or rented")
        )


def check_objective_bounded(inst: Instance, f: Findings) -> None:
    if inst.objective == "min_cost":
        return
    capped = all(w.demand_out_tok_s for w in inst.workloads.values()) and (
        inst.objective in ("max_throughput", "max_profit") or inst.demand_cap_multiple is not None
    )
    limited = inst.budget_capex_usd is not None or inst.budget_usd_per_hour is not None
    supply = all(
        (not s.buy or s.supply is not None) and (not s.rent or s.rent_supply is not None)
        for s in inst.systems.values()
    )
    power = inst.power_limit_kw is not None and not any(s.rent for s in inst.systems.values())
    if not (capped or limited or supply or power):
        f.errors.append(
            f"objective {inst.objective} is unbounded: give a budget, a site power limit (without "
            "rentals), supply limits, or a demand for every workload with objective.demand_cap_multiple"
        )


def check_candidates(inst: Instance, cands: pd.DataFrame, rejected: pd.DataFrame, best: dict, f: Findings) -> None:
    have = set(cands["workload"]) if len(cands) else set()
    for wid, w in sorted(inst.workloads.items()):
        if wid in have:
            continue
        rej = rejected[rejected["workload"] == wid] if len(rejected) else rejected
        reasons = Counter(_reason_class(r) for r in (rej["reason"] if len(rej) else []))
        top = "; ".join(f"{n} x {r}" for r, n in reasons.most_common(4)) or "nothing to evaluate"
        msg = f"no candidate can serve workload {wid}"
        hints = []
        b = best.get(wid, {})
        if "ttft_s" in b and b["ttft_s"]["value"] > w.ttft_target_s:
            t = b["ttft_s"]
            hints.append(
                f"no candidate meets TTFT {w.ttft_target_s * 1000:g} ms: best is {t['value'] * 1000:.0f} ms on "
                f"{t['accelerator']} {t['config']} {t['precision']} ({t['model']})"
            )
        if "tpot_s" in b and b["tpot_s"]["value"] > w.tpot_target_s:
            t = b["tpot_s"]
            hints.append(
                f"no candidate meets TPOT {w.tpot_target_s * 1000:g} ms: best is {t['value'] * 1000:.1f} ms on "
                f"{t['accelerator']} {t['config']} {t['precision']} ({t['model']})"
            )
        floor = _quality_hint(w, rej)
        if floor:
            hints.append(floor)
        if hints:
            f.errors.extend(f"workload {wid}: {h}" for h in hints)
        else:
            f.errors.append(f"{msg}; rejections: {top}")


def _quality_hint(w, rej: pd.DataFrame) -> str:
    """When every allowed (model, precision) misses the quality floor: the best one and the gap."""
    if w.floor_benchmark is None or not len(rej) or "quality" not in rej:
        return ""
    on_quality = rej["reason"].astype(str).str.startswith(("quality ", "no "))
    if not on_quality.all() or not set(rej["system"]) <= {"*"}:
        return ""
    scored = rej[rej["quality"].notna()]
    if not len(scored):
        return (
            f"no allowed model has a {w.floor_benchmark} score: allow other models or drop the quality floor "
            "(no_quality_floor: true)"
        )
    best = scored.sort_values(["quality", "model", "precision"], ascending=[False, True, True]).iloc[0]
    return (
        f"no allowed model meets the quality floor {w.floor_score:g} on {w.floor_benchmark}: the best is "
        f"{best['quality']:.1f} ({best['model']} at {best['precision']}), {w.floor_score - best['quality']:.1f} "
        "short; lower quality_floor.min_score or allow other models"
    )


def _reason_class(reason: str) -> str:
    r = str(reason)
    for word in ("TTFT", "TPOT", "memory", "quality", "scale-up domain", "does not divide", "native"):
        if word.lower() in r.lower():
            return r if len(r) < 90 else r[:87] + "..."
    return r if len(r) < 90 else r[:87] + "..."


def check_capacity(inst: Instance, cands: pd.DataFrame, f: Findings) -> None:
    """Demand above what the allowed fleet could ever serve, when every source of GPUs is finite.

    The message names the limit that caps the fleet (site power, supply) and the least it would take."""
    if inst.objective in ("max_throughput", "max_profit") or not len(cands):  # demand: a cap, not a must
        return
    for wid, w in sorted(inst.workloads.items()):
        sub = cands[cands["workload"] == wid]
        if not len(sub) or not w.demand_out_tok_s:
            continue
        need = w.required_out_tok_s * (1 - 1e-9)
        per_server = {
            sid: float((g["output_tok_s"] / g["gpus"]).max()) * inst.systems[sid].gpus
            for sid, g in sub.groupby("system")
            if sid in inst.systems
        }
        most = _best_tok_s(inst, per_server)
        if most >= need:
            continue
        why = []
        if _power_caps(inst) and _best_tok_s(inst, per_server, power=False) > most:
            why.append(_power_reason(inst, per_server, need))
        if _best_tok_s(inst, per_server, supply=False) > most:
            why += _supply_reason(inst, per_server, need)
        reason = ": " + "; ".join(why) if why else ""
        f.errors.append(
            f"workload {wid} needs {w.required_out_tok_s:,.0f} output tok/s but the allowed fleet "
            f"could serve at most {most:,.0f} tok/s even if it served nothing else{reason}"
        )


def _power_caps(inst: Instance) -> bool:
    """Site power bounds the fleet only when no server can be rented (a rented server's power is elsewhere)."""
    return inst.power_limit_kw is not None and not any(s.rent for s in inst.systems.values())


def _most_servers(inst: Instance, s, power: bool = True, supply: bool = True) -> float:
    """Most servers of one system: existing + purchasable + rentable, and what the site power allows."""
    n = s.existing + (0 if not s.buy else s.supply if supply and s.supply is not None else math.inf)
    n += 0 if not s.rent else s.rent_supply if supply and s.rent_supply is not None else math.inf
    if power and _power_caps(inst):
        n = min(n, math.floor(inst.power_limit_kw / (inst.pue * s.provisioned_kw) + 1e-9))
    return n


def _best_tok_s(inst: Instance, per_server: dict[str, float], power: bool = True, supply: bool = True) -> float:
    """The most one workload could get from a single system type, under the limits switched on."""
    return max((t * _most_servers(inst, inst.systems[s], power, supply) for s, t in per_server.items()),
               default=0.0)


def _power_reason(inst: Instance, per_server: dict[str, float], need: float) -> str:
    options = [
        (math.ceil(need / t) * inst.systems[sid].provisioned_kw * inst.pue, math.ceil(need / t), sid)
        for sid, t in sorted(per_server.items())
        if t > 0 and _most_servers(inst, inst.systems[sid], power=False) * t >= need
    ]
    if not options:
        return f"site power {inst.power_limit_kw / 1000:.3g} MW is one limit"
    kw, n, sid = min(options)
    return (
        f"site power {inst.power_limit_kw / 1000:.3g} MW is the limit: this workload alone needs at "
        f"least {kw / 1000:.3g} MW ({n} x {sid} at {inst.systems[sid].provisioned_kw:g} kW all-in x PUE "
        f"{inst.pue:g})"
    )


def _supply_reason(inst: Instance, per_server: dict[str, float], need: float) -> list[str]:
    short = [
        (math.ceil(need / t) - _most_servers(inst, inst.systems[sid], power=False), sid)
        for sid, t in sorted(per_server.items())
        if t > 0 and math.isfinite(_most_servers(inst, inst.systems[sid], power=False))
    ]
    if not short:
        return []
    more, sid = min(short)
    avail = _most_servers(inst, inst.systems[sid], power=False)
    return [f"supply is the limit: fleet.supply, rent_supply and existing allow {avail:g} {sid} "
            f"server(s); {sid} alone would need {more:g} more"]
