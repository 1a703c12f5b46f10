"""Fit the efficiency parameters and write `catalogs/calibration/efficiency.yaml` (deterministic).

    python -m planner.perf.fit            # refit and rewrite the YAML (and engine_fit_loso.csv beside it)
    python -m planner.perf.fit --check    # refit and fail if either file on disk differs

Beside the YAML: the engine fit's per-row predictions, in sample and leave one source out (planner.perf.loso_rows),
for `planner calibrate` to join by row id.

Per measured accelerator (h100-sxm, h200-sxm), from its op table:
  GEMM       eta_max (bf16, fp8), M_half, HBM fraction, launch latency  <- every `gemm` row (log least squares)
  attention  decode HBM fraction, prefill eta_max and S_half, launch    <- every `attn_dec` and `attn_pre` row
  decode     per-layer and per-step latency of a graph-replayed step    <- the 8B bf16 `e2e_dec` rows
  power      idle, memory-bound, compute-bound board power              <- the `power` rows
Held out (validation only): moe_bmm rows, the 70B fp8 e2e_dec rows, every e2e_pre row.
Every other accelerator: `planner.perf.params.derive_params` (catalog spec x stated factors).
Global serving factors (3): a coarse deterministic grid search minimizing the mean |log error| of output
throughput over the published benchmark rows the model can express (`planner.perf.fidelity`).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from planner.catalog import load_catalog
from planner.catalog.catalog import Catalog
from planner.perf.loso_rows import loso_path, render_rows
from planner.perf.measured import (
    MEASURED_DIR,
    PROBE_SOFTWARE,
    TABLES,
    e2e_grid,
    load_ops,
    predict_e2e_rows,
    predict_op_rows,
)
from planner.perf.params import (
    ACCEL_PARAMS,
    EFFICIENCY_PATH,
    MEASURED_REFS,
    SERVING_DEFAULTS,
    Efficiency,
    build_efficiency,
    catalog_fractions,
    derive_params,
    efficiency_path,
)


def nelder_mead(f: Callable[[np.ndarray], float], x0, step: float = 0.3, iters: int = 3000) -> np.ndarray:
    """Minimize f from x0 with the Nelder-Mead simplex (deterministic; no scipy)."""
    x0 = np.asarray(x0, dtype=float)
    pts = [x0] + [x0 + step * np.eye(len(x0))[i] for i in range(len(x0))]
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = np.argsort(vals)
        pts = [pts[i] for i in order]
        vals = [vals[i] for i in order]
        if abs(vals[-1] - vals[0]) < 1e-12 * (1 + abs(vals[0])):
            break
        centroid = np.mean(pts[:-1], axis=0)
        refl = centroid + (centroid - pts[-1])
        fr = f(refl)
        if fr < vals[0]:
            exp = centroid + 2.0 * (centroid - pts[-1])
            fe = f(exp)
            pts[-1], vals[-1] = (exp, fe) if fe < fr else (refl, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = refl, fr
        else:
            con = centroid + 0.5 * (pts[-1] - centroid)
            fc = f(con)
            if fc < vals[-1]:
                pts[-1], vals[-1] = con, fc
            else:
                pts = [pts[0]] + [pts[0] + 0.5 * (p - pts[0]) for p in pts[1:]]
                vals = [vals[0]] + [f(p) for p in pts[1:]]
    return pts[int(np.argmin(vals))]


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _with(eff: Efficiency, acc: str, values: dict[str, float]) -> Efficiency:
    accel = eff.accel.copy()
    for k, v in values.items():
        accel.loc[acc, k] = v
    return Efficiency(accel=accel, serving=eff.serving, provenance=eff.provenance)


def _msle(pred: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.log(pred / actual) ** 2))


def fit_accelerator(acc: str, ops: pd.DataFrame, catalog: Catalog, base: Efficiency) -> dict[str, float]:
    """Fitted hardware parameters of one measured accelerator (see the module docstring)."""
    mine = ops[ops["accelerator"] == acc]
    gemm = mine[mine["op"] == "gemm"]
    attn = mine[mine["op"].isin(["attn_dec", "attn_pre"])]
    t_gemm = gemm["time_us"].to_numpy() * 1e-6
    t_attn = attn["time_us"].to_numpy() * 1e-6
    eff = base

    def gemm_params(x):
        return {"gemm_eta_max_bf16": 0.98 * _sig(x[0]), "gemm_eta_max_fp8": 0.98 * _sig(x[1]),
                "gemm_m_half_tokens": math.exp(x[2]), "gemm_hbm_eta": 0.98 * _sig(x[3]),
                "kernel_launch_s": math.exp(x[4])}

    x = nelder_mead(lambda x: _msle(predict_op_rows(gemm, catalog, _with(eff, acc, gemm_params(x))), t_gemm),
                    [_logit(0.8), _logit(0.7), math.log(200.0), _logit(0.9), math.log(20e-6)])
    fitted = gemm_params(x)
    eff = _with(eff, acc, fitted)

    def attn_params(x):
        return {"attn_decode_hbm_eta": 0.98 * _sig(x[0]), "attn_prefill_eta_max": 0.98 * _sig(x[1]),
                "attn_prefill_seq_half_tokens": math.exp(x[2]), "attn_launch_s": math.exp(x[3])}

    x = nelder_mead(lambda x: _msle(predict_op_rows(attn, catalog, _with(eff, acc, attn_params(x))), t_attn),
                    [_logit(0.85), _logit(0.65), math.log(1000.0), math.log(30e-6)])
    fitted |= attn_params(x)
    eff = _with(eff, acc, fitted | {"kernel_overhead_s": 0.0, "step_overhead_s": 0.0})

    # per-kernel and per-step latency: non-negative weighted least squares on the 8B decode steps
    e2e = e2e_grid(mine)
    dec = e2e[(e2e["op"] == "e2e_dec") & (e2e["model"] == "llama-3.1-8b")]
    measured = dec["time_us"].to_numpy() * 1e-6
    base_pred = predict_e2e_rows(dec, catalog, eff)
    kernels = float(catalog.models["llama-3.1-8b"].layers) * PROBE_SOFTWARE["llama-3.1-8b"]["kernels_per_layer"]
    resid = (measured - base_pred) / measured
    design = np.stack([np.full(len(dec), kernels), np.ones(len(dec))], axis=1) / measured[:, None]
    coef = np.linalg.lstsq(design, resid, rcond=None)[0]
    if coef.min() < 0:  # keep the physically meaningful one, refit it alone
        j = int(np.argmax(coef))
        coef = np.zeros(2)
        coef[j] = max(0.0, float(np.linalg.lstsq(design[:, [j]], resid, rcond=None)[0][0]))
    fitted |= {"kernel_overhead_s": float(coef[0]), "step_overhead_s": float(coef[1])}

    power = mine[mine["op"] == "power"].set_index("load")["power_w"]
    fitted |= {"power_idle_w": float(power["idle"]), "power_memory_bound_w": float(power["copy_2GiB"]),
               "power_compute_bound_w": float(power["gemm_bf16_8192"])}
    # not measured (no int8/fp4 GEMM rows): same as fp8, stated
    fitted |= {"gemm_eta_max_int8": fitted["gemm_eta_max_fp8"], "gemm_eta_max_fp4": fitted["gemm_eta_max_fp8"]}
    return fitted


FITTED_FROM = {
    "gemm_eta_max_bf16": "gemm bf16 rows (log least squares with M_half, HBM fraction, launch)",
    "gemm_eta_max_fp8": "gemm fp8 rows (same fit)",
    "gemm_eta_max_int8": "assumed equal to gemm_eta_max_fp8 (no int8 GEMM measured)",
    "gemm_eta_max_fp4": "assumed equal to gemm_eta_max_fp8 (Hopper has no fp4 tensor cores; unused)",
    "gemm_m_half_tokens": "gemm rows (same fit)",
    "gemm_hbm_eta": "gemm rows at small M (same fit)",
    "kernel_launch_s": "gemm rows (same fit; standalone-op timing only)",
    "attn_decode_hbm_eta": "attn_dec rows (log least squares)",
    "attn_prefill_eta_max": "attn_pre rows (same fit)",
    "attn_prefill_seq_half_tokens": "attn_pre rows (same fit)",
    "attn_launch_s": "attn_dec + attn_pre rows (same fit; standalone-op timing only)",
    "kernel_overhead_s": "e2e_dec llama3.1-8b-shape bf16 rows (non-negative least squares of the residual, "
                         "28 kernels per layer counted in gpu_probe.py)",
    "step_overhead_s": "e2e_dec llama3.1-8b-shape bf16 rows (same fit)",
    "power_idle_w": "power row 'idle'",
    "power_memory_bound_w": "power row 'copy_2GiB' (memory-bound loop)",
    "power_compute_bound_w": "power row 'gemm_bf16_8192' (compute-bound loop)",
}

BLOCK = "block_fp8_moe_eta_scale"
SERVING_GRID: dict[str, tuple[float, ...]] = {
    "gemm_eta_scale": (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1),
    "seq_overhead_s": (0.0, 5e-6, 10e-6, 12.5e-6, 15e-6, 17.5e-6, 20e-6, 25e-6, 30e-6, 40e-6, 50e-6, 60e-6),
    "weight_only_moe_eta_scale": (0.25, 0.35, 0.5, 0.7, 1.0),
    # neutral only for now (searched, keep 1.0 first: with no block-scaled FP8 rows, a held-out source, every
    # value ties and argmin keeps it). Figures of 2026-12-01 before request_s entered the fit, the vLLM V0 paths
    # and the drafts' own cost: searched over (1.0, 0.7, 0.5, 0.35, 0.25) the fit picks 0.35 on TRTDG's H200
    # DeepSeek-R1 rows (under-load LOSO throughput 19.8 -> 17.9%, P90 135 -> 107; TTFT p99 39.4 -> 37.3; TPOT p99
    # 38.4 -> 36.5), but the engine refit it triggers moves TensorRT-LLM to eta 1.0 / step_s 3 ms (0.5% better
    # than 0.8 / 1 ms on the rows: a flat fit), and 3 ms a step caps DeepSeek-R1 on B200/GB200 near 110 tok/s/user,
    # against published NVL72 wide-EP results at 100+ tok/s/user (test_perf_engines). Selection rules that keep
    # TensorRT-LLM off 3 ms (one-standard-error rules, shrinkage toward neutral) pass that test but cost LOSO
    # elsewhere (throughput median 18.2-21.5%, TPOT mean below the knee 13.1 -> 15.5-24.8%;
    # benchmarks/engine_fit_selection.py): TensorRT-LLM's loss is sources pulling apart, not noise (its Hopper
    # maxima, TRT10/TRTDG, want eta 1.0; its Blackwell maxima and GPUStack's runs 0.8; 3 ms a step reconciles
    # them). Adopt it once what makes TensorRT-LLM's Hopper maxima faster than modelled is found, or with a
    # per-layer kernel term for DeepSeek's ~7 ms unexplained step at concurrency 4 (benchmarks/deepseek_anatomy.py)
    # -- Re-evaluated 2026-12-01 with engine factors per architecture family (benchmarks/engine_fit_family.py): the
    # serving fit still picks 0.35 (the other factors unchanged; its own LOSO 17.35 / 56.2 unchanged, TRTDG held
    # out picks 1.0), and at 0.35 the pooled TensorRT-LLM/NVIDIA fit takes 3 ms a step, which the family split
    # (Hopper / Blackwell efficiencies at the vendor's host factors) inherits: NVL72/HGX 0.35x (0.90x pooled,
    # test_perf_engines asks > 2). Under-load LOSO at 0.35 with the split: throughput 18.5 (P90 85), TPOT mean
    # 25.2, ITL p99 43.1 (at 1.0 without: 20.5 (137), 27.0, 42.9); not adopted while it breaks the NVL72 check
    "block_fp8_moe_eta_scale": (1.0,),
}
SERVING_NOTES = {
    "gemm_eta_scale": "production GEMM efficiency relative to our cuBLAS op tables (eta capped at 0.98)",
    "seq_overhead_s": "host scheduler + sampling time per running sequence per step (per attention-DP rank)",
    "weight_only_moe_eta_scale": "efficiency of weight-only expert GEMMs (4-bit experts dequantized into bf16 "
                                 "grouped GEMMs) relative to plain GEMMs, on both rooflines, up to "
                                 "weight_only_dequant_rows rows per expert (amortized above: assumptions.py)",
    "block_fp8_moe_eta_scale": "efficiency of routed-expert GEMMs on block-scaled FP8 weights (DeepSeek's 128 x "
                               "128) relative to plain FP8 GEMMs, on both rooflines, on GPUs without microscaled "
                               "tensor cores (step.block_fp8_moe_scale); its rows: TRTDG's H200 DeepSeek-R1 FP8",
}


def _serving_errors(catalog: Catalog, eff: Efficiency) -> tuple[list[dict[str, float]], np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """Every grid point's errors on the published throughput rows: (factor sets, |log error| [points x rows],
    signed % error [points x rows], source family per row).

    The block-FP8 scale moves only the rows that run block-scaled FP8 experts without microscaled tensor cores
    (a handful): each of the other factor sets is predicted on every row once, and again on those rows alone
    for each other value of the scale (the same numbers as the full product, at a fraction of its cost)."""
    from planner.perf.fidelity import published_mapping, published_predictions

    mapped = published_mapping(catalog)
    mapped = mapped[mapped["expressible"]].reset_index(drop=True)
    base_grid = {k: v for k, v in SERVING_GRID.items() if k != BLOCK}
    names = list(base_grid)
    bases = [dict(zip(names, values, strict=True)) for values in itertools.product(*base_grid.values())]

    def ratios(rows: pd.DataFrame, factors: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        trial = Efficiency(accel=eff.accel, serving=dict(SERVING_DEFAULTS) | factors, provenance=eff.provenance)
        res = published_predictions(rows, catalog, trial)
        thr = res[res["metric_kind"] == "throughput"]
        return (thr["predicted"] / thr["actual"]).to_numpy(dtype=float), thr["source_family"].to_numpy()

    thr_rows = mapped[mapped["metric_kind"] == "throughput"].reset_index(drop=True)
    neutral, family = ratios(thr_rows, {})
    blocks = SERVING_GRID[BLOCK]
    moved = np.zeros(len(neutral), dtype=bool)  # the rows the scale can move (none while it is held at 1)
    if len(blocks) > 1:
        moved = neutral != ratios(thr_rows, {BLOCK: min(blocks)})[0]
    sub = thr_rows[moved]
    combos, rat = [{}], [neutral]
    for base in bases:
        full = ratios(thr_rows, base | {BLOCK: blocks[0]})[0]
        for b in blocks:
            r = full.copy()
            if b != blocks[0] and moved.any():
                r[moved] = ratios(sub, base | {BLOCK: b})[0]
            combos.append(base | {BLOCK: b})
            rat.append(r)
    rat = np.array(rat)
    return combos, np.abs(np.log(rat)), (rat - 1.0) * 100.0, family


def _pct_stats(pct: np.ndarray) -> dict[str, float]:
    a = np.abs(pct[np.isfinite(pct)])
    return {"n": int(a.size), "median_abs_pct": _round(float(np.median(a))),
            "p90_abs_pct": _round(float(np.quantile(a, 0.9)))}


def fit_serving(catalog: Catalog, eff: Efficiency) -> tuple[dict[str, float], dict]:
    """Grid search of the global serving factors on the published throughput rows; returns (factors, stats).

    Also a leave-one-source-out cross-validation: for each source (TRT10, TRTDG, AMDDOC, ...), the factors are
    re-chosen on the other sources alone and the held-out source is predicted with them, so the report can
    show the model's out-of-sample error next to its in-sample error.
    """
    combos, logs, pcts, family = _serving_errors(catalog, eff)
    mean = np.nanmean(logs, axis=1)
    best = 1 + int(np.nanargmin(mean[1:]))  # index 0 is the neutral point, kept for reference only
    held_out, per_source = [], {}
    for fam in sorted(set(family)):
        train = family != fam
        k = 1 + int(np.nanargmin(np.nanmean(logs[1:, train], axis=1)))
        held_out.append(pcts[k, ~train])
        per_source[str(fam)] = {"factors": {n: _round(v) for n, v in combos[k].items()}}
        per_source[str(fam)] |= _pct_stats(pcts[k, ~train])
    stats = {
        "mean_abs_log_error": float(mean[best]), "neutral_mean_abs_log_error": float(mean[0]),
        "in_sample": _pct_stats(pcts[best]), "neutral": _pct_stats(pcts[0]),
        "leave_one_source_out": _pct_stats(np.concatenate(held_out)), "per_held_out_source": per_source,
    }
    return combos[best], stats


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _round(v: float) -> float:
    return float(f"{v:.4g}")


def build_yaml(catalog: Catalog, rows: dict | None = None) -> dict:
    """efficiency.yaml's content; `rows` (optional) receives the engine fit's per-row predictions ('under',
    'published': the frames loso_rows.render_rows writes beside the YAML)."""
    ops = load_ops()
    neutral = build_efficiency(catalog, {})
    fitted = {acc: fit_accelerator(acc, ops, catalog, neutral) for acc in MEASURED_REFS}
    data: dict = {"accelerators": {}}
    for acc in MEASURED_REFS:
        src = f"catalogs/measured/{TABLES[acc]}"
        data["accelerators"][acc] = {
            k: {"value": _round(fitted[acc][k]), "fitted_from": f"{src}: {FITTED_FROM[k]}"} for k in ACCEL_PARAMS
        }
    refs = {acc: {k: v["value"] for k, v in data["accelerators"][acc].items()} | catalog_fractions(catalog, acc)
            for acc in MEASURED_REFS}
    for acc_id, acc in sorted(catalog.accelerators.items()):
        if acc_id in MEASURED_REFS:
            continue
        data["accelerators"][acc_id] = {k: {"value": _round(v), "source": s}
                                        for k, (v, s) in derive_params(acc, refs).items()}
    eff = build_efficiency(catalog, data)
    serving, stats = fit_serving(catalog, eff)
    grid_text = "; ".join(f"{k} in {list(v)}" for k, v in SERVING_GRID.items())
    data["serving"] = {k: {"value": _round(v), "fitted_from": "catalogs/calibration/published_benchmarks.csv: "
                           f"grid search ({grid_text}) minimizing mean |log error| of output throughput "
                           f"(= {stats['mean_abs_log_error']:.4f}; {stats['neutral_mean_abs_log_error']:.4f} with "
                           "neutral factors)", "note": SERVING_NOTES[k]}
                       for k, v in serving.items()}
    from planner.perf.engine_fit import fit_engines

    eff = build_efficiency(catalog, data)
    engines, engine_stats, under = fit_engines(catalog, eff)
    if rows is not None:
        rows |= {"under": under, "published": engine_stats["published_rows"]}
    data["engines"] = engines
    data["engine_cross_validation"] = {
        "method": "serving_under_load.csv; per engine x vendor factors re-chosen without the held-out source",
        "groups": engine_stats["groups"],
        "published": engine_stats["published"],  # published_benchmarks.csv maxima with each row's engine
    }
    data["serving_cross_validation"] = {
        "method": "leave one published source out: refit the serving factors on the others, predict it",
        "metric": "output throughput, |predicted/actual - 1| in percent",
        **{k: stats[k] for k in ("in_sample", "neutral", "leave_one_source_out", "per_held_out_source")},
    }
    inputs = {f"catalogs/measured/{n}": _sha(MEASURED_DIR / n) for n in TABLES.values()}
    published = EFFICIENCY_PATH.parent / "published_benchmarks.csv"
    inputs["catalogs/calibration/published_benchmarks.csv"] = _sha(published)
    inputs["catalogs/calibration/serving_under_load.csv"] = _sha(EFFICIENCY_PATH.parent / "serving_under_load.csv")
    return {"meta": {"generated_by": "python -m planner.perf.fit", "inputs_sha256_12": inputs,
                     "units": "SI: fractions of datasheet peaks, seconds, tokens, watts"}} | data


HEADER = """\
# Efficiency parameters of the performance model. GENERATED by `python -m planner.perf.fit` from
# catalogs/measured/ (h100-sxm, h200-sxm: fitted) and the catalog specs (every other accelerator: derived with
# the stated factors in `source`); the `serving` factors are fitted on
# catalogs/calibration/published_benchmarks.csv.
# Do not edit by hand: rerun the fit. Units are SI (fractions of the datasheet peak, seconds, tokens, watts).
"""


def render(data: dict) -> str:
    return HEADER + yaml.safe_dump(data, sort_keys=False, width=200, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m planner.perf.fit", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="default: catalogs/calibration/efficiency.yaml")
    ap.add_argument("--check", action="store_true", help="fail if the file on disk differs from a fresh fit")
    args = ap.parse_args(argv)
    catalog = load_catalog()
    rows: dict = {}
    text = render(build_yaml(catalog, rows))
    # the per-row held-out predictions, beside the YAML and naming its sha256 (planner calibrate joins them)
    rows_text = render_rows(rows["under"], rows["published"], text)
    if args.check:
        path = args.out or efficiency_path()
        ok = True
        for p, want in ((path, text), (loso_path(path), rows_text)):
            same = p.is_file() and p.read_text(encoding="utf-8") == want
            print(f"{p} is up to date" if same else f"{p} differs from a fresh fit")
            ok &= same
        return 0 if ok else 1
    out = args.out or EFFICIENCY_PATH
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    loso_path(out).write_text(rows_text, encoding="utf-8")
    print(f"wrote {out} and {loso_path(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
