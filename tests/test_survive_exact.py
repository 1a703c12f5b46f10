"""`survive` optima against brute force over server contents: the bounds and cuts that speed the MIP up must keep
every optimum (a replica bound of ceil(demand / o_c) once cut the optimum of every plan needing more copies of
its best candidate than demand alone asks for)."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
from optimize_fixtures import cand, instance, system, table, workload

from planner.optimize.backends import available_backends
from planner.optimize.solve import solve_instance

BACKENDS = available_backends()


def survive_instance(n_lost: int, demand: float, rows: list[dict], workloads=("chat",)):
    ws = [dataclasses.replace(workload(w, demand, headroom=0.1), survive_level="servers", survive_count=n_lost)
          for w in workloads]
    return instance(ws, [system("h200", "h200", price=330_000)]), table(*rows)


def brute_force_survive(inst, cands, max_servers: int = 5) -> float:
    """Cheapest multiset of server contents (replicas per candidate on one 8-GPU server) meeting demand with
    headroom, min_replicas, and each workload's peak demand after losing its survive_count most loaded servers."""
    rows = cands.to_dict("records")
    sd = next(iter(inst.systems.values()))
    ws = sorted(inst.workloads.values(), key=lambda wl: wl.id)
    contents = []  # (tok/s per workload, replicas per workload, energy $/h) of each possible server
    for n in itertools.product(*(range(sd.gpus // r["gpus"] + 1) for r in rows)):
        if not any(n) or sum(k * r["gpus"] for k, r in zip(n, rows, strict=True)) > sd.gpus:
            continue
        load = tuple(sum(k * r["output_tok_s"] for k, r in zip(n, rows, strict=True) if r["workload"] == wl.id)
                     for wl in ws)
        reps = tuple(sum(k for k, r in zip(n, rows, strict=True) if r["workload"] == wl.id) for wl in ws)
        energy = sum(k * (r["avg_power_w"] - r["gpus"] * sd.idle_w) * sd.usd_per_w_hour
                     for k, r in zip(n, rows, strict=True))
        contents.append((load, reps, energy))
    best = math.inf
    for k in range(1, max_servers + 1):
        for servers in itertools.combinations_with_replacement(contents, k):
            cost = k * sd.new_usd_per_hour + sum(c[2] for c in servers)
            if cost >= best or not all(_survives(wl, [c[0][j] for c in servers], sum(c[1][j] for c in servers))
                                       for j, wl in enumerate(ws)):
                continue
            best = cost
    return best


def _survives(wl, loads: list[float], replicas: int) -> bool:
    total = sum(loads)
    lost = sum(sorted(loads, reverse=True)[:wl.survive_count])
    return (total >= wl.required_out_tok_s - 1e-9 and replicas >= wl.min_replicas
            and total - lost >= wl.demand_out_tok_s - 1e-9)


CASES = {
    # one whole-server replica covers demand with headroom, but surviving a loss needs two of them: the optimum
    # is 2 (n=1) or 3 (n=2) servers of the big candidate, not a mix with the smaller ones
    "big-replica": (3000.0, [cand("chat", "h200", "h200", gpus=8, out=3400, watts=5000),
                             cand("chat", "h200", "h200", gpus=4, out=1500, watts=2600),
                             cand("chat", "h200", "h200", gpus=2, out=700, watts=1300)]),
    # two workloads sharing servers: each survives the loss of its most loaded server
    "two-workloads": (2000.0, [cand("chat", "h200", "h200", gpus=4, out=2300, watts=2600),
                               cand("chat", "h200", "h200", gpus=2, out=1000, watts=1300),
                               cand("code", "h200", "h200", gpus=4, out=2100, watts=2600),
                               cand("code", "h200", "h200", gpus=2, out=900, watts=1300)]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_lost", [1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_survive_min_cost_matches_brute_force(backend, n_lost, case):
    demand, rows = CASES[case]
    workloads = sorted({r["workload"] for r in rows})
    inst, cands = survive_instance(n_lost, demand, rows, workloads)
    expect = brute_force_survive(inst, cands)
    assert math.isfinite(expect)
    sol = solve_instance(inst, cands, backend)
    assert sol.status.value == "optimal"
    assert sol.objective_value == pytest.approx(expect, rel=1e-6)
