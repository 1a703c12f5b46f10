"""Verify families for what a buyer signs: published checkpoints (or an allowed, named quantization step), the
rental terms a plan names, simplicity limits, the placement per physical server, and failure domains checked
by enumerating every set of N servers (racks) that could fail. Each family is one function returning
(violations, checks made); `verify_plan` runs them.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict

from planner.catalog.catalog import Catalog
from planner.catalog.quality import checkpoint_of, needs_quantization
from planner.optimize import failure
from planner.optimize.failure import survive_level
from planner.optimize.instance import Instance
from planner.optimize.layout import pack_groups
from planner.plan import Plan


def verify_checkpoints(plan: Plan, inst: Instance, catalog: Catalog) -> tuple[list[str], int]:
    """Every deployment runs published weights (or a lossless upcast) unless its workload allows quantization,
    and the plan names the checkpoint the catalog implies."""
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


def verify_limits(plan: Plan, inst: Instance) -> tuple[list[str], int]:
    """Configurations and platforms per workload, platforms per fleet, minimum deployment share."""
    out: list[str] = []
    by_w: dict[str, list] = defaultdict(list)
    for d in plan.deployments:
        if d.replicas > 0:
            by_w[d.workload].append(d)
    n = 0
    for w, ds in sorted(by_w.items()):
        n += 3
        k = inst.max_configs_per_workload
        if k is not None and len(ds) > k:
            out.append(f"workload {w}: {len(ds)} configurations > limits.max_configs_per_workload {k}")
        p = inst.max_platforms_per_workload
        systems = sorted({d.system for d in ds})
        if p is not None and len(systems) > p:
            out.append(
                f"workload {w}: {len(systems)} system types {systems} > limits.max_platforms_per_workload {p}"
            )
        share = inst.min_deployment_share
        wl = inst.workloads.get(w)
        if share and wl is not None and wl.demand_out_tok_s and len(ds) > 1:
            for d in ds:
                if d.output_tok_s < share * wl.demand_out_tok_s * (1 - 1e-6):
                    out.append(
                        f"{d.key}: serves {d.output_tok_s:,.0f} tok/s < limits.min_deployment_share {share:g} x "
                        f"demand {wl.demand_out_tok_s:,.0f} tok/s"
                    )
    used = sorted({d.system for d in plan.deployments if d.replicas > 0})
    if inst.max_platforms is not None and len(used) > inst.max_platforms:
        out.append(f"fleet: {len(used)} system types {used} > limits.max_platforms {inst.max_platforms}")
    return out, n + 1


def _span(d, inst: Instance) -> int:
    sd = inst.systems.get(d.system)
    return 1 if sd is None else max(1, math.ceil(d.gpus_per_replica / sd.gpus))


def verify_placement(plan: Plan, inst: Instance) -> tuple[list[str], int]:
    """One placement entry per physical server of the fleet; every replica placed; servers not overfilled."""
    out: list[str] = []
    if not plan.deployments or plan.hourly:  # hour-class plans rent by the hour: no single placement
        return out, 0
    fl = plan.fleet
    count = Counter((e.system, "#rent-" in e.server_id) for e in plan.placement)
    expect = Counter()
    for s, k in fl.servers_new.items():
        expect[(s, False)] += k
    for s, k in fl.servers_existing.items():
        expect[(s, False)] += k
    for s, k in fl.servers_rented.items():
        expect[(s, True)] += k
    if +count != +expect:
        out.append(f"placement lists servers {dict(+count)}, the fleet has {dict(+expect)} (system, rented)")
    ids = Counter(e.server_id for e in plan.placement)
    out.extend(f"placement: server {i} listed {k} times" for i, k in sorted(ids.items()) if k > 1)
    deps = {d.key: d for d in plan.deployments}
    placed = Counter()
    for e in plan.placement:
        for key, k in e.deployments.items():
            d = deps.get(key)
            if d is None:
                out.append(f"placement {e.server_id}: unknown deployment {key}")
            elif d.system != e.system or (d.mode == "rent") != ("#rent-" in e.server_id):
                out.append(f"placement {e.server_id}: {key} runs on {d.system} ({d.mode})")
            else:
                placed[key] += k
    for key, d in deps.items():
        if placed[key] < d.replicas:
            out.append(f"placement: {key} has {d.replicas} replicas, {placed[key]} placed")
    # where every replica sits whole on one server, each server's groups must pack into its domains
    whole = {k for k, d in deps.items() if placed[k] == d.replicas and _span(d, inst) == 1}
    for e in plan.placement:
        sd = inst.systems.get(e.system)
        if sd is None or not e.deployments or not set(e.deployments) <= whole:
            continue
        groups = [deps[k].group_gpus for k, r in e.deployments.items()
                  for _ in range(r * deps[k].gpus_per_replica // max(deps[k].group_gpus, 1))]
        if not pack_groups(groups, sd.domain, sd.gpus, 1):
            out.append(f"placement {e.server_id}: {sum(groups)} GPUs in groups {sorted(groups)} do not fit one "
                       f"{e.system} ({sd.gpus} GPUs, domain {sd.domain})")
    if +count == +expect:
        out.extend(_first_fit_differs(plan, inst))
    return out, 2 + len(plan.placement) + len(deps)


def _first_fit_differs(plan: Plan, inst: Instance) -> list[str]:
    """Without `survive` the placement is the first-fit packing of the plan's own deployments onto its own servers
    (`failure.pack_placement`, deterministic): packed again, every server's list must be the same, so a count
    moved on one server is caught where the bounds allow it (a pipeline replica is listed on each server it
    spans; a disaggregated unit's instances are packed apart). Packed only where the plan's GPUs fit its
    servers: a forged replica or GPU count is named by the other checks, and packing it would take its size."""
    fl = plan.fleet
    servers = failure.fleet_servers(fl.servers_new, fl.servers_existing, fl.servers_rented)
    if survive_level(inst) is not None or any(s not in inst.systems for s, _ in servers):
        return []
    have_gpus = sum(n * inst.systems[s].gpus for (s, _), n in servers.items())
    if sum(max(d.replicas, 0) * max(d.gpus_per_replica, 0) for d in plan.deployments) > have_gpus:
        return []
    packed = failure.pack_placement(plan.deployments, servers, lambda s: inst.systems[s].domain,
                                    lambda s: inst.systems[s].gpus)
    packed = sorted(packed, key=lambda e: (e["system"], e["mode"] != "own"))  # the order extract writes them in
    for srv, e in zip(plan.placement, packed, strict=True):
        if dict(srv.deployments) != e["deployments"]:
            return [f"placement {srv.server_id}: {dict(srv.deployments)}, the first-fit packing of the plan's "
                    f"deployments puts {e['deployments']} there"]
    return []


ENUMERATION_LIMIT = 200_000  # failure sets enumerated one by one; above it the N largest losses are summed


def verify_survive(plan: Plan, inst: Instance) -> tuple[list[str], int]:
    """Remove every set of N servers (racks) in turn: each workload with `survive` still serves its peak demand
    with the replicas left (a replica dies when any server it sits on fails). Rented servers and whole-rack
    systems are their own racks."""
    out: list[str] = []
    n_checks = 0
    deps = {d.key: d for d in plan.deployments}
    for w, wl in sorted(inst.workloads.items()):
        if not wl.survive_level or wl.survive_count <= 0 or not wl.demand_out_tok_s:
            continue
        domains = _domains(plan, wl.survive_level)
        total = sum(d.output_tok_s for d in plan.deployments if d.workload == w)
        loss = {dom: sum(deps[k].output_tok_s_per_replica * r for k, r in reps.items()
                         if k in deps and deps[k].workload == w)
                for dom, reps in domains.items()}
        n = wl.survive_count
        if n >= len(domains):
            out.append(f"workload {w}: survive {n} {wl.survive_level} but the plan has only {len(domains)}")
            continue
        names = sorted(domains)
        combos = math.comb(len(names), n)
        if combos <= ENUMERATION_LIMIT:
            worst, which = -1.0, ()
            for fail in itertools.combinations(names, n):
                lost = _lost(fail, domains, deps, w)
                n_checks += 1
                if lost > worst:
                    worst, which = lost, fail
        else:  # a replica on two failed servers is lost once: the sum of the N largest bounds the loss above
            which = tuple(sorted(names, key=lambda x: -loss[x])[:n])
            worst = sum(loss[x] for x in which)
            n_checks += 1
        if total - worst < wl.demand_out_tok_s * (1 - 1e-6):
            out.append(
                f"workload {w}: losing {wl.survive_level} {', '.join(which)} leaves {total - worst:,.0f} tok/s "
                f"< peak demand {wl.demand_out_tok_s:,.0f} tok/s (survive: {{{wl.survive_level}: {n}}})"
            )
    return out, n_checks


def _domains(plan: Plan, level: str) -> dict[str, dict[str, int]]:
    """Failure domain -> replicas per deployment key touching it (servers, or racks of servers)."""
    out: dict[str, Counter] = defaultdict(Counter)
    for e in plan.placement:
        dom = e.server_id if level == "servers" or e.rack is None else e.rack
        out[dom].update(e.deployments)
    return {k: dict(v) for k, v in out.items()}


def _lost(fail: tuple, domains: dict, deps: dict, w: str) -> float:
    """Output of workload w lost when the domains in `fail` go: every replica touching one of them (a replica
    spanning servers counted once per replica, not per server)."""
    hit = Counter()
    for dom in fail:
        for k, r in domains[dom].items():
            hit[k] += r
    lost = 0.0
    for k, r in hit.items():
        d = deps.get(k)
        if d is not None and d.workload == w:
            lost += d.output_tok_s_per_replica * min(r, d.replicas)
    return lost


def output_multiplier(catalog: Catalog | None, d) -> float:
    """Generated tokens per visible one of a deployment's effort level (1 without one)."""
    if catalog is None or d.effort is None or d.model not in catalog.models:
        return 1.0
    level = catalog.models[d.model].effort(d.effort)
    return level.output_multiplier if level is not None else 1.0


def verify_effort(plan: Plan, inst: Instance, catalog: Catalog) -> tuple[list[str], int]:
    """Effort levels exist for the model, are allowed by the workload, and a model with levels names one."""
    out: list[str] = []
    for d in plan.deployments:
        w = inst.workloads.get(d.workload)
        m = catalog.models.get(d.model)
        if w is None or m is None:
            continue
        levels = [e.level for e in m.effort_levels]
        if d.effort is None and levels:
            out.append(f"{d.key}: {d.model} has effort levels {levels} but the plan names none")
        elif d.effort is not None and d.effort not in levels:
            out.append(f"{d.key}: effort {d.effort!r} is not a level of {d.model} ({levels or 'none'})")
        elif d.effort is not None and w.effort is not None and d.effort not in w.effort:
            out.append(f"{d.key}: effort {d.effort!r} not allowed for workload {d.workload} ({list(w.effort)})")
    return out, len(plan.deployments)
