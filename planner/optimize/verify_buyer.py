"""Verify families for what a buyer signs: published checkpoints (or an allowed, named quantization step) and
the rental terms a plan names. Each family is one function returning its violations; `verify_plan` runs them.
"""

from __future__ import annotations

from planner.catalog.catalog import Catalog
from planner.optimize.instance import Instance
from planner.plan import Plan


def verify_checkpoints(plan: Plan, inst: Instance, catalog: Catalog) -> tuple[list[str], int]:
    """Every deployment runs published weights (or a lossless upcast) unless its workload allows quantization,
    and the plan names the checkpoint the catalog implies."""
    from planner.candidates import checkpoint_of, needs_quantization

    out: list[str] = []
    n = 0
    for d in plan.deployments:
        w = inst.workloads.get(d.workload)
        if w is None or d.model not in catalog.models or d.precision not in catalog.precisions:
            continue
        expect = checkpoint_of(catalog, d.model, d.precision)
        n += 2
        if d.checkpoint != expect:
            out.append(f"{d.key}: checkpoint {d.checkpoint!r} in the plan, the catalog says {expect!r}")
        if needs_quantization(expect) and not w.allow_quantization:
            out.append(
                f"{d.key}: {d.model} has no published {d.precision} checkpoint and workload {d.workload} does "
                "not allow quantization"
            )
    return out, n


def verify_rental_terms(plan: Plan, inst: Instance) -> tuple[list[str], int]:
    """Every rented system names the term of the rental product priced in (and only rented systems do)."""
    out: list[str] = []
    rented = {s for s, k in plan.fleet.servers_rented.items() if k}
    named = set(plan.fleet.rental_terms)
    if rented != named:
        out.append(f"rental terms named for {sorted(named)}, systems rented: {sorted(rented)}")
    for s in sorted(rented & named):
        sd = inst.systems.get(s)
        if sd is not None and plan.fleet.rental_terms[s] != (sd.rent_term or ""):
            out.append(f"{s}: rental term {plan.fleet.rental_terms[s]!r} in the plan, {sd.rent_term!r} priced in")
    return out, 1 + len(rented)
