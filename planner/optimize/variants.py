"""Variants of one configuration the candidate search tries side by side: serving engine, speculative decoding
and, for disaggregated serving, the prefill instances' own layout. Each multiplies the evaluated grid; exact
dominance pruning per configuration (`prune_variants`) keeps the MIP's candidate count near what it was.

All three are opt-in per workload: each multiplies the evaluated grid (drafts x2 for most models, prefill
layouts ~x1.6, engines x4), and candidate building must stay fast by default (issue 7).

Speculative decoding (`speculative: auto`: `none` plus every method whose draft the engine has for the model,
the generic engine borrowing any catalog engine's draft as `predict` does; or a list): the perf model charges
the draft passes and the wider verify step, so a draft pays at small batch and fades at large batch; a draft is
evaluated only where it shortens the step at the batch the plain configuration reached (`worth_drafting`) and
kept only where it serves more tokens/s from the same GPUs at no more power.

Disaggregated layouts (`prefill_layouts: search`): prefill and decode instances may use different
TP/PP/EP/attention-DP, with the unit
rate-matched by the perf model (1-8 prefill and 1-8 decode instances). Pairing every layout with every other
multiplies the disaggregated grid by ~20 for MoE models (mixed-fleet: 35k -> 220k configurations, minutes), so
the search is bounded by stated rules (`pair_prefill_layouts`, `prune_prefill_layouts`):
1. every layout is first evaluated with one shared layout for both phases;
2. a decode layout that passed (or failed only on TTFT, which a faster prefill can fix: TPOT and the KV cache
   are the decode instances' alone) is paired with other prefill layouts;
3. per (workload, model, accelerator, precision, KV format, engine) and size of prefill instance (GPUs), one
   prefill layout: the most requests/s among those whose pass takes at most half the TTFT target (room for
   queueing and the KV transfer), else the fastest whose pass fits in the target (a slower one never meets it);
4. prefill instances of half, the same or twice the decode instance's GPUs: with at most 8 instances per phase
   the instance size sets the prefill:decode GPU ratios a unit can reach.
On the brute-force instance of tests/test_solve_disagg_layouts.py (64 units) the search keeps the best unit.
Both phases run on the same system: a candidate is one system in the MIP, so a unit split over two systems
would need per-candidate GPU counts on two systems (not built; the perf model takes `prefill_accelerator`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.schema_engines import SPECULATIVE_METHODS
from planner.perf import CONFIG_COLUMNS, evaluate
from planner.perf.capacity import with_columns
from planner.perf.phases import prefill_phase

LAYOUT = ("tp", "pp", "ep", "attn_dp")
PREFILL_LAYOUT = tuple(f"prefill_{c}" for c in LAYOUT)
# one prefill instance's figures depend on these (not on the decode layout, batch or speculative decoding);
# the workload brings its TTFT target
PHASE_KEY = ("workload", "model", "accelerator", "precision", "kv_precision", "engine", "isl", "osl")
# a configuration whose variants compete: everything but engine, speculative decoding and prefill layout
VARIANT_OF = ("workload", "model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp",
              "serving", "effort")


def worth_drafting(plain: pd.DataFrame, drafts: pd.DataFrame, catalog: Catalog) -> np.ndarray:
    """Which speculative grid rows to search: those whose configuration without a draft found no batch, and
    those whose draft shortens the decode step at the batch the plain configuration reached. Where it does not
    (the verify step is compute-bound there), it does not at any larger batch either (step time only grows
    with the batch), and below that batch it serves fewer tokens/s than the plain configuration does: the
    draft variant would be pruned, so it is not evaluated."""
    match = ["workload", "model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp",
             "serving", "engine", "effort", *PREFILL_LAYOUT]
    if "fits" not in plain:  # no plain configuration searched (the workload lists drafts only): keep them all
        return np.ones(len(drafts), dtype=bool)
    ok = plain[plain["fits"].astype(bool) & (pd.to_numeric(plain["batch"], errors="coerce").fillna(0) >= 1)]
    ref = ok[[*match, "batch"]].assign(effort=ok["effort"].astype(str))
    d = drafts.reset_index(drop=True)
    m = d.assign(effort=d["effort"].astype(str)).merge(ref.drop_duplicates(match), on=match, how="left")
    has = m["batch"].notna().to_numpy()
    keep = ~has
    if has.any():
        rows = d[has].assign(batch=m.loc[has, "batch"].astype(np.int64).to_numpy())
        cols = [*CONFIG_COLUMNS, "engine", "batch"]
        both = pd.concat([rows[cols].assign(speculative="none"),
                          rows[cols].assign(speculative=rows["speculative"].to_numpy())], ignore_index=True)
        ev = evaluate(both, catalog)
        n = int(has.sum())
        t_plain, t_spec = ev["tpot_s"].to_numpy()[:n], ev["tpot_s"].to_numpy()[n:]
        fits = ev["fits"].to_numpy(dtype=bool)
        keep[has] = ~(fits[:n] & fits[n:]) | (t_spec < t_plain * (1 - 1e-9))
    return keep


def spec_choices(catalog: Catalog, w, engine: str, model_id: str, precision_id: str, accelerator_id: str,
                 rejected: list[dict]) -> list[str]:
    """The speculative-decoding choices a workload searches with one engine and model: `none` by default; with
    `auto`, `none` and each method whose draft the engine has for the model (the generic engine: any catalog
    engine's draft). A method the workload lists explicitly that no engine here can run is recorded in
    `rejected` with its reason."""
    model = catalog.models[model_id]
    pool = [catalog.engines[engine]] if engine else [catalog.engines[e] for e in sorted(catalog.engines)]
    auto = w.speculative == ("auto",)
    wanted = ("none", *SPECULATIVE_METHODS) if auto else w.speculative or ("none",)
    out = [s for s in wanted if s == "none" or any(e.speculative_for(s, model.family, model_id) for e in pool)]
    for s in wanted:
        if s not in out and not auto:
            who = f"engine {engine} has no" if engine else "no catalog engine has an"
            rejected.append(dict(workload=w.id, model=model_id, precision=precision_id, system=accelerator_id,
                                 config=f"speculative {s}" + (f" ({engine})" if engine else ""),
                                 reason=f"{who} {s} draft for {model_id} (family {model.family})"))
    return out


def prune_prefill_layouts(phase: pd.DataFrame, ttft_s: dict[str, float]) -> pd.DataFrame:
    """Per phase group (PHASE_KEY, with the workload) and size of instance (GPUs), one prefill layout: the one
    admitting the most requests/s among those whose pass takes at most half the workload's TTFT target (room
    for queueing and the KV transfer), else the fastest whose pass fits in the target. A pass longer than the
    target can never meet it."""
    ok = phase[phase["fits"].astype(bool)].reset_index(drop=True)
    target = ok["workload"].map(ttft_s).to_numpy(dtype=float)
    lat = ok["prefill_s"].to_numpy(dtype=float)
    ok = ok[lat <= target].assign(_roomy=(lat <= target / 2)[lat <= target]).reset_index(drop=True)
    if ok.empty:
        return ok.drop(columns=["_roomy"])
    ok = ok.assign(_rps=np.where(ok["_roomy"], -ok["prefill_rps"], np.inf), _lat=ok["prefill_s"])
    order = ok.sort_values([*PHASE_KEY, "prefill_gpus", "_roomy", "_rps", "_lat", "prefill_power_w"],
                           ascending=[True] * (len(PHASE_KEY) + 1) + [False, True, True, True], kind="stable")
    best = order.drop_duplicates([*PHASE_KEY, "prefill_gpus"], keep="first")
    return best.drop(columns=["_roomy", "_rps", "_lat"]).reset_index(drop=True)


def shared_prefill(grid: pd.DataFrame) -> pd.DataFrame:
    """The grid with prefill_tp/pp/ep/attn_dp equal to each row's own layout (one layout for both phases)."""
    grid = grid.reset_index(drop=True)
    return with_columns(grid, {f"prefill_{c}": grid[c].to_numpy() for c in LAYOUT})


def pair_prefill_layouts(rows: pd.DataFrame, catalog: Catalog, ttft_s: dict[str, float],
                         layouts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Disaggregated grid rows (decode layouts) repeated once per other prefill layout that
    `prune_prefill_layouts` keeps for their phase group, among instances of half, the same or twice the decode
    instance's GPUs; the row's own layout (shared) is not repeated. `layouts`: the prefill layouts to consider
    (default: the rows' own)."""
    rows = rows[rows["serving"].astype(str) == "disaggregated"].reset_index(drop=True)
    if rows.empty:
        return rows
    src = rows if layouts is None else layouts
    layouts = src[[*PHASE_KEY, *LAYOUT]].drop_duplicates().reset_index(drop=True)
    kept = prune_prefill_layouts(pd.concat([layouts, prefill_phase(layouts, catalog)], axis=1), ttft_s)
    pre = kept[[*PHASE_KEY, *LAYOUT, "prefill_gpus"]].rename(columns={c: f"prefill_{c}" for c in LAYOUT})
    paired = rows.drop(columns=[c for c in PREFILL_LAYOUT if c in rows]).merge(pre, on=list(PHASE_KEY),
                                                                               how="inner", sort=False)
    ratio = paired["prefill_gpus"].to_numpy(dtype=float) / (paired["tp"] * paired["pp"] * paired["attn_dp"]
                                                            ).to_numpy(dtype=float)
    paired = paired[(ratio >= 0.5) & (ratio <= 2.0)].drop(columns=["prefill_gpus"])
    for c in (*LAYOUT, *PREFILL_LAYOUT):
        paired[c] = paired[c].astype(np.int64)
    return paired[own_prefill(paired)].reset_index(drop=True)


def own_prefill(rows: pd.DataFrame) -> np.ndarray:
    """Disaggregated rows whose prefill layout differs from the decode layout."""
    if "prefill_tp" not in rows:
        return np.zeros(len(rows), dtype=bool)
    differ = np.zeros(len(rows), dtype=bool)
    for c in LAYOUT:
        differ |= rows[c].to_numpy(dtype=float) != rows[f"prefill_{c}"].to_numpy(dtype=float)
    if not differ.any():  # the common case (one layout for both phases): no serving strings to read
        return differ
    return (rows["serving"].astype(str).to_numpy() == "disaggregated") & differ


def prefill_group(rows: pd.DataFrame) -> np.ndarray:
    """GPUs of the largest TP/EP group of a unit: max(decode tp x attn_dp, prefill tp x attn_dp)."""
    # products of the columns' arrays, as the columns' own product gives them (a Series product cost ~4x more)
    group = (rows["tp"].to_numpy() * rows["attn_dp"].to_numpy()).astype(np.int64)
    if "prefill_tp" not in rows:
        return group
    pgroup = (rows["prefill_tp"].to_numpy() * rows["prefill_attn_dp"].to_numpy()).astype(float)
    return np.where(own_prefill(rows), np.maximum(group, np.nan_to_num(pgroup, nan=0)), group).astype(np.int64)


def prune_variants(res: pd.DataFrame, idle_w_per_gpu: dict[str, float]) -> pd.DataFrame:
    """The same configuration (VARIANT_OF) under several engines, speculative choices or prefill layouts: keep
    a variant only where no other gives at least its output tokens/s from no more GPUs, at no more power above
    idle (what the MIP charges: `prune.py`; `idle_w_per_gpu`: accelerator id -> W) and with no larger TP/EP
    group (exact dominance: d can replace a one for one in any plan). Ties keep the plain
    variant (no speculation, shared prefill layout), then the first engine id, so a variant that changes
    nothing costs no candidate."""
    if res.empty:
        return res
    effort = [res["effort"].astype(str)] if "effort" in res else []
    if not _repeats([res[c] for c in VARIANT_OF if c != "effort"] + effort):
        return res  # no configuration has two variants
    r = res.assign(_spec=(res["speculative_method"].fillna("none").astype(str) != "none").astype(int)
                   if "speculative_method" in res else 0,
                   _own=own_prefill(res).astype(int), _group=prefill_group(res))
    r = r.assign(effort=r["effort"].astype(object).where(r["effort"].notna(), "")) if "effort" in r \
        else r.assign(effort="")
    order = [*VARIANT_OF, "_spec", "_own", "engine"] + [c for c in (*PREFILL_LAYOUT, "speculative_method")
                                                         if c in r]
    r = r.sort_values(order, kind="stable").reset_index(drop=True)
    groups = r.groupby(list(VARIANT_OF), sort=False).indices
    keep = np.ones(len(r), dtype=bool)
    o, w, g, q = (r[c].to_numpy(dtype=float) for c in ("output_tok_s", "avg_power_w", "gpus", "_group"))
    w = w - g * r["accelerator"].map(idle_w_per_gpu).fillna(0.0).to_numpy(dtype=float)
    for idx in groups.values():
        for a in idx if len(idx) > 1 else ():  # a configuration with one variant keeps it
            for d in idx:
                if d != a and keep[d] and o[d] >= o[a] and w[d] <= w[a] and g[d] <= g[a] and q[d] <= q[a] and (
                        o[d] > o[a] or w[d] < w[a] or g[d] < g[a] or q[d] < q[a] or d < a):
                    keep[a] = False
                    break
    return _drop_helpers(r[keep], res)


def _repeats(columns: list) -> bool:
    """Whether two rows agree on every column (missing values equal): DataFrame.duplicated().any() of the
    columns side by side, from integer codes (without building the frame)."""
    code = np.zeros(len(columns[0]), dtype=np.int64)
    for c in columns:
        codes, uniques = pd.factorize(c, use_na_sentinel=False)
        code = code * len(uniques) + codes
        if len(uniques) and code.max() > 2**40:  # renumbered before the product could overflow
            code = np.unique(code, return_inverse=True)[1].reshape(-1)
    return len(np.unique(code)) < len(code)


def _drop_helpers(r: pd.DataFrame, res: pd.DataFrame) -> pd.DataFrame:
    r = r.drop(columns=["_spec", "_own", "_group"])
    if "effort" in res:
        r["effort"] = r["effort"].where(r["effort"] != "", None)
    else:
        r = r.drop(columns=["effort"])
    return r.reset_index(drop=True)


def variant_fields(r) -> dict:
    """A candidate row's Deployment fields for its variant: speculative method and acceptance length, and for
    disaggregated serving the prefill layout and the unit's instance counts (None where they do not apply)."""
    spec = r.get("speculative_method")
    spec = spec if isinstance(spec, str) and spec not in ("", "nan") else "none"
    acc = r.get("acceptance_length")
    out = {"speculative": spec, "acceptance_length": None}
    if spec != "none" and acc is not None and acc == acc:
        out["acceptance_length"] = float(acc)
    dis = r["serving"] == "disaggregated"
    for c in LAYOUT:
        v = r.get(f"prefill_{c}", r[c])
        out[f"prefill_{c}"] = int(v if v == v else r[c]) if dis else None
    for c in ("prefill_instances", "decode_instances"):
        v = r.get(c)
        out[c] = round(float(v)) if dis and v is not None and v == v else None
    return out
