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
    check_objective_bounded(inst, f)
    check_candidates(inst, cands, rejected, best_latency, f)
    check_capacity(inst, cands, f)
    return f


def check_systems(inst: Instance, f: Findings) -> None:
    if not inst.systems:
        f.errors.append("no system is allowed (fleet.systems is empty or names none in the catalog)")
        return
    for s in sorted(inst.systems.values(), key=lambda s: s.id):
        if inst.racks and not any(fits_rack(s, r) for r in inst.racks.values()) and (s.buy or s.existing):
            kinds = ", ".join(f"{r.id} ({r.cooling}, {r.max_kw:g} kW, {r.units}U)" for r in inst.racks.values())
            f.warnings.append(
                f"no available rack type can hold {s.id} ({s.cooling}, {s.nameplate_kw:g} kW"
                f"{'' if s.whole_rack else f', {s.rack_units}U'}); racks: {kinds}"
            )
        if not (s.buy or s.existing or s.rent):
            f.warnings.append(f"{s.id} can be neither bought, reused nor rented (no rental price listed)")


def check_objective_bounded(inst: Instance, f: Findings) -> None:
    if inst.objective == "min_cost":
        return
    capped = all(w.demand_out_tok_s for w in inst.workloads.values()) and (
        inst.objective == "max_throughput" or inst.demand_cap_multiple is not None
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
        if "ttft_s" in b and b["ttft_s"]["value"] > w.ttft_s:
            t = b["ttft_s"]
            hints.append(
                f"no candidate meets TTFT {w.ttft_s * 1000:g} ms: best is {t['value'] * 1000:.0f} ms on "
                f"{t['accelerator']} {t['config']} {t['precision']} ({t['model']})"
            )
        if "tpot_s" in b and b["tpot_s"]["value"] > w.tpot_s:
            t = b["tpot_s"]
            hints.append(
                f"no candidate meets TPOT {w.tpot_s * 1000:g} ms: best is {t['value'] * 1000:.1f} ms on "
                f"{t['accelerator']} {t['config']} {t['precision']} ({t['model']})"
            )
        if hints:
            f.errors.extend(f"workload {wid}: {h}" for h in hints)
        else:
            f.errors.append(f"{msg}; rejections: {top}")


def _reason_class(reason: str) -> str:
    r = str(reason)
    for word in ("TTFT", "TPOT", "memory", "quality", "scale-up domain", "does not divide", "native"):
        if word.lower() in r.lower():
            return r if len(r) < 90 else r[:87] + "..."
    return r if len(r) < 90 else r[:87] + "..."


def check_capacity(inst: Instance, cands: pd.DataFrame, f: Findings) -> None:
    """Demand above what the allowed fleet could ever serve, when every source of GPUs is finite."""
    if inst.objective == "max_throughput" or not len(cands):
        return
    gpus_avail: dict[str, float] = {}
    for s in inst.systems.values():
        n = s.existing + (s.supply if s.buy and s.supply is not None else (0 if not s.buy else math.inf))
        n += s.rent_supply if s.rent and s.rent_supply is not None else (0 if not s.rent else math.inf)
        gpus_avail[s.id] = n * s.gpus
    if inst.power_limit_kw is not None and not any(s.rent for s in inst.systems.values()):
        for s in inst.systems.values():
            max_servers = math.floor(inst.power_limit_kw / (inst.pue * s.nameplate_kw) + 1e-9)
            gpus_avail[s.id] = min(gpus_avail[s.id], max_servers * s.gpus)
    for wid, w in sorted(inst.workloads.items()):
        sub = cands[cands["workload"] == wid]
        if not len(sub) or not w.demand_out_tok_s:
            continue
        best = 0.0
        for sid, g in sub.groupby("system"):
            per_gpu = float((g["output_tok_s"] / g["gpus"]).max())
            best = max(best, per_gpu * gpus_avail.get(sid, 0.0))
        if best < w.required_out_tok_s * (1 - 1e-9):
            f.errors.append(
                f"workload {wid} needs {w.required_out_tok_s:,.0f} output tok/s but the allowed fleet "
                f"could serve at most {best:,.0f} tok/s even if it served nothing else"
            )
