"""The simulated figures of a winning disaggregated answer under a load (planner.perf.simulate_disagg), beside
the analytic queues' (planner.predict.disagg).

The winner is chosen on the analytic model, as for aggregated answers; then each unit's share of the load is
simulated (a unit per replica, the query's load and requests spread as `load_query.replica_shares` does):
  - steady state (no `num_requests`): the TPOT, ITL and end-to-end percentiles the queues do not give; TTFT and
    the means stay the queues' (the model `solve` plans with); none where the load saturates the units;
  - a finite run (`num_requests`): every latency and the throughput of that run, as a benchmark measures it.
An answer at its capacity under the SLO (no load given) gets the same percentiles from a steady state at that
rate (`at_capacity`).
Reasoning rows decode their hidden tokens first: TTFT is to the first visible token, TPOT over the visible ones.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.evaluate import PREFILL_COLUMNS
from planner.perf.load_disagg import cached_summary
from planner.perf.simulate import Workload
from planner.predict.cells import is_set
from planner.predict.load_query import replica_shares

UNIT_CONFIG = ("model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "serving", "isl",
               "osl", "engine", "speculative")
PERCENTILES = ("tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "itl_p50_s", "itl_p99_s", "e2e_p50_s")
PREFILL = PREFILL_COLUMNS  # the prefill instances' own accelerator and layout, the perf model's columns
FINITE = ("ttft_p50_s", "ttft_p90_s", "ttft_p99_s", *PERCENTILES)


def _unit(best: pd.Series) -> pd.Series:
    """The winner's unit as a `disaggregated_units` row: its configuration, batch, instances and, where they
    differ from the decode instances', the prefill instances' accelerator and layout."""
    u = {k: best[k] for k in UNIT_CONFIG if k in best}
    u |= {"batch": best["unit_batch"], "prefill_instances": best["unit_prefill_instances"],
          "decode_instances": best["unit_decode_instances"]}
    own = (str(best["unit_prefill_gpu"]), *(int(best[f"unit_prefill_{k}"]) for k in ("tp", "pp", "ep", "attn_dp")))
    if own != (str(best["accelerator"]), *(int(best[k]) for k in ("tp", "pp", "ep", "attn_dp"))):
        u |= dict(zip(PREFILL, own, strict=True))
    return pd.Series(u)


def simulated(best: pd.Series, query: pd.Series, catalog: Catalog) -> dict | None:
    """The answer's fields from simulating each unit's share of the query's load, or None where an open-loop
    steady state saturates the units (no latencies; closed-loop clients beyond the seats wait for one, a steady
    state all the same, as an aggregated answer's)."""
    finite = is_set(query["num_requests"])
    if bool(best["saturated"]) and not finite and is_set(query["request_rate"]):
        return None
    dp = int(best["dp"])
    n = float(query["num_requests"]) if finite else math.nan
    dist = str(query["length_dist"]) if is_set(query["length_dist"]) else "fixed"
    rate = float(query["request_rate"]) if is_set(query["request_rate"]) else math.nan
    clients = float(query["concurrency"]) if is_set(query["concurrency"]) else math.nan
    shares = [(Workload(request_rate=None if r != r else r, concurrency=None if c != c else int(c),
                        num_requests=int(m) if finite else None, length_dist=dist), k)
              for r, c, m, k in replica_shares(rate, clients, n, dp)]
    # cached on the unit and the load: a --batch file repeating both simulates them once (perf.load_disagg)
    unit = _unit(best)
    runs = [(cached_summary(unit, catalog, wl, _hidden(best)), k) for wl, k in shares]
    top = runs[0][0]  # the busiest units first: their latencies, as the analytic answer's
    out = {k: top[k] for k in (FINITE if finite else PERCENTILES)}
    if finite:
        req = sum(s["requests_s"] * k for s, k in runs)
        osl, isl = float(best["osl"]), float(best["isl"])
        out |= {"ttft_s": top["ttft_mean_s"], "tpot_s": top["tpot_mean_s"], "requests_s": req,
                "output_tok_s": req * osl, "total_tok_s": req * (isl + osl),
                # requests in flight over the run (Little's law), as an aggregated finite run counts them
                "running": sum(s["requests_s"] * s["e2e_mean_s"] * k for s, k in runs)}
    return {k: float(v) if v is not None else np.nan for k, v in out.items()}


def at_capacity(row: pd.Series, catalog: Catalog) -> dict:
    """The TPOT, ITL and end-to-end percentiles of an answer at its capacity under the SLO (a row of
    `disagg.at_capacity`: the unit at the rate `disagg_requests_s`, its seats `disagg_seats`), simulated in
    steady state with fixed lengths."""
    u = {k: row[k] for k in (*UNIT_CONFIG, *PREFILL) if k in row and is_set(row[k])}
    d = float(row["decode_instances"])
    u |= {"batch": float(row["disagg_seats"]) / d, "prefill_instances": row["prefill_instances"],
          "decode_instances": d}
    s = cached_summary(pd.Series(u), catalog, Workload(request_rate=float(row["disagg_requests_s"])), _hidden(row))
    return {k: float(s[k]) for k in PERCENTILES}


def _hidden(row: pd.Series) -> int:
    """Reasoning tokens before the first visible one (the row's osl counts them; planner.predict.hidden)."""
    h = row.get("hidden_tokens", 0)
    return int(float(h)) if is_set(h) else 0


def notes(finite: bool, n_requests) -> str:
    """What the simulated figures are."""
    if finite:
        return (f"a finite run of {int(float(n_requests))} requests simulated, each unit its share (prefill "
                "passes, decode seats, KV transfer, decode steps at the running batch): its latencies and "
                "throughput")
    return "TPOT, ITL and end-to-end percentiles from a simulation of the unit at that load"


__all__ = ["PERCENTILES", "at_capacity", "notes", "simulated"]
