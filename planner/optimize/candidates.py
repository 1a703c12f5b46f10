"""Candidates: problem x catalog -> one row per deployable (workload, model, precision, system, parallelism,
serving mode, batch, acquisition mode), with the reason every rejected configuration was dropped.

Two parts. The expensive one, `evaluate_configurations`, runs the performance model over the configuration grid
(steps 1-3 below); it depends only on the workloads' shapes and targets, the accelerators (and their largest
scale-up domain) and the catalog's performance data, never on money, power, budget, supply or demand, so a
`CandidateCache` reuses it across scenarios that change only those. The cheap one, `expand_candidates`, takes
that result to deployable rows (steps 4-6: systems, own/rent, keys, pruning).

Enumerate -> filter -> key -> prune, then the MIP chooses among what is left:
1. quality: model score on the workload's floor benchmark x the precision's recovery >= floor;
2. grid per (workload, model, precision, accelerator): TP (powers of two up to the system's scale-up domain),
   PP 1-2, for MoE models expert parallel (EP = TP) and attention data parallel (TP 1, attn-DP = EP), serving
   modes; KV cache in fp8 where the accelerator computes fp8 natively, else bf16 (or the workload's list);
3. `planner.perf.capacity_under_slo` gives the largest request rate meeting TTFT and TPOT at the workload's SLO
   percentile (its mean batch, GPUs, tok/s = rate x osl and watts);
   rows that do not fit, or miss a target at every batch, are rejected with perf's reason;
4. system rules: the TP/EP group (tp x attn_dp GPUs) must fit the system's scale-up domain;
5. stable readable keys: `chat/llama-3.3-70b/hgx-h200/fp8/tp2pp1/b64/agg` (+ `ep8dp8`, `/kv-bf16`, `/rent`);
6. dominance pruning (exact): within one workload, system and mode, c is dropped when another candidate d, taken
   m = floor(g_c / g_d) >= 1 times, uses no more GPUs, serves at least as many tok/s, draws no more power and
   has a group no larger: m replicas of d can replace each replica of c in any plan, at no extra cost.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.fingerprint import perf_fingerprint
from planner.catalog.quality import checkpoint_of, needs_quantization, quality_of
from planner.limits import check
from planner.optimize.evaluation import PerfFn, evaluate_grid  # the evaluation half
from planner.optimize.formulation import CANDIDATE_COLUMNS
from planner.optimize.instance import Instance
from planner.optimize.layout import fits_rack
from planner.optimize.variants import (
    PREFILL_LAYOUT,
    own_prefill,
    pair_prefill_layouts,
    prefill_group,
    prune_variants,
    shared_prefill,
    spec_choices,
    worth_drafting,
)
from planner.perf import CONFIG_COLUMNS, evaluate
from planner.perf.params import efficiency_path

PP_OPTIONS = (1, 2)

__all__ = [
    "CandidateCache",
    "CandidateSet",
    "Evaluated",
    "build_candidates",
    "evaluate_configurations",
    "expand_candidates",
    "perf_data_key",
    "perf_key",
    "prune_dominated",
    "quality_of",
]


@dataclass
class CandidateSet:
    table: pd.DataFrame  # the candidates the MIP sees (after pruning)
    rejected: pd.DataFrame  # workload, model, precision, system, config, reason
    stats: dict[str, int] = field(default_factory=dict)
    best_latency: dict[str, dict] = field(default_factory=dict)  # per workload without candidates


@dataclass(frozen=True)
class Evaluated:
    """The expensive part: every configuration of the grid run through the performance model. Shared by a
    cache between solves, so nothing downstream may modify it in place."""

    grid: pd.DataFrame  # the configurations (CONFIG_COLUMNS + workload, quality)
    results: pd.DataFrame  # the evaluated configurations that fit and meet the targets at some batch >= 1
    rejected: tuple[dict, ...]  # quality, precision support and perf rejections


class CandidateCache:
    """In-memory `Evaluated` results keyed by `perf_key`; `hits` and `misses` count lookups (for reports)."""

    def __init__(self, max_entries: int = 64) -> None:
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._store: dict[str, Evaluated] = {}
        self._expanded: dict[str, CandidateSet] = {}
        self._predicted: dict[tuple, pd.DataFrame] = {}

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: str) -> Evaluated | None:
        hit = self._store.get(key)
        if hit is None:
            self.misses += 1
        else:
            self.hits += 1
        return hit

    def put(self, key: str, value: Evaluated) -> None:
        if len(self._store) >= self.max_entries:
            self._store.pop(next(iter(self._store)))  # oldest first
        self._store[key] = value

    def expanded(self, key: str, make) -> CandidateSet:
        """The expansion for (perf key + expansion_key), made once: solves that change only prices or demand
        (a sweep) skip the per-system expansion and pruning too. Callers must not modify the returned set."""
        memo = self._expanded
        hit = memo.get(key)
        if hit is None:
            if len(memo) >= self.max_entries:
                memo.pop(next(iter(memo)))
            hit = memo[key] = make()
        return hit

    def predicted(self, key: tuple, make) -> pd.DataFrame:
        """The verifier's re-prediction of a plan's deployments, keyed by (`perf_data_key`, the rows asked) and
        made once: neighbouring solves of a sweep mostly choose the same deployments, and re-running the model
        for them was most of a small solve's time. Callers must not modify the returned frame."""
        memo = self._predicted
        hit = memo.get(key)
        if hit is None:
            if len(memo) >= 4096:
                memo.clear()
            hit = memo[key] = make()
        return hit


def _domains(inst: Instance) -> dict[str, int]:
    """Accelerator -> the largest scale-up domain of the allowed systems holding it."""
    by_acc: dict[str, int] = {}
    for sd in inst.systems.values():
        by_acc[sd.accelerator] = max(by_acc.get(sd.accelerator, 0), sd.domain)
    return dict(sorted(by_acc.items()))


def perf_key(inst: Instance, catalog: Catalog) -> str:
    """Hash of everything `evaluate_configurations` depends on: per workload its shape, latency targets, quality
    floor and model/precision/KV/serving choices; the accelerators and their scale-up domains; the catalog's
    performance data and the efficiency calibration. Money, power, budget, supply and demand stay out."""
    workloads = [
        [w.id, w.isl, w.osl, w.ttft_target_s, w.tpot_target_s, w.slo_percentile, w.floor_benchmark,
         w.floor_score, w.models, w.precisions, w.kv_precisions, w.serving, w.engines, w.effort,
         w.allow_quantization, w.speculative, w.prefill_layouts]
        for w in sorted(inst.workloads.values(), key=lambda w: w.id)
    ]
    payload = [workloads, _domains(inst), *perf_data_key(catalog)]
    return hashlib.sha256(json.dumps(payload, default=list).encode()).hexdigest()


def perf_data_key(catalog: Catalog) -> tuple[str, str]:
    """What the performance model reads besides its rows: the catalog's performance data and the efficiency
    calibration (hashes)."""
    eff = efficiency_path()
    eff_hash = hashlib.sha256(eff.read_bytes()).hexdigest() if eff.is_file() else "builtin"
    return perf_fingerprint(catalog), eff_hash

def _runs_on(catalog: Catalog, precision_id: str, accelerator_id: str) -> bool:
    acc = catalog.accelerators[accelerator_id]
    p = catalog.precisions[precision_id]
    return precision_id in acc.native_precisions or p.weight_only_fallback is not None


def _default_kv(catalog: Catalog, precision_id: str, accelerator_id: str) -> str:
    formats = catalog.precisions[precision_id].kv_formats
    if "fp8" in formats and "fp8" in catalog.accelerators[accelerator_id].dense_tflops:
        return "fp8"
    return "bf16" if "bf16" in formats else formats[0]


def _engines_for(catalog: Catalog, allowed: tuple[str, ...] | None, precision_id: str,
                 accelerator_id: str) -> list[str]:
    """The engines a workload searches on one accelerator and precision ('' = the generic engine)."""
    if not allowed:
        return [""]
    vendor = catalog.accelerators[accelerator_id].vendor
    return [e for e in allowed if catalog.engines[e].supports(accelerator_id, vendor)
            and precision_id in catalog.engines[e].precisions]


def _parallelisms(is_moe: bool, domain: int) -> list[tuple[int, int, int]]:
    """(tp, ep, attn_dp) options for one pipeline stage inside a scale-up domain."""
    sizes = [1 << k for k in range(0, 8) if (1 << k) <= domain]
    out = [(s, 1, 1) for s in sizes]
    if is_moe:
        out += [(s, s, 1) for s in sizes if s > 1] + [(1, s, s) for s in sizes if s > 1]
    return out


def build_grid(inst: Instance, catalog: Catalog) -> tuple[pd.DataFrame, list[dict]]:
    """The configurations to evaluate, and the (model, precision) pairs rejected on quality."""
    cols: dict[str, list] = {}
    memo: dict = {}  # block arrays by (variants, layouts, serving modes)
    rejected: list[dict] = []
    by_acc = _domains(inst)
    for w in inst.workloads.values():
        models = w.models or tuple(sorted(catalog.models))
        precisions = w.precisions or tuple(sorted(catalog.precisions))
        for mid, effort in _model_efforts(catalog, models, w, rejected):
            model = catalog.models[mid]
            mult = model.effort(effort).output_multiplier if effort is not None else 1.0
            for pid in precisions:
                q = quality_of(catalog, mid, pid, w.floor_benchmark, effort)
                if w.floor_benchmark is not None and (q is None or q < w.floor_score - 1e-9):
                    why = (
                        f"no {w.floor_benchmark} score"
                        if q is None
                        else f"quality {q:.1f} < floor {w.floor_score:g} on {w.floor_benchmark}"
                    )
                    rejected.append(
                        dict(
                            workload=w.id, model=mid, precision=pid, system="*", config="*", reason=why, quality=q,
                            effort=effort,
                        )
                    )
                    continue
                ckpt = checkpoint_of(catalog, mid, pid)  # once per (model, precision), not per grid row
                if not w.allow_quantization and needs_quantization(ckpt):
                    rejected.append(
                        dict(
                            workload=w.id, model=mid, precision=pid, system="*", config="*", quality=q,
                            reason=f"no published {pid} checkpoint of {mid} (allow_quantization: true to use "
                            f"'{checkpoint_of(catalog, mid, pid)}')",
                        )
                    )
                    continue
                for acc, domain in sorted(by_acc.items()):
                    if not _runs_on(catalog, pid, acc):
                        rejected.append(
                            dict(
                                workload=w.id,
                                model=mid,
                                precision=pid,
                                system=acc,
                                config="*",
                                reason=f"{pid} is neither native on {acc} nor weight-only capable",
                            )
                        )
                        continue
                    engines = _engines_for(catalog, w.engines, pid, acc)
                    if not engines:
                        rejected.append(dict(workload=w.id, model=mid, precision=pid, system=acc, config="*",
                                             reason=f"none of the engines {', '.join(w.engines or ())} serves "
                                                    f"{pid} on {acc}"))
                        continue
                    kvs = w.kv_precisions or (_default_kv(catalog, pid, acc),)
                    specs = {e: spec_choices(catalog, w, e, mid, pid, acc, rejected) for e in engines}
                    variants = [(k, e, x) for k in kvs for e in engines for x in specs[e]]
                    pars = [(tp, ep, dp, pp) for tp, ep, dp in _parallelisms(model.moe is not None, domain)
                            for pp in PP_OPTIONS]
                    osl = round(w.osl * mult)
                    const = dict(workload=w.id, model=mid, accelerator=acc, precision=pid, isl=w.isl, osl=osl,
                                 quality=q, checkpoint=ckpt, effort=effort, output_multiplier=mult,
                                 hidden_tokens=osl - w.osl)
                    _add_block(cols, const, variants, pars, w.serving, memo)
    return (_grid_frame(cols) if cols else pd.DataFrame()), rejected


GRID_COLUMNS = ("workload", "model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp",
                "serving", "isl", "osl", "quality", "engine", "speculative", "checkpoint", "effort",
                "output_multiplier", "hidden_tokens")


def _add_block(cols: dict[str, list], const: dict, variants: list[tuple], pars: list[tuple],
               serving: tuple[str, ...], memo: dict | None = None) -> None:
    """Append the grid rows of one (workload, model, precision, accelerator) to the column pieces, in the order
    variant (KV format, engine, speculative), parallelism, pipeline stages, serving mode: values shared by the
    block once (with the block's size), the others as small arrays. `memo`: arrays already made for the same
    variants, layouts and serving modes (one dict per grid; the pieces are only read, by the concatenation)."""
    n_s = len(serving)
    n = len(variants) * len(pars) * n_s
    if n == 0:
        return
    if not cols:
        cols.update({c: [] for c in (*GRID_COLUMNS, "_size")})
    for c, v in const.items():
        cols[c].append(v)
    cols["_size"].append(n)
    key = (tuple(variants), tuple(pars), tuple(serving))
    arrays = None if memo is None else memo.get(key)
    if arrays is None:
        per_variant = len(pars) * n_s
        arrays = {c: np.repeat(np.array([v[j] for v in variants], dtype=object), per_variant)
                  for j, c in enumerate(("kv_precision", "engine", "speculative"))}
        layout = np.repeat(np.array(pars, dtype=np.int64), n_s, axis=0)
        for j, c in enumerate(("tp", "ep", "attn_dp", "pp")):
            arrays[c] = np.tile(layout[:, j], len(variants))
        arrays["serving"] = np.tile(np.array(serving, dtype=object), n // n_s)
        if memo is not None:
            memo[key] = arrays
    for c, a in arrays.items():
        cols[c].append(a)



def _grid_frame(cols: dict[str, list]) -> pd.DataFrame:
    """The grid from `_add_block`'s pieces, typed as pandas types per-row records: numbers (ints and floats
    mixed give floats), strings (None = missing), anything else inferred from a list."""
    sizes = np.asarray(cols["_size"], dtype=np.int64)
    out = {}
    for c in GRID_COLUMNS:
        pieces = cols[c]
        if isinstance(pieces[0], np.ndarray):
            out[c] = np.concatenate(pieces)
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in pieces):
            out[c] = np.repeat(np.asarray(pieces), sizes)
        elif all(v is None or isinstance(v, str) for v in pieces):
            out[c] = _strings(np.asarray(pieces, dtype=object), sizes)
        else:
            out[c] = np.repeat(np.asarray(pieces, dtype=object), sizes).tolist()
    return pd.DataFrame(out)


STRINGS_DIRECT_ROWS = 2000


def _strings(pieces: np.ndarray, sizes: np.ndarray):
    """The column pandas would make of an object array of strings (None = missing) with pieces[i] repeated
    sizes[i] times, converted through the few distinct values (converting every row to pandas' string type
    is most of a large grid's cost; below STRINGS_DIRECT_ROWS rows the per-column set-up costs more)."""
    if sizes.sum() < STRINGS_DIRECT_ROWS:
        return np.repeat(pieces, sizes)
    codes, uniques = pd.factorize(pieces, use_na_sentinel=False)
    small = pd.Series(np.asarray(uniques, dtype=object))
    if not isinstance(small.dtype, pd.StringDtype):  # e.g. no string at all: pandas keeps objects
        return np.repeat(pieces, sizes)
    return small.array.take(np.repeat(codes, sizes))


def _model_efforts(catalog: Catalog, models, w, rejected: list[dict]) -> list[tuple[str, str | None]]:
    """(model, effort) pairs to search: each allowed effort level of a reasoning model (the workload's
    `effort`, else every level), None for a model without levels."""
    out = []
    for mid in models:
        m = catalog.models[mid]
        levels = [e.level for e in m.effort_levels]
        if not levels:
            out.append((mid, None))
            continue
        allowed = [lv for lv in levels if w.effort is None or lv in w.effort]
        if not allowed:
            why = f"effort {', '.join(w.effort)} is not a level of {mid} ({', '.join(levels)})"
            rejected.append(dict(workload=w.id, model=mid, precision="*", system="*", config="*", reason=why))
        out.extend((mid, lv) for lv in allowed)
    return out


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
    pre = _labels(pd.DataFrame({c: rows[f"prefill_{c}"].to_numpy() for c in ("tp", "pp", "ep", "attn_dp")})) \
        if own.any() else [""] * len(rows)
    serving = rows["serving"].to_numpy()
    return ["aggregated" if s == "aggregated" else f"disagg-prefill-{p}" if o else "disagg"
            for s, o, p in zip(serving, own, pre, strict=True)]


def _labels(rows: pd.DataFrame) -> list[str]:
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
    key = "/".join([workload, model, system, precision, label, f"b{int(batch)}",
                    "agg" if serving == "aggregated" else serving])
    if kv_suffix:
        key += f"/kv-{kv}"
    if isinstance(spec, str) and spec not in ("", "none"):
        key += f"/spec-{spec}"
    if isinstance(effort, str):
        key += f"/effort-{effort}"
    if mode == "rent":
        key += "/rent"
    return key


def _keys(table: pd.DataFrame, multi_kv: set[str]) -> list[str]:
    cols = [table[c].to_numpy() for c in ("workload", "model", "system", "precision")]
    rest = [table[c].to_numpy() for c in ("batch",)]
    tail = [table[c].to_numpy() for c in ("kv_precision", "mode")]
    n = len(table)
    efforts = table["effort"].to_numpy() if "effort" in table else [None] * n
    specs = table["speculative_method"].to_numpy() if "speculative_method" in table else [None] * n
    return [_key(w, m, s, p, lab, b, sv, kv, mode, w in multi_kv, e, x)
            for w, m, s, p, lab, b, sv, kv, mode, e, x in zip(*cols, _labels(table), *rest, _serving_labels(table),
                                                               *tail, efforts, specs, strict=True)]


def evaluate_configurations(inst: Instance, catalog: Catalog, perf: PerfFn | None = None) -> Evaluated:
    """The expensive part: the configuration grid through the performance model (latency-target search)."""
    grid, rejected = build_grid(inst, catalog)
    if grid.empty:
        return Evaluated(grid, pd.DataFrame(), tuple(rejected))
    grid = shared_prefill(grid)
    plain = (grid["speculative"] == "none").to_numpy()
    res = evaluate_grid(grid if plain.all() else grid[plain], inst, catalog, perf)
    drafts = grid[~plain]
    if len(drafts):  # drafts only where they can shorten the step (see planner.optimize.variants)
        drafts = drafts[worth_drafting(res, drafts, catalog)]
        res = pd.concat([res, evaluate_grid(drafts, inst, catalog, perf)], ignore_index=True)
        grid = grid[plain | grid.index.isin(drafts.index)]
    search = [w.id for w in inst.workloads.values() if w.prefill_layouts == "search"]
    if search:  # second pass: decode layouts that can serve, with other prefill layouts (optimize.variants)
        ttft = res["limited_by"] == "ttft" if "limited_by" in res else False
        dis = res[(res["serving"] == "disaggregated") & (res["fits"].astype(bool) | ttft)
                  & res["workload"].isin(search)]
        targets = {w.id: w.ttft_target_s for w in inst.workloads.values()}
        pairs = pair_prefill_layouts(grid.loc[dis["grid_row"].to_numpy()], catalog, targets,
                                     layouts=grid[grid["serving"] == "disaggregated"])
        check("grid", len(grid) + len(pairs), f"{inst.name}: candidate grid with the disaggregated prefill "
              "layouts")
        if not pairs.empty:
            res = pd.concat([res, evaluate_grid(pairs, inst, catalog, perf)], ignore_index=True)
            grid = pd.concat([grid, pairs], ignore_index=True)
    res = res.drop(columns=["grid_row"])
    ok = res["fits"].astype(bool) & (pd.to_numeric(res["batch"], errors="coerce").fillna(0) >= 1)
    # a unit whose phases use different group sizes must fill whole groups of the larger one (the MIP packs a
    # replica as gpus / group_gpus groups of group_gpus GPUs: conservative for the smaller groups)
    uneven = ok & (res["gpus"].to_numpy(dtype=np.int64) % np.maximum(prefill_group(res), 1) != 0)
    bad = (~ok | uneven).to_numpy()
    # only the columns a rejection reads (taking every column of thousands of failed rows cost more)
    need = [c for c in (*_LABEL_COLUMNS, "serving", "reason", *PREFILL_LAYOUT) if c in res]
    failed = res.iloc[np.flatnonzero(bad), [res.columns.get_loc(c) for c in need]]
    reasons = [f"prefill and decode groups of different sizes do not fill whole groups of {q} GPUs" if o else
               str(x or "no batch meets the targets")
               for x, o, q in zip(failed["reason"].to_numpy(dtype=object).tolist(), ok[~ok | uneven].tolist(),
                                  prefill_group(failed).tolist(), strict=True)]
    rejected += _rejections(failed, None, reasons)
    return Evaluated(grid, prune_variants(res[ok & ~uneven].reset_index(drop=True)), tuple(rejected))


def expand_candidates(ev: Evaluated, inst: Instance, catalog: Catalog) -> CandidateSet:
    """The cheap part: evaluated configurations -> deployable rows per system and own/rent, scale-up domain
    filter, stable keys, dominance pruning. Leaves `ev` untouched (it may be shared through a cache)."""
    grid, res = ev.grid, ev.results
    rejected = list(ev.rejected)
    stats = {"grid": len(grid)}
    if grid.empty:
        return CandidateSet(_empty(), pd.DataFrame(rejected), stats)
    # one take of the evaluated rows for every (system, mode), in system then mode order
    acc = res["accelerator"].to_numpy()
    group_all = prefill_group(res)
    parts: list[tuple[np.ndarray, str, str]] = []
    for sd in sorted(inst.systems.values(), key=lambda s: s.id):
        at = np.flatnonzero(acc == sd.accelerator)
        if len(at) == 0:
            continue
        too_big = group_all[at] > sd.domain
        if too_big.any():
            why = f"-GPU scale-up domain of {sd.id}"
            rejected += _rejections(res.take(at[too_big]), sd.id, [
                f"TP/EP group of {g} GPUs exceeds the {sd.domain}{why}" for g in group_all[at[too_big]].tolist()])
        modes = (["own"] if (sd.buy or sd.existing) and _has_rack(inst, sd) else []) + (
            ["rent"] if sd.rent else []
        )
        parts += [(at[~too_big], sd.id, mode) for mode in modes]
    stats["evaluated"] = len(res)
    if not parts:
        return CandidateSet(_empty(), pd.DataFrame(rejected), stats, _best_latency(inst, catalog, grid))
    idx = np.concatenate([p[0] for p in parts])
    sizes = [len(p[0]) for p in parts]
    table = res.take(idx).reset_index(drop=True)
    table["system"] = np.repeat(np.array([p[1] for p in parts], dtype=object), sizes)
    table["group_gpus"] = group_all[idx]
    table["mode"] = np.repeat(np.array([p[2] for p in parts], dtype=object), sizes)
    table["gpus"] = table["gpus"].astype(int)
    multi_kv = {w.id for w in inst.workloads.values() if w.kv_precisions and len(w.kv_precisions) > 1}
    table["key"] = _keys(table, multi_kv)
    table = _unique_by_key(table)
    stats["feasible"] = len(table)
    table = prune_dominated(table)
    stats["after_pruning"] = len(table)
    served = set(table["workload"].to_numpy().tolist())
    missing = [w for w in inst.workloads if w not in served]
    best = _best_latency(inst, catalog, grid[grid["workload"].isin(missing)]) if missing else {}
    cols = [c for c in table.columns if c not in ("fits", "reason")]
    return CandidateSet(table[cols], pd.DataFrame(rejected), stats, best)


def _unique_by_key(table: pd.DataFrame) -> pd.DataFrame:
    """table.drop_duplicates("key").sort_values("key", kind="stable").reset_index(drop=True) as one take of the
    table's rows (keys compare as Python strings: code point order, as pandas' string sort)."""
    keys = table["key"].to_numpy(dtype=object)
    first = np.flatnonzero(~pd.Series(keys).duplicated().to_numpy())
    return table.take(first[np.argsort(keys[first], kind="stable")]).reset_index(drop=True)


def expansion_key(inst: Instance) -> str:
    """Everything `expand_candidates` reads from the instance beyond the evaluation: per system its accelerator,
    scale-up domain and which modes it offers (own needs buying or inventory and a rack that fits; rent needs a
    price), and the workloads with several KV formats. Keep in step with `expand_candidates`."""
    systems = [[sd.id, sd.accelerator, sd.domain, bool(sd.buy or sd.existing) and _has_rack(inst, sd), sd.rent]
               for sd in sorted(inst.systems.values(), key=lambda s: s.id)]
    multi_kv = sorted(w.id for w in inst.workloads.values() if w.kv_precisions and len(w.kv_precisions) > 1)
    return hashlib.sha256(json.dumps([systems, multi_kv, sorted(inst.workloads)]).encode()).hexdigest()


def build_candidates(
    inst: Instance, catalog: Catalog, perf: PerfFn | None = None, cache: CandidateCache | None = None
) -> CandidateSet:
    """Both parts; the expensive one looked up in `cache` first (a custom `perf` bypasses the cache), and with a
    cache the expansion too (the same evaluation and the same `expansion_key` give the same candidates)."""
    if cache is None or perf is not None:
        return expand_candidates(evaluate_configurations(inst, catalog, perf), inst, catalog)
    key = perf_key(inst, catalog)
    ev = cache.get(key)
    if ev is None:
        ev = evaluate_configurations(inst, catalog)
        cache.put(key, ev)
    return cache.expanded(key + expansion_key(inst), lambda: expand_candidates(ev, inst, catalog))


_LABEL_COLUMNS = ("workload", "model", "precision", "accelerator", "tp", "pp", "ep", "attn_dp", "engine")


def _rejections(rows: pd.DataFrame, system: str | None, reasons: list[str]) -> list[dict]:
    """One rejection record per result row: on `system` (None: the row's accelerator), for `reasons`."""
    cols = [rows[c].to_numpy() for c in ("workload", "model", "precision", "accelerator")]
    return [
        dict(workload=w, model=m, precision=p, system=system or a, config=lab, reason=why)
        for w, m, p, a, lab, why in zip(*cols, _labels(rows), reasons, strict=True)
    ]


def _has_rack(inst: Instance, sd) -> bool:
    return not inst.racks or any(fits_rack(sd, r) for r in inst.racks.values())


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in CANDIDATE_COLUMNS})


def prune_dominated(table: pd.DataFrame) -> pd.DataFrame:
    """Drop c when m = floor(g_c/g_d) >= 1 replicas of some d (same workload, system, mode) give
    m*o_d >= o_c, m*W_d <= W_c, q_d <= q_c (ties: keep the earlier key).

    Candidates are visited in table order and only a candidate still kept can dominate (dominance by multiples
    is not transitive, so the order is part of the rule): c is dropped when a later candidate dominates it
    strictly, or an earlier one that is kept dominates it at all."""
    keep = np.ones(len(table), dtype=bool)
    g, o, w, q = (table[c].to_numpy().astype(float) for c in ("gpus", "output_tok_s", "avg_power_w", "group_gpus"))
    for idx in _groups(table, ("workload", "system", "mode")):
        keep[idx] = _undominated(g[idx], o[idx], w[idx], q[idx])
    return table[keep].reset_index(drop=True)


def _groups(table: pd.DataFrame, by: tuple[str, ...]) -> list[np.ndarray]:
    """The row positions of each group of equal `by` values (rows with a missing value in none), ascending
    within a group, groups in order of first appearance: groupby(by, sort=False).indices, from integer codes."""
    code = np.zeros(len(table), dtype=np.int64)
    missing = np.zeros(len(table), dtype=bool)
    for c in by:
        codes, uniques = pd.factorize(table[c])
        missing |= codes < 0
        code = code * (len(uniques) + 1) + codes
    rows = np.flatnonzero(~missing)
    _, first, inverse = np.unique(code[rows], return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    parts = np.split(rows[np.argsort(inverse, kind="stable")], np.cumsum(np.bincount(inverse))[:-1])
    return [parts[j] for j in np.argsort(first, kind="stable")]


def _undominated(g: np.ndarray, o: np.ndarray, w: np.ndarray, q: np.ndarray) -> np.ndarray:
    """`prune_dominated` within one group (rows in table order). The candidates of one GPU count G share
    m = floor(G/g_d) with every d, so m*o_d and m*W_d are vectors per G and the pairwise tests only compare."""
    n = len(g)
    later = np.zeros(n, dtype=bool)  # dominated strictly by a later candidate: dropped whatever happens
    earlier: dict[int, np.ndarray] = {}  # candidate -> the earlier ones dominating it: dropped if one is kept
    lo, hi, above, below = o * (1 - 1e-12), w * (1 + 1e-12), o * (1 + 1e-9), w * (1 - 1e-9)
    for size in np.unique(g):
        a = np.flatnonzero(g == size)
        mult = np.floor(size / g)
        md_o, md_w = mult * o, mult * w
        # only candidates that can dominate some member of this GPU count enter the matrix
        d = np.flatnonzero((mult >= 1) & (md_o >= lo[a].min()) & (md_w <= hi[a].max()) & (q <= q[a].max()))
        if len(d) == 0:
            continue
        md_o, md_w, qd = md_o[d], md_w[d], q[d]
        ok = (md_o >= lo[a, None]) & (md_w <= hi[a, None]) & (qd <= q[a, None]) & (d[None, :] != a[:, None])
        strict = (md_o > above[a, None]) | (md_w < below[a, None]) | (qd < q[a, None]) | (
            mult[d] * g[d] < size)[None, :]
        after = d[None, :] > a[:, None]
        later[a] = (ok & strict & after).any(axis=1)
        prior = ok & ~after
        for r in np.flatnonzero(prior.any(axis=1) & ~later[a]):
            earlier[int(a[r])] = d[prior[r]]
    keep = ~later
    for r in sorted(earlier):  # in table order: every earlier candidate's fate is settled before
        if keep[earlier[r]].any():
            keep[r] = False
    return keep


def _best_latency(inst: Instance, catalog: Catalog, grid: pd.DataFrame) -> dict[str, dict]:
    """Per workload: the lowest TTFT and TPOT any configuration reaches at batch 1 (for the explanation)."""
    if grid.empty:
        return {}
    out: dict[str, dict] = {}
    g = grid.assign(batch=1)
    cols = [*CONFIG_COLUMNS, *(c for c in ("engine", "speculative") if c in g), "batch"]
    res = evaluate(g[cols].reset_index(drop=True), catalog).reset_index(drop=True)
    res["workload"] = g["workload"].to_numpy()
    res = res[res["fits"].astype(bool)]
    for wid, r in res.groupby("workload"):
        entry = {}
        for col in ("ttft_s", "tpot_s"):
            best = r.loc[r[col].astype(float).idxmin()]
            entry[col] = dict(
                value=float(best[col]),
                accelerator=best["accelerator"],
                model=best["model"],
                precision=best["precision"],
                config=config_label(best) + (f" {best['speculative_method']}" if best.get("speculative_method")
                                             not in (None, "", "none") else ""),
            )
        out[wid] = entry
    return out
