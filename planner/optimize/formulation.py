r"""The fleet MIP, written once, backend-neutral.

Sets: workloads w; candidates c (one per workload x model x precision x system x parallelism x batch x serving
x mode own|rent, from `optimize.candidates`); systems s; rack patterns p (maximal fills of one rack type r).

Data per candidate: g_c GPUs, q_c TP/EP group GPUs, o_c output tok/s, E_c energy $/h above idle (own only).
Variables (integer unless noted):
    x_c >= 0    replicas of candidate c
    b_s >= 0    servers of system s bought;   e_s in [0, existing_s] kept in service;   r_s >= 0 rented
    z_p >= 0    racks laid out with pattern p
    u_w >= 0    (continuous) output tok/s credited to w (ratio and throughput objectives only)

    min  cost(x,b,e,r,z) = sum_s F^new_s b_s + F^old_s e_s + R_s r_s + sum_p F_p z_p + sum_c E_c x_c   (min_cost)
    max  sum_w u_w                                                             (max_throughput; then min cost)
    max  3600 sum_w u_w / cost                                 (max_tokens_per_dollar; Dinkelbach, see solve.py)
    s.t.
      demand        sum_{c in w} o_c x_c >= (1+h_w) D_w                         (min_cost, ratio)
      credit        u_w <= sum_{c in w} o_c x_c,   u_w <= cap_w
      min_replicas  sum_{c in w} x_c >= m_w
      replica_ub    x_c <= max(ceil((1+h_w) D_w / o_c), m_w)   (min_cost, E_c >= 0: keeps every optimum)
      server_fit    sum_{c on s, q_c >= t} g_c x_c <= cap_s(t) (b_s + e_s)     own;  ... <= cap_s(t) r_s   rent
      supply        b_s <= S_s,   r_s <= S^rent_s,   e_s <= existing_s
      rack_fit      sum_p n_{p,s} z_p >= b_s + e_s        (each pattern respects rack power, space, cooling)
      rack_count    sum_{p of r} z_p <= N_r
      site_power    PUE sum_s kW_s (b_s + e_s) <= P_site
      budget        sum_s capex_s b_s + sum_p price_p z_p <= B_capex;    cost <= B_hourly

SLOs (TTFT, TPOT), memory fit and quality floors are candidate filters (optimize.candidates); verify re-checks
them. A tie-break of 1e-6 $/h per GPU (replicas, servers) and per rack prefers the leaner of equal-cost plans;
it is excluded from every reported cost. Run-to-run determinism comes from a deterministic build and
single-threaded solvers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from planner.optimize import constraints as C
from planner.optimize.instance import Instance
from planner.optimize.layout import Pattern, rack_patterns
from planner.optimize.model import MipModel

TIE_BREAK_USD_PER_GPU_HOUR = 1e-6

CANDIDATE_COLUMNS = (
    "key",
    "workload",
    "model",
    "precision",
    "kv_precision",
    "system",
    "accelerator",
    "tp",
    "pp",
    "ep",
    "attn_dp",
    "serving",
    "batch",
    "gpus",
    "group_gpus",
    "output_tok_s",
    "total_tok_s",
    "ttft_s",
    "tpot_s",
    "avg_power_w",
    "peak_power_w",
    "quality",
    "mode",
)


@dataclass
class Index:
    """Where each entity's variables are, plus the candidate data as plain lists (fast to read)."""

    inst: Instance
    cands: pd.DataFrame
    keys: list[str]
    workload: list[str]
    system: list[str]
    mode: list[str]
    gpus: list[int]
    group: list[int]
    out: list[float]
    energy_usd_per_hour: list[float]  # E_c: energy $/h of one replica above its GPUs' idle draw (own only)
    x: list[int] = field(default_factory=list)
    buy: dict[str, int] = field(default_factory=dict)
    exist: dict[str, int] = field(default_factory=dict)
    rent: dict[str, int] = field(default_factory=dict)
    patterns: list[Pattern] = field(default_factory=list)
    z: list[int] = field(default_factory=list)
    served: dict[str, int] = field(default_factory=dict)
    credit_cap: dict[str, float] = field(default_factory=dict)
    by_workload: dict[str, list[int]] = field(default_factory=dict)
    enforce_demand: bool = True
    racks_modelled: bool = False
    notes: list[str] = field(default_factory=list)
    config_used: dict[int, int] = field(default_factory=dict)  # candidate row -> binary "configuration in use"
    domains: object | None = None  # failure-domain slots (planner.optimize.failure.Domains) when `survive` is set
    slot_floor: dict = field(default_factory=dict)  # failure-domain slots per group at least (failure_slots.check)


def make_index(inst: Instance, cands: pd.DataFrame) -> Index:
    cands = cands.sort_values("key", kind="stable").reset_index(drop=True)
    sysd = inst.systems
    energy = [
        (float(w) - g * sysd[s].idle_w) * sysd[s].usd_per_w_hour if mode == "own" else 0.0
        for w, g, s, mode in zip(cands["avg_power_w"], cands["gpus"], cands["system"], cands["mode"], strict=True)
    ]
    ix = Index(
        inst=inst,
        cands=cands,
        keys=list(cands["key"]),
        workload=list(cands["workload"]),
        system=list(cands["system"]),
        mode=list(cands["mode"]),
        gpus=[int(g) for g in cands["gpus"]],
        group=[int(q) for q in cands["group_gpus"]],
        out=[float(o) for o in cands["output_tok_s"]],
        energy_usd_per_hour=energy,
    )
    for i, w in enumerate(ix.workload):
        ix.by_workload.setdefault(w, []).append(i)
    for w in inst.workloads:  # a workload without candidates still gets its (infeasible) demand row
        ix.by_workload.setdefault(w, [])
    return ix


def build_model(inst: Instance, cands: pd.DataFrame, *, objective: str | None = None,
                slot_floor: dict | None = None) -> tuple[MipModel, Index]:
    """The whole model, family by family; `objective` overrides the problem's (min_cost | max_throughput |
    credit, the numerator of the ratio objective, which solve.py combines with the cost); `slot_floor`: the
    failure-domain slots each group has at least (failure_slots.check)."""
    objective = objective or inst.objective
    ix = make_index(inst, cands)
    ix.slot_floor = dict(slot_floor or {})
    m = MipModel()
    add_variables(m, ix, objective)
    C.add_demand(m, ix)
    C.add_min_replicas(m, ix)
    C.add_replica_bounds(m, ix)
    C.add_server_fit(m, ix)
    C.add_supply(m, ix)
    C.add_rack_fit(m, ix)
    C.add_rack_count(m, ix)
    C.add_site_power(m, ix)
    C.add_simplicity_limits(m, ix)
    C.add_failure_domains(m, ix)
    C.add_budget(m, ix)
    set_objective(m, ix, objective)
    return m, ix


def add_variables(m: MipModel, ix: Index, objective: str) -> None:
    inst = ix.inst
    ix.x = [m.add_var(f"x[{k}]", integer=True) for k in ix.keys]
    used = {(s, mode) for s, mode in zip(ix.system, ix.mode, strict=True)}
    for s, sd in sorted(inst.systems.items()):
        if (s, "own") in used and sd.buy:
            ix.buy[s] = m.add_var(f"buy[{s}]", integer=True)
        if (s, "own") in used and sd.existing:
            ix.exist[s] = m.add_var(f"existing[{s}]", integer=True, ub=sd.existing)
        if (s, "rent") in used:
            ix.rent[s] = m.add_var(f"rent[{s}]", integer=True)
    owned = sorted(set(ix.buy) | set(ix.exist))
    ix.racks_modelled = bool(inst.racks) and bool(owned)
    if ix.racks_modelled:
        ix.patterns, notes = rack_patterns(inst, owned)
        ix.notes.extend(notes)
        ix.z = [m.add_var(f"racks[{p.rack}:{p.label}]", integer=True) for p in ix.patterns]
    if objective in ("max_throughput", "credit"):
        ix.enforce_demand = objective != "max_throughput"
        mult = inst.demand_cap_multiple
        for w, wl in sorted(inst.workloads.items()):
            ix.served[w] = m.add_var(f"served[{w}]")
            if wl.demand_out_tok_s and (mult is not None or objective == "max_throughput"):
                ix.credit_cap[w] = wl.required_out_tok_s * (mult or 1.0)


def tie_break_coefs(ix: Index) -> dict[int, float]:
    """Among plans of equal cost prefer fewer GPUs in replicas, servers and racks.

    The weight is the same for every candidate with the same GPU count: a perturbation that also grew with the
    candidate's rank made the optimum unique but doubled SCIP's time on mixed-fleet (3.2 s vs 1.7 s), and
    run-to-run determinism comes from the deterministic model build and single-threaded solvers anyway.
    """
    eps = TIE_BREAK_USD_PER_GPU_HOUR
    coefs = {ix.x[i]: eps * ix.gpus[i] for i in range(len(ix.keys))}
    for table in (ix.buy, ix.exist, ix.rent):
        for s, v in table.items():
            coefs[v] = eps * ix.inst.systems[s].gpus * (1.5 if table is ix.rent else 1.0)
    for v in ix.z:
        coefs[v] = eps
    return coefs


def cost_objective(ix: Index) -> dict[int, float]:
    """$/h per variable plus the tie-break: the min-cost objective (also the second stage of max_throughput)."""
    coefs = C.cost_coefs(ix)
    for v, c in tie_break_coefs(ix).items():
        coefs[v] = coefs.get(v, 0.0) + c
    return coefs


def set_objective(m: MipModel, ix: Index, objective: str) -> None:
    if objective == "min_cost":
        m.set_objective(cost_objective(ix))
    elif objective in ("max_throughput", "credit"):
        m.set_objective({v: 1.0 for v in ix.served.values()}, maximize=True)
    else:
        raise ValueError(f"unknown objective {objective!r}")
