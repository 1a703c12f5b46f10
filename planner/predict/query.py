"""Answer "what will this configuration do?" for one query or a whole CSV of them.

A query names a model, an accelerator, a total GPU count, a precision and a request shape. Where TP/PP/EP are
not given, every split of the GPUs into (tp x pp) replicas with data-parallel copies is tried, each at every
batch size on `BATCHES`; the best for output throughput under the query's latency targets wins. All queries
are expanded into one grid and evaluated by the vectorized performance model in a single call, so a
thousand-row batch costs one pass, not a thousand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.errors import InputError
from planner.perf import evaluate
from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.evaluate import PREFILL_COLUMNS, output_tok_s_per_user
from planner.perf.search import visible_ttft
from planner.perf.slo_policy import no_ttft_target_words, slo_basis
from planner.predict import disagg, hidden, single_token
from planner.predict.cells import is_set, ms_text
from planner.predict.columns import QUERY_COLUMNS, RESULT_COLUMNS, refuse_misspelt_columns
from planner.predict.load import (
    SEATS,
    all_in_energy,
    answer_load_queries,
    at_capacity_rows,
    at_slo,
    ep_divides_no_split,
    limit_of,
    nearest_miss,
    needs_more_gpus,
    percentile_columns,
    slo_latencies,
)
from planner.predict.load_query import (
    GENERIC,
    LOAD_RESULT_COLUMNS,
    OWN_PREFILL,
    asks_prefill,
    has_load,
    percentile_of,
    prefill_options,
    settings_of,
)
from planner.predict.validate import as_flags, canonical_case, max_batch_of, query_error

BATCHES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048,
           3072, 4096)


def _divisors(n: int, most: int) -> list[int]:
    """Divisors of n up to `most` (a scale-up domain, a pipeline depth): bounded by `most`, not by n, so
    --gpus 1e9 costs what --gpus 8 does."""
    return [d for d in range(1, min(n, most) + 1) if n % d == 0]


def within(batches: tuple[int, ...], top: int | None) -> list[int]:
    """The batches a replica is tried at: those up to its running-sequence cap (`max_batch`), the cap itself
    included (71 is no point of the search grid). A cap above the grid's last batch caps nothing: it adds no
    batch the uncapped search would not try (--max-batch 20000 tried batch 20,000)."""
    if top is None or top > batches[-1]:
        return list(batches)
    return [b for b in batches if b < top] + [top]


def seat_cap(max_batch: float, engine: str, attn_dp: int = 1) -> int | None:
    """Running sequences a replica of the query runs at most, as the load model seats them: the query's
    `max_batch` (the user's setting of the engine's limit, over its default), else for the generic engine the
    assumed engine default per attention-DP rank times the replica's `attn_dp` ranks
    (ASSUMPTIONS.max_running_sequences, as evaluate.engine_seats_of; a catalogued engine's cap `evaluate` holds
    already). The search ran the generic engine up to memory: gpt-oss-120b DEP4 on H200 without a load
    answered 4,096 running (3,634 tok/s/GPU, TTFT 3.1 s) where --concurrency 4096 on it seats 1,024 and
    queues the rest (2,302 tok/s/GPU, TTFT 42.9 s)."""
    if not math.isnan(max_batch):
        return int(max_batch)
    return None if engine else ASSUMPTIONS.max_running_sequences * attn_dp


def normalize_queries(raw: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Fill defaults and check each query; a bad row gets an `error` message instead of raising."""
    q = raw.copy()
    for col in QUERY_COLUMNS:
        if col not in q:
            q[col] = np.nan
    q = canonical_case(q, catalog, GENERIC)
    # the generic engine is named `generic` in answers (as in plans): an answer's engine reads back as a query
    q["engine"] = q["engine"].where(q["engine"].astype(str) != GENERIC, np.nan)
    q["error"] = ""
    for i, row in q.iterrows():
        q.at[i, "error"] = query_error(row, catalog)
    hidden.resolve_efforts(q, catalog)
    single_token.set_aside_targets(q)
    return q


def _splits(row: pd.Series, catalog: Catalog) -> list[tuple[int, int, int, int]]:
    """(tp, pp, ep, attn_dp) choices for one query: the given ones, or every split the hardware allows.

    MoE models also get attention-data-parallel + expert-parallel splits ("DEP"): attention replicated
    attn_dp ways, experts spread over all attn_dp GPUs of the stage. Their sizes are those that divide the GPUs
    or the experts (within one scale-up domain): wide EP on 72 GB200 GPUs is DEP32 or DEP64 (256 experts), with
    the GPUs beyond whole replicas idle, as deployments run it.
    """
    model = catalog.models[row["model"]]
    acc = catalog.accelerators[row["gpu"]]
    gpus = int(float(row["gpus"]))
    tps = [int(float(row["tp"]))] if is_set(row["tp"]) else [
        t for t in _divisors(gpus, acc.scale_up_domain) if model.num_heads % t == 0]
    pps = [int(float(row["pp"]))] if is_set(row["pp"]) else _divisors(gpus, 8)
    given_ep = int(float(row["ep"])) if is_set(row["ep"]) else None
    out = []
    for pp in pps:
        for tp in tps:
            if gpus % (tp * pp):
                continue
            eps = [given_ep] if given_ep else (sorted({1, tp}) if model.moe else [1])
            out.extend((tp, pp, ep, 1) for ep in eps)
        # attention-DP x EP: tp searched, or --tp 1 --ep E (a plan's "tp1 ep8 adp8"; TP1 x EP E alone cannot run)
        if model.moe and (not is_set(row["tp"]) or (tps == [1] and given_ep)) and gpus % pp == 0:
            sizes = set(_divisors(gpus // pp, acc.scale_up_domain)) | {
                d for d in _divisors(model.moe.num_experts, acc.scale_up_domain) if d <= gpus // pp}
            for dp_attn in sorted(sizes):
                if dp_attn > 1 and (given_ep in (None, dp_attn)):
                    out.append((1, pp, dp_attn, dp_attn))
    return out


def build_grid(queries: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Expand valid queries into configuration rows (query index `qid`) for the performance model."""
    cols: dict[str, list] = {k: [] for k in ("qid", "model", "accelerator", "precision", "kv_precision", "tp",
                                             "pp", "ep", "attn_dp", "serving", "batch", "isl", "osl", "engine",
                                             "speculative", "prefill_accelerator", "prefill_tp", "prefill_pp",
                                             *OWN_PREFILL, hidden.COLUMN, SEATS)}
    for qid, row in queries.iterrows():
        if row["error"] or has_load(row):  # queries under a load are answered by planner.predict.load
            continue
        st = settings_of(row)  # osl: with the hidden tokens, which the engine decodes first
        fixed = (qid, row["model"], row["gpu"], row["precision"], st.kv)
        conc = float(row["concurrency"]) if is_set(row["concurrency"]) else None
        seats = max_batch_of(row)  # the load model's: NaN, the engine's
        prefill = (row["prefill_gpu"] if is_set(row["prefill_gpu"]) else "",
                   *(float(row[c]) if is_set(row[c]) else np.nan for c in ("prefill_tp", "prefill_pp")))
        splits = _splits(row, catalog)
        asked = asks_prefill(row)
        for mode in st.modes:
            for tp, pp, ep, attn_dp in splits:
                dp = st.gpus // (tp * pp * attn_dp)
                # exactly `concurrency` requests in flight: spread over at most that many replicas (the others
                # idle), so concurrency 1 is one replica at batch 1, never two replicas at batch 1
                top = seat_cap(seats, st.engine, attn_dp)
                batches = [max(1, math.ceil(conc / min(dp, conc)))] if conc else \
                    within(BATCHES, top if mode == "aggregated" else None)
                # the query's own prefill instances (their ep/attn_dp: the decode one's), else a split's
                own = [(*prefill, *lay[2:]) if asked else ("", *lay)
                       for lay in prefill_options(splits, (tp, pp, ep, attn_dp), mode, asked)]
                for pre in own:
                    values = (*fixed, tp, pp, ep, attn_dp, mode, 0, st.isl, st.osl, st.engine, st.spec, *pre,
                              st.hidden, seats)
                    for b in batches:
                        for key, v in zip(cols, values, strict=True):
                            cols[key].append(b if key == "batch" else v)
    grid = pd.DataFrame(cols)
    pre_cols = list(PREFILL_COLUMNS)
    # the perf model's prefill path only where a query asks or a split tries one
    if (grid["prefill_accelerator"] == "").all() and grid[pre_cols[1:]].isna().all().all():
        grid = grid.drop(columns=pre_cols)
    return grid


def predict_many(raw: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """One result row per query, in the query order; extra input columns pass through unchanged (one that reads
    as a misspelt query column is an InputError, as in a --batch CSV)."""
    refuse_misspelt_columns("queries", list(raw.columns))
    queries = normalize_queries(raw, catalog)
    grid = build_grid(queries, catalog)
    results = evaluate(grid, catalog) if len(grid) else grid.assign(fits=[], reason=[], gpus=[])
    if len(results):  # TTFT to the first visible token: the hidden tokens' steps at the batch's TPOT
        results["ttft_s"] = visible_ttft(results["ttft_s"].to_numpy(dtype=float),
                                         results["tpot_s"].to_numpy(dtype=float), results[hidden.COLUMN])
    # disaggregated splits of queries with targets: at their capacity under the SLO percentile, as solve plans
    results = disagg.at_capacity(results, queries, catalog,
                                 pd.Series({qid: percentile_of(q) for qid, q in queries.iterrows()}, dtype=float))
    best, missed = _best_per_query(queries, results, catalog)
    loop = percentile_columns(best, catalog) if len(best) else best
    best = as_closed_loop(best, loop)
    pct_cols = disagg.percentile_rows(best, loop, catalog) if len(best) else best
    loaded = answer_load_queries(queries, catalog, _splits, disagg)
    groups = dict(tuple(results.groupby("qid", sort=False))) if len(results) else {}
    out_rows = []
    for qid, row in queries.iterrows():
        echo = {"concurrency": row["concurrency"] if is_set(row["concurrency"]) else np.nan,
                "engine": row["engine"] if is_set(row["engine"]) else GENERIC,
                "speculative": row["speculative"] if is_set(row["speculative"]) else "none",
                "slo_percentile": percentile_of(row)}
        if row["error"]:
            res = {**_base(row), "fits": False, "notes": row["error"]}
        elif qid in loaded:
            res = {**_base(row), **echo, **loaded[qid]}
        elif qid in best.index:
            conc = float(row["concurrency"]) if is_set(row["concurrency"]) else None
            res = {**_base(row), **echo, **_describe(best.loc[qid], int(float(row["gpus"])), conc),
                   **_percentiles(pct_cols.loc[qid], int(best.loc[qid, "dp"])),
                   **_held(best.loc[qid], pct_cols.loc[[qid]], percentile_of(row))}
            res.update(all_in_energy(catalog, row["gpu"], res["output_tok_s"], res["avg_power_w"],
                                     res["dp"] * int(best.loc[qid]["gpus"])))
        else:
            limited, why = _why_not(groups.get(qid, results.iloc[0:0]), row,
                                    missed.loc[qid] if qid in missed.index else None)
            res = {**_base(row), "fits": False, "limited_by": limited, "notes": why}
        if res.get("fits"):  # what the answer holds its targets to: the label solve's plan prints
            res["slo_basis"] = _basis(row, res["serving"], best.loc[qid] if qid in best.index else None)
        if not row["error"]:
            res = single_token.without_inter_token(hidden.visible_answer(res, row, catalog), row)
        if res.get("fits") and res.get("speculative") == "none" and str(row["speculative"]).lower() == "auto":
            # auto runs without a draft where none is in the catalog (planner.perf.engines): say so
            res["notes"] = "; ".join(filter(None, [res.get("notes"), f"speculative auto: {row['model']} has no "
                                                   f"draft on engine {res['engine']}, decoded without one"]))
        given = single_token.as_given(row)
        extra = {c: given[c] for c in raw.columns if c not in res}
        out_rows.append({**extra, **res})
    out = pd.DataFrame(out_rows)
    return out.assign(**{c: np.nan for c in RESULT_COLUMNS if c not in out})  # every answer column, always


# an answer's figures without a load that its percentiles' load model gives too (means and throughputs)
CLOSED_LOOP = {"ttft_s": "ttft_mean_s", "tpot_s": "tpot_mean_s", "itl_s": "itl_mean_s",
               "output_tok_s": "output_tok_s", "total_tok_s": "total_tok_s"}


def as_closed_loop(best: pd.DataFrame, loop: pd.DataFrame) -> pd.DataFrame:
    """The chosen rows (`best`, one per query) with their TTFT, TPOT and ITL means and throughputs taken from
    `loop` (`percentile_columns` of the same rows: their batch as closed-loop clients per replica, a
    disaggregated unit's on each decode instance), the load model their percentiles and requests/s come from,
    so that an answer shows one steady state. The step model's full batch (`evaluate`, which the search ranks on
    as solve's candidates do) disagreed with it wherever the two models part: gpt-oss-120b on 8 H200 (SGLang,
    1,024 / 128 tokens) at attention DP 8 and batch 4,096 read TTFT 149 ms beside a p50 of 208 ms, and 16,398
    output tokens/s beside 94.8 requests/s x 128 = 12,133. Disaggregated rows at their capacity under the SLO
    (`disagg.at_capacity`) keep the queues' figures at that rate."""
    if best.empty:
        return best
    out = best.copy()
    rows = ~at_capacity_rows(best)
    for mine, theirs in CLOSED_LOOP.items():
        out.loc[rows, mine] = loop.loc[rows, theirs].to_numpy(dtype=float)
    out.loc[rows, "output_tok_s_per_user"] = output_tok_s_per_user(out.loc[rows, "tpot_s"])
    return out


def _basis(query: pd.Series, serving: str, best: pd.Series | None) -> str:
    """`slo_basis` of an answer: a disaggregated one answered at its capacity under the SLO (`best` with
    disagg_rho) without a TTFT target is held to the utilization assumed (`disagg.at_capacity`)."""
    capped = best is not None and _at_capacity(best) and not is_set(query["ttft_slo_ms"])
    return slo_basis(percentile_of(query), {serving}, capped)


def _at_capacity(best: pd.Series) -> bool:
    """A disaggregated answer at its capacity under the SLO (`disagg.at_capacity`), not at a batch."""
    return is_set(best.get("disagg_rho"))


def _percentiles(p: pd.Series, dp: int) -> dict:
    """Load columns of an answer without a load: its batch as closed-loop clients on every replica."""
    keys = [k for k in LOAD_RESULT_COLUMNS if k.endswith("_s") and k != "requests_s"]
    return {**{k: float(p[k]) for k in keys}, "requests_s": float(p["requests_s"]) * dp,
            "saturated": bool(p["saturated"])}


def _held(best: pd.Series, pct_cols: pd.DataFrame, pct: float) -> dict:
    """An answer's TTFT and TPOT at its SLO percentile: those its targets were held to (`slo_latencies`), or
    without targets its closed-loop percentiles' at that percentile."""
    if all(is_set(best.get(k)) for k in ("ttft_slo_s", "tpot_slo_s")):
        return {"ttft_at_slo_s": float(best["ttft_slo_s"]), "tpot_at_slo_s": float(best["tpot_slo_s"])}
    return at_slo(pct_cols, pct)


def _targets_s(queries: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(queries[col], errors="coerce").fillna(math.inf) / 1e3


# candidates per query held to its targets at the SLO percentile in one round (doubling each round): the
# best-throughput rows come first, so most queries settle in the first round
SLO_ROUND = 16


def _best_per_query(queries: pd.DataFrame, results: pd.DataFrame,
                    catalog: Catalog) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per query, the configuration with the most output tokens/s that fits and meets its targets at the
    query's SLO percentile (its batch as closed-loop clients per replica: `slo_latencies`); and, per query
    with targets that none meets, the best TTFT and TPOT at its percentile (`ttft_slo_s`, `tpot_slo_s`)."""
    if results.empty:
        return (results.set_index("qid") if "qid" in results else results), pd.DataFrame()
    r = results[results["fits"]].copy()
    gpus = pd.to_numeric(queries["gpus"], errors="coerce")
    r["dp"] = (gpus.reindex(r["qid"]).to_numpy() // r["gpus"]).astype(int)
    r = r[r["dp"] >= 1]
    conc = pd.to_numeric(queries["concurrency"], errors="coerce").reindex(r["qid"]).to_numpy()
    # with a concurrency, only the replicas that hold a request serve: ceil(C / batch) of them
    r["dp"] = np.where(np.isnan(conc), r["dp"], np.minimum(r["dp"], np.ceil(conc / r["batch"].to_numpy())))
    r = r.assign(total_out=r["output_tok_s"] * r["dp"])
    # Deterministic choice: most output tokens/s, then fewer GPUs per replica, then smaller batch.
    order = ["qid", "total_out", "gpus", "batch", "tp", "pp", "ep", "attn_dp", "serving"]
    r = r.sort_values(order, ascending=[True, False] + [True] * 7, kind="stable")
    ttft = _targets_s(queries, "ttft_slo_ms")
    tpot = _targets_s(queries, "tpot_slo_ms")
    targeted = (np.isfinite(ttft) | np.isfinite(tpot)).reindex(r["qid"]).to_numpy()
    chosen = [r[~targeted].drop_duplicates("qid")]
    pending = r[targeted].assign(rank=lambda d: d.groupby("qid").cumcount())
    pct = pd.Series({qid: percentile_of(q) for qid, q in queries.iterrows()})
    lo, k, seen = 0, SLO_ROUND, []
    while not pending.empty:
        chunk = pending[(pending["rank"] >= lo) & (pending["rank"] < lo + k)]
        if chunk.empty:
            break
        lat = slo_latencies(chunk, pd.Series(pct.reindex(chunk["qid"]).to_numpy(), chunk.index), catalog)
        meets = (lat["ttft_slo_s"] <= ttft.reindex(chunk["qid"]).to_numpy()) & \
            (lat["tpot_slo_s"] <= tpot.reindex(chunk["qid"]).to_numpy())
        first = chunk.join(lat)[meets].drop_duplicates("qid")
        seen.append(lat.assign(qid=chunk["qid"]))
        chosen.append(first)
        pending = pending[~pending["qid"].isin(first["qid"])]
        lo, k = lo + k, 2 * k
    best = pd.concat(chosen).drop(columns=["rank"], errors="ignore")
    missed = pd.concat(seen) if seen else pd.DataFrame(columns=["qid", "ttft_slo_s", "tpot_slo_s"])
    missed = missed[~missed["qid"].isin(best["qid"])].groupby("qid")[["ttft_slo_s", "tpot_slo_s"]].min()
    return best.sort_values("qid", kind="stable").set_index("qid"), missed


def _base(query: pd.Series) -> dict:
    return {"model": query["model"], "gpu": query["gpu"], "gpus": query["gpus"], "precision": query["precision"],
            "error": query["error"]}


def _describe(best: pd.Series, gpus: int, concurrency=None) -> dict:
    dp = int(best["dp"])
    used = dp * int(best["gpus"])
    notes = []
    if used < gpus:
        why = f"a replica needs {int(best['gpus'])}" if concurrency is None else \
            f"{dp} replica(s) hold the {concurrency:g} concurrent requests"
        notes.append(f"{gpus - used} of {gpus} GPUs idle: {why}")
    served = int(best["batch"]) * dp if concurrency is None else concurrency
    # a concurrency not divisible by the replicas: the last replica runs fewer sequences
    scale = 1.0 if concurrency is None else concurrency / (int(best["batch"]) * dp)
    if isinstance(best.get("reason"), str) and best["reason"]:
        notes.append(best["reason"])
    if best["serving"] == "disaggregated":
        notes += disagg.split_note(best.get("prefill_accelerator"), best["accelerator"], best.get("prefill_gpus"),
                                   best.get("decode_gpus"))
    at_cap = _at_capacity(best)
    if at_cap:
        where = no_ttft_target_words() if best["limited_by"] == "utilization" else \
            f"the largest rate where TTFT holds at p{best['slo_percentile']:g}"
        notes.append(f"{where}: {best['capacity_rps'] * dp:.3g} requests/s; " + disagg.TPOT_NOTE)
    return {
        "tp": int(best["tp"]), "pp": int(best["pp"]), "ep": int(best["ep"]), "dp": dp,
        "attn_dp": int(best["attn_dp"]),
        "serving": best["serving"], "in_flight": int(served), "fits": True,
        # disaggregated at capacity: the mean under that rate (ttft_s there is the percentile's, as solve has it)
        "ttft_s": float(best["disagg_ttft_mean_s"] if at_cap else best["ttft_s"]), "tpot_s": float(best["tpot_s"]),
        "output_tok_s": float(best["output_tok_s"]) * dp * scale,
        "output_tok_s_per_gpu": float(best["output_tok_s"]) * dp * scale / gpus,
        "output_tok_s_per_user": float(best["output_tok_s_per_user"]),
        "total_tok_s": float(best["total_tok_s"]) * dp * scale,
        "engine": best.get("engine") or GENERIC, "speculative": best.get("speculative_method") or "none",
        "itl_s": float(best["itl_s"]), "acceptance_length": float(best["acceptance_length"]),
        "acceptance_assumed": bool(best.get("acceptance_assumed", False)),
        "avg_power_w": float(best["avg_power_w"]) * dp, "peak_power_w": float(best["peak_power_w"]) * dp,
        "limited_by": best["limited_by"], "notes": "; ".join(notes),
        # a disaggregated replica is a unit of rate-matched prefill and decode instances (each of tp x pp GPUs)
        **(_unit(best) if best["serving"] == "disaggregated" else {}),
    }


def _unit(best: pd.Series) -> dict:
    """A disaggregated replica: its rate-matched instance counts and the prefill instances' accelerator and
    layout (the decode instances' where the query gave none)."""
    def given(col: str, default):
        return v if is_set(v := best.get(col)) else default
    return {"prefill_instances": int(best["prefill_instances"]), "decode_instances": int(best["decode_instances"]),
            "prefill_gpu": given("prefill_accelerator", best["accelerator"]),
            **{f"prefill_{k}": int(given(f"prefill_{k}", best[k])) for k in ("tp", "pp", "ep", "attn_dp")}}


def _why_not(rows: pd.DataFrame, query: pd.Series, at_slo: pd.Series | None = None) -> tuple[str, str]:
    """What stops every configuration of a query: the split, memory, or which latency target (`at_slo`: the
    best TTFT and TPOT at the query's percentile, where known)."""
    if rows.empty:
        return "config", "no parallel split of these GPUs is valid for this model"
    fits = rows["fits"].astype(bool)
    # a configuration that fits in more GPUs than the query has (a disaggregated unit: prefill and decode
    # instances each holding the weights) is no answer: without this it read as missing targets never given
    fitting = rows[fits & (rows["gpus"] <= float(query["gpus"]))]
    if fitting.empty and fits.any():
        return "config", needs_more_gpus(rows.loc[fits, "gpus"].min(), float(query["gpus"]))
    if fitting.empty and (ep_why := ep_divides_no_split(rows, query)):
        return "config", ep_why
    if fitting.empty:
        # a disaggregated unit that runs only on more GPUs than the query has: the nearest miss, not the first
        # split's reason (deepseek-r1 on 16 H100s read as memory at TP1)
        first = nearest_miss(rows)
        why = str(first["reason"]) if is_set(first["reason"]) else "does not fit"
        return limit_of(first["limited_by"]), why
    ttft_s = _targets_s(query.to_frame().T, "ttft_slo_ms").iloc[0]
    tpot_s = _targets_s(query.to_frame().T, "tpot_slo_ms").iloc[0]
    best_ttft, best_tpot = fitting["ttft_s"].min(), fitting["tpot_s"].min()
    at = "mean"
    if at_slo is not None:
        best_ttft, best_tpot, at = at_slo["ttft_slo_s"], at_slo["tpot_slo_s"], f"p{percentile_of(query):g}"
    if best_ttft > ttft_s:
        return "ttft", f"best {at} TTFT {ms_text(best_ttft)} exceeds the {ttft_s * 1e3:g} ms target"
    if best_tpot > tpot_s:
        return "tpot", f"best {at} TPOT {ms_text(best_tpot)} exceeds the {tpot_s * 1e3:g} ms target"
    return "ttft+tpot", "no single configuration meets both the TTFT and the TPOT target"


def predict_one(catalog: Catalog, *, flags: bool = False, **query) -> dict:
    """A single query; raises InputError (exit 2) for a malformed one instead of returning an error row, naming
    its fields as the command line's flags where `flags` (`predict`'s own: a user who typed --slo-percentile
    read of slo_percentile)."""
    out = predict_many(pd.DataFrame([query]), catalog).iloc[0].to_dict()
    if out.get("error"):
        raise InputError(as_flags(out["error"]) if flags else out["error"])
    out.pop("error", None)
    return {k: out.get(k) for k in RESULT_COLUMNS}
