"""Per engine x vendor factors fitted on the rows under load and the published maxima, with LOSO errors.

`fit_engines(catalog, eff)`  per engine x vendor factors (eta_factor, moe_factor, seq_factor, step_s): a coarse
    deterministic grid search minimizing the mean |log error| of throughput and TPOT/ITL rows of that group
    (never per point), then the API-server time request_s from TTFT at light load with short prompts; with
    leave-one-source-out errors (everything re-chosen without the held-out source; an engine left with no
    rows borrows the pooled fit of the other stacks on that vendor). The fitted and held-out predictions run
    with each group's own request_s, so its serial intake in bursts shows in them (engine_api.py). Run by
    `python -m planner.perf.fit`.
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
# so this second grid keeps the MoE factor neutral (the union of both grids is searched)
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

    def best(self, mask: np.ndarray) -> int:
        """The combo with the least mean over sources of the mean |log error| on `mask` (neutral if empty)."""
        if not mask.any():
            return self.combos.index({k: ENGINE_NEUTRAL[k] for k in ENGINE_GRID})
        per_source = [np.nanmean(self.logs[:, mask & (self.sources == s)], axis=1)
                      for s in sorted(set(self.sources[mask]))]
        return nearest_neutral_best(np.nanmean(np.array(per_source), axis=0), self.far)

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


def _provenance(t: _Trials, rows: np.ndarray, eng: str, vendor: str, k: int, api: float) -> dict:
    """The efficiency.yaml entry of one engine x vendor: combo `k`'s factors and the API-server time, each with
    the rows and sources it was fitted from (and the runs left out)."""
    n, sources = t.n_load, t.sources
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
    thin = [s for s in own if underdetermined(rows & t.fitted & (sources != s))]
    alone = (f"; out of sample, with {' or '.join(thin)} held out (fewer rows left than factors), the pooled fit "
             f"of the other stacks on {vendor} stands in (closer on the held-out rows than neutral factors or "
             "any single other engine's fit, see loso_rows)") if thin else ""
    entry = {name: {"value": t.combos[k][name],
                    "fitted_from": f"serving_under_load.csv + published_benchmarks.csv throughput/TPOT/ITL p50 "
                                   f"rows of {eng} on {vendor} ({srcs}); grid search, mean over sources of the "
                                   f"mean |log error|{skipped}{alone}"}
             for name in ENGINE_GRID}
    api_srcs = ", ".join(sorted(set(sources[rows & t.light]))) or "none: 0"
    entry["request_s"] = {
        "value": round(api, REQUEST_S_DECIMALS),
        "fitted_from": f"serving_under_load.csv TTFT mean/p50 rows of {eng} on {vendor} at light load "
                       f"(<= {LIGHT_LOAD} requests, prompts <= {LIGHT_PROMPT} tokens; {api_srcs}): "
                       "median over sources of the median measured - modelled TTFT, the model run with this "
                       "request_s (its serial intake queues a light burst: a fixed point, engine_api.py)"}
    return entry


def _loso_load(t: _Trials, catalog: Catalog, eff: Efficiency, rows: np.ndarray, eng: str, vendor: str,
               chosen: np.ndarray) -> dict[str, tuple[int, float]]:
    """Per source of one engine x vendor group's rows under load: the grid combo and the API-server time
    request_s re-chosen with that source held out (its rows are predicted with them in fit_engines)."""
    n, sources = t.n_load, t.sources
    # out of sample, an engine x vendor with no rows left once `src` is held out is predicted as the
    # other engines on that vendor are (their pooled fit), not with neutral factors: the factors describe
    # a software stack, and the typical stack is a better guess for an unseen one than none at all
    vendor_rows, same_vendor = _vendor_rows(t.group, vendor)
    out = {}
    for src in sorted(set(sources[:n][rows[:n]])):
        kk = t.best(loso_rows(rows, same_vendor, t.fitted, sources, src, eng == "generic"))
        api = 0.0
        if eng != "generic":
            # with no light-load rows of this engine left, the other stacks on the vendor's machines (NIM
            # included) stand in for its API server, as for the factors
            api_mask = rows & (sources != src)
            if not (api_mask & t.light).any():
                api_mask = vendor_rows & (sources != src)
            api = api_fixed_point(t, catalog, eff, api_mask, np.where(rows, kk, chosen))
        out[src] = (kk, api)
    return out


def _loso_published(t: _Trials, rows: np.ndarray, vendor: str, pub_loso: np.ndarray) -> None:
    """The published maxima of one engine x vendor group with the engine factors re-chosen without their
    source (the serving factors stay those of the whole set: serving_cross_validation holds them out)."""
    n, sources = t.n_load, t.sources
    _, same_vendor = _vendor_rows(t.group, vendor)
    for src in sorted(set(sources[n:][rows[n:]])):
        held = rows[n:] & (sources[n:] == src)
        pub_loso[held] = t.values[t.best(loso_rows(rows, same_vendor, t.fitted, sources, src, False)), n:][held]


def _vendor_rows(group: np.ndarray, vendor: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of every engine on `vendor`, and of every named engine there (the generic one left out)."""
    vendor_rows = np.char.endswith(group.astype(str), "/" + vendor)
    return vendor_rows, vendor_rows & named_rows(group)


def fit_engines(catalog: Catalog, eff: Efficiency) -> tuple[dict, dict, pd.DataFrame]:
    """(engines section for efficiency.yaml, cross-validation stats, predictions with fitted and LOSO values).

    Fitted on both CSVs: the throughput and TPOT rows of serving_under_load.csv and the published maxima of
    published_benchmarks.csv run with their engine. Each source weighs the same within an engine x vendor
    group (the mean over sources of the mean |log error|), so one large source cannot drown the others."""
    t = _trials(catalog, eff)
    n, groups = t.n_load, sorted(set(t.group))
    out = t.base.copy()
    engines: dict = {}
    chosen = np.zeros(len(t.group), dtype=np.int64)  # the grid combo of each row's group, in sample
    for g in groups:
        chosen[t.group == g] = t.best((t.group == g) & t.fitted)
    api = {g: api_fixed_point(t, catalog, eff, t.group == g, chosen) if not g.startswith("generic/") else 0.0
           for g in groups}
    pub_in, pub_loso = np.full(len(t.pub), np.nan), np.full(len(t.pub), np.nan)  # published maxima, per engine
    loso: dict[str, dict[str, tuple[int, float]]] = {}  # held-out source -> group -> (combo, request_s)
    for g in groups:
        rows = t.group == g
        eng, vendor = g.split("/")
        k = int(chosen[rows][0])
        pub_in[rows[n:]] = t.values[k, n:][rows[n:]]
        if eng != "generic":
            engines.setdefault(eng, {})[vendor] = _provenance(t, rows, eng, vendor, k, api[g])
        _loso_published(t, rows, vendor, pub_loso)
        for src, choice in _loso_load(t, catalog, eff, rows, eng, vendor, chosen).items():
            loso.setdefault(src, {})[g] = choice
    # the rows under load run again with each group's request_s (the trials ran without it, engine_api.py): in
    # sample with the fitted factors, as `planner calibrate` runs them with efficiency.yaml...
    every = np.ones(n, dtype=bool)
    out["predicted"] = predict_rows(t, catalog, eff, every, engines)  # the section efficiency.yaml gets
    out["request_s"] = [api[g] for g in t.group[:n]]
    # ...and each source's rows with every group's factors and request_s re-chosen without that source
    out["predicted_loso"], out["request_s_loso"] = np.nan, np.nan
    for src, by_group in sorted(loso.items()):
        held = t.sources[:n] == src
        combo = chosen.copy()
        for g, (kk, _) in by_group.items():
            combo[t.group == g] = kk
        api_held = {g: a for g, (_, a) in by_group.items()}
        out.loc[held, "predicted_loso"] = predict_rows(t, catalog, eff, held, engines_section(t, combo, api_held,
                                                                                               held))
        out.loc[held, "request_s_loso"] = [api_held[g] for g in t.group[:n][held]]
    out["error_pct"] = (out["predicted"] / out["actual"] - 1.0) * 100.0
    out["loso_error_pct"] = (out["predicted_loso"] / out["actual"] - 1.0) * 100.0
    table = error_table(out)
    # the published maxima with each row's engine: in sample, and with the engine factors re-chosen without
    # the row's source
    published = {name: pct_summary((v / t.pub["actual"].to_numpy() - 1.0) * 100.0)
                 for name, v in (("in_sample", pub_in), ("leave_one_source_out", pub_loso))}
    return engines, {"groups": table.to_dict(orient="records"), "published": published}, out
