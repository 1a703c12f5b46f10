"""Predict queries under a load: a request rate or a number of concurrent clients over the whole deployment.

A query with `request_rate` (requests/s over all replicas, Poisson; inf = `num_requests` at once) or
`concurrency` (closed-loop clients, honoured exactly: C clients over dp replicas are C // dp per replica plus
one more on C % dp of them) is answered per parallel split by `planner.perf.latency_under_load` (the analytic
queueing model) at each replica's share of the load; of the splits meeting the TTFT/TPOT targets at the SLO
percentile, the one that serves the most requests/s wins, ties by end-to-end latency at that percentile
(`most_served`). `ttft_s`/`tpot_s` are then the means under the load. A finite run (`num_requests`) of the
winner is then simulated (`planner.perf.simulate`), as a benchmark would measure it. A query without a load
keeps the batch search and gets its percentile columns as closed-loop concurrency = the chosen batch on every
replica.
Disaggregated configurations take the optimizer's two-queue model instead (`planner.predict.disagg`).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

from planner import power
from planner.catalog.catalog import Catalog
from planner.perf import evaluate, latency_under_load
from planner.perf.evaluate import PREFILL_COLUMNS, output_tok_s_per_user
from planner.perf.resolve import FAILURE_KINDS
from planner.predict.cells import is_set, ms_text
from planner.predict.finite_runs import burst_bound, simulated_runs
from planner.predict.load_query import (
    GENERIC,
    LOAD_RESULT_COLUMNS,
    PER_REPLICA,
    PREFILL_LAYOUT,
    asks_prefill,
    clients_in_flight,
    has_load,
    idle_note,
    percentile_of,
    prefill_options,
    replica_shares,
    saturated_note,
    settings_of,
)
from planner.predict.validate import max_batch_of


def load_rows(queries: pd.DataFrame, configs: pd.DataFrame) -> pd.DataFrame:
    """Per-replica load rows for configuration rows (qid, tp, pp, attn_dp, dp, ...) of load queries: one row per
    (configuration, group of replicas with the same share), with `replicas` and `cfg` (the configuration)."""
    rows = []
    for i, cfg in zip(configs.index, configs.to_dict("records"), strict=True):  # cfg: the index in configs
        q = queries.loc[cfg["qid"]]
        dp = int(cfg["dp"])
        base = {**cfg, "cfg": i, "length_dist": q["length_dist"] if is_set(q["length_dist"]) else "fixed",
                "num_requests": float(q["num_requests"]) if is_set(q["num_requests"]) else np.nan}
        rate = float(q["request_rate"]) if is_set(q["request_rate"]) else np.nan
        clients = float(q["concurrency"]) if is_set(q["concurrency"]) else np.nan
        for r, c, n, k in replica_shares(rate, clients, base["num_requests"], dp):
            rows.append({**base, "request_rate": r, "concurrency": c, "num_requests": n, "replicas": k})
    return pd.DataFrame(rows)


def evaluate_loads(rows: pd.DataFrame, catalog: Catalog, method: str = "analytic") -> pd.DataFrame:
    """latency_under_load on every per-replica row (simulated: a random finite run's mean over seeds,
    `finite_runs`), then one row per configuration: totals over its replicas, latencies of the busiest replica
    group (conservative), means weighted by requests."""
    # `batch`: a query's max_batch, else NaN
    res = simulated_runs(rows, catalog) if method == "simulate" else latency_under_load(rows, catalog)
    res["req_total"] = res["requests_s"] * res["replicas"]
    out = []
    for _, grp in res.groupby("cfg", sort=True):
        top = grp.iloc[0]  # the group with the most clients per replica comes first
        agg = {k: top[k] for k in PER_REPLICA}
        w = grp["req_total"].to_numpy()
        for k in ("ttft_mean_s", "tpot_mean_s", "itl_mean_s"):
            v = grp[k].to_numpy()
            agg[k] = float(np.sum(v * w) / np.sum(w)) if np.sum(w) > 0 else top[k]
        agg.update(cfg=int(top["cfg"]), requests_s=float(grp["req_total"].sum()),
                   output_tok_s=float((grp["output_tok_s"] * grp["replicas"]).sum()),
                   total_tok_s=float((grp["total_tok_s"] * grp["replicas"]).sum()),
                   saturated=bool(grp["saturated"].any()), load_reason=str(top["load_reason"]),
                   load_limited_by=str(top["load_limited_by"]),
                   max_running=float(top["max_running"]))
        # requests in the whole deployment (Little's law), or every seat taken where latency is undefined
        little = (grp["requests_s"] * grp["e2e_mean_s"] * grp["replicas"]).sum(min_count=1)
        agg["running"] = float(little) if little == little else float(top["max_running"] * grp["replicas"].sum())
        out.append(agg)
    return pd.DataFrame(out).set_index("cfg")


def choose(queries: pd.DataFrame, configs: pd.DataFrame, loads: pd.DataFrame) -> dict[int, int]:
    """Per load query, the index (in `configs`) of the winning configuration; queries with none are absent."""
    c = configs.join(loads, how="inner")
    c = c[c["load_reason"] == ""]
    best: dict[int, int] = {}
    for qid, grp in c.groupby("qid", sort=False):
        q = queries.loc[qid]
        pct = percentile_of(q)
        key = f"{pct:g}"
        ttft = _at_percentile(grp, "ttft", pct, key)
        tpot = _tpot_held(grp, pct, key)
        t_ttft = float(q["ttft_slo_ms"]) / 1e3 if is_set(q["ttft_slo_ms"]) else math.inf
        t_tpot = float(q["tpot_slo_ms"]) / 1e3 if is_set(q["tpot_slo_ms"]) else math.inf
        # no target: any answer (a saturated steady state has no latency); a target needs a latency within it
        meets = ((ttft <= t_ttft) | math.isinf(t_ttft)) & ((tpot <= t_tpot) | math.isinf(t_tpot))
        # at the same completed rate, the fastest answer for a user: end-to-end latency at the percentile (TTFT
        # alone chose TP2 PP4 over TP8 for a 70B at 5 req/s: 35 ms sooner to the first token, 1.8 s later to
        # the last of 256)
        e2e = (ttft + (float(q["osl"]) - 1) * tpot).fillna(math.inf)
        ok = grp.assign(_e2e=e2e)[meets]
        if not ok.empty:
            best[qid] = int(most_served(ok).index[0])
    return best


# requests/s this close (relative) are one figure: the same offered rate split over 3 or 6 replicas sums back
# with different float rounding, and then the latency decides, not the last bit
SERVED_TIE = 1e-9


def most_served(ok: pd.DataFrame) -> pd.DataFrame:
    """Configurations (meeting the targets) ranked as a user asks: the most requests/s served first, ties by
    end-to-end latency at the percentile (`_e2e`), then fewer GPUs a replica and the smaller layout. Requests/s
    is what each load completes: the offered rate where a replica keeps up and its capacity where it does not
    (an open loop), what the clients complete (a closed loop), the run's requests over its span (a finite run),
    at most what the same requests sent at once complete (`served_rps`, `burst_bound`).
    Saturation is no rank of its own: above capacity an open loop completes less than the rate and ranks lower
    by that, and a closed loop with more clients than seats still completes what it sends: ranked saturated
    last, 1,024 SGLang clients of llama-3.3-70b on 8 H200 (1,024 / 1,024 tokens) got TP1 PP2 x DP4 at 11.8
    requests/s and e2e p50 87 s over TP1 x DP8 at 16.5 requests/s and 62 s."""
    served = ok.get("served_rps", ok["requests_s"]).fillna(ok["requests_s"]).astype(float).fillna(0.0)
    tied = ok[served >= served.max() * (1.0 - SERVED_TIE)]
    return tied.sort_values(["_e2e", "gpus", "tp", "pp", "ep", "attn_dp"], kind="stable")


def _tpot_held(grp: pd.DataFrame, pct: float, key: str) -> pd.Series:
    """TPOT a target is held to: at the percentile, or for disaggregated units (no TPOT percentile modelled)
    the decode step at the full batch, which bounds every percentile from above."""
    tpot = _at_percentile(grp, "tpot", pct, key)
    return tpot.fillna(grp["tpot_bound_s"]) if "tpot_bound_s" in grp else tpot


def at_slo(rows: pd.DataFrame, pct: float) -> dict:
    """TTFT and TPOT of a one-row frame at the SLO percentile, as `choose` holds targets to them (`ttft_at_slo_s`,
    `tpot_at_slo_s` of an answer: a percentile other than 50/90/99 is otherwise not among its columns)."""
    key = f"{pct:g}"
    return {"ttft_at_slo_s": float(_at_percentile(rows, "ttft", pct, key).iloc[0]),
            "tpot_at_slo_s": float(_tpot_held(rows, pct, key).iloc[0])}


def _at_percentile(grp: pd.DataFrame, metric: str, pct: float, key: str) -> pd.Series:
    """A metric at any percentile: the computed column, else interpolated between p50/p90/p99 (linear in the
    normal quantile, which is how the approximation spreads them)."""
    col = f"{metric}_p{key}_s"
    if col in grp:
        return grp[col]
    z = NormalDist().inv_cdf
    pts = [(50.0, grp[f"{metric}_p50_s"]), (90.0, grp[f"{metric}_p90_s"]), (99.0, grp[f"{metric}_p99_s"])]
    lo, hi = (pts[0], pts[1]) if pct <= 90 else (pts[1], pts[2])
    w = (z(pct / 100) - z(lo[0] / 100)) / (z(hi[0] / 100) - z(lo[0] / 100))
    return lo[1] + (hi[1] - lo[1]) * w


def all_in_energy(catalog: Catalog, accelerator_id: str, output_tok_s: float, avg_power_w: float,
                  used_gpus: int) -> dict:
    """All-in average power (boards + host + network share of the GPUs used) and output tokens per kWh of it,
    the same way `solve` and `frontier` count them (planner.power), in the accelerator's reference system."""
    system = power.reference_system(catalog, accelerator_id)
    if system is None:
        return {"all_in_power_w": None, "tokens_per_kwh": None}
    w = power.all_in_avg_w(avg_power_w, used_gpus, system, catalog.accelerators[accelerator_id].tdp_w)
    return {"all_in_power_w": w, "tokens_per_kwh": power.tokens_per_kwh(output_tok_s, w)}


def in_flight(count) -> int | float:
    """Requests in flight as an answer writes them: a whole number of clients as an int; a mean (Little's law
    under a request rate) in full, as the answer's other figures (the table rounds it, `_count` in
    planner.report.predict_view; the data rounded it too, to two digits, 0.01791 read 0.018)."""
    x = float(count)
    return int(x) if x.is_integer() else x


def answer_fields(best: pd.Series, conc, tpot: float, gpus_total: int, avg_w: float, peak_w: float, limited: str,
                  notes: list[str], itl: float) -> dict:
    """The fields every answer under a load has: layout, means under the load, totals, power, why. A saturated
    steady state has no TPOT, and then no ITL either (it showed the step at every seat taken, 0.33 s, beside
    an empty TPOT in the JSON and CSV, where the table showed neither)."""
    return {
        "itl_s": itl if tpot == tpot else float("nan"),
        "tp": int(best["tp"]), "pp": int(best["pp"]), "ep": int(best["ep"]), "dp": int(best["dp"]),
        "attn_dp": int(best["attn_dp"]), "serving": best["serving"], "in_flight": in_flight(conc), "fits": True,
        "ttft_s": float(best["ttft_mean_s"]), "tpot_s": tpot, "output_tok_s": float(best["output_tok_s"]),
        "output_tok_s_per_gpu": float(best["output_tok_s"]) / gpus_total,
        "output_tok_s_per_user": float(output_tok_s_per_user(tpot)),
        "total_tok_s": float(best["total_tok_s"]), "avg_power_w": avg_w, "peak_power_w": peak_w,
        "limited_by": "queue" if best["saturated"] else limited, "notes": "; ".join(notes),
    }


def describe_load(best: pd.Series, query: pd.Series, catalog: Catalog, gpus_total: int) -> dict:
    """Result fields of a winning configuration under load (power from the model at the mean batch; ITL the
    load's mean, as its percentiles: the step model's at the mean batch read 252 ms beside an ITL p99 and TPOT of
    340 ms for gpt-oss-120b at attention DP 8 under 4,096 clients)."""
    dp = int(best["dp"])
    per_replica = float(best["running"]) / dp
    running = max(1, round(min(per_replica, float(best["max_running"])))) if per_replica == per_replica else 1
    keys = ("model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "serving", "isl",
            "osl", "engine", "speculative")
    cfg = pd.DataFrame([{k: best[k] for k in keys}])
    # power at the mean running batch, within what memory holds at full context (the model's power batch)
    room = int(evaluate(cfg.assign(batch=1), catalog).iloc[0]["max_batch_memory"])
    ev = evaluate(cfg.assign(batch=max(1, min(running, room))), catalog).iloc[0]
    used = dp * int(ev["gpus"])
    notes = [f"{gpus_total - used} of {gpus_total} GPUs idle: a replica needs {int(ev['gpus'])}"] \
        if used < gpus_total else []
    notes += idle_note(query, dp)
    if best["saturated"]:
        notes.append(saturated_note(query))
    conc = clients_in_flight(query, best["running"])
    return {
        **answer_fields(best, conc, float(best["tpot_mean_s"]), gpus_total, float(ev["avg_power_w"]) * dp,
                        float(ev["peak_power_w"]) * dp, ev["limited_by"], notes, float(best["itl_mean_s"])),
        **{k: best[k] for k in LOAD_RESULT_COLUMNS if k in best and k not in ("engine", "speculative",
                                                                               "slo_percentile")},
        "engine": ev.get("engine") or GENERIC, "speculative": ev.get("speculative_method") or "none",
        "acceptance_length": float(ev["acceptance_length"]),
        "acceptance_assumed": bool(ev.get("acceptance_assumed", False)),
        **all_in_energy(catalog, str(best["accelerator"]), float(best["output_tok_s"]),
                        float(ev["avg_power_w"]) * dp, used),
    }


def answer_load_queries(queries: pd.DataFrame, catalog: Catalog, splits, units) -> dict:
    """Result fields per load query (qid -> dict), every split of its GPUs tried; `splits(row, catalog)` lists
    the (tp, pp, ep, attn_dp) choices; `units` answers the disaggregated ones (`planner.predict.disagg`: its
    `load_answers` and `describe`; passed in because it builds on this module)."""
    cols = ("qid", "model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "serving",
            "isl", "osl", "dp", "gpus", "engine", "speculative", "hidden_tokens")
    rows = []
    for qid, row in queries.iterrows():
        if row["error"] or not has_load(row):
            continue
        st = settings_of(row)
        split = splits(row, catalog)
        asked = asks_prefill(row)
        for mode in st.modes:
            for tp, pp, ep, attn_dp in split:
                g = tp * pp * attn_dp
                if st.gpus // g >= 1:
                    base = dict(zip(cols, (qid, row["model"], row["gpu"], row["precision"], st.kv, tp, pp, ep,
                                           attn_dp, mode, st.isl, st.osl, st.gpus // g, g, st.engine, st.spec,
                                           st.hidden), strict=True))
                    # the query's seat cap per replica (NaN: the engine's or the memory's)
                    base["batch"] = max_batch_of(row)
                    rows += [base | dict(zip(PREFILL_LAYOUT, pre, strict=True))
                             for pre in prefill_options(split, (tp, pp, ep, attn_dp), mode, asked)]
    if not rows:
        return {}
    configs = pd.DataFrame(rows)
    disagg = (configs["serving"] == "disaggregated").to_numpy()
    # disaggregated units: the optimizer's two-queue model (planner.predict.disagg), a unit per replica
    found = units.load_answers(queries, configs[disagg], catalog)
    per_replica = load_rows(queries, configs[~disagg])
    loads = evaluate_loads(per_replica, catalog) if len(per_replica) else pd.DataFrame()
    if len(loads):  # what a finite run at a rate can complete: at most what the same requests at once do
        loads["served_rps"] = np.fmin(loads["requests_s"], burst_bound(per_replica, catalog).reindex(loads.index))
    if len(found):
        configs.loc[found.index, ["dp", "gpus"]] = found[["dp", "gpus"]].to_numpy()
        loads = pd.concat([loads, found.drop(columns=["dp", "gpus"])])
    best = choose(queries, configs, loads)
    # what the targets were held to: the steady state's, before a finite run's simulation replaces its figures
    held = {qid: at_slo(loads.loc[[i]], percentile_of(queries.loc[qid])) for qid, i in best.items()}
    # a finite run (num_requests) is what a benchmark measures: simulate the winner's run (aggregated here; a
    # disaggregated winner's run is simulated by its own scheduler where it is described, `disagg.describe`)
    finite = [i for q, i in best.items() if is_set(queries.loc[q, "num_requests"]) and not disagg[i]]
    if finite:
        sim = evaluate_loads(per_replica[per_replica["cfg"].isin(finite)], catalog, method="simulate")
        loads.loc[sim.index, sim.columns] = sim
    joined = configs.join(loads, how="inner")
    out = {}
    for qid, grp in joined.groupby("qid", sort=False):
        q = queries.loc[qid]
        if qid in best and disagg[best[qid]]:
            out[qid] = {**units.describe(joined.loc[best[qid]], q, catalog, int(float(q["gpus"]))), **held[qid]}
        elif qid in best:
            out[qid] = {**describe_load(joined.loc[best[qid]], q, catalog, int(float(q["gpus"]))), **held[qid]}
        else:
            out[qid] = {"fits": False, **_why_not_under_load(grp, q)}
    return out


def limit_of(limited_by) -> str:
    """What stops a configuration that does not run, as the model recorded it where it wrote its reason
    (`limited_by`: memory, engine or config, written with the reason by `planner.perf.resolve.add_reasons`;
    ttft or tpot where a disaggregated unit misses a target at every batch). Every path of the model carries
    it; rows built some other way may not, and answer 'unknown' (the reason stays in the notes) rather than
    stop the whole prediction with a traceback."""
    if isinstance(limited_by, str) and limited_by in (*FAILURE_KINDS, "ttft", "tpot"):
        return limited_by
    return "unknown"


# a configuration row's running-sequence cap as the user set it (`max_batch`), NaN for the engine's own: the
# seats `percentile_columns` gives the load model (its `batch` column caps them, and a search's batch is no cap:
# 4 clients on 4 seats read 330.40 tok/s/user, on the engine's 1,024 330.60 as --concurrency 4 answers)
SEATS = "seats"

# a unit that runs only on more GPUs than the query has (`disagg.fitting_units`): the fewest it needs, NaN
# elsewhere; `nearest_miss` reads it
GPUS_NEEDED = "gpus_needed"


def needs_more_gpus(need: float, given: float, targets: bool = False) -> str:
    """Why a query has no answer when its smallest configuration that runs (`targets`: meeting them) is larger
    than its GPUs."""
    which = "disaggregated unit meeting the targets" if targets else "configuration that fits"
    return f"the smallest {which} needs {need:.0f} GPUs a replica, more than the {given:g} given"


def nearest_miss(rows: pd.DataFrame) -> pd.Series:
    """Of a query's configurations (at least one), the one that runs only on more GPUs than the query has
    (`gpus_needed`: a disaggregated unit, its prefill and decode instances each holding the weights) with the
    fewest, else the first. It is why the query has no answer, not the first split's own reason (TP1's memory,
    an --ep that TP1 cannot divide)."""
    need = pd.to_numeric(rows.get(GPUS_NEEDED, pd.Series(dtype=float)), errors="coerce").dropna()
    return rows.iloc[0] if need.empty else rows.loc[need.idxmin()]


def ep_divides_no_split(rows: pd.DataFrame, query: pd.Series) -> str:
    """Why a query's `ep` has no answer where it divides no split's stage (tp x attention-DP GPUs), naming the
    sizes it could divide; empty where some split takes it. The first split's own reason read 'ep 3 must divide
    tp*attn_dp = 1' for deepseek-r1 on 8 GPUs without --tp: TP1's, a split the user never asked for."""
    if not is_set(query.get("ep")) or rows.empty or not {"tp", "attn_dp"} <= set(rows):
        return ""
    ep = int(float(query["ep"]))
    stages = sorted({int(s) for s in (rows["tp"] * rows["attn_dp"]).to_numpy(dtype=float)})
    if any(s % ep == 0 for s in stages):
        return ""
    sizes = ", ".join(map(str, stages[:-1])) + (" or " if len(stages) > 1 else "") + str(stages[-1])
    why = (f"ep {ep} divides no split tried on these {float(query['gpus']):g} GPUs: the experts spread over a "
           f"stage's GPUs, tp x attention DP ({sizes} here)")
    if not is_set(query.get("tp")):
        return f"{why}; give an ep that divides one of them"
    tp = int(float(query["tp"]))
    # --tp 1 --ep E runs attention DP E where E is a size the GPUs (or the experts) divide into (query._splits)
    return f"{why}; give an ep that divides tp {tp}" + (
        ", or one the GPUs divide into (attention DP)" if tp == 1 else "")


def _why_not_under_load(grp: pd.DataFrame, q: pd.Series) -> dict:
    ok = grp[grp["load_reason"] == ""]
    if ok.empty:
        reasons = grp["load_reason"].astype(str)
        if not len(reasons):
            return {"limited_by": "config", "notes": "no valid split"}
        if ep_why := ep_divides_no_split(grp, q):
            return {"limited_by": "config", "notes": ep_why}
        first = nearest_miss(grp)
        return {"limited_by": limit_of(first["load_limited_by"]), "notes": str(first["load_reason"])}
    pct = percentile_of(q)
    ttft = _at_percentile(ok, "ttft", pct, f"{pct:g}").min()
    tpot = _tpot_held(ok, pct, f"{pct:g}").min()
    if is_set(q["ttft_slo_ms"]) and not ttft <= float(q["ttft_slo_ms"]) / 1e3:
        best = "none (saturated)" if ttft != ttft else ms_text(ttft, 4)
        return {"limited_by": "ttft", "notes": f"best p{pct:g} TTFT under this load is {best}; target "
                                               f"{float(q['ttft_slo_ms']):g} ms"}
    if is_set(q["tpot_slo_ms"]) and not tpot <= float(q["tpot_slo_ms"]) / 1e3:
        best = "none (saturated)" if tpot != tpot else ms_text(tpot, 4)
        return {"limited_by": "tpot", "notes": f"best p{pct:g} TPOT under this load is {best}; target "
                                               f"{float(q['tpot_slo_ms']):g} ms"}
    return {"limited_by": "ttft+tpot", "notes": f"no split meets both targets at p{pct:g} under this load"}


def percentile_columns(best_rows: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """For answers without a load: the chosen batch as closed-loop clients on each replica (running at most
    that many; a disaggregated unit's, the batch on each of its decode instances: planner.perf.load_disagg),
    with the row's engine and the speculative method it resolved to; indexed like best_rows."""
    grid = best_rows[["model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "serving",
                      "isl", "osl", "batch"]].copy()
    grid["concurrency"] = grid["batch"]
    if SEATS in best_rows:  # an aggregated replica seats what its engine admits, as under a load, not its batch
        agg = (best_rows["serving"] != "disaggregated").to_numpy()
        grid.loc[agg, "batch"] = best_rows[SEATS].to_numpy(dtype=float)[agg]
    if "decode_instances" in best_rows:  # a disaggregated unit's clients: its batch on each decode instance
        unit = (best_rows["serving"] == "disaggregated").to_numpy()
        grid.loc[unit, "concurrency"] = (grid["batch"] * best_rows["decode_instances"])[unit]
    for col in PREFILL_COLUMNS:  # a unit's prefill instances' own layout (tp, pp, ep, attn_dp)
        if col in best_rows:
            grid[col] = best_rows[col]
    grid["engine"] = best_rows["engine"].fillna("").astype(str) if "engine" in best_rows else ""
    method = best_rows["speculative_method"] if "speculative_method" in best_rows else pd.Series("", grid.index)
    grid["speculative"] = method.fillna("").astype(str).replace("", "none")
    if "hidden_tokens" in best_rows:  # TTFT to the first visible token (planner.predict.hidden)
        grid["hidden_tokens"] = best_rows["hidden_tokens"]
    res = latency_under_load(grid.reset_index(drop=True), catalog)
    res.index = best_rows.index
    return res


def at_capacity_rows(rows: pd.DataFrame) -> pd.Series:
    """Which configuration rows are disaggregated units answered at their capacity under the SLO
    (`disagg.at_capacity` sets their `disagg_rho`): their figures are the queues' at that rate."""
    return rows["disagg_rho"].notna() if "disagg_rho" in rows else pd.Series(False, rows.index)


def slo_latencies(rows: pd.DataFrame, pct: pd.Series, catalog: Catalog) -> pd.DataFrame:
    """TTFT and TPOT (`ttft_slo_s`, `tpot_slo_s`) of configuration rows at each row's SLO percentile `pct`, their
    batch as closed-loop clients per replica: what a query's targets are held to without a load. Disaggregated
    rows at their capacity under the SLO (`disagg_rho` set) are held to their `ttft_s` (at the percentile) and
    `tpot_s` (the full batch's, a bound)."""
    res = percentile_columns(rows, catalog)
    out = pd.DataFrame(index=rows.index, columns=["ttft_slo_s", "tpot_slo_s"], dtype=float)
    for p in sorted(set(pct.tolist())):
        at = pct.index[pct == p]
        for metric in ("ttft", "tpot"):
            out.loc[at, f"{metric}_slo_s"] = _at_percentile(res.loc[at], metric, p, f"{p:g}").to_numpy()
    # disaggregated rows at their capacity under the SLO (planner.predict.disagg.at_capacity): TTFT is at the
    # percentile already, TPOT the full batch's bound
    at_cap = at_capacity_rows(rows)
    for metric in ("ttft", "tpot"):
        out.loc[at_cap, f"{metric}_slo_s"] = rows.loc[at_cap, f"{metric}_s"]
    return out


__all__ = ["GPUS_NEEDED", "SEATS", "answer_fields", "answer_load_queries", "at_capacity_rows", "at_slo", "choose",
           "describe_load", "ep_divides_no_split", "evaluate_loads", "in_flight", "load_rows", "most_served",
           "nearest_miss", "needs_more_gpus", "percentile_columns", "slo_latencies"]
