"""Disaggregated (prefill/decode) answers of `predict`, on the optimizer's own under-load model.

A disaggregated replica is a unit of rate-matched prefill and decode instances
(`planner.perf.disagg_capacity.disaggregated_units`: the largest batch whose zero-load mean TTFT and TPOT meet the
targets). Under a load its TTFT comes from two queues, the prefill instances (M/D/1) then a decode seat
(Erlang-C), by the functions the optimizer's capacity bisects on (`disaggregated_at_load`, `capacity_under_slo`):
  - a query with targets and no load is answered at the largest rate where TTFT holds at the SLO percentile,
    the number `solve` plans with (`capacity_under_slo`, called as the candidate search calls it);
  - a query with `request_rate` or `concurrency` gets TTFT mean and p50/p90/p99 at that load.
TPOT under a load is the decode step at the batch that load gives (`reasoning_disagg.step_at_load`); the
targets are held to the full batch's step, which bounds it (decode instances run no prompt chunks). Under a load
the winner's units are simulated (`planner.predict.disagg_sim`): TPOT, ITL and end-to-end percentiles from the
simulation, and with `num_requests` every latency and the throughput of that finite run; an answer at its
capacity without a load gets those percentiles from simulating the unit at that rate (reasoning rows: TTFT to the
first visible token, TPOT over the visible ones).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.disagg_capacity import disaggregated_at_load, disaggregated_under_slo, disaggregated_units
from planner.perf.evaluate import DEFAULT_BATCHES, evaluate
from planner.perf.params import load_efficiency
from planner.perf.reasoning_disagg import HIDDEN, step_columns, with_decode_steps
from planner.perf.saturation import run_fits_seats
from planner.perf.search import visible_ttft
from planner.predict import disagg_sim
from planner.predict.cells import PREFILL_QUERY_COLUMNS, is_set
from planner.predict.hidden import per_query
from planner.predict.load import GPUS_NEEDED, all_in_energy, answer_fields, needs_more_gpus
from planner.predict.load_query import (
    GENERIC,
    PREFILL_LAYOUT,
    clients_in_flight,
    idle_note,
    percentile_of,
    replica_shares,
    saturated_note,
)
from planner.predict.single_token import SET_ASIDE

# a unit's configuration and its prefill instances' own layout: the columns disagg_sim rebuilds the unit from
UNIT_KEYS, PREFILL_KEYS = disagg_sim.UNIT_CONFIG, disagg_sim.PREFILL
# the answer's columns the queues do not give (TPOT, ITL and end-to-end percentiles): simulated (disagg_sim)
NOT_MODELLED = disagg_sim.PERCENTILES
# the answers' notes, on every row of a --batch answer: short (they were 380-510 characters), the method
# itself in the README's predict section and this module's docstring
QUEUES = "disaggregated: TTFT from the prefill (M/D/1) and decode-seat (Erlang-C) queues, as solve plans"
# under a load: TPOT the decode step at the batch the load gives (Little's law), percentiles simulated
LOAD_NOTE = f"{QUEUES}; TPOT at the load's decode batch; {disagg_sim.notes(False, None)}"
# at the capacity solve plans with: TPOT the full batch's step, which bounds it and which TPOT targets are held to
TPOT_NOTE = f"{QUEUES}; TPOT the full batch's step (a bound); {disagg_sim.notes(False, None)}"


def _percentile_keys(pct: float) -> tuple[float, ...]:
    return tuple(sorted({50.0, 90.0, 99.0, float(pct)}))


def _targets(queries: pd.DataFrame, qids, col: str) -> np.ndarray:
    return (pd.to_numeric(queries[col], errors="coerce").fillna(math.inf) / 1e3).reindex(qids).to_numpy()


def at_capacity(results: pd.DataFrame, queries: pd.DataFrame, catalog: Catalog, pct: pd.Series) -> pd.DataFrame:
    """`results` (the batch grid's evaluation, column qid) with the disaggregated rows of queries that give a
    target replaced by one row per split at its capacity under the SLO percentile (`capacity_under_slo`, as the
    candidate search calls it), with the load columns at that rate (`disagg_*`)."""
    if results.empty or "serving" not in results:
        return results
    ttft = _targets(queries, results["qid"], "ttft_slo_ms")
    tpot = _targets(queries, results["qid"], "tpot_slo_ms")
    # a one-token query's TPOT target, set aside (met trivially), still asks for the unit at its capacity: without
    # it the unit's full-rate figures (TTFT mean 609 ms, 23 req/s) sat beside one client's (p99 472 ms, 3.1 req/s)
    aside = queries[SET_ASIDE].map(is_set).reindex(results["qid"]).to_numpy(dtype=bool) \
        if SET_ASIDE in queries else np.zeros(len(results), dtype=bool)
    pick = (results["serving"] == "disaggregated").to_numpy() & (np.isfinite(ttft) | np.isfinite(tpot) | aside)
    if not pick.any():
        return results
    keys = ["qid", *[k for k in (*UNIT_KEYS, *PREFILL_KEYS) if k in results]]
    splits = results[pick].drop_duplicates(keys)[keys].reset_index(drop=True)
    parts = []
    for p, grp in splits.groupby(splits["qid"].map(pct), sort=False):
        cfg = grp.drop(columns=["qid"]).reset_index(drop=True)
        tt, tp = _targets(queries, grp["qid"], "ttft_slo_ms"), _targets(queries, grp["qid"], "tpot_slo_ms")
        units = fitting_units(cfg, catalog, tt, tp, pd.to_numeric(queries["gpus"]).reindex(grp["qid"]).to_numpy(),
                              per_query(queries, grp["qid"]))
        cap = disaggregated_under_slo(units, tt, float(p))
        load = disaggregated_at_load(units, request_rate=cap["capacity_rps"].to_numpy(dtype=float),
                                     percentiles=_percentile_keys(float(p)))
        cap = cap.assign(qid=grp["qid"].to_numpy(), hidden_tokens=per_query(queries, grp["qid"]),
                         **{f"disagg_{k}": load[k].to_numpy() for k in load})
        light = disaggregated_at_load(units, request_rate=units["output_tok_s"] / units["osl"] * 1e-6,
                                      percentiles=(float(p),))[f"ttft_p{float(p):g}_s"]
        # a unit that meets the targets on the mean but not TTFT at the percentile at any rate
        none = units["fits"].to_numpy(dtype=bool) & ~cap["fits"].to_numpy(dtype=bool)
        reason = cap["reason"].astype(object).to_numpy().copy()
        for i in np.flatnonzero(none):
            reason[i] = (f"p{float(p):g} TTFT {light.iloc[i] * 1e3:.0f} ms at light load > target "
                         f"{tt[i] * 1e3:.0f} ms (disaggregated)")
        parts.append(cap.assign(reason=reason, limited_by=np.where(none, "ttft", cap["limited_by"])))
    return pd.concat([results[~pick], *parts], ignore_index=True)


def fitting_units(cfg: pd.DataFrame, catalog: Catalog, ttft_s: np.ndarray, tpot_s: np.ndarray,
                  gpus: np.ndarray, hidden: np.ndarray | None = None) -> pd.DataFrame:
    """`disaggregated_units` (the optimizer's: the largest batch meeting the targets on the mean); where that
    unit needs more than the query's `gpus`, the largest of DEFAULT_BATCHES whose unit fits them and meets the
    targets (solve picks any number of replicas, a query has its GPUs; unit sizes are not monotone in the
    batch, so every batch below the unit's is tried, in one evaluation). The optimizer's rows wherever its unit
    fits. `hidden`: reasoning tokens of each row's osl before the first visible one (TTFT is to that token,
    `disaggregated_units(hidden=)`)."""
    h = np.zeros(len(cfg)) if hidden is None else np.asarray(hidden, dtype=float)
    # every unit carries its decode step table: TPOT under a load at the batch it gives (disaggregated_at_load)
    units = disaggregated_units(cfg, catalog, ttft_s, tpot_s, hidden=h if h.any() else None, load_steps=True)
    need = units["gpus"].to_numpy(dtype=float)
    big = np.flatnonzero(units["fits"].to_numpy(dtype=bool) & (need > gpus))
    if not len(big):
        return units
    nb = len(DEFAULT_BATCHES)
    of = np.repeat(big, nb)  # the unit row each evaluated row stands for
    batch = np.tile(np.asarray(DEFAULT_BATCHES, dtype=float), len(big))
    # only the batches below the unit's: disaggregated_units evaluated it (too many GPUs) and the larger ones
    # miss the targets (it picked the largest that meets them)
    below = batch < units["batch"].to_numpy(dtype=float)[of]
    of = of[below]
    rep = cfg.iloc[of].reset_index(drop=True).assign(batch=batch[below].astype(np.int64))
    out = units.copy()
    if not len(rep):  # every unit at the smallest batch already: none fits the query's GPUs
        return _none_fits(out, big, need, gpus, ttft_s, tpot_s)
    ev = evaluate(rep, catalog)
    ev["ttft_s"] = visible_ttft(ev["ttft_s"].to_numpy(dtype=float), ev["tpot_s"].to_numpy(dtype=float), h[of])
    col = {k: ev[k].to_numpy(dtype=float) for k in ("gpus", "ttft_s", "tpot_s")}
    meets = ev["fits"].to_numpy(dtype=bool) & (col["ttft_s"] <= ttft_s[of]) & (col["tpot_s"] <= tpot_s[of])
    ok = meets & (col["gpus"] <= gpus[of])
    met = ev[ok].assign(_unit=of[ok])
    pick = met.loc[met.groupby("_unit")["batch"].idxmax()]  # per unit the largest batch, in any batch order
    # a unit none of whose batches fits: the fewest GPUs any of them meeting the targets needs
    need = need.copy()
    np.minimum.at(need, of[meets], col["gpus"][meets])
    out = _none_fits(out, np.setdiff1d(big, pick["_unit"].to_numpy()), need, gpus, ttft_s, tpot_s)
    chosen = pick.set_index("_unit").reindex(columns=out.columns)
    if step_columns(out):  # the chosen batch's decode step table (the unit's was for its batch)
        at = chosen.index.to_numpy()
        chosen = with_decode_steps(chosen.drop(columns=[HIDDEN, *step_columns(out)]), cfg.iloc[at], catalog,
                                   load_efficiency(catalog), h[at], every=True).set_axis(chosen.index)
    return pd.concat([out.drop(index=chosen.index), chosen]).sort_index()


def _none_fits(units: pd.DataFrame, rows: np.ndarray, need: np.ndarray, gpus: np.ndarray, ttft_s: np.ndarray,
               tpot_s: np.ndarray) -> pd.DataFrame:
    units.loc[rows, "fits"] = False
    units.loc[rows, "limited_by"] = "config"  # the query's GPUs
    units.loc[rows, GPUS_NEEDED] = need[rows]
    targets = np.isfinite(ttft_s) | np.isfinite(tpot_s)
    units.loc[rows, "reason"] = [needs_more_gpus(need[i], gpus[i], targets[i]) for i in rows]
    return units


def percentile_rows(best: pd.DataFrame, pct_cols: pd.DataFrame, catalog: Catalog | None = None) -> pd.DataFrame:
    """`pct_cols` (`percentile_columns` of the chosen rows) with the disaggregated answers at capacity taking
    their TTFT from the queues at that rate, and (given the catalog) their TPOT, ITL and end-to-end percentiles
    from simulating the unit there (`disagg_sim.at_capacity`)."""
    if "disagg_rho" not in best:
        return pct_cols
    rows = best.index[best["disagg_rho"].notna()]
    if not len(rows):
        return pct_cols
    out = pct_cols.copy()
    out.loc[rows, list(NOT_MODELLED)] = np.nan
    for k in ("ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "requests_s"):
        out.loc[rows, k] = best.loc[rows, f"disagg_{k}"].to_numpy(dtype=float)
    out.loc[rows, "saturated"] = False
    for r in rows if catalog is not None else ():
        sim = disagg_sim.at_capacity(best.loc[r], catalog)
        out.loc[r, list(sim)] = list(sim.values())
    return out


def load_answers(queries: pd.DataFrame, configs: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Per disaggregated configuration (index of `configs`), the columns `evaluate_loads` gives aggregated
    ones: each unit under its share of the query's load (units = the query's GPUs // a unit's GPUs; the
    busiest unit's latencies, requests summed), plus `dp` (units), `tpot_bound_s` and the unit's columns."""
    if configs.empty:
        return pd.DataFrame()
    cfg = configs[list(UNIT_KEYS)].reset_index(drop=True)
    own = [k for k in PREFILL_LAYOUT if k in configs]  # a split's own prefill layout (NaN: the decode one's)
    if own and configs[own].notna().to_numpy().any():
        cfg = cfg.assign(**{k: configs[k].to_numpy(dtype=float) for k in own})
    qids = configs["qid"].to_numpy()
    # the prefill instances' own accelerator and layout, where a query gives them (the perf model's prefill
    # path only then, as in the batch grid)
    pre = queries.loc[qids, list(PREFILL_QUERY_COLUMNS)].reset_index(drop=True)
    if pre.map(is_set).to_numpy().any():
        # (a query that gives them tries no other prefill layout: the others' keep the ones their split tries)
        cfg = cfg.assign(prefill_accelerator=pre["prefill_gpu"].where(pre["prefill_gpu"].map(is_set), ""),
                         **{k: pd.to_numeric(pre[k], errors="coerce").fillna(cfg.get(k, np.nan))
                            for k in ("prefill_tp", "prefill_pp")})
    tt, tp = _targets(queries, qids, "ttft_slo_ms"), _targets(queries, qids, "tpot_slo_ms")
    given = pd.to_numeric(queries["gpus"]).reindex(qids).to_numpy(dtype=float)
    units = fitting_units(cfg, catalog, tt, tp, given, per_query(queries, qids))
    fits = units["fits"].to_numpy(dtype=bool)
    need = np.where(fits, units["gpus"].to_numpy(dtype=float), np.inf)
    dps = (given // need).astype(np.int64)
    # a unit too large for the query's GPUs keeps the GPUs it needs: the query's answer names the smallest
    # such (`load.nearest_miss`), not the first split's reason
    needed = units[GPUS_NEEDED].to_numpy(dtype=float) if GPUS_NEEDED in units else np.full(len(units), np.nan)
    loads = _at_loads(queries, configs, units, dps)
    rows = []
    for i, (cid, c) in enumerate(configs.iterrows()):
        u, dp = units.iloc[i], int(dps[i])
        base = {"cfg": cid, "dp": dp, "gpus": int(u["gpus"]) if bool(u["fits"]) else 0, GPUS_NEEDED: needed[i],
                "load_reason": "" if dp >= 1 else (str(u["reason"]) if not bool(u["fits"]) else
                                                   f"a disaggregated unit needs {int(u['gpus'])} GPUs"),
                # what stops it: the unit's own cause, or the query's GPUs (config)
                "load_limited_by": "" if dp >= 1 else (str(u["limited_by"]) if not bool(u["fits"]) else "config")}
        if dp < 1:
            rows.append(base)
            continue
        top = loads[i][0][0]  # the busiest units come first
        req = sum(a["requests_s"] * k for a, k in loads[i])
        osl, isl = float(c["osl"]), float(c["isl"])
        rows.append({**base, **{k: top[k] for k in top.index if k.startswith("ttft_")},
                     "tpot_bound_s": top["tpot_bound_s"],
                     **dict.fromkeys(NOT_MODELLED, np.nan),  # TPOT: at the load's decode batch
                     **{k: top[k] for k in top.index if k.startswith("tpot_")},
                     "requests_s": req, "output_tok_s": req * osl, "total_tok_s": req * (isl + osl),
                     "saturated": bool(any(a["saturated"] for a, _ in loads[i]))
                     and not _run_fits_seats(queries.loc[c["qid"]], dp, float(top["seats"])),
                     "max_running": float(top["seats"]),
                     # requests in the deployment (Little's law), or every seat taken where saturated
                     "running": float(sum((a["seats"] if a["saturated"] else a["requests_s"] * a["e2e_mean_s"])
                                          * k for a, k in loads[i])),
                     "unit_prefill_gpu": str(u.get("prefill_accelerator") or c["accelerator"]),
                     # the prefill instances' own layout, else the decode instances'
                     **{f"unit_prefill_{k}": int(v if is_set(v := u.get(f"prefill_{k}")) else c[k])
                        for k in ("tp", "pp", "ep", "attn_dp")},
                     **{f"unit_{k}": u[k] for k in ("prefill_instances", "decode_instances", "avg_power_w",
                                                    "peak_power_w", "itl_s", "acceptance_length", "batch",
                                                    "prefill_gpus", "decode_gpus")},
                     "unit_engine": u.get("engine"), "unit_speculative": u.get("speculative_method"),
                     "unit_limited_by": u["limited_by"]})
    return pd.DataFrame(rows).set_index("cfg")


def _run_fits_seats(q: pd.Series, dp: int, seats: float) -> bool:
    """A finite run (at any request_rate) whose busiest unit's share of num_requests its decode seats hold at
    once: no request waits for another to finish, not saturated (`latency_under_load`'s rule for a replica)."""
    if not (is_set(q["request_rate"]) and is_set(q["num_requests"])):
        return False
    return bool(run_fits_seats(math.ceil(float(q["num_requests"]) / dp), seats))


def _at_loads(queries: pd.DataFrame, configs: pd.DataFrame, units: pd.DataFrame,
              dps: np.ndarray) -> dict[int, list[tuple[pd.Series, int]]]:
    """Per configuration (position) with dps >= 1 units: its units under their shares of the query's load, as
    [(a `disaggregated_at_load` row, units with that share)], the busiest first; one call of the queues per set
    of SLO percentiles over every share (a call per share cost ~0.07 s: most of a 50-row --batch)."""
    jobs: list[tuple[int, float, float, int, tuple]] = []  # (position, rate, clients, units, percentiles)
    for i, qid in enumerate(configs["qid"].to_numpy()):
        dp = int(dps[i])
        if dp < 1:
            continue
        q = queries.loc[qid]
        pcts = _percentile_keys(percentile_of(q))
        if is_set(q["request_rate"]):
            jobs.append((i, float(q["request_rate"]) / dp, math.nan, dp, pcts))
        else:
            # a finite run has at most its share of the requests in flight on a unit (latency_under_load's
            # rule): 100,000 clients with 10 requests on one unit read saturated
            n = float(q["num_requests"]) if is_set(q["num_requests"]) else math.nan
            jobs += [(i, math.nan, c if m != m else min(c, m), k, pcts)
                     for _, c, m, k in replica_shares(math.nan, float(q["concurrency"]), n, dp)]
    out: dict[int, list[tuple[pd.Series, int]]] = {}
    for pcts in dict.fromkeys(j[4] for j in jobs):
        mine = [j for j in jobs if j[4] == pcts]
        at = disaggregated_at_load(units.iloc[[j[0] for j in mine]].reset_index(drop=True),
                                   request_rate=np.array([j[1] for j in mine]),
                                   concurrency=np.array([j[2] for j in mine]), percentiles=pcts)
        for j, (_, a) in zip(mine, at.iterrows(), strict=True):
            out.setdefault(j[0], []).append((a, j[3]))
    return out


def split_note(prefill_gpu, gpu: str, prefill_gpus: float, decode_gpus: float) -> list[str]:
    """How a replica's GPUs split when prefill runs on another accelerator (none when it does not): the answers
    with and without a load say it alike."""
    if not isinstance(prefill_gpu, str) or prefill_gpu in ("", gpu):
        return []
    return [f"each replica: {prefill_gpus:g} {prefill_gpu} GPUs prefill, {decode_gpus:g} {gpu} GPUs decode "
            f"(--gpus counts both; all-in power priced as {gpu} servers)"]


def describe(best: pd.Series, query: pd.Series, catalog: Catalog, gpus_total: int) -> dict:
    """Result fields of a winning disaggregated configuration under load: the unit at its full batch (power,
    instances; power thus an upper bound below the unit's rate), the load columns from the two queues (TPOT
    at the load's decode batch), the TPOT/ITL/e2e percentiles from simulating the units (a finite run: all its
    figures; `disagg_sim`)."""
    dp, unit_gpus = int(best["dp"]), int(best["gpus"])
    used = dp * unit_gpus
    notes = [f"{gpus_total - used} of {gpus_total} GPUs idle: a disaggregated unit needs {unit_gpus}"] \
        if used < gpus_total else []
    notes += idle_note(query, dp, "units")
    sim = disagg_sim.simulated(best, query, catalog)  # None: a saturated open-loop steady state
    finite = sim is not None and is_set(query["num_requests"])
    if best["saturated"]:
        notes.append(saturated_note(query, "units"))
    if finite:  # the finite run's figures replace the queues' steady state (as a benchmark measures it)
        best = best.copy()
        for k in ("requests_s", "output_tok_s", "total_tok_s"):
            best[k] = sim[k]
        best["ttft_mean_s"], best["tpot_mean_s"] = sim["ttft_s"], sim["tpot_s"]
        notes.append(disagg_sim.notes(True, query["num_requests"]))
    else:
        notes.append(LOAD_NOTE if sim is not None else f"{QUEUES}; saturated: no steady state to simulate")
    notes += split_note(str(best["unit_prefill_gpu"]), str(best["accelerator"]), best["unit_prefill_gpus"],
                        best["unit_decode_gpus"])
    # (a finite run's own: the steady state's seats of a saturated one counted 198 in flight of 64 requests)
    running = sim["running"] if finite else best["running"]
    conc = clients_in_flight(query, running)
    avg_w = float(best["unit_avg_power_w"]) * dp
    # a saturated steady state has no mean TPOT, as an aggregated answer's has none (it showed the full batch's
    # step there, where the aggregated answer beside it showed '-')
    tpot_s = float("nan") if sim is None else float(best["tpot_mean_s"])
    # the unit's ITL is its full batch's; under the load it keeps its ratio to TPOT (a draft's tokens per step)
    # at the load's decode step (it gave the full batch's, 26 ms beside an ITL p99 of 12.5 ms at 1 req/s)
    itl_s = float(best["unit_itl_s"]) * tpot_s / float(best["tpot_bound_s"])
    return {
        **answer_fields(best, conc, tpot_s, gpus_total, avg_w,
                        float(best["unit_peak_power_w"]) * dp, best["unit_limited_by"], notes, itl_s),
        **{k: best[k] for k in ("ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "requests_s", "saturated")},
        **dict.fromkeys(NOT_MODELLED, float("nan")),
        **{k: v for k, v in (sim or {}).items() if k.endswith(("_p50_s", "_p90_s", "_p99_s"))},
        "engine": best.get("unit_engine") or GENERIC, "speculative": best.get("unit_speculative") or "none",
        "acceptance_length": float(best["unit_acceptance_length"]),
        "prefill_instances": int(best["unit_prefill_instances"]),
        "decode_instances": int(best["unit_decode_instances"]),
        "prefill_gpu": best["unit_prefill_gpu"], "prefill_tp": int(best["unit_prefill_tp"]),
        "prefill_pp": int(best["unit_prefill_pp"]), "prefill_ep": int(best["unit_prefill_ep"]),
        "prefill_attn_dp": int(best["unit_prefill_attn_dp"]),
        **all_in_energy(catalog, str(best["accelerator"]), float(best["output_tok_s"]), avg_w, used),
    }


__all__ = ["NOT_MODELLED", "TPOT_NOTE", "at_capacity", "describe", "fitting_units", "load_answers",
           "percentile_rows"]
