"""`evaluate` and `max_batch_meeting`: the performance model over a whole configuration grid at once.

See `planner.perf` (the package docstring) for the input and output columns.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.schema_base import COMPUTE_DTYPES
from planner.catalog.tables import GB
from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.memory import memory
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.resolve import Cols, add_reasons, fail_kinds, normalize_grid, resolve, take
from planner.perf.serving import aggregated, disaggregated

OUTPUT_COLUMNS: tuple[str, ...] = (
    "gpus", "fits", "reason", "max_batch_memory", "weight_bytes_per_gpu", "kv_bytes_per_gpu",
    "ttft_s", "tpot_s", "itl_s", "acceptance_length", "acceptance_assumed", "speculative_method", "output_tok_s",
    "output_tok_s_per_gpu",
    "output_tok_s_per_user", "total_tok_s",
    "avg_power_w", "peak_power_w", "compute_dtype_used", "limited_by", "prefill_instances", "decode_instances",
    "prefill_gpus", "decode_gpus", "ttft_lone_s", "prompts_per_pass",
)
TIMED = ("ttft_s", "tpot_s", "itl_s", "output_tok_s", "avg_power_w", "prefill_instances", "decode_instances",
         "prefill_gpus", "decode_gpus", "peak_power_w", "ttft_lone_s", "prompts_per_pass")
DEFAULT_BATCHES: tuple[int, ...] = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024,
                                    1536, 2048, 3072, 4096, 6144, 8192)


def output_tok_s_per_user(tpot_s):
    """1 / TPOT, the output tokens/s one request sees; NaN where TPOT is not > 0 (a row with no decode figure).
    Arrays or scalars alike (an array in, an array out)."""
    t = np.asarray(tpot_s, dtype=float)
    return np.where(t > 0, 1.0 / np.where(t > 0, t, 1.0), np.nan)


def _subset(c: Cols, idx: np.ndarray) -> Cols:
    return take(c, idx)


# what a search's runs write for a row that does not fit where the message is not wanted (predict's
# messages=False): the message is written for the few (row, batch) pairs a search reports (`batch_reasons`)
PENDING = "\x00pending"


def _note(reason: np.ndarray, kinds: np.ndarray, kind: str, mask: np.ndarray, messages, keys, make) -> None:
    """add_reasons(reason, kinds, kind, mask, keys(), make) on the rows where `messages` holds (a bool or per
    row), PENDING and `kind` on the others of `mask` without a reason yet."""
    if messages is not True:
        todo = np.flatnonzero(mask & ~np.asarray(messages, dtype=bool))
        todo = todo[reason[todo] == ""]
        reason[todo] = PENDING
        kinds[todo] = kind
        if messages is False or not np.any(messages):
            return
        mask = mask & messages
    add_reasons(reason, kinds, kind, mask, keys(), make)


def _memory_reasons(c: Cols, mem: dict[str, np.ndarray], reason: np.ndarray, kinds: np.ndarray,
                    messages=True) -> None:
    """Add 'does not fit' reasons (kind 'memory'); PENDING in place of the messages where `messages` does not
    hold (a bool or per row)."""
    free = mem["usable_bytes"] - mem["weight_bytes_per_gpu"] - mem["reserve_bytes_per_gpu"]

    def weights():
        # the share of HBM weights + reserve may take: the engine's utilization, all of it where the engine
        # sizes KV from what is left (memory.kv_budget: TensorRT-LLM free fraction, SGLang static reserve)
        shape = np.shape(c.hbm_bytes)
        frac = np.where(c.get("eng_kv_policy", np.zeros(shape)) > 0, 1.0,
                        c.get("eng_kv_fraction", np.full(shape, ASSUMPTIONS.usable_hbm_fraction)))
        return [np.round(mem["weight_bytes_per_gpu"] / GB, 1), np.round(mem["reserve_bytes_per_gpu"] / GB, 1),
                c.hbm_bytes / GB, frac]

    _note(reason, kinds, "memory", (reason == "") & (free <= 0), messages, weights,
          lambda w, r, h, f: f"weights {w:.1f} GB + {r:.1f} GB activations/workspace exceed {f:.0%} of "
                             f"{h:.4g} GB HBM per GPU")

    def kv():
        need = mem["kv_bytes_per_seq_per_gpu"] * c.batch / c.attn_dp
        return [c.batch, np.round(need / GB, 1), np.round(free / GB, 1), mem["max_batch_memory"]]

    _note(reason, kinds, "memory", (reason == "") & (c.batch > mem["max_batch_memory"]), messages, kv,
          lambda b, n, f, m: f"batch {b:.0f} needs {n:.1f} GB KV per GPU, {f:.1f} GB free (max batch {m:.0f})")


def batch_reasons(c: Cols, mem: dict[str, np.ndarray], reason: np.ndarray, kinds: np.ndarray,
                  eng_names: np.ndarray, messages=True) -> None:
    """predict's reasons after resolve's, in place: memory (weights, then the batch's KV), then the engine's cap
    on running sequences; PENDING in place of the messages where `messages` does not hold (kinds written
    either way)."""
    _memory_reasons(c, mem, reason, kinds, messages)
    cap = engine_batch_cap_of(c)
    _note(reason, kinds, "engine", (reason == "") & (c.batch > cap), messages,
          lambda: [c.batch, cap, eng_names, c.spec_k > 0],
          lambda b, m, e, s: f"batch {b:.0f} exceeds engine {e or 'generic'}'s cap of {m:.0f} running "
                             f"sequences{' with speculative decoding' if s else ''}")


# Disaggregated serving: the prefill instances' own layout and accelerator (default: the decode layout).
PREFILL_COLUMNS = ("prefill_accelerator", "prefill_tp", "prefill_pp", "prefill_ep", "prefill_attn_dp")


def _prefill_layout(rows: pd.DataFrame, catalog: Catalog, eff: Efficiency) -> tuple[Cols, np.ndarray, np.ndarray]:
    """Columns of the prefill instances (one prompt batch each), why a row's prefill layout cannot run and what
    limits it there (`limited_by` of the instance: memory, engine or config)."""
    pg = rows.reset_index(drop=True).copy()
    for col in PREFILL_COLUMNS:
        base = col.removeprefix("prefill_")
        if col in pg:
            pg[base] = pg[col].where(pg[col].notna() & (pg[col].astype(str) != ""), pg[base])
    pg = pg.drop(columns=[c for c in PREFILL_COLUMNS if c in pg]).assign(batch=1, serving="aggregated")
    # a batch search repeats each configuration once per batch: predict each distinct prefill instance once
    codes, _ = pd.factorize(pd.util.hash_pandas_object(pg, index=False))
    first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    pu = pg.iloc[first].reset_index(drop=True)
    ev = evaluate(pu, catalog, efficiency=eff)
    cu, _ = resolve(normalize_grid(pu), catalog, eff)
    cp = Cols({k: (v[codes] if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == len(pu) else v)
               for k, v in cu.items()})
    why = np.where(ev["fits"].to_numpy(), "", "prefill instance: " + ev["reason"].astype(str).to_numpy())
    return cp, why.astype(object)[codes], ev["limited_by"].to_numpy(dtype=object)[codes]


def evaluate(grid: pd.DataFrame, catalog: Catalog, *, efficiency: Efficiency | None = None,
             resolved: tuple[Cols, np.ndarray] | None = None) -> pd.DataFrame:
    """Predict every row of `grid` (see the package docstring for columns). Never raises for a row that
    cannot run: it comes back with fits=False and the reason. `resolved`: `resolve`'s (columns, reason) of
    the same rows at another batch, to skip the catalog look-ups (the batch enters them only as itself)."""
    return output_frame(*evaluate_columns(grid, catalog, efficiency=efficiency, resolved=resolved))


def evaluate_columns(grid: pd.DataFrame, catalog: Catalog, *, efficiency: Efficiency | None = None,
                     resolved: tuple[Cols, np.ndarray] | None = None,
                     timed: bool | np.ndarray = True) -> tuple[pd.DataFrame, dict]:
    """`evaluate` before its frame is built: the normalized grid and the output columns by name (arrays), for
    callers that change some columns or add others first (`output_frame` then builds the frame once).
    timed=False: aggregated rows not modelled (their TIMED columns NaN, limited_by '' where they fit), for
    callers that read what runs, why not and the GPUs only (`predict`'s `timed`); an array: per row."""
    g = normalize_grid(grid)
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    c, reason = _resolve(g, catalog, eff, resolved)
    n = len(g)
    structural_ok = reason == ""
    eng_names = g["engine"].fillna("").astype(str).to_numpy() if "engine" in g else np.full(n, "")
    prefill = None
    if any(k in g for k in PREFILL_COLUMNS):
        def prefill(idx):
            return _prefill_layout(g.iloc[idx], catalog, eff)
    out, fits, mem = predict(c, reason, g["serving"].astype(str).to_numpy(), eng_names, eff, prefill, timed=timed)
    return g, _columns(c, out, fits, reason, mem, structural_ok)


def _resolve(g: pd.DataFrame, catalog: Catalog, eff: Efficiency,
             resolved: tuple[Cols, np.ndarray] | None) -> tuple[Cols, np.ndarray]:
    """resolve(g), or `resolved` with g's batch where every batch is a valid one (what resolve would check)."""
    if resolved is not None and len(resolved[1]) == len(g):
        batch = pd.to_numeric(g["batch"], errors="coerce").to_numpy(dtype=float)
        if ((batch >= 1) & (batch == np.floor(batch))).all():
            c = Cols(resolved[0])
            c["batch"] = batch
            return c, resolved[1].copy()
    return resolve(g, catalog, eff)


def predict(c: Cols, reason: np.ndarray, serving: np.ndarray, eng_names: np.ndarray, eff: Efficiency,
            prefill=None, pre=None, mem: dict[str, np.ndarray] | None = None, timed: bool | np.ndarray = True,
            messages: bool | np.ndarray = True) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """The model on resolved columns: (timed outputs and limited_by, fits, memory). Adds the memory, engine
    cap and prefill-layout reasons to `reason` in place; `prefill(idx)` gives the prefill instances' columns
    and why not of disaggregated rows idx (None: the decode layout); `pre(idx)` their prefill pass
    (`serving.prefill_batch_pass`) where already known; `mem`: `memory(c)` where already known (it does not
    depend on the batch). timed=False: the aggregated rows' model left out (whether a row runs does not depend
    on it; the step tables read no more, ~40 ms of mixed-fleet's build); a disaggregated row's prefill layout
    can stop it, and its GPUs are the model's: modelled either way. `timed` may be per row (bool array): the
    aggregated rows modelled where it holds. `messages` (a bool or per row): where False, the memory and
    engine-cap reasons PENDING (for a search that reports few of its pairs: `batch_reasons` writes them where
    read)."""
    n = len(reason)
    kinds = fail_kinds(c, n)  # resolve's; the memory and engine-cap reasons below add theirs
    mem = memory(c) if mem is None else mem
    batch_reasons(c, mem, reason, kinds, eng_names, messages)
    fits = reason == ""
    out: dict[str, np.ndarray] = {k: np.full(n, np.nan) for k in TIMED}
    # rows that do not run: the kind written with their reason (FAILURE_KINDS); the model fills the others
    out["limited_by"] = kinds
    for mode, fn in (("aggregated", aggregated), ("disaggregated", disaggregated)):
        idx = np.flatnonzero(fits & (serving == mode))
        if mode == "aggregated" and timed is not True:
            idx = idx[np.broadcast_to(np.asarray(timed, dtype=bool), (n,))[idx]]
        if len(idx) == 0:
            continue
        if mode == "disaggregated" and prefill is not None:
            cp, why, kind = prefill(idx)
            res = disaggregated(c if len(idx) == n else _subset(c, idx), eff.serving, cp)
            bad = idx[why != ""]
            reason[bad] = why[why != ""]
            fits[bad] = False
            for k in TIMED:
                res[k] = np.where(why == "", res[k], np.nan)
            # a prefill instance that does not run keeps its own cause
            res["limited_by"] = np.where(why == "", np.asarray(res["limited_by"], dtype=object), kind)
        else:
            sub = c if len(idx) == n else _subset(c, idx)
            known = {} if mode == "aggregated" or pre is None else {"pre": pre(idx)}
            res = fn(sub, eff.serving, **known)
        for k in TIMED:
            out[k][idx] = res[k]
        out["limited_by"][idx] = res["limited_by"]
        if mode == "disaggregated":
            gpus_d = np.full(n, np.nan)
            gpus_d[idx] = res["gpus"]
            out["gpus_disagg"] = gpus_d
    return out, fits, mem


def _columns(c: Cols, out: dict, fits: np.ndarray, reason: np.ndarray, mem: dict,
             structural_ok: np.ndarray) -> dict:
    """evaluate's output columns (OUTPUT_COLUMNS) by name."""
    gpus = c.tp * c.pp * c.attn_dp
    if "gpus_disagg" in out:
        gpus = np.where(np.isnan(out["gpus_disagg"]), gpus, out["gpus_disagg"])
    gpus_int = np.where(np.isfinite(gpus), gpus, 0).astype(np.int64)
    dtypes = np.array(COMPUTE_DTYPES, dtype=object)
    return {
        "gpus": gpus_int,
        "fits": fits,
        "reason": reason,
        "max_batch_memory": np.where(structural_ok, mem["max_batch_memory"], 0.0).astype(np.int64),
        "weight_bytes_per_gpu": np.where(structural_ok, mem["weight_bytes_per_gpu"], np.nan),
        "kv_bytes_per_gpu": np.where(structural_ok, mem["kv_bytes_per_seq_per_gpu"] * c.batch / c.attn_dp, np.nan),
        "ttft_s": out["ttft_s"],
        "tpot_s": out["tpot_s"],
        "itl_s": out["itl_s"],
        "acceptance_length": np.where(fits, c.spec_accept, np.nan),
        # the acceptance is engines.yaml's `assumed: true` figure (copied from another model's draft)
        "acceptance_assumed": fits & (np.asarray(c.get("spec_assumed", 0.0)) > 0) & (c.spec_accept > 1.0),
        "speculative_method": np.where(fits, c.spec_method, ""),  # what `auto` chose; 'none' without
        "output_tok_s": out["output_tok_s"],
        "output_tok_s_per_gpu": out["output_tok_s"] / gpus_int,
        "output_tok_s_per_user": output_tok_s_per_user(out["tpot_s"]),
        "total_tok_s": out["output_tok_s"] * (1.0 + c.isl / c.osl),
        "avg_power_w": out["avg_power_w"],
        "peak_power_w": np.where(fits, out["peak_power_w"], np.nan),
        "compute_dtype_used": np.where(structural_ok, dtypes[c.dtype_code.astype(np.int64)], ""),
        "limited_by": out["limited_by"],
        "prefill_instances": out["prefill_instances"],
        "decode_instances": out["decode_instances"],
        "prefill_gpus": out["prefill_gpus"],  # disaggregated: GPUs of the unit's prefill instances
        "decode_gpus": out["decode_gpus"],
        # disaggregated: a lone prompt's TTFT (its own pass) and the prompts a full prefill pass holds
        "ttft_lone_s": out["ttft_lone_s"],
        "prompts_per_pass": out["prompts_per_pass"],
    }


def output_frame(g: pd.DataFrame, cols: dict) -> pd.DataFrame:
    """The grid `g` plus the columns `cols` (arrays or scalars) after it, in their order."""
    if len(g) and not any(k in g.columns for k in cols):  # one concatenation instead of 23 inserts
        return pd.concat([g, pd.DataFrame({k: as_text(v) for k, v in cols.items()}, index=g.index)], axis=1)
    res_df = g.copy()
    for k, v in cols.items():
        res_df[k] = v
    return res_df


@functools.cache
def _text_dtype():
    """The text dtype pandas infers from an object array of str where pyarrow stores it, else None."""
    dt = pd.Series(np.array([""], dtype=object)).dtype
    return dt if getattr(dt, "storage", None) == "pyarrow" else None


def as_text(v):
    """`v` as the column pandas makes of it: an object array whose values are all str as pandas' pyarrow text
    array, built by pyarrow at once (pandas checks every value first: ~25% slower, ~3 ms a build on mixed-fleet's
    reason and limited_by columns); anything else as it is."""
    if not isinstance(v, np.ndarray) or v.dtype != object or v.ndim != 1:
        return v
    text = _text_dtype()
    if text is None:
        return v
    import pyarrow as pa

    try:
        arr = pa.array(v, type=pa.large_string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # a value that is not text
        return v
    return v if arr.null_count else pd.arrays.ArrowStringArray(arr, dtype=text)


def engine_batch_cap_of(c: Cols) -> np.ndarray:
    """Running sequences each row's engine admits, from resolved columns: its cap per attention-DP rank times
    the ranks (inf for the generic engine)."""
    return c.eng_max_batch * c.attn_dp


def engine_seats_of(c: Cols) -> np.ndarray:
    """Running sequences a replica seats when the query does not set them: its engine's cap (engine_batch_cap_of),
    else for the generic engine the assumed engine default per attention-DP rank times the ranks
    (ASSUMPTIONS.max_running_sequences is vLLM's max_num_seqs / TensorRT-LLM's max_batch_size, each a limit of
    one rank's scheduler, as every catalogued engine's `max_batch`): generic DEP4 seated 1,024 where vLLM seats
    4 x 1,024."""
    cap = engine_batch_cap_of(c)
    return np.where(np.isfinite(cap), cap, ASSUMPTIONS.max_running_sequences * np.asarray(c.attn_dp, dtype=float))


def engine_batch_cap(grid: pd.DataFrame, catalog: Catalog, eff: Efficiency) -> np.ndarray:
    """Running sequences each row's engine admits (inf for the generic engine)."""
    if "engine" not in grid and "speculative" not in grid:
        return np.full(len(grid), np.inf)
    cols, _ = resolve(normalize_grid(grid), catalog, eff)
    return engine_batch_cap_of(cols)


def max_batch_meeting(grid: pd.DataFrame, catalog: Catalog, ttft_s: float | None = None,
                      tpot_s: float | None = None, batches: Sequence[int] | None = None, *,
                      efficiency: Efficiency | None = None) -> pd.DataFrame:
    """Per configuration (a grid row without `batch`), the largest batch that fits memory and meets the TTFT
    and TPOT targets (None = no target: the largest batch that fits, i.e. maximum throughput).

    Candidates are `batches` (default DEFAULT_BATCHES, which stops at the engine's token budget) plus the
    exact memory limit when it falls below the largest candidate. Returns one row per configuration with the
    `evaluate` columns at the chosen batch; limited_by says what stopped a larger batch: 'memory', 'ttft',
    'tpot', or (candidates exhausted) the step's dominant resource. When even the smallest batch fails, the
    row has fits=False and the reason.
    """
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    base = grid.drop(columns=["batch"], errors="ignore").reset_index(drop=True)
    cands = np.array(sorted(set(int(b) for b in (batches or DEFAULT_BATCHES) if b >= 1)), dtype=float)
    probe = base.assign(batch=1)
    first = evaluate(probe, catalog, efficiency=eff)
    mem_max = first["max_batch_memory"].to_numpy(dtype=float)
    eng_cap = engine_batch_cap(probe, catalog, eff)
    capped = bool(np.isfinite(eng_cap).any())
    n, k = len(base), len(cands) + int(capped)
    # every configuration x every candidate (+ its exact memory and engine limits), in one vectorized call
    cand = np.tile(cands, (n, 1))
    extra = [np.where((mem_max >= 1) & (mem_max < cands[-1]), mem_max, cands[0])[:, None]]
    if capped:
        extra.append(np.where(eng_cap < np.minimum(mem_max, cands[-1]), eng_cap, cands[0])[:, None])
    cand = np.concatenate([cand, *extra], axis=1)
    rep = base.loc[base.index.repeat(k + 1)].reset_index(drop=True)
    rep["batch"] = cand.reshape(-1).astype(np.int64)
    ev = evaluate(rep, catalog, efficiency=eff)
    ok = ev["fits"].to_numpy()
    ttft_ok = np.ones(len(ev), dtype=bool) if ttft_s is None else (ev["ttft_s"].to_numpy() <= ttft_s)
    tpot_ok = np.ones(len(ev), dtype=bool) if tpot_s is None else (ev["tpot_s"].to_numpy() <= tpot_s)
    good = (ok & ttft_ok & tpot_ok).reshape(n, k + 1)
    b = cand
    score = np.where(good, b, -1.0)
    pick = np.argmax(score, axis=1)
    any_good = good.any(axis=1)
    flat = np.arange(n) * (k + 1) + pick
    # the smallest candidate is the answer (with its failure) where nothing meets the targets
    smallest = np.arange(n) * (k + 1) + np.argmin(b, axis=1)
    chosen = np.where(any_good, flat, smallest)
    res = ev.iloc[chosen].reset_index(drop=True)
    chosen_b = b.reshape(-1)[chosen]
    # what stopped a larger batch: the smallest larger candidate's first failure
    larger = b > chosen_b[:, None]
    fits_m = ok.reshape(n, k + 1)
    ttft_m = ttft_ok.reshape(n, k + 1)
    tpot_m = tpot_ok.reshape(n, k + 1)
    nxt_score = np.where(larger, b, np.inf)
    nxt = np.argmin(nxt_score, axis=1)
    has_next = np.isfinite(nxt_score.min(axis=1))
    rows = np.arange(n)
    stop = np.where(~fits_m[rows, nxt], "memory", np.where(~ttft_m[rows, nxt], "ttft",
                                                           np.where(~tpot_m[rows, nxt], "tpot", "")))
    t_ttft = np.full(n, np.inf if ttft_s is None else float(ttft_s))
    t_tpot = np.full(n, np.inf if tpot_s is None else float(tpot_s))
    return meeting_result(res, any_good, has_next, stop, chosen_b, mem_max, eng_cap, t_ttft, t_tpot)


def meeting_result(res, any_good, has_next, stop, chosen_b, mem_max, eng_cap, t_ttft,
                   t_tpot) -> pd.DataFrame | dict:
    """fits, reason and limited_by at the batches a search chose (`max_batch_meeting` and the pruned search in
    planner.perf.search): what stopped a larger batch, or why no batch meets the per-row targets. `res`: the
    frame at those batches, or its columns by name (arrays; set in place and returned)."""
    limited = np.where(has_next & any_good, stop, np.asarray(res["limited_by"]))
    limited = np.where(any_good & (chosen_b >= mem_max) & (mem_max >= 1), "memory", limited)
    limited = np.where(any_good & (chosen_b >= eng_cap) & (eng_cap < mem_max), "engine", limited)
    reason = np.array(res["reason"], dtype=object)
    fits_out = any_good.copy()
    # rows that fit but meet no target at any batch: which target the chosen batch misses (the strings built
    # from Python floats in one pass; a loop reading numpy scalars row by row took ~5% of the capacity search)
    miss = np.flatnonzero(~any_good & np.asarray(res["fits"]))
    t_tt = np.asarray(t_ttft, dtype=float)[miss]
    t_tp = np.asarray(t_tpot, dtype=float)[miss]
    t_tp = np.where(np.isinf(t_tp), 0.0, t_tp)
    r_batch, r_ttft, r_tpot = (np.asarray(res[c])[miss] for c in ("batch", "ttft_s", "tpot_s"))
    is_ttft = ~np.isinf(t_tt) & (r_ttft > t_tt)
    limited[miss] = np.where(is_ttft, "ttft", "tpot")
    # the TTFT messages' whole numbers as integers (`whole_numbers`; ~2.5x faster than formatting the floats)
    w_b, w_ttft, w_tt = (whole_numbers(np.asarray(x, dtype=float)) for x in (r_batch, r_ttft * 1e3, t_tt * 1e3))
    reason[miss] = [f"batch {b} misses the TTFT target: {tt_r} ms > {tt} ms" if bad else
                    f"batch {b} misses the TPOT target: {tp_r * 1e3:.1f} ms > {tp * 1e3:.1f} ms"
                    for b, tt_r, tt, tp_r, tp, bad in zip(w_b, w_ttft, w_tt, r_tpot.tolist(), t_tp.tolist(),
                                                          is_ttft.tolist(), strict=True)]
    limited = np.where(~any_good & (np.asarray(res["limited_by"]) == "memory"), "memory", limited)
    res["fits"] = fits_out
    res["reason"] = reason
    res["limited_by"] = limited
    return res


def whole_numbers(x: np.ndarray) -> list:
    """Per value, what formats as f"{v:.0f}" does: the integer np.rint gives (both round the exact binary value
    half to even) where that is exact (finite, below 2**53, not a negative zero, which prints "-0"), else the
    f-string's own text."""
    r = np.rint(x)
    exact = np.isfinite(r) & (np.abs(r) < 2.0**53) & ~((r == 0) & np.signbit(r))
    out = np.where(exact, r, 0.0).astype(np.int64).tolist()
    for i in np.flatnonzero(~exact).tolist():
        out[i] = f"{float(x[i]):.0f}"
    return out
