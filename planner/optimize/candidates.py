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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.fingerprint import perf_fingerprint
from planner.limits import check
from planner.optimize.evaluation import PerfFn, evaluate_grid  # the evaluation half
from planner.optimize.formulation import CANDIDATE_COLUMNS
from planner.optimize.grid import build_grid, largest_domains
from planner.optimize.instance import Instance
from planner.optimize.keys import config_label, expanded_keys, key_parts, layout_labels
from planner.optimize.layout import fits_rack
from planner.optimize.prune import undominated
from planner.optimize.variants import (
    PREFILL_LAYOUT,
    pair_prefill_layouts,
    prefill_group,
    prune_variants,
    shared_prefill,
    worth_drafting,
)
from planner.perf import CONFIG_COLUMNS, evaluate
from planner.perf.capacity import with_columns
from planner.perf.params import efficiency_path

__all__ = [
    "CandidateCache",
    "CandidateSet",
    "Evaluated",
    "build_candidates",
    "evaluate_configurations",
    "expand_candidates",
    "perf_data_key",
    "perf_key",
]


class CandidateSet:
    """The candidates the MIP sees (after pruning), the rejections (workload, model, precision, system, config,
    reason), counts per stage and, per workload without candidates, the best latency any configuration reaches.
    The rejections are records until first read (a frame of thousands of text rows that only the explanation
    of an unserved workload reads)."""

    def __init__(self, table: pd.DataFrame, rejected: pd.DataFrame | Sequence[dict],
                 stats: dict[str, int] | None = None, best_latency: dict[str, dict] | None = None) -> None:
        self.table = table
        self._rejected = rejected
        self.stats = {} if stats is None else stats
        self.best_latency = {} if best_latency is None else best_latency

    @property
    def rejected(self) -> pd.DataFrame:
        if not isinstance(self._rejected, pd.DataFrame):
            self._rejected = pd.DataFrame(list(self._rejected))
        return self._rejected

    def unserved(self, workloads) -> list[str]:
        """The workloads (ids, in their order) without a candidate: those whose explanation reads `rejected`."""
        served = set(self.table["workload"].to_numpy().tolist()) if len(self.table) else set()
        return [w for w in workloads if w not in served]


class Later:
    """`n` records that fn(*args) gives when first read (see Records); a module-level fn, so that sets of
    candidates pickle (sweeps send them to worker processes)."""

    def __init__(self, n: int, fn, *args) -> None:
        self.n, self.fn, self.args = n, fn, args

    def make(self) -> list[dict]:
        return self.fn(*self.args)


class Records(Sequence):
    """Rejection records, parts of them made only when first read (most solves never read them: only the
    explanation of a workload without candidates does). Parts: lists of records or `Later` ones."""

    def __init__(self, parts: list) -> None:
        self._parts = list(parts)
        self._flat: list[dict] | None = None

    def plus(self, parts: list) -> Records:
        return Records([*self._parts, *parts]) if parts else self

    def _records(self) -> list[dict]:
        if self._flat is None:
            flat: list[dict] = []
            for part in self._parts:
                flat += part.make() if isinstance(part, Later) else part
            self._flat = flat
        return self._flat

    def __len__(self) -> int:
        if self._flat is not None:
            return len(self._flat)
        return sum(part.n if isinstance(part, Later) else len(part) for part in self._parts)

    def __getitem__(self, i):
        return self._records()[i]

    def __iter__(self):
        return iter(self._records())


@dataclass(frozen=True)
class Evaluated:
    """The expensive part: every configuration of the grid run through the performance model. Shared by a
    cache between solves, so nothing downstream may modify it in place."""

    grid: pd.DataFrame  # the configurations (CONFIG_COLUMNS + workload, quality)
    results: pd.DataFrame  # the evaluated configurations that fit and meet the targets at some batch >= 1
    rejected: Records  # quality, precision support and perf rejections


# Bound on the verifier's memoized rows (one-row frames of ~12 KB each, measured on quickstart: <= ~50 MB in all)
# over a long sweep. A plan verifies ~10 rows and neighbouring scenarios share most of them, so this holds the
# rows of hundreds of scenarios; when full it is emptied, not trimmed: a row lost costs one prediction again.
PREDICTED_ROWS_LIMIT = 4096


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
            if len(memo) >= PREDICTED_ROWS_LIMIT:
                memo.clear()
            hit = memo[key] = make()
        return hit

    def known_prediction(self, key: tuple) -> pd.DataFrame | None:
        """The re-prediction `predicted` stored for `key`, None when it has none (nothing is made)."""
        return self._predicted.get(key)


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
    payload = [workloads, largest_domains(inst), *perf_data_key(catalog)]
    return hashlib.sha256(json.dumps(payload, default=list).encode()).hexdigest()


def perf_data_key(catalog: Catalog) -> tuple[str, str]:
    """What the performance model reads besides its rows: the catalog's performance data and the efficiency
    calibration (hashes)."""
    eff = efficiency_path()
    eff_hash = hashlib.sha256(eff.read_bytes()).hexdigest() if eff.is_file() else "builtin"
    return perf_fingerprint(catalog), eff_hash

def evaluate_configurations(inst: Instance, catalog: Catalog, perf: PerfFn | None = None) -> Evaluated:
    """The expensive part: the configuration grid through the performance model (latency-target search)."""
    grid, rejected = build_grid(inst, catalog)
    if grid.empty:
        return Evaluated(grid, pd.DataFrame(), Records([rejected]))
    grid = shared_prefill(grid)
    plain = (grid["speculative"] == "none").to_numpy()
    search = [w.id for w in inst.workloads.values() if w.prefill_layouts == "search"]
    # the rows in order where the passes below read them; else their one take is the serving rows' (`at`)
    res, at = evaluate_grid(grid if plain.all() else grid[plain], inst, catalog, perf, in_order=False)
    if search or not plain.all():
        res, at = (res if at is None else res.take(at).reset_index(drop=True)), None
    drafts = grid[~plain] if not plain.all() else grid.iloc[:0]  # (a boolean take of every column: skipped)
    if len(drafts):  # drafts only where they can shorten the step (see planner.optimize.variants)
        drafts = drafts[worth_drafting(res, drafts, catalog)]
        res = pd.concat([res, evaluate_grid(drafts, inst, catalog, perf)], ignore_index=True)
        grid = grid[plain | grid.index.isin(drafts.index)]
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
    ok = res["fits"].astype(bool).to_numpy() & (
        pd.to_numeric(res["batch"], errors="coerce").fillna(0).to_numpy() >= 1)
    # a unit whose phases use different group sizes must fill whole groups of the larger one (the MIP packs a
    # replica as gpus / group_gpus groups of group_gpus GPUs: conservative for the smaller groups)
    uneven = ok & (res["gpus"].to_numpy(dtype=np.int64) % np.maximum(prefill_group(res), 1) != 0)
    if at is not None:  # each row's flags in order (they are row by row)
        ok, uneven = ok[at], uneven[at]
    bad = np.flatnonzero(~ok | uneven)
    # the rows that serve in one take, without the grid row (a take and a column drop each cost a pass over
    # every column)
    cols = [i for i, c in enumerate(res.columns) if c != "grid_row"]
    good = np.flatnonzero(ok & ~uneven)
    serving = res.iloc[good if at is None else at[good], cols].reset_index(drop=True)
    idle = {sd.accelerator: sd.idle_w for sd in inst.systems.values()}
    # only the columns a rejection reads (every column of thousands of failed rows cost more), the failed rows
    # taken from them only if the rejections are read (`whole`: those that fit, with uneven groups)
    need = [c for c in (*_LABEL_COLUMNS, "serving", "reason", *PREFILL_LAYOUT) if c in res]
    labels = res.iloc[:, [res.columns.get_loc(c) for c in need]]
    return Evaluated(grid, prune_variants(serving, idle), Records(
        [rejected, Later(len(bad), _failed_records, labels, bad if at is None else at[bad], ok[bad])]))


def _failed_records(labels: pd.DataFrame, bad: np.ndarray, whole: np.ndarray) -> list[dict]:
    """The rejections of evaluated rows `bad` (of `labels`) that do not serve (`whole`: those that fit, with
    uneven groups)."""
    failed = labels.take(bad)
    reasons = [f"prefill and decode groups of different sizes do not fill whole groups of {q} GPUs" if o
               else str(x or "no batch meets the targets")
               for x, o, q in zip(failed["reason"].to_numpy(dtype=object).tolist(), whole.tolist(),
                                  prefill_group(failed).tolist(), strict=True)]
    return _rejections(failed, None, reasons)


def _oversized_records(res: pd.DataFrame, rows: np.ndarray, system: str, domain: int,
                       groups: np.ndarray) -> list[dict]:
    """The rejections of rows `rows` of `res` whose TP/EP group (`groups`) exceeds a system's scale-up domain."""
    why = f"-GPU scale-up domain of {system}"
    return _rejections(res.take(rows), system, [f"TP/EP group of {g} GPUs exceeds the {domain}{why}"
                                      for g in groups.tolist()])


def expand_candidates(ev: Evaluated, inst: Instance, catalog: Catalog) -> CandidateSet:
    """The cheap part: evaluated configurations -> deployable rows per system and own/rent, scale-up domain
    filter, stable keys, dominance pruning. Leaves `ev` untouched (it may be shared through a cache)."""
    grid, res = ev.grid, ev.results
    rejected: list = []  # parts after ev's
    stats = {"grid": len(grid)}
    if grid.empty:
        return CandidateSet(_empty(), ev.rejected.plus(rejected), stats)
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
            big = at[too_big]
            rejected.append(Later(len(big), _oversized_records, res, big, sd.id, sd.domain, group_all[big]))
        modes = (["own"] if (sd.buy or sd.existing) and _has_rack(inst, sd) else []) + (
            ["rent"] if sd.rent else []
        )
        parts += [(at[~too_big], sd.id, mode) for mode in modes]
    stats["evaluated"] = len(res)
    if not parts:
        return CandidateSet(_empty(), ev.rejected.plus(rejected), stats, _best_latency(inst, catalog, grid))
    idx = np.concatenate([p[0] for p in parts])
    sizes = [len(p[0]) for p in parts]
    systems = np.repeat(np.array([p[1] for p in parts], dtype=object), sizes)
    modes = np.repeat(np.array([p[2] for p in parts], dtype=object), sizes)
    multi_kv = {w.id for w in inst.workloads.values() if w.kv_precisions and len(w.kv_precisions) > 1}
    keys = expanded_keys(key_parts(res, multi_kv), idx, systems.tolist(), modes.tolist())
    # the expanded rows as positions until the end: unique by key in key order, pruned, then one take of `res`
    rows = _unique_by_key(keys)
    stats["feasible"] = len(rows)
    at = idx[rows]
    gpus = res["gpus"].to_numpy()[at].astype(int)
    idle = np.repeat(np.array([inst.systems[p[1]].idle_w for p in parts]), sizes)[rows]
    charged_w = res["avg_power_w"].to_numpy()[at] - gpus * idle  # what the MIP charges (prune.py)
    kept = rows[undominated(gpus, res["output_tok_s"].to_numpy()[at], charged_w, group_all[at],
                            [res["workload"].to_numpy()[at], systems[rows], modes[rows]])]
    stats["after_pruning"] = len(kept)
    cols = [c for c in res.columns if c not in ("fits", "reason")]
    table = res.iloc[idx[kept], [res.columns.get_loc(c) for c in cols]].reset_index(drop=True)
    table = with_columns(table, {"gpus": table["gpus"].astype(int), "system": systems[kept],
                                 "group_gpus": group_all[idx[kept]], "mode": modes[kept],
                                 "key": [keys[i] for i in kept.tolist()]})
    cs = CandidateSet(table, ev.rejected.plus(rejected), stats)
    missing = cs.unserved(inst.workloads)
    if missing:
        cs.best_latency = _best_latency(inst, catalog, grid[grid["workload"].isin(missing)])
    return cs


def _unique_by_key(keys: list[str]) -> np.ndarray:
    """Positions of the first row of each key, in key order: what
    table.drop_duplicates("key").sort_values("key", kind="stable") keeps, in its order (keys compare as Python
    strings: code point order, as pandas' string sort)."""
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    return np.array([first[k] for k in sorted(first)], dtype=np.int64)


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
        for w, m, p, a, lab, why in zip(*cols, layout_labels(rows), reasons, strict=True)
    ]


def _has_rack(inst: Instance, sd) -> bool:
    return not inst.racks or any(fits_rack(sd, r) for r in inst.racks.values())


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in CANDIDATE_COLUMNS})


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
