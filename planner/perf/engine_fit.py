"""Per engine x vendor factors fitted on the rows under load and the published maxima, with LOSO errors.

`fit_engines(catalog, eff)`  per engine x vendor factors (eta_factor, moe_factor, seq_factor, step_s): a coarse
    deterministic grid search minimizing the mean |log error| of throughput and TPOT/ITL rows of that group
    (never per point), then the API-server time request_s from TTFT at light load with short prompts; with
    leave-one-source-out errors (everything re-chosen without the held-out source; an engine left with no
    rows borrows the pooled fit of the other stacks on that vendor). The fitted and held-out predictions run
    with each group's own request_s, so its serial intake in bursts shows in them (engine_api.py). Run by
    `python -m planner.perf.fit`.
`choose`  the grid combo per row: per engine x vendor, or, with `family_split`, per engine x architecture
    family where the family qualifies (family_qualifies; its kernel efficiencies only, _family_fit), applied
    again with each source held out. The fit runs with it off (the default): benchmarks/engine_fit_family.py
    has the evidence.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import get_args

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.schema_base import Vendor
from planner.perf.engine_api import REQUEST_S_DECIMALS, api_fixed_point, engines_section, named_rows, predict_rows
from planner.perf.engines import ENGINE_NEUTRAL, acceptance_is_assumed, nearest_neutral_best, neutral_distance
from planner.perf.params import Efficiency
from planner.perf.serving_fidelity import error_table, load_predictions, pct_summary
from planner.perf.under_load_mapping import load_mapping, published_engine

FITTED_KINDS = ("throughput", "tpot")  # TTFT/ITL under load come from the queueing model: predicted, not fitted
# ...except the median inter-token gap, which is one decode step (the gaps a prompt chunk stretches are the tail):
# VKV's only decode-step figures (vLLM FP8-KV blog, concurrency 8 at ~20k context) are ITL p50
FITTED_STEP_STATS = (("itl", "p50"),)
ENGINE_GRID: dict[str, tuple[float, ...]] = {
    "eta_factor": (0.5, 0.65, 0.8, 1.0, 1.25, 1.5),
    "moe_factor": (0.5, 1.0, 1.5),
    "seq_factor": (0.0, 1.0, 3.0),
    "step_s": (0.0, 1e-3, 3e-3),
}
# Host-bound stacks (Python scheduling of every running sequence between steps: vLLM's V0 engine, TGI's Python
# model server) spend 0.2-1.3 ms a sequence a step, 20-100x the V1-era seq_overhead_s; their rows are dense models,
# so this second grid keeps the MoE factor neutral (the union of both grids is searched). SGLang/NVIDIA picks
# seq_factor 20 (0.25 ms a sequence a step) from it on GPUStack alone: its in-sample burst ITL p99 of 250.0 ms is
# 1,000 x 0.25 ms, 38-60 ms held out (engines.yaml sglang notes, benchmarks/itl_tail.py)
HOST_BOUND_GRID: dict[str, tuple[float, ...]] = {
    "eta_factor": (0.5, 0.65, 0.8, 1.0),
    "moe_factor": (1.0,),
    "seq_factor": (10.0, 20.0, 40.0, 80.0),
    "step_s": (0.0, 1e-3, 3e-3),
}


def engine_combos() -> list[dict[str, float]]:
    """Every factor set the engine fit tries: the main grid, then the host-bound one."""
    out = []
    for grid in (ENGINE_GRID, HOST_BOUND_GRID):
        names = list(grid)
        out += [dict(zip(names, v, strict=True)) for v in itertools.product(*grid.values())]
    return out


def underdetermined(mask: np.ndarray) -> bool:
    """Fewer rows than the engine fit has factors: one row of one source picks any of many factor sets."""
    return int(mask.sum()) < len(ENGINE_GRID)


def loso_rows(rows: np.ndarray, same_vendor: np.ndarray, fitted: np.ndarray, sources: np.ndarray, src: str,
              generic: bool) -> np.ndarray:
    """Rows an engine x vendor group is re-fitted on with source `src` held out: its own other sources, or, when
    fewer rows are left than the fit has factors (an underdetermined fit: one row of one other source picks any
    of many factor sets), every engine's rows on that vendor (the typical stack; neutral factors only for
    generic)."""
    mask = rows & fitted & (sources != src)
    if underdetermined(mask) and not generic:
        mask = same_vendor & fitted & (sources != src)
    return mask


# Runs reported but not fitted: (source, engine) -> why. Whole runs of a source, decided on the evidence, never
# single points; their in-sample figures are out of sample. Empty since the engine versions: dstack's vLLM 0.6.3
# runs (a gap to the model growing 1x -> 4x with batch, reported-only until then) are the V0 engine's (`vllm-v0`:
# 512-token steps, per-sequence host time on the critical path), fitted with the other V0 sources.
NOT_FITTED: dict[tuple[str, str], str] = {}


# Whole runs of one model on one engine, reported but not fitted, on the same evidence rule: the engine's first
# DeepSeek Sparse Attention path. GPUStack's page runs DeepSeek-V3.2 and DeepSeek-R1-0528 on the same 8x H200 and
# the same ShareGPT burst, where prompts stay below DSA's 2048-key top-k so V3.2 computes what R1 does plus a
# few-% indexer: TensorRT-LLM 1.2.0rc5 gives 823 output tok/s at TPOT 1,392 ms on V3.2 (16 of 1000 requests
# failed) against TensorRT-LLM 1.0's 1,619 / 221 ms on R1, SGLang 0.5.6 1,427 / 1,104 ms against SGLang 0.5.3's
# 3,172 / 420 ms; vLLM 0.13 runs both alike (2,702 / 275 vs 2,621 / 227). Fitting the two would charge every
# TensorRT-LLM model on NVIDIA 3 ms per step for one model's immature kernels (the fit moved step_s 1 -> 3 ms)
NOT_FITTED_MODEL_RUNS = {
    ("GPS", "trtllm", "deepseek-v3.2"): "TensorRT-LLM 1.2.0rc5's V3.2 (DSA) path: half its R1 throughput on "
                                        "the same page at 6x the TPOT",
    ("GPS", "sglang", "deepseek-v3.2"): "SGLang 0.5.6's V3.2 (DSA) path: 0.45x its R1 throughput on the same "
                                        "page at 2.6x the TPOT",
}


# Runs whose prediction rests on an input its source does not state pull no fitted figure either (the same
# whole-run rule: decided by what the run's inputs are, never by its error); reported, out of sample. Today one
# kind: a speculative run whose draft's acceptance engines.yaml marks `assumed` (copied from another model's
# draft): with the acceptance free, the factors would absorb its error. AMD's MI355X EAGLE-3 runs (REAG) of
# Kimi-K2.5 and MiniMax-M2.5 were vLLM/AMD's only MoE rows, and with AMDDOC held out they alone set vLLM/AMD's
# factors (AMDDOC's dense MI300X rows 8.5% -> 34% median); their no-speculation runs of the same page stay fitted.
# Checked and kept: the vLLM MI300X blog's ShareGPT run (VAMD) states no token totals, and its lengths are the
# same dataset and filter's per-request means measured on 29 other runs (under_load_mapping.SHAREGPT_MEAN_TOKENS,
# within 2% across five tokenizers): a measured property of the dataset, not a figure copied from another object
ASSUMED_INPUTS = ("speculative acceptance assumed (engines.yaml)",)


def assumed_inputs(res: pd.DataFrame, catalog: Catalog) -> np.ndarray:
    """Per row, which assumed input its prediction rests on (an ASSUMED_INPUTS entry), or ''."""
    out = np.full(len(res), "", dtype=object)
    for i, r in enumerate(res.itertuples(index=False)):
        spec, model = str(getattr(r, "speculative", "none")), str(getattr(r, "model", ""))
        if acceptance_is_assumed(catalog, str(r.engine), spec, model):
            out[i] = ASSUMED_INPUTS[0]
    return out


def _not_fitted(res: pd.DataFrame) -> np.ndarray:
    model = res["model"] if "model" in res else pd.Series("", index=res.index)
    return np.array([(s, e) in NOT_FITTED or (s, e, m) in NOT_FITTED_MODEL_RUNS
                     for s, e, m in zip(res["source_family"], res["engine"], model, strict=True)], dtype=bool)


LIGHT_LOAD = 8  # requests in flight (closed-loop concurrency or burst size) that count as light load
LIGHT_PROMPT = 1024  # prompt tokens below which the prefill is a few ms


def _light_ttft_rows(res: pd.DataFrame) -> np.ndarray:
    """TTFT mean/p50 rows at light load with short prompts: what is left of TTFT there is the API server."""
    n_flight = np.where(res["load"] == "burst", res["num_requests"], res["concurrency"]).astype(float)
    return ((res["kind"] == "ttft").to_numpy() & res["stat"].isin(("mean", "p50")).to_numpy()
            & (n_flight <= LIGHT_LOAD) & (res["isl"].to_numpy(dtype=float) <= LIGHT_PROMPT))


def _with_engines(eff: Efficiency, factors: dict[str, float], engine_ids) -> Efficiency:
    vendors = get_args(Vendor)
    return dataclasses.replace(eff, engines={e: {v: dict(factors) for v in vendors} for e in engine_ids})


def _group(res: pd.DataFrame, catalog: Catalog) -> np.ndarray:
    vendor = res["accelerator"].map(lambda a: catalog.accelerators[a].vendor)
    return (res["engine"].replace("", "generic") + "/" + vendor).to_numpy()


def _published_rows(catalog: Catalog) -> pd.DataFrame:
    from planner.perf.fidelity import published_mapping

    pub = published_mapping(catalog)
    pub = pub[pub["expressible"] & (pub["metric_kind"] == "throughput")].copy()
    pub["engine"] = [published_engine(f, d) for f, d in zip(pub["framework"], pub["date"], strict=True)]
    return pub


@dataclass(frozen=True, eq=False)
class _Trials:
    """Every grid combo's prediction of every row the fit sees: the rows under load (`base`), then the published
    maxima (`pub`); the arrays run over both, `values[combo, row]`."""

    combos: list[dict[str, float]]
    base: pd.DataFrame
    pub: pd.DataFrame
    values: np.ndarray
    logs: np.ndarray  # |log(predicted / actual)|, NaN where not finite
    actual: np.ndarray
    sources: np.ndarray
    group: np.ndarray  # 'engine/vendor'
    fitted: np.ndarray
    light: np.ndarray  # TTFT rows at light load with short prompts: the API server's time
    assumed: np.ndarray  # the assumed input a row rests on (ASSUMED_INPUTS), '' where none: never fitted
    far: np.ndarray  # each combo's distance from neutral factors: ties go to the nearest

    @property
    def n_load(self) -> int:
        return len(self.base)

    def loss(self, mask: np.ndarray) -> np.ndarray:
        """Per combo, the mean over sources of the mean |log error| on `mask` (not empty)."""
        per_source = [np.nanmean(self.logs[:, mask & (self.sources == s)], axis=1)
                      for s in sorted(set(self.sources[mask]))]
        return np.nanmean(np.array(per_source), axis=0)

    def best(self, mask: np.ndarray) -> int:
        """The combo with the least mean over sources of the mean |log error| on `mask` (neutral if empty)."""
        if not mask.any():
            return self.combos.index({k: ENGINE_NEUTRAL[k] for k in ENGINE_GRID})
        return nearest_neutral_best(self.loss(mask), self.far)

    def api_s(self, mask: np.ndarray, combo_of_row: np.ndarray, wait_ms: np.ndarray | None = None) -> float:
        """API-server time per request: the median (over sources, of the median over rows) of measured minus
        modelled TTFT at light load with short prompts, where the prefill is a few ms; never negative.
        `wait_ms` (per row, default none) is the wait at the API server's serial intake the model adds to a
        row with the candidate request_s (arrivals.py): see api_fixed_point."""
        mask = mask & self.light
        if not mask.any():
            return 0.0
        idx = np.flatnonzero(mask)
        resid = self.actual[idx] - self.values[combo_of_row[idx], idx]
        if wait_ms is not None:
            resid = resid - wait_ms[idx]
        med = [np.nanmedian(resid[self.sources[idx] == s]) for s in sorted(set(self.sources[idx]))]
        return max(float(np.nanmedian(med)), 0.0) * 1e-3  # the CSV's latencies are in ms


def _trials(catalog: Catalog, eff: Efficiency) -> _Trials:
    """Both CSVs' rows predicted with every combo of the grid on every engine at once."""
    from planner.perf.fidelity import published_predictions

    mapped = load_mapping(catalog)
    pub = _published_rows(catalog)
    combos = engine_combos()
    preds, pub_preds = [], []
    for f in combos:
        trial = _with_engines(eff, f, catalog.engines)
        preds.append(load_predictions(mapped, catalog, trial))
        pub_preds.append(published_predictions(pub, catalog, trial)["predicted"].to_numpy())
    base = preds[0]
    kinds = base["kind"].isin(FITTED_KINDS).to_numpy().copy()
    for kind, stat in FITTED_STEP_STATS:
        kinds |= ((base["kind"] == kind) & (base["stat"] == stat)).to_numpy()
    why_assumed = assumed_inputs(base, catalog)
    assumed = why_assumed != ""
    fitted = np.concatenate([kinds & (base["engine"] != "").to_numpy() & ~_not_fitted(base) & ~assumed,
                             np.ones(len(pub), dtype=bool)])
    actual = np.concatenate([base["actual"].to_numpy(), pub["actual"].to_numpy()])
    values = np.array([np.concatenate([p["predicted"].to_numpy(), q]) for p, q in zip(preds, pub_preds,
                                                                                       strict=True)])
    logs = np.abs(np.log(values / actual))
    return _Trials(combos=combos, base=base, pub=pub, values=values,
                   logs=np.where(np.isfinite(logs), logs, np.nan), actual=actual,
                   sources=np.concatenate([base["source_family"].to_numpy(), pub["source_family"].to_numpy()]),
                   group=np.concatenate([_group(base, catalog), _group(pub, catalog)]), fitted=fitted,
                   light=np.concatenate([_light_ttft_rows(base) & ~assumed, np.zeros(len(pub), dtype=bool)]),
                   assumed=np.concatenate([why_assumed, np.full(len(pub), "", dtype=object)]),
                   far=np.array([neutral_distance(f) for f in combos]))


# An engine's factors are fitted per architecture family (Hopper, Blackwell, CDNA 3, ...) where the family's own
# rows can carry a fit, else per vendor (every family's rows pooled). TensorRT-LLM's NVIDIA rows pull apart by
# generation: its Hopper maxima run 0.75-0.82x the model's time at eta 0.8, its Blackwell NVFP4 maxima within 2%
# (benchmarks/engine_fit_selection.py), and one set of factors for both bought the gap back with 3 ms a step.
# The rule, decided before looking at which family it splits: a family of one engine gets its own fit when its
# fitted rows come from at least FAMILY_MIN_SOURCES sources (one source's run conditions cannot pass for the
# family's), are not underdetermined, and the engine has fitted rows of another family on that vendor (else the
# family's fit is the vendor's). Leave-one-source-out applies the rule again without the held-out source.
FAMILY_MIN_SOURCES = 2
# The fit runs with family_split off (fit_engines' default): evaluated 2026-12-01 (benchmarks/engine_fit_family.py)
# the split's one effect is TensorRT-LLM on Hopper at eta 1.0 (NVIDIA's own Hopper maxima), which helps the
# published maxima (LOSO median 16.6 -> 15.8%) and hurts GPUStack's TensorRT-LLM runs on H100 under load (a third
# party's runs of the same family, throughput LOSO 27 -> 43% on its 10 rows): issue-8 throughput LOSO 20.5 ->
# 22.2%, ITL p99 42.9 -> 44.4%, TPOT mean 27.0 -> 26.1%. Not better overall; turn it on once NVIDIA's and
# GPUStack's Hopper runs are reconciled


def family_qualifies(family_rows: np.ndarray, engine_vendor_rows: np.ndarray, family: np.ndarray,
                     sources: np.ndarray) -> bool:
    """Whether the fitted rows `family_rows` (one engine, one architecture family) carry a fit of their own, out
    of `engine_vendor_rows` (the engine's fitted rows on that vendor); `family` and `sources` per row."""
    return (len(set(sources[family_rows])) >= FAMILY_MIN_SOURCES and not underdetermined(family_rows)
            and len(set(family[engine_vendor_rows])) > 1)


def row_families(t: _Trials, catalog: Catalog) -> np.ndarray:
    """Each row's accelerator architecture family (schemas.Accelerator.family), rows under load then maxima."""
    accs = np.concatenate([t.base["accelerator"].to_numpy(), t.pub["accelerator"].to_numpy()])
    return np.array([catalog.accelerators[a].family for a in accs], dtype=object)


HOST_FACTORS = ("seq_factor", "step_s")  # host time: one per engine x vendor, whatever the GPU's family


def _family_fit(t: _Trials, rows: np.ndarray, train: np.ndarray, families: dict[str, np.ndarray]
                ) -> tuple[int, dict[str, int]]:
    """(vendor combo, {family: combo}) of one engine x vendor group with qualified families, in two stages: the
    vendor's pooled fit on all its rows (the entry for its other and unseen families), then each family's
    kernel-efficiency factors (eta, moe) at the pooled fit's host factors (HOST_FACTORS: time per sequence and
    per step outside the GPU's kernels, the same host whatever GPU it drives). Fitted jointly instead, the
    host factors trade against the families' efficiencies: TensorRT-LLM's Hopper and Blackwell rows each
    took 3 ms a step, which caps DeepSeek-R1 on NVL72 at a third of HGX B200's tokens per GPU at TPOT 10 ms
    (published: several times more; test_perf_engines; benchmarks/engine_fit_family.py)."""
    pooled = t.best(rows & train)
    host = [tuple(c[k] for k in HOST_FACTORS) for c in t.combos]
    other_host = np.where([h == host[pooled] for h in host], 0.0, np.inf)
    return pooled, {f: nearest_neutral_best(t.loss(mask & train) + other_host, t.far) for f, mask in
                    families.items()}


def choose(t: _Trials, family: np.ndarray, src: str | None = None, published: bool = False,
           family_split: bool = False) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(grid combo, fit key) per row and the vendor entry's combo per engine x vendor group: each group's
    pooled combo, with `family_split` replaced on the rows of a family that qualifies (family_qualifies) by
    that family's own (_family_fit), whose key is 'engine/family' (else 'engine/vendor'). With `src` held out
    everything is chosen again without it, the pooled fit borrowing the vendor's other stacks where its own
    rows are too few (loso_rows; `published`: the maxima's LOSO, which borrows them for the generic engine
    too)."""
    train = t.fitted & (t.sources != src) if src is not None else t.fitted
    combo = np.zeros(len(t.group), dtype=np.int64)
    key = t.group.astype(object).copy()
    pooled: dict[str, int] = {}
    for g in sorted(set(t.group)):
        rows = t.group == g
        eng, vendor = g.split("/")
        if src is None:
            pooled[g] = t.best(rows & t.fitted)
        else:
            same_vendor = _vendor_rows(t.group, vendor)[1]
            pooled[g] = t.best(loso_rows(rows, same_vendor, t.fitted, t.sources, src,
                                         eng == "generic" and not published))
        combo[rows] = pooled[g]
        if eng == "generic" or not family_split:
            continue  # the generic engine has no entry in efficiency.yaml: nothing to split
        own = {f: rows & (family == f) for f in sorted(set(family[rows]))
               if family_qualifies(rows & (family == f) & train, rows & train, family, t.sources)}
        if own:  # a qualified family has >= ENGINE_GRID rows: the group's own rows are enough (no loso_rows)
            pooled[g], fits = _family_fit(t, rows, train, own)
            combo[rows] = pooled[g]
            for f, mask in own.items():
                combo[mask], key[mask] = fits[f], f"{eng}/{f}"
    return combo, key, pooled


def _provenance(t: _Trials, rows: np.ndarray, eng: str, where: str, k: int, api: float,
                vendor: str | None = None) -> dict:
    """The efficiency.yaml entry of one engine on `where` (a vendor, or an architecture family of `vendor`):
    combo `k`'s factors and the API-server time, each with the rows and sources it was fitted from (and the
    runs left out)."""
    n, sources, vendor = t.n_load, t.sources, vendor or where
    own = sorted(set(sources[rows & t.fitted]))
    srcs = ", ".join(f"{s} {int((rows & t.fitted & (sources == s)).sum())}" for s in own)
    skipped = "".join(f"; not fitted: {s} ({NOT_FITTED[(s, eng)]})" for s in sorted(set(sources[rows]))
                      if (s, eng) in NOT_FITTED)
    skipped += "".join(f"; not fitted: {s} {m} ({why})" for (s, e, m), why in NOT_FITTED_MODEL_RUNS.items()
                       if (rows[:n] & (sources[:n] == s) & (t.base["model"] == m).to_numpy()).any() and e == eng)
    for why in ASSUMED_INPUTS:
        left = sorted(set(sources[rows & (t.assumed == why)]))
        skipped += "".join(f"; not fitted: {s} {int((rows & (t.assumed == why) & (sources == s)).sum())} rows "
                           f"({why})" for s in left)
    if where != vendor:  # a family's own fit
        fams = (f", architecture family {where} only (family_qualifies: >= {FAMILY_MIN_SOURCES} sources; "
                f"{' and '.join(HOST_FACTORS)} those of {eng} on {vendor}: _family_fit)")
        alone = (f"; out of sample, a held-out source that leaves the family short of the rule hands its rows to "
                 f"the pooled fit of {eng} on {vendor}")
    else:
        fams = ""
        thin = [s for s in own if underdetermined(rows & t.fitted & (sources != s))]
        alone = (f"; out of sample, with {' or '.join(thin)} held out (fewer rows left than factors), the "
                 f"pooled fit of the other stacks on {vendor} stands in (closer on the held-out rows than neutral "
                 "factors or any single other engine's fit, see loso_rows)") if thin else ""
    entry = {name: {"value": t.combos[k][name],
                    "fitted_from": f"serving_under_load.csv + published_benchmarks.csv throughput/TPOT/ITL p50 "
                                   f"rows of {eng} on {vendor}{fams} ({srcs}); grid search, mean over sources of "
                                   f"the mean |log error|{skipped}{alone}"}
             for name in ENGINE_GRID}
    api_srcs = ", ".join(sorted(set(sources[(t.group == f"{eng}/{vendor}") & t.light])))
    entry["request_s"] = {
        "value": round(api, REQUEST_S_DECIMALS),
        "fitted_from": f"serving_under_load.csv TTFT mean/p50 rows of {eng} on {vendor} at light load "
                       f"(<= {LIGHT_LOAD} requests, prompts <= {LIGHT_PROMPT} tokens; {api_srcs or 'none: 0'}): "
                       "median over sources of the median measured - modelled TTFT, the model run with this "
                       "request_s (its serial intake queues a light burst: a fixed point, engine_api.py)"}
    return entry


def _request_s(t: _Trials, catalog: Catalog, eff: Efficiency, rows: np.ndarray, combo: np.ndarray,
               key: np.ndarray, src: str | None) -> float:
    """request_s of one named engine x vendor group (`rows`), from its light-load rows (in sample: none gives
    0), with `src` held out; out of sample with none of them left, the other stacks on the vendor's machines
    (NIM included) stand in for its API server, as for the factors."""
    held = t.sources != src if src is not None else np.ones(len(rows), dtype=bool)
    api_mask = rows & held
    if src is not None and not (api_mask & t.light).any():
        vendor = str(t.group[rows][0]).split("/")[1]
        api_mask = _vendor_rows(t.group, vendor)[0] & held
    return api_fixed_point(t, catalog, eff, api_mask, combo, key)


def _vendor_rows(group: np.ndarray, vendor: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of every engine on `vendor`, and of every named engine there (the generic one left out)."""
    vendor_rows = np.char.endswith(group.astype(str), "/" + vendor)
    return vendor_rows, vendor_rows & named_rows(group)


def fit_engines(catalog: Catalog, eff: Efficiency, family_split: bool = False,
                trials: _Trials | None = None) -> tuple[dict, dict, pd.DataFrame]:
    """(engines section for efficiency.yaml, cross-validation stats, predictions with fitted and LOSO values).

    Fitted on both CSVs: the throughput and TPOT rows of serving_under_load.csv and the published maxima of
    published_benchmarks.csv run with their engine. Each source weighs the same within a group (the mean over
    sources of the mean |log error|), so one large source cannot drown the others. A group is the engine x
    vendor pool, or with `family_split` an engine x architecture family where the family qualifies
    (family_qualifies; off in the fit: see FAMILY_MIN_SOURCES' note). `trials`: _trials(catalog, eff) if given."""
    t = _trials(catalog, eff) if trials is None else trials
    family = row_families(t, catalog)
    n, groups = t.n_load, sorted(set(t.group))
    out = t.base.copy()
    # the grid combo and fit key of each row, in sample
    chosen, key, pooled = choose(t, family, family_split=family_split)
    api = {g: _request_s(t, catalog, eff, t.group == g, chosen, key, None) if not g.startswith("generic/")
           else 0.0 for g in groups}
    engines: dict = {}
    for g in groups:
        eng, vendor = g.split("/")
        if eng == "generic":
            continue
        rows = t.group == g
        # the vendor's pooled fit (every family's rows) is written even where each family has its own: it is
        # the fit for the engine's other and unseen families on that vendor
        engines.setdefault(eng, {})[vendor] = _provenance(t, rows, eng, vendor, pooled[g], api[g])
        for k_name in sorted(set(key[rows]) - {g}):
            mine, fam = key == k_name, k_name.split("/")[1]
            engines[eng][fam] = _provenance(t, mine, eng, fam, int(chosen[mine][0]), api[g], vendor)
    pub_in = t.values[chosen[n:], n + np.arange(len(t.pub))]  # published maxima, per engine
    pub_loso = np.full(len(t.pub), np.nan)
    # the rows under load run again with each group's request_s (the trials ran without it, engine_api.py): in
    # sample with the fitted factors, as `planner calibrate` runs them with efficiency.yaml...
    every = np.ones(n, dtype=bool)
    out["predicted"] = predict_rows(t, catalog, eff, every, engines)  # the section efficiency.yaml gets
    out["request_s"] = [api[g] for g in t.group[:n]]
    # ...and each source's rows with every group's factors and request_s re-chosen without that source (the
    # serving factors stay those of the whole set: serving_cross_validation holds them out)
    out["predicted_loso"], out["request_s_loso"] = np.nan, np.nan
    for src in sorted(set(t.sources)):
        held = t.sources == src
        if held[n:].any():
            combo_pub = choose(t, family, src, published=True, family_split=family_split)[0]
            pub_loso[held[n:]] = t.values[combo_pub[n:], n + np.arange(len(t.pub))][held[n:]]
        if not held[:n].any():
            continue
        combo_loso, key_loso, _ = choose(t, family, src, family_split=family_split)
        api_held = {}
        for g in sorted(set(t.group[:n][held[:n]])):
            # the group's rows with its held-out choice, the other engines' rows (a fallback's light rows) as
            # in sample
            mine = t.group == g
            api_held[g] = 0.0 if g.startswith("generic/") else _request_s(
                t, catalog, eff, mine, np.where(mine, combo_loso, chosen), np.where(mine, key_loso, key), src)
        combo = np.where(held, combo_loso, chosen)
        out.loc[held[:n], "predicted_loso"] = predict_rows(t, catalog, eff, held[:n],
                                                           engines_section(t, combo, api_held, held[:n], key_loso))
        out.loc[held[:n], "request_s_loso"] = [api_held[g] for g in t.group[:n][held[:n]]]
    out["error_pct"] = (out["predicted"] / out["actual"] - 1.0) * 100.0
    out["loso_error_pct"] = (out["predicted_loso"] / out["actual"] - 1.0) * 100.0
    table = error_table(out).to_dict(orient="records")
    # the published maxima with each row's engine: in sample, and with the engine factors re-chosen without
    # the row's source
    published = {name: pct_summary((v / t.pub["actual"].to_numpy() - 1.0) * 100.0)
                 for name, v in (("in_sample", pub_in), ("leave_one_source_out", pub_loso))}
    rows = t.pub.assign(predicted=pub_in, predicted_loso=pub_loso)  # per row: fit.py writes them (loso_rows.py)
    return engines, {"groups": table, "published": published, "published_rows": rows}, out
