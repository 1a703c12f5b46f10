"""Stable readable candidate keys and layout labels: `chat/llama-3.3-70b/hgx-h200/fp8/tp2pp1/b64/agg`
(+ `ep8dp8`, `-ENGINE`, `/kv-bf16`, `/spec-METHOD`, `/effort-LEVEL`, `/rent`); one row at a time for plans and
whole tables at once for the candidate search (step 5 of `planner.optimize.candidates`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.optimize.variants import own_prefill


def config_label(r) -> str:
    return _label(r["tp"], r["pp"], r["ep"], r["attn_dp"], r.get("engine", ""))


def _label(tp, pp, ep, dp, engine="") -> str:
    par = f"tp{int(tp)}pp{int(pp)}"
    if int(ep) > 1:
        par += f"ep{int(ep)}"
    if int(dp) > 1:
        par += f"dp{int(dp)}"
    if isinstance(engine, str) and engine:
        par += f"-{engine}"
    return par


def serving_label(r) -> str:
    """`aggregated`, `disagg` (prefill and decode instances in one layout) or `disagg-prefill-tp2pp1` (the
    prefill instances' own layout; the decode layout is the key's parallel part)."""
    if r["serving"] == "aggregated":
        return "aggregated"
    layout = ("tp", "pp", "ep", "attn_dp")
    if "prefill_tp" not in r or all(int(r[c]) == int(r[f"prefill_{c}"]) for c in layout):
        return "disagg"
    return "disagg-prefill-" + _label(r["prefill_tp"], r["prefill_pp"], r["prefill_ep"], r["prefill_attn_dp"])


def _serving_labels(rows: pd.DataFrame) -> list[str]:
    own = own_prefill(rows)
    layout = ("tp", "pp", "ep", "attn_dp")
    pre = layout_labels(pd.DataFrame({c: rows[f"prefill_{c}"].to_numpy() for c in layout})) \
        if own.any() else [""] * len(rows)
    serving = rows["serving"].to_numpy()
    return ["aggregated" if s == "aggregated" else f"disagg-prefill-{p}" if o else "disagg"
            for s, o, p in zip(serving, own, pre, strict=True)]


def layout_labels(rows: pd.DataFrame) -> list[str]:
    eng = rows["engine"].fillna("").to_numpy().tolist() if "engine" in rows else [""] * len(rows)
    memo: dict[tuple, str] = {}  # a few hundred layouts label thousands of rows
    out = []
    for x in zip(*(rows[c].to_numpy().tolist() for c in ("tp", "pp", "ep", "attn_dp")), eng, strict=True):
        lab = memo.get(x)
        if lab is None:
            lab = memo[x] = _label(*x)
        out.append(lab)
    return out


def make_key(r, kv_suffix: bool) -> str:
    return _key(r["workload"], r["model"], r["system"], r["precision"], config_label(r), r["batch"],
                serving_label(r), r["kv_precision"], r["mode"], kv_suffix, r.get("effort"),
                r.get("speculative_method"))


def _key(workload, model, system, precision, label, batch, serving, kv, mode, kv_suffix: bool,
         effort=None, spec=None) -> str:
    """`workload/model/system/precision/parallel/bN/serving` then, where they apply, `/kv-X` (a workload
    searching several KV formats), `/spec-METHOD` (speculative decoding), `/effort-LEVEL`, `/rent`."""
    tail = _key_tail(precision, label, batch, serving, kv, kv_suffix, effort, spec)
    key = f"{workload}/{model}/{system}/{tail}"
    return key + "/rent" if mode == "rent" else key


def table_keys(table: pd.DataFrame, multi_kv: set[str]) -> list[str]:
    """`make_key` of every row of a table with system and mode columns."""
    cols = [table[c].to_numpy() for c in ("workload", "model", "system", "precision")]
    rest = [table[c].to_numpy() for c in ("batch",)]
    tail = [table[c].to_numpy() for c in ("kv_precision", "mode")]
    n = len(table)
    efforts = table["effort"].to_numpy() if "effort" in table else [None] * n
    specs = table["speculative_method"].to_numpy() if "speculative_method" in table else [None] * n
    return [_key(w, m, s, p, lab, b, sv, kv, mode, w in multi_kv, e, x)
            for w, m, s, p, lab, b, sv, kv, mode, e, x in zip(*cols, layout_labels(table), *rest,
                                                               _serving_labels(table), *tail, efforts, specs,
                                                               strict=True)]


def key_parts(rows: pd.DataFrame, multi_kv: set[str]) -> tuple[list[str], list[str]]:
    """Per evaluated row (no system or mode yet), the text before and after the system in its key: the key of
    that row on system S in mode M is `head/S/tail` + `/rent` for M = rent, as `_key` writes it (the candidate
    search makes one key per row, system and mode: the per-row part is built once per row)."""
    n = len(rows)
    cols = [rows[c].to_numpy().tolist() for c in ("workload", "model", "precision", "batch", "kv_precision")]
    efforts = rows["effort"].to_numpy().tolist() if "effort" in rows else [None] * n
    specs = rows["speculative_method"].to_numpy().tolist() if "speculative_method" in rows else [None] * n
    # the tail as _key_tail writes it, from per-value parts (few distinct values each: one dict look-up per
    # row and part, one f-string per row instead of a call per row)
    batch_part = {b: f"b{int(b)}" for b in set(cols[3])}
    kv_part = {(w, kv): f"/kv-{kv}" if w in multi_kv else "" for w, kv in set(zip(cols[0], cols[4], strict=True))}
    spec_part = {x: f"/spec-{x}" if x not in ("", "none") else "" for x in set(specs) if isinstance(x, str)}
    effort_part = {e: f"/effort-{e}" for e in set(efforts) if isinstance(e, str)}
    heads = [f"{w}/{m}" for w, m in zip(cols[0], cols[1], strict=True)]
    tails = [f"{p}/{lab}/{batch_part[b]}/{'agg' if sv == 'aggregated' else sv}{kv_part[w, kv]}"
             f"{spec_part.get(x, '')}{effort_part.get(e, '')}"  # None / NaN: no part
             for w, p, b, kv, lab, sv, e, x in zip(cols[0], cols[2], cols[3], cols[4], layout_labels(rows),
                                                   _serving_labels(rows), efforts, specs, strict=True)]
    return heads, tails


def _key_tail(precision, label, batch, serving, kv, kv_suffix: bool, effort, spec) -> str:
    """`_key` after `workload/model/system/`, without the `/rent` suffix."""
    key = "/".join([precision, label, f"b{int(batch)}", "agg" if serving == "aggregated" else serving])
    if kv_suffix:
        key += f"/kv-{kv}"
    if isinstance(spec, str) and spec not in ("", "none"):
        key += f"/spec-{spec}"
    if isinstance(effort, str):
        key += f"/effort-{effort}"
    return key


def expanded_keys(parts: tuple[list[str], list[str]], rows: np.ndarray, systems: list[str],
                  modes: list[str]) -> list[str]:
    """The keys of evaluated rows `rows` (positions into `key_parts`' lists) on `systems` in `modes` (one per
    row), equal to `_key` of the row with that system and mode."""
    heads, tails = parts
    return [f"{heads[r]}/{s}/{tails[r]}/rent" if m == "rent" else f"{heads[r]}/{s}/{tails[r]}"
            for r, s, m in zip(rows.tolist(), systems, modes, strict=True)]
