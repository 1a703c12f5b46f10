"""Fidelity: the model's predictions next to every measured and published number it can express.

`measured_fidelity(catalog)`  one row per op-table row (gemm, moe_bmm, attn_dec, attn_pre, copy, e2e_dec,
    e2e_pre): source (file:line), accelerator, op, what, predicted_s, actual_s, error_pct (predicted/actual-1,
    in %), abs_error_pct, used_in_fit (False = held out).
`published_fidelity(catalog)`  one row per published benchmark: id, source_family, model_id, accelerator,
    precision, kv_precision, tp, ep, attn_dp, isl, osl, mode ('max_throughput' | 'static_batch'), batch,
    metric_kind ('throughput' | 'latency'), compare ('output_tok_s' | 'output_tok_s_per_gpu' | 'e2e_latency_s'),
    actual, predicted, error_pct, abs_error_pct, expressible, why_not, predicted_batch, date, framework.
`summary(measured, published)`  dict of headline numbers: median / P90 abs % error overall, per accelerator,
    per model family, and Spearman rank correlation of accelerators within each model/workload.
`fidelity_report(catalog)`  all three at once.
Mapping rules (read from the `unit`/`notes`/`system` columns; stated, never per point): TRT10/TRT0190/TRT0200
values are output tok/s of the whole TP group (one replica); TRTDG values are per GPU; AMDDOC throughput is
compared as output tok/s (the page does not say; flagged `ambiguous`); OCI and AMDDOC latency rows are static
batches: latency = prefill of the batch + osl decode steps at the average context. Each row runs with the engine
its `framework` names (TensorRT-LLM or vLLM: fitted factors and defaults, as the engine fit reads the rows);
the generic-engine figure the serving factors are fitted on is reported beside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.evaluate import max_batch_meeting
from planner.perf.measured import e2e_grid, load_ops, predict_e2e_rows, predict_op_rows
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.serving import static_batch

PUBLISHED_PATH = Path(__file__).resolve().parents[2] / "catalogs" / "calibration" / "published_benchmarks.csv"
GPU_IDS = {"H100-SXM-80GB": "h100-sxm", "H200-SXM-141GB": "h200-sxm", "B200-180GB": "b200", "GB200": "gb200",
           "MI300X-192GB": "mi300x"}
MODEL_RULES = (  # (regex on the published model name, catalog id)
    (r"^Llama-3\.1-8B", "llama-3.1-8b"), (r"^Llama-3\.3-70B", "llama-3.3-70b"),
    (r"^Llama-3\.1-70B", "llama-3.1-70b"), (r"^Llama-3\.1-405B", "llama-3.1-405b"),
    (r"^Qwen3-235B", "qwen3-235b-a22b"), (r"^Llama-4-Maverick", "llama-4-maverick"),
    (r"^DeepSeek-R1", "deepseek-r1"), (r"^gpt-oss-120b", "gpt-oss-120b"), (r"^gpt-oss-20b", "gpt-oss-20b"),
)
BLACKWELL = {"b200", "gb200", "b300", "gb300"}
USED_IN_FIT = {"gemm", "attn_dec", "attn_pre", "power"}


# ----------------------------------------------------------------------------------------------- measured
def measured_fidelity(catalog: Catalog, eff: Efficiency | None = None) -> pd.DataFrame:
    eff = eff if eff is not None else load_efficiency(catalog)
    ops = load_ops()
    if ops.empty:
        return pd.DataFrame()
    op_rows = ops[ops["op"].isin(["gemm", "moe_bmm", "attn_dec", "attn_pre", "copy"])].copy()
    op_rows["predicted_s"] = predict_op_rows(op_rows, catalog, eff)
    e2e = e2e_grid(ops)
    e2e["predicted_s"] = predict_e2e_rows(e2e, catalog, eff)
    rows = pd.concat([op_rows, e2e], ignore_index=True)
    rows["actual_s"] = rows["time_us"] * 1e-6

    def what(r) -> str:
        if r["op"] in ("gemm", "moe_bmm"):
            e = f"{r['experts']:.0f}x " if r["op"] == "moe_bmm" else ""
            return f"{r['dtype']} {r['shape']} {e}m={r['m']:.0f}"
        if r["op"] == "attn_dec":
            return f"heads {r['heads']:.0f}/{r['kv_heads']:.0f} batch {r['batch']:.0f} kv {r['kv_len']:.0f}"
        if r["op"] == "attn_pre":
            return f"heads {r['heads']:.0f}/{r['kv_heads']:.0f} seq {r['seq']:.0f}"
        if r["op"] == "e2e_dec":
            return f"{r['model']} {r['dtype']} batch {r['batch']:.0f} kv {r['kv_len']:.0f}"
        if r["op"] == "e2e_pre":
            return f"{r['model']} {r['dtype']} seq {r['seq']:.0f}"
        return f"{r['bytes'] / 2**30:.0f} GiB copy"

    out = pd.DataFrame({
        "source": rows["source"], "accelerator": rows["accelerator"], "op": rows["op"],
        "what": [what(r) for _, r in rows.iterrows()],
        "predicted_s": rows["predicted_s"], "actual_s": rows["actual_s"],
    })
    fit_e2e = (rows["op"] == "e2e_dec") & (rows["model"] == "llama-3.1-8b")
    out["used_in_fit"] = rows["op"].isin(USED_IN_FIT) | fit_e2e
    out["error_pct"] = (out["predicted_s"] / out["actual_s"] - 1.0) * 100.0
    out["abs_error_pct"] = out["error_pct"].abs()
    return out


# ---------------------------------------------------------------------------------------------- published
def _family(row_id: str) -> str:
    return row_id.split("-")[0]


def _map_row(r: pd.Series, catalog: Catalog) -> dict:
    out: dict = {"id": r["id"], "source_family": _family(r["id"]), "actual": float(r["value"]),
                 "date": r["date"], "framework": r["framework"], "expressible": True, "why_not": "",
                 "ambiguous": False}
    model = next((mid for pat, mid in MODEL_RULES if re.search(pat, str(r["model"]))), None)
    acc = GPU_IDS.get(str(r["gpu"]))
    out["model_id"], out["accelerator"] = model, acc
    if model is None or model not in catalog.models:
        return out | {"expressible": False, "why_not": f"model {r['model']!r} not in the catalog"}
    if acc is None or acc not in catalog.accelerators:
        return out | {"expressible": False, "why_not": f"gpu {r['gpu']!r} not in the catalog"}
    prec_label = str(r["precision"]).upper()
    gpt_oss = model.startswith("gpt-oss")
    if gpt_oss:
        precision = "mxfp4"  # gpt-oss ships MXFP4 experts: weight-only on Hopper, native on Blackwell
    elif prec_label.startswith("FP4"):
        precision = "nvfp4" if acc in BLACKWELL else "mxfp4"
    elif prec_label.startswith("FP8"):
        precision = "fp8"
    else:
        return out | {"expressible": False, "why_not": f"precision {r['precision']!r} not mapped"}
    fam = out["source_family"]
    # KV cache: NVIDIA ModelOpt FP8/NVFP4 checkpoints and AMD '-FP8-KV' carry an FP8 KV cache; gpt-oss runs
    # 'KV dtype auto' (bf16); the 2024 OCI vLLM runs used the default bf16 cache.
    kv = "bf16" if gpt_oss or fam == "OCI" else "fp8"
    system = str(r["system"])
    tp = ep = dp = 1
    if m := re.search(r"\bDEP(\d+)", system):
        dp = ep = int(m.group(1))
    elif m := re.search(r"\bTP(\d+)", system):
        tp = int(m.group(1))
        ep = tp if catalog.models[model].moe is not None else 1  # TensorRT-LLM runs MoE experts EP over the group
    elif fam in ("AMDDOC", "OCI"):
        tp = int(r["num_gpus"])  # notes: single TP8 instance
    else:
        return out | {"expressible": False, "why_not": f"parallelism not found in {system!r}"}
    out.update({"precision": precision, "kv_precision": kv, "tp": tp, "pp": 1, "ep": ep, "attn_dp": dp,
                "isl": int(r["isl"]), "osl": int(r["osl"])})
    batch_m = re.search(r"batch=(\d+)", str(r["concurrency_or_batch"]))
    metric, unit = str(r["metric"]), str(r["unit"])
    if metric == "e2e_latency_s":
        if not batch_m:
            return out | {"expressible": False, "why_not": "latency row without a batch size"}
        return out | {"mode": "static_batch", "batch": int(batch_m.group(1)), "metric_kind": "latency",
                      "compare": "e2e_latency_s"}
    if batch_m:  # OCI benchmark_latency: output tok/s of a static batch
        return out | {"mode": "static_batch", "batch": int(batch_m.group(1)), "metric_kind": "throughput",
                      "compare": "output_tok_s"}
    compare = "output_tok_s_per_gpu" if "/GPU" in unit else "output_tok_s"
    return out | {"mode": "max_throughput", "batch": np.nan, "metric_kind": "throughput", "compare": compare,
                  "ambiguous": "not stated" in unit}


def published_mapping(catalog: Catalog, path: Path = PUBLISHED_PATH) -> pd.DataFrame:
    """Every published row mapped onto model inputs (or marked not expressible with the reason)."""
    pub = pd.read_csv(path)
    return pd.DataFrame([_map_row(r, catalog) for _, r in pub.iterrows()])


def published_predictions(mapped: pd.DataFrame, catalog: Catalog, eff: Efficiency) -> pd.DataFrame:
    """Predicted value per expressible mapped row (column `predicted`, `predicted_batch`)."""
    res = mapped[mapped["expressible"]].copy()
    res["predicted"] = np.nan
    res["predicted_batch"] = np.nan
    cfg_cols = ["model_id", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "isl", "osl"]
    cfg_cols += ["engine"] if "engine" in res else []  # the row's engine (published_fidelity, the engine fit)
    mt = res[res["mode"] == "max_throughput"]
    if len(mt):
        grid = mt[cfg_cols].rename(columns={"model_id": "model"}).reset_index(drop=True)
        best = max_batch_meeting(grid, catalog, efficiency=eff)
        vals = np.where(mt["compare"].to_numpy() == "output_tok_s_per_gpu", best["output_tok_s_per_gpu"],
                        best["output_tok_s"])
        res.loc[mt.index, "predicted"] = vals
        res.loc[mt.index, "predicted_batch"] = best["batch"].to_numpy()
        res.loc[mt.index, "why_not"] = best["reason"].to_numpy()
    st = res[res["mode"] == "static_batch"]
    if len(st):
        grid = st[[*cfg_cols, "batch"]].rename(columns={"model_id": "model"}).reset_index(drop=True)
        c, reason = resolve(normalize_grid(grid), catalog, eff)
        latency = static_batch(c, eff.serving)
        latency = np.where(reason == "", latency, np.nan)
        tok_s = c.batch * c.osl / latency
        vals = np.where(st["compare"].to_numpy() == "e2e_latency_s", latency, tok_s)
        res.loc[st.index, "predicted"] = vals
        res.loc[st.index, "predicted_batch"] = st["batch"].to_numpy()
        res.loc[st.index, "why_not"] = reason
    return res


def published_fidelity(catalog: Catalog, eff: Efficiency | None = None, engines: bool = True) -> pd.DataFrame:
    """Published rows run with the engine each names in `framework` (TensorRT-LLM, vLLM: its fitted factors
    and defaults, as the engine fit reads them); `engines=False`: the generic engine, as the serving factors
    are fitted (`serving_cross_validation`)."""
    from planner.perf.under_load_mapping import published_engine

    eff = eff if eff is not None else load_efficiency(catalog)
    mapped = published_mapping(catalog)
    if engines:
        mapped["engine"] = [published_engine(f, d)
                            for f, d in zip(mapped["framework"], mapped["date"], strict=True)]
    pred = published_predictions(mapped, catalog, eff)
    out = mapped.copy()
    for col in ("predicted", "predicted_batch"):
        out[col] = pred[col].reindex(out.index)
    out.loc[pred.index, "why_not"] = pred["why_not"]
    out["expressible"] = out["expressible"] & out["predicted"].notna()
    out["error_pct"] = (out["predicted"] / out["actual"] - 1.0) * 100.0
    out["abs_error_pct"] = out["error_pct"].abs()
    return out


# ------------------------------------------------------------------------------------------------ summary
def _stats(err: pd.Series) -> dict[str, float]:
    e = err.dropna()
    if e.empty:
        nan = float("nan")
        return {"n": 0, "median_abs_pct": nan, "p90_abs_pct": nan, "median_signed_pct": nan}
    return {"n": len(e), "median_abs_pct": float(e.abs().median()), "p90_abs_pct": float(e.abs().quantile(0.9)),
            "median_signed_pct": float(e.median())}


def spearman(a: pd.Series, b: pd.Series) -> float:
    """Spearman rank correlation (average ranks for ties); NaN for fewer than 3 points."""
    if len(a) < 3:
        return float("nan")
    ra, rb = a.rank().to_numpy(), b.rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def accelerator_rank_correlation(published: pd.DataFrame) -> pd.DataFrame:
    """Per (source family, model, ISL, OSL) with >= 3 accelerators: Spearman of per-GPU throughput."""
    thr = published[published["expressible"] & (published["metric_kind"] == "throughput")
                    & (published["mode"] == "max_throughput")].copy()
    per_gpu = lambda col: np.where(thr["compare"] == "output_tok_s_per_gpu", thr[col],  # noqa: E731
                                   thr[col] / (thr["tp"] * thr["attn_dp"]))
    thr["actual_per_gpu"], thr["predicted_per_gpu"] = per_gpu("actual"), per_gpu("predicted")
    rows = []
    for key, g in thr.groupby(["source_family", "model_id", "isl", "osl"]):
        g = g.groupby("accelerator")[["actual_per_gpu", "predicted_per_gpu"]].mean()
        if len(g) >= 3:
            rows.append({"source_family": key[0], "model_id": key[1], "isl": key[2], "osl": key[3],
                         "accelerators": ",".join(g.index), "spearman": spearman(g["actual_per_gpu"],
                                                                                  g["predicted_per_gpu"])})
    return pd.DataFrame(rows)


def summary(measured: pd.DataFrame, published: pd.DataFrame, catalog: Catalog | None = None) -> dict:
    """Headline error figures (percent) for the fidelity report."""
    out: dict = {}
    if not measured.empty:
        e2e = measured[measured["op"].isin(["e2e_dec", "e2e_pre"])]
        out["measured_e2e"] = _stats(e2e["error_pct"])
        out["measured_e2e_max_abs_pct"] = float(e2e["abs_error_pct"].max()) if len(e2e) else float("nan")
        out["measured_ops"] = {op: _stats(g["error_pct"]) for op, g in measured.groupby("op")}
    ok = published[published["expressible"]]
    thr = ok[ok["metric_kind"] == "throughput"]
    out["published_throughput"] = _stats(thr["error_pct"])
    out["published_throughput_unambiguous"] = _stats(thr[~thr["ambiguous"].astype(bool)]["error_pct"])
    out["published_latency"] = _stats(ok[ok["metric_kind"] == "latency"]["error_pct"])
    out["published_by_accelerator"] = {a: _stats(g["error_pct"]) for a, g in thr.groupby("accelerator")}
    fam = thr["model_id"]
    if catalog is not None:
        fam = thr["model_id"].map(lambda m: catalog.models[m].family)
    out["published_by_model_family"] = {f: _stats(g["error_pct"]) for f, g in thr.groupby(fam)}
    out["published_by_source"] = {s: _stats(g["error_pct"]) for s, g in thr.groupby("source_family")}
    rc = accelerator_rank_correlation(published)
    out["spearman_groups"] = len(rc)
    out["spearman_median"] = float(rc["spearman"].median()) if len(rc) else float("nan")
    out["spearman_mean"] = float(rc["spearman"].mean()) if len(rc) else float("nan")
    out["published_not_expressible"] = int((~published["expressible"]).sum())
    return out


@dataclass(frozen=True)
class FidelityReport:
    measured: pd.DataFrame
    published: pd.DataFrame
    rank_correlation: pd.DataFrame
    summary: dict
    under_load: pd.DataFrame = field(default_factory=pd.DataFrame)  # serving_under_load.csv rows, per engine
    speculative: pd.DataFrame = field(default_factory=pd.DataFrame)  # speedup_x / acceptance_length rows


def fidelity_report(catalog: Catalog, eff: Efficiency | None = None) -> FidelityReport:
    eff = eff if eff is not None else load_efficiency(catalog)
    measured = measured_fidelity(catalog, eff)
    published = published_fidelity(catalog, eff)
    stats = summary(measured, published, catalog)
    generic = published_fidelity(catalog, eff, engines=False)
    ok = generic[generic["expressible"] & (generic["metric_kind"] == "throughput")]
    stats["published_throughput_generic"] = _stats(ok["error_pct"])  # what serving_cross_validation fits
    # Out-of-sample figures come from the fit (refitting per held-out source takes ~10 s): those of the YAML `eff`
    # was read from (none for parameters built in memory)
    fitted = eff.source.data if eff.source is not None else {}
    stats["serving_cross_validation"] = fitted.get("serving_cross_validation", {})
    from planner.perf.serving_fidelity import error_table, load_predictions, load_targets
    from planner.perf.under_load_mapping import load_mapping, run_id

    mapped = load_mapping(catalog)
    under = load_predictions(mapped, catalog, eff)
    under["error_pct"] = (under["predicted"] / under["actual"] - 1.0) * 100.0
    under["abs_error_pct"] = under["error_pct"].abs()
    stats["under_load"] = error_table(under).to_dict(orient="records")
    from planner.perf.loso_rows import attach

    # each row's held-out prediction from the fit's per-row file; the LOSO group figures computed from it
    under, published, cv, stats["loso_rows"] = attach(under, published, fitted.get("engine_cross_validation", {}),
                                                      eff.source)
    stats["engine_cross_validation"] = cv
    stats["load_targets"] = load_targets(stats["engine_cross_validation"].get("groups", []))
    from planner.perf.repeatability import repeat_spread

    stats["repeat_spread"] = repeat_spread(mapped).to_dict(orient="records")  # the data's own floor
    from planner.perf.speculative_fidelity import speculative_fidelity, speculative_summary

    spec = speculative_fidelity(catalog, eff)  # their own group: ratios of the model's predictions
    stats["speculative"] = speculative_summary(spec)
    expressed = mapped["expressible"] | mapped["id"].isin(spec.loc[spec["expressible"], "id"])
    quoted = mapped["duplicate_of"] != ""  # a run its source prints twice: counted once (QUOTED_TWICE)
    stats["under_load_not_expressible"] = int((~expressed & ~quoted).sum())
    q = mapped[quoted]
    pairs = [(run_id(i, m), run_id(k, m)) for i, k, m in zip(q["id"], q["duplicate_of"], q["metric"], strict=True)]
    stats["under_load_quoted_twice"] = [{"run": d, "kept": k, "rows": pairs.count((d, k))}
                                        for d, k in sorted(set(pairs))]
    return FidelityReport(measured=measured, published=published,
                          rank_correlation=accelerator_rank_correlation(published), summary=stats,
                          under_load=under, speculative=spec)
