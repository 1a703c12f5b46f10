"""Size guards checked before the expensive work starts (limits and their settings: `planner.limits`).

The candidate grid is bounded from the problem alone (before a configuration is evaluated), and the fleet a
demand needs is bounded from the candidates (before the MIP is built): a problem asking for 2e9 requests/s is
refused in milliseconds with the number of GPUs it would need, instead of exhausting memory in rack layout.
"""

from __future__ import annotations

import math

import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.schema_engines import SPECULATIVE_METHODS
from planner.errors import InputError
from planner.limits import check, env_name, limit
from planner.optimize.instance import Instance

PARALLELISMS_PER_DOMAIN = 24  # (tp, ep, attn_dp) shapes: powers of two up to 128, three families
PP_OPTIONS = 2


def grid_upper_bound(inst: Instance, catalog: Catalog) -> int:
    """Most configuration rows the candidate grid can have for this problem."""
    accelerators = {sd.accelerator for sd in inst.systems.values()}
    total = 0
    for w in inst.workloads.values():
        models = len(w.models or catalog.models)
        precisions = len(w.precisions or catalog.precisions)
        kvs = len(w.kv_precisions or ("default",))
        engines = len(w.engines or ("generic",))
        drafts = 1 + len(SPECULATIVE_METHODS) if w.speculative == ("auto",) else len(w.speculative or ("none",))
        total += (models * precisions * len(accelerators) * kvs * PARALLELISMS_PER_DOMAIN * PP_OPTIONS
                  * len(w.serving) * engines * drafts)
    return total  # disaggregated rows are paired with prefill layouts later: that grid is checked when built


def check_problem_size(inst: Instance, catalog: Catalog, where: str) -> None:
    """Workloads, systems and the candidate grid, against their limits."""
    check("workloads", len(inst.workloads), f"{where}: workloads")
    check("systems", len(inst.systems), f"{where}: fleet.systems (systems to choose from)")
    check("grid", grid_upper_bound(inst, catalog), f"{where}: candidate grid (workloads x models x precisions "
          "x accelerators x parallel layouts)")


def min_gpus_needed(inst: Instance, cands: pd.DataFrame) -> dict[str, int]:
    """Per workload, the fewest GPUs that can carry its demand (with headroom) and minimum replicas: the
    demand over the best tok/s per GPU of any of its candidates (a lower bound for any plan)."""
    out: dict[str, int] = {}
    if cands.empty:
        return out
    per_gpu = cands["output_tok_s"].astype(float) / cands["gpus"].astype(float)
    for wid, w in inst.workloads.items():
        mine = cands["workload"] == wid
        if not mine.any():
            continue
        best = float(per_gpu[mine].max())
        need = math.ceil(w.required_out_tok_s / best) if best > 0 and w.required_out_tok_s > 0 else 0
        smallest = int(cands.loc[mine, "gpus"].min())
        out[wid] = max(need, w.min_replicas * smallest)
    return out


def check_fleet_size(inst: Instance, cands: pd.DataFrame, where: str) -> None:
    need = min_gpus_needed(inst, cands)
    total, most = sum(need.values()), limit("gpus")
    if total > most:
        worst = max(need, key=need.get)
        raise InputError(
            f"{where}: the demand needs at least {total:,} GPUs (workloads[{worst}] alone {need[worst]:,}), above "
            f"the limit of {most:,} GPUs per fleet (check the demand's unit; raise the limit with "
            f"{env_name('gpus')}=N if this is intended)"
        )


def check_solution_size(gpus_per_candidate: list[int], replicas: list[float], name: str) -> None:
    """A solved fleet above the GPU limit (a throughput objective with a huge budget) is refused before its
    racks are laid out one by one."""
    total = sum(round(n) * g for n, g in zip(replicas, gpus_per_candidate, strict=True))
    most = limit("gpus")
    if total > most:
        raise InputError(
            f"problem {name}: the optimal fleet has {total:,} GPUs, above the limit of {most:,} GPUs per fleet "
            f"(add a budget or a power limit; raise the limit with {env_name('gpus')}=N if this is intended)"
        )
