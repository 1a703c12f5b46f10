"""Fidelity under load: the model next to every expressible row of `serving_under_load.csv`, per engine.

`load_mapping(catalog)`  every row mapped onto model inputs (model, accelerator, precision, KV dtype, engine,
    TP/PP/EP/attention-DP from the serving command, mean ISL/OSL of the run) and a load (burst of N prompts,
    closed loop at concurrency C, single request), or marked not expressible with the reason.
`load_predictions(mapped, catalog, eff)`  predicted value per expressible row: throughput (output tok/s,
    per GPU, requests/s; input + output tok/s and run duration beside), TTFT / TPOT / ITL mean, p50, p99:
    finite runs (`num_requests` given: bursts, closed loops of N requests) through the discrete-event
    simulator as the benchmark ran them, steady state through `planner.perf.load.latency_under_load` (the
    analytic queueing model); speculative rows of finite runs through the simulator too (acceptance drawn
    per step), steady-state speculative rows through the step model at the running batch (no queueing).
`fit_engines(catalog, eff)`  per engine x vendor factors (eta_factor, moe_factor, seq_factor, step_s): a coarse
    deterministic grid search minimizing the mean |log error| of throughput and TPOT/ITL rows of that group
    (never per point), then the API-server time request_s from TTFT at light load with short prompts; with
    leave-one-source-out errors (everything re-chosen without the held-out source; an engine left with no
    rows borrows the pooled fit of the other stacks on that vendor).
`error_table(pred)`  median / P90 |error| per engine, metric, load regime (below/above the knee) and source.
Mapping rules (stated, never per point): ShareGPT runs use the run's mean input/output tokens (notes) with
variable lengths, at most 2048 tokens a request (vllm bench's filter); 'KV default' = bf16 (NIM FP8: fp8);
an engine's MoE experts are TP-sharded unless the command asks for EP (TensorRT-LLM `--ep_size`, vLLM
`--enable-expert-parallel`); NIM rows use the generic engine (the page does not name it). SGLang's
`--enable-dp-attention` without `--dp-size` is plain TP (server_args.py _handle_data_parallelism, 0.5 series:
dp_size 1 turns DP attention off), as read. Each vLLM row runs the engine of its version (`vllm_engine`: V0
below 0.8).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.engines import ENGINE_NEUTRAL, nearest_neutral_best, neutral_distance
from planner.perf.params import Efficiency

LOAD_PATH = Path(__file__).resolve().parents[2] / "catalogs" / "calibration" / "serving_under_load.csv"
MODEL_RULES = (
    (r"^Llama-3\.1-8B", "llama-3.1-8b"), (r"^Llama-3\.3-70B", "llama-3.3-70b"),
    (r"^Llama-3\.1-70B", "llama-3.1-70b"), (r"^Llama-3\.1-405B", "llama-3.1-405b"),
    (r"^Qwen3-8B", "qwen3-8b"), (r"^Qwen3-14B", "qwen3-14b"),
    (r"^Qwen3-32B", "qwen3-32b"), (r"^Qwen3-235B", "qwen3-235b-a22b"), (r"^gpt-oss-120b", "gpt-oss-120b"),
    (r"^gpt-oss-20b", "gpt-oss-20b"), (r"^DeepSeek-R1", "deepseek-r1"), (r"^DeepSeek-V3$", "deepseek-v3"),
    (r"^DeepSeek-V3\.2", "deepseek-v3.2"), (r"^Kimi-K2\.5", "kimi-k2.5"), (r"^MiniMax-M2\.5", "minimax-m2.5"),
)
GPU_IDS = {"H100-SXM-80GB": "h100-sxm", "H200-SXM-141GB": "h200-sxm", "A100-SXM-80GB": "a100-sxm-80gb",
           "B200-180GB": "b200", "MI300X-192GB": "mi300x", "MI355X-288GB": "mi355x",
           "H100-80GB (form factor not stated)": "h100-sxm"}
# metric -> (kind, statistic); kind 'throughput' compares output tok/s (whole system, per GPU) or requests/s
METRICS = {"output_tok_s": ("throughput", "na"), "output_tok_s_per_gpu": ("throughput", "na"),
           "requests_s": ("throughput", "na"),
           # same runs, other figures: input + output tok/s and the wall time of a finite run (N / requests/s);
           # reported beside, not fitted and not in the output-throughput target (they repeat its runs)
           "total_tok_s": ("total_throughput", "na"), "benchmark_duration_s": ("duration", "na"),
           **{f"{k}_{s}_ms": (k, s) for k in ("ttft", "tpot", "itl") for s in ("mean", "p50", "p99")}}
FITTED_KINDS = ("throughput", "tpot")  # TTFT/ITL under load come from the queueing model: predicted, not fitted
# ...except the median inter-token gap, which is one decode step (the gaps a prompt chunk stretches are the tail):
# VKV's only decode-step figures (vLLM FP8-KV blog, concurrency 8 at ~20k context) are ITL p50
FITTED_STEP_STATS = (("itl", "p50"),)
SHAREGPT_MAX_CONTEXT = 2048  # vllm bench serve's ShareGPT filter (benchmarks/datasets.py is_valid_sequence)
# A ShareGPT run that states no token totals (VAMD: vLLM's benchmark_serving.py, 2024) is taken at the median
# per-request means of the 29 GPUStack ShareGPT runs of 1000 requests that state theirs (notes 'Input N / output
# M tokens'): 215-219 input and 187-202 output tokens across five tokenizers (DeepSeek, Qwen3, gpt-oss), so the
# tokenizer moves them by ~2%
SHAREGPT_MEAN_TOKENS = (217.0, 197.0)
# '1000 successful requests', not '5.76 requests/second'
N_REQUESTS = r"(?<![\d.])(\d+) (?:successful )?requests(?!/)"
# benchmark_serving.py / `vllm bench serve` --num-prompts default, for an open-loop run that does not state it
DEFAULT_NUM_PROMPTS = 1000
# Open-loop runs whose engine flags the source does not give: (source, request rate) -> why. The vLLM MI300X blog's
# 1000-QPS figures are of its "optimized setup" (flags not in the text; the 16-QPS ones are its "default
# configuration")
UNSTATED_FLAGS = {("VAMD", 1000.0): "the post's 'optimized setup' at 1000 QPS: its engine flags are not stated"}
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


V1_DEFAULT_MINOR = 8  # vLLM 0.8.0 (2025-03) made the V1 engine the default; 0.x below it ran the V0 engine
V1_DEFAULT_YEAR = 2025  # a row that names no vLLM version but a year before 2025 ran V0


def vllm_engine(framework: str, date: str = "") -> str:
    """`vllm-v0` for the pre-V1 engine (0.7 and older, or a 2024 build with no version given), else `vllm`.
    The version is the first 0.N after removing ROCm versions ('rocm7.0.0_vllm_0.10.2' is 0.10)."""
    text = re.sub(r"(?i)rocm\s*[\d.]+", "", framework)
    if m := re.search(r"(?<![\d.])v?0\.(\d+)", text):
        return "vllm-v0" if int(m.group(1)) < V1_DEFAULT_MINOR else "vllm"
    years = [int(y) for y in re.findall(r"\b(20\d\d)\b", f"{framework} {date}")]
    return "vllm-v0" if years and min(years) < V1_DEFAULT_YEAR else "vllm"


def _engine(framework: str, date: str = "") -> str | None:
    f = framework.lower()
    for key, eng in (("tensorrt", "trtllm"), ("sglang", "sglang"), ("vllm", "vllm"), ("tgi", "tgi"),
                     ("text-generation", "tgi"), ("nim", "")):
        if key in f:
            return vllm_engine(framework, date) if eng == "vllm" else eng
    return None


def _int(pattern: str, text: str, default: int) -> int:
    m = re.search(pattern, text)
    return int(m.group(1)) if m else default


def _map_row(r: pd.Series, catalog: Catalog) -> dict:
    fam = str(r["id"]).split("-")[0]
    out: dict = {"id": r["id"], "source_family": fam, "metric": r["metric"], "actual": float(r["value"]),
                 "framework": r["framework"], "date": r["date"], "expressible": False, "why_not": ""}
    if r["metric"] not in METRICS:
        return out | {"why_not": f"metric {r['metric']} is not a throughput/latency figure"}
    out["kind"], out["stat"] = METRICS[r["metric"]]
    model = next((mid for pat, mid in MODEL_RULES if re.search(pat, str(r["model"]))), None)
    acc = GPU_IDS.get(str(r["gpu"]))
    engine = _engine(str(r["framework"]), str(r["date"]))
    if model is None or model not in catalog.models:
        return out | {"why_not": f"model {r['model']!r} not in the catalog"}
    if acc is None:
        return out | {"why_not": f"gpu {r['gpu']!r} not mapped"}
    if engine is None:
        return out | {"why_not": f"framework {r['framework']!r} not mapped to an engine"}
    notes = str(r["notes"])
    cmd = (re.search(r"Serving command: (.*?)\. Dataset", notes) or [None, ""])[1]
    prec_text = str(r["precision"]).upper()
    if "MXFP4" in prec_text or model.startswith("gpt-oss"):
        precision = "mxfp4"
    elif prec_text.startswith("FP8") or "-FP8" in cmd:
        precision = "fp8"
    elif prec_text.startswith("BF16") or prec_text.startswith("MODEL WEIGHTS"):
        precision = "bf16"
    elif "AS RELEASED" in prec_text:  # the vendor's own checkpoint: the model's native precision
        precision = catalog.models[model].native_precision
    else:
        return out | {"why_not": f"precision {r['precision']!r} not mapped"}
    kv = "fp8" if ("--kv-cache-dtype fp8" in notes or prec_text.startswith("KV CACHE FP8")
                   or "KV CACHE FP8" in prec_text) else "bf16"
    if engine == "" and precision == "fp8":
        # NIM's FP8 profiles are TensorRT-LLM engines of NVIDIA's ModelOpt FP8 checkpoints, which carry an FP8
        # KV cache (the rule published_benchmarks.csv's TensorRT-LLM rows follow too, see fidelity.py)
        kv = "fp8"
    n_gpus = int(r["num_gpus"])
    tp = _int(r"(?:-tp|--tp-size|--tp_size|--tensor-parallel-size)[ =](\d+)", cmd, 0)
    pp = _int(r"(?:-pp|--pp-size|--pp_size|--pipeline-parallel-size)[ =](\d+)", cmd, 1)
    tp = tp or max(1, n_gpus // pp)
    dp = _int(r"(?:--dp-size|--dp|--data-parallel-size)[ =](\d+)", cmd, 1)
    moe = catalog.models[model].moe is not None
    ep = _int(r"(?:--ep_size|--ep-size|--ep)[ =](\d+)", cmd, 1)
    if "--enable-expert-parallel" in cmd:
        ep = tp * dp
    spec = "none"
    if "speculative" in cmd or "EAGLE" in str(r["framework"]).upper() or "MTP" in str(r["framework"]).upper():
        spec = "mtp" if model.startswith("deepseek") else "eagle3"
    isl, osl = _lengths(r, notes)
    if isl is None:
        return out | {"why_not": "input/output lengths not given as numbers or run totals"}
    load = _load(r, notes)
    if load is None:
        return out | {"why_not": f"load {r['concurrency_or_batch']!r} not mapped"}
    if (why := UNSTATED_FLAGS.get((fam, load.get("request_rate", np.nan)))) is not None:
        return out | {"why_not": why}
    load = {"request_rate": np.inf if load["load"] == "burst" else np.nan} | load
    # ShareGPT runs draw each request's lengths from the dataset: the run's means (notes) with a ShareGPT-like
    # spread, and `vllm bench serve` keeps only prompts <= 1024 and prompt + output <= 2048 tokens. The spread
    # matters most in a burst: the longest outputs decode at the end at a small batch and set the run's length.
    sharegpt = "sharegpt" in str(r["isl"]).lower()
    return out | {"expressible": True, "model": model, "accelerator": acc, "precision": precision,
                  "kv_precision": kv, "engine": engine, "tp": tp, "pp": pp, "ep": ep if moe else 1,
                  "attn_dp": dp if moe else 1, "isl": isl, "osl": osl, "speculative": spec, "gpus": n_gpus,
                  "length_dist": "variable" if sharegpt else "fixed",
                  "max_context": SHAREGPT_MAX_CONTEXT if sharegpt else np.inf} | load


def _lengths(r: pd.Series, notes: str) -> tuple[float | None, float | None]:
    try:
        return float(r["isl"]), float(r["osl"])
    except (TypeError, ValueError):
        pass
    m = re.search(r"Input (\d+) / output (\d+) tokens", notes)
    n = re.search(N_REQUESTS, notes)
    if m and n:
        return round(int(m.group(1)) / int(n.group(1))), round(int(m.group(2)) / int(n.group(1)))
    if "sharegpt" in str(r["isl"]).lower() and "sharegpt" in str(r["osl"]).lower():
        return SHAREGPT_MEAN_TOKENS  # a ShareGPT run that gives no token totals
    tilde_i = re.match(r"~?(\d+)", str(r["isl"]))
    tilde_o = re.match(r"~?(\d+)", str(r["osl"]))
    gen = re.search(r"(\d+) generated tokens over (\d+) requests", str(r["osl"]))
    if tilde_i and gen:
        return float(tilde_i.group(1)), max(1, round(int(gen.group(1)) / int(gen.group(2))))
    if tilde_i and tilde_o and "sweep" not in str(r["isl"]):
        return float(tilde_i.group(1)), float(tilde_o.group(1))
    return None, None


def _load(r: pd.Series, notes: str) -> dict | None:
    cb = str(r["concurrency_or_batch"])
    n_req = re.search(N_REQUESTS, notes)
    try:
        rate = float(r["request_rate"])
    except (TypeError, ValueError):
        rate = np.nan
    if cb.startswith("unbounded (open loop)") and np.isfinite(rate):  # Poisson arrivals of a finite run
        return {"load": "open", "request_rate": rate, "concurrency": np.nan,
                "num_requests": float(n_req.group(1)) if n_req else float(DEFAULT_NUM_PROMPTS)}
    if m := re.match(r"max concurrency (\d+)", cb):
        return {"load": "closed", "concurrency": float(m.group(1)),
                "num_requests": float(n_req.group(1)) if n_req else np.nan}
    if cb.startswith("unbounded") and str(r["request_rate"]) == "inf" and n_req:
        return {"load": "burst", "concurrency": np.nan, "num_requests": float(n_req.group(1))}
    if m := re.match(r"(\d+) prompts at once", cb):
        return {"load": "burst", "concurrency": np.nan, "num_requests": float(m.group(1))}
    if m := re.match(r"(\d+) \((\d+) requests\)", cb):
        return {"load": "closed", "concurrency": float(m.group(1)), "num_requests": float(m.group(2))}
    if re.fullmatch(r"\d+", cb):
        # a run of a stated multiple of the concurrency (AMD's EAGLE3 sweeps: num_prompts = 10 x concurrency)
        per = re.search(r"num_prompts = (\d+) x concurrency", notes)
        return {"load": "closed", "concurrency": float(cb),
                "num_requests": float(cb) * int(per.group(1)) if per else np.nan}
    return None


def load_mapping(catalog: Catalog, path: Path = LOAD_PATH) -> pd.DataFrame:
    rows = pd.read_csv(path)
    return pd.DataFrame([_map_row(r, catalog) for _, r in rows.iterrows()])


CFG = ["model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "isl", "osl", "engine",
       "speculative"]
RUN = [*CFG, "load", "request_rate", "concurrency", "num_requests", "length_dist", "max_context"]


def load_predictions(mapped: pd.DataFrame, catalog: Catalog, eff: Efficiency) -> pd.DataFrame:
    """`predicted`, `regime` ('below knee' | 'above knee') and `why_not` per expressible row."""
    from planner.perf.evaluate import evaluate
    from planner.perf.load import latency_under_load
    from planner.perf.resolve import normalize_grid, resolve
    from planner.perf.steptable import build_step_tables

    res = mapped[mapped["expressible"]].copy()
    res["predicted"], res["regime"] = np.nan, ""
    run_of = res.groupby(RUN, dropna=False, sort=False).ngroup()
    run_of = run_of.to_numpy()
    _, first = np.unique(run_of, return_index=True)
    runs = res.iloc[first].reset_index(drop=True)
    cfg = runs[CFG].copy()
    c, reason = resolve(normalize_grid(cfg.assign(batch=1)), catalog, eff)
    cap = np.minimum(c.eng_max_batch * c.attn_dp, 4096.0)
    tab = build_step_tables(cfg, catalog, efficiency=eff, max_seqs=cap, token_budget=c.eng_chunk)
    grid = cfg.assign(request_rate=runs["request_rate"].to_numpy(dtype=float),
                      concurrency=runs["concurrency"], num_requests=runs["num_requests"],
                      length_dist=runs["length_dist"])
    lo = latency_under_load(grid, catalog, efficiency=eff, tables=tab)
    pred = {k: lo[k].to_numpy(copy=True) for k in ("output_tok_s", "requests_s", "total_tok_s")}
    for k in ("ttft", "tpot", "itl"):
        for s in ("mean", "p50", "p99"):
            col = f"{k}_{s}_s"
            pred[f"{k}_{s}"] = lo[col].to_numpy(copy=True) if col in lo else np.full(len(lo), np.nan)
    _simulate_finite(runs, tab, lo["load_reason"].to_numpy(dtype=object), pred)
    sat = lo["saturated"].to_numpy(dtype=bool)
    # speculative steady-state runs: the step model at the running batch (the analytic load model has no
    # draft/verify steps); finite ones went through the simulator above, acceptance drawn per step
    spec = (runs["speculative"].to_numpy() != "none") & np.isnan(runs["num_requests"].to_numpy(dtype=float))
    if spec.any():
        n_run = np.where(runs["load"] == "burst", runs["num_requests"], runs["concurrency"]).astype(float)
        n_run = np.where(spec, n_run, 1.0)  # open-loop runs have no concurrency; only `spec` rows are read
        batch = np.maximum(1, np.minimum(n_run, cap)).astype(np.int64)
        ev = evaluate(cfg.assign(batch=batch), catalog, efficiency=eff)
        for k in ("tpot_mean", "tpot_p50", "tpot_p99"):
            pred[k] = np.where(spec, ev["tpot_s"], pred[k])
        for k in ("itl_mean", "itl_p50", "itl_p99"):
            pred[k] = np.where(spec, ev["itl_s"], pred[k])
        pred["output_tok_s"] = np.where(spec, ev["output_tok_s"], pred["output_tok_s"])
        pred["total_tok_s"] = np.where(spec, ev["output_tok_s"] * (1.0 + runs["isl"] / runs["osl"]),
                                       pred["total_tok_s"])
        for k in ("ttft_mean", "ttft_p50", "ttft_p99", "requests_s"):
            pred[k] = np.where(spec, np.nan, pred[k])
    pred["duration"] = runs["num_requests"].to_numpy(dtype=float) / pred["requests_s"]  # NaN: steady state
    metric = res["metric"].to_numpy()
    val = np.full(len(res), np.nan)
    for i, (m, r) in enumerate(zip(metric, run_of, strict=True)):
        kind, stat = METRICS[m]
        if kind in ("total_throughput", "duration"):
            val[i] = pred["total_tok_s" if kind == "total_throughput" else "duration"][r]
        elif kind == "throughput":
            v = pred["requests_s"][r] if m == "requests_s" else pred["output_tok_s"][r]
            val[i] = v / runs["gpus"].iloc[r] if m == "output_tok_s_per_gpu" else v
        else:
            val[i] = pred[f"{kind}_{stat}"][r] * 1e3  # the CSV's latencies are in ms
    res["predicted"] = val
    res["regime"] = np.where(sat[run_of], "above knee", "below knee")
    why = np.where(reason != "", reason, lo["load_reason"].to_numpy(dtype=object))
    res["why_not"] = why[run_of]
    return res


def _simulate_finite(runs: pd.DataFrame, tab, reason: np.ndarray, pred: dict) -> None:
    """Finite runs (`num_requests` given) through the discrete-event simulator, as the benchmark ran them.

    The analytic finite burst is a fluid at the mean lengths: it cannot see that a run with variable lengths
    ends with its longest requests decoding at a small batch (which sets the run's duration, so throughput),
    nor that short outputs spend their few steps beside the prompt flood (which sets mean TPOT above mean
    ITL). The simulator (the reference the analytic model is checked against) does both; seeded, so the
    figures are deterministic."""
    from planner.perf.simulate import Workload, simulate_one, summarize

    nreq = runs["num_requests"].to_numpy(dtype=float)
    for r in np.flatnonzero(~np.isnan(nreq) & (reason == "")):
        closed = runs["load"].iloc[r] == "closed"
        rate = float(runs["request_rate"].iloc[r])
        wl = Workload(request_rate=None if closed else rate,
                      concurrency=int(runs["concurrency"].iloc[r]) if closed else None,
                      num_requests=int(nreq[r]), length_dist=str(runs["length_dist"].iloc[r]))
        s = summarize(simulate_one(tab.row(r), wl, max_context=float(runs["max_context"].iloc[r])))
        for k in ("output_tok_s", "requests_s", "total_tok_s"):
            pred[k][r] = s[k]
        for k in ("ttft", "tpot", "itl"):
            for st in ("mean", "p50", "p99"):
                pred[f"{k}_{st}"][r] = s[f"{k}_{st}_s"] + (tab.request_s[r] if k == "ttft" else 0.0)


def loso_rows(rows: np.ndarray, same_vendor: np.ndarray, fitted: np.ndarray, sources: np.ndarray, src: str,
              generic: bool) -> np.ndarray:
    """Rows an engine x vendor group is re-fitted on with source `src` held out: its own other sources, or, when
    fewer rows are left than the fit has factors (an underdetermined fit: one row of one other source picks any
    of many factor sets), every engine's rows on that vendor (the typical stack; neutral factors only for
    generic)."""
    mask = rows & fitted & (sources != src)
    if mask.sum() < len(ENGINE_GRID) and not generic:
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
    engines = {e: {v: dict(factors) for v in ("nvidia", "amd", "intel", "google")} for e in engine_ids}
    return Efficiency(accel=eff.accel, serving=eff.serving, provenance=eff.provenance, engines=engines)


def _group(res: pd.DataFrame, catalog: Catalog) -> np.ndarray:
    vendor = res["accelerator"].map(lambda a: catalog.accelerators[a].vendor)
    return (res["engine"].replace("", "generic") + "/" + vendor).to_numpy()


def published_engine(framework: str, date: str = "") -> str:
    """The engine a published_benchmarks.csv row names in its `framework` column ('TensorRT-LLM 0.19.0
    (trtllm-bench throughput)', 'vLLM (2024 ROCm build)', ...): the row's own text, as for the rows under
    load; the generic engine ('') where it names none the catalog has."""
    return _engine(str(framework), str(date)) or ""


def _published_rows(catalog: Catalog) -> pd.DataFrame:
    from planner.perf.fidelity import published_mapping

    pub = published_mapping(catalog)
    pub = pub[pub["expressible"] & (pub["metric_kind"] == "throughput")].copy()
    pub["engine"] = [published_engine(f, d) for f, d in zip(pub["framework"], pub["date"], strict=True)]
    return pub


def fit_engines(catalog: Catalog, eff: Efficiency) -> tuple[dict, dict, pd.DataFrame]:
    """(engines section for efficiency.yaml, cross-validation stats, predictions with fitted and LOSO values).

    Fitted on both CSVs: the throughput and TPOT rows of serving_under_load.csv and the published maxima of
    published_benchmarks.csv run with their engine. Each source weighs the same within an engine x vendor
    group (the mean over sources of the mean |log error|), so one large source cannot drown the others."""
    from planner.perf.fidelity import published_predictions

    mapped = load_mapping(catalog)
    pub = _published_rows(catalog)
    names = list(ENGINE_GRID)
    combos = engine_combos()
    preds, pub_preds = [], []
    for f in combos:
        trial = _with_engines(eff, f, catalog.engines)
        preds.append(load_predictions(mapped, catalog, trial))
        pub_preds.append(published_predictions(pub, catalog, trial)["predicted"].to_numpy())
    base = preds[0]
    n_load = len(base)
    group = np.concatenate([_group(base, catalog), _group(pub, catalog)])
    kinds = base["kind"].isin(FITTED_KINDS).to_numpy().copy()
    for kind, stat in FITTED_STEP_STATS:
        kinds |= ((base["kind"] == kind) & (base["stat"] == stat)).to_numpy()
    fitted = np.concatenate([kinds & (base["engine"] != "").to_numpy() & ~_not_fitted(base),
                             np.ones(len(pub), dtype=bool)])
    actual = np.concatenate([base["actual"].to_numpy(), pub["actual"].to_numpy()])
    values = np.array([np.concatenate([p["predicted"].to_numpy(), q]) for p, q in zip(preds, pub_preds,
                                                                                       strict=True)])
    logs = np.abs(np.log(values / actual))
    logs = np.where(np.isfinite(logs), logs, np.nan)
    sources = np.concatenate([base["source_family"].to_numpy(), pub["source_family"].to_numpy()])
    out = base.copy()
    out["predicted_loso"] = np.nan
    engines: dict = {}

    far = np.array([neutral_distance(f) for f in combos])  # ties go to the factors nearest neutral

    def best(mask: np.ndarray) -> int:
        if not mask.any():
            return combos.index({k: ENGINE_NEUTRAL[k] for k in names})
        per_source = [np.nanmean(logs[:, mask & (sources == s)], axis=1) for s in sorted(set(sources[mask]))]
        return nearest_neutral_best(np.nanmean(np.array(per_source), axis=0), far)

    light = np.concatenate([_light_ttft_rows(base), np.zeros(len(pub), dtype=bool)])
    is_ttft = (base["kind"] == "ttft").to_numpy()

    def api_s(mask: np.ndarray, combo_of_row: np.ndarray) -> float:
        """API-server time per request: the median (over sources, of the median over rows) of measured minus
        modelled TTFT at light load with short prompts, where the prefill is a few ms; never negative."""
        mask = mask & light
        if not mask.any():
            return 0.0
        idx = np.flatnonzero(mask)
        resid = actual[idx] - values[combo_of_row[idx], idx]
        med = [np.nanmedian(resid[sources[idx] == s]) for s in sorted(set(sources[idx]))]
        return max(float(np.nanmedian(med)), 0.0) * 1e-3  # the CSV's latencies are in ms

    chosen = np.zeros(len(group), dtype=np.int64)  # the grid combo of each row's group, in sample
    pub_in, pub_loso = np.full(len(pub), np.nan), np.full(len(pub), np.nan)  # published maxima, per engine
    for g in sorted(set(group)):
        chosen[group == g] = best((group == g) & fitted)
    for g in sorted(set(group)):
        rows = group == g
        eng, vendor = g.split("/")
        k = int(chosen[rows][0])
        api = api_s(rows, chosen) if eng != "generic" else 0.0
        shift = np.where(is_ttft, api * 1e3, 0.0)
        out.loc[rows[:n_load], "predicted"] = (values[k, :n_load] + shift)[rows[:n_load]]
        if eng != "generic":
            own = sorted(set(sources[rows & fitted]))
            srcs = ", ".join(f"{s} {int((rows & fitted & (sources == s)).sum())}" for s in own)
            skipped = "".join(f"; not fitted: {s} ({NOT_FITTED[(s, eng)]})" for s in sorted(set(sources[rows]))
                              if (s, eng) in NOT_FITTED)
            skipped += "".join(f"; not fitted: {s} {m} ({why})" for (s, e, m), why in NOT_FITTED_MODEL_RUNS.items()
                               if (rows[:n_load] & (sources[:n_load] == s) & (base["model"] == m).to_numpy()).any()
                               and e == eng)
            alone = (f"; out of sample, with its only source {own[0]} held out, the pooled fit of the other "
                     f"stacks on {vendor} stands in (closer on the held-out rows than neutral factors or any "
                     "single other engine's fit, see loso_rows)") if len(own) == 1 else ""
            engines.setdefault(eng, {})[vendor] = {
                name: {"value": combos[k][name],
                       "fitted_from": f"serving_under_load.csv + published_benchmarks.csv throughput/TPOT/ITL p50 "
                                      f"rows of {eng} on {vendor} ({srcs}); grid search, mean over sources of the "
                                      f"mean |log error|{skipped}{alone}"}
                for name in names}
            api_srcs = ", ".join(sorted(set(sources[rows & light]))) or "none: 0"
            engines[eng][vendor]["request_s"] = {
                "value": round(api, 4),
                "fitted_from": f"serving_under_load.csv TTFT mean/p50 rows of {eng} on {vendor} at light load "
                               f"(<= {LIGHT_LOAD} requests, prompts <= {LIGHT_PROMPT} tokens; {api_srcs}): "
                               "median over sources of the median measured - modelled TTFT"}
        # out of sample, an engine x vendor with no rows left once `src` is held out is predicted as the
        # other engines on that vendor are (their pooled fit), not with neutral factors: the factors describe
        # a software stack, and the typical stack is a better guess for an unseen one than none at all
        vendor_rows = np.char.endswith(group.astype(str), "/" + vendor)
        same_vendor = vendor_rows & (np.char.find(group.astype(str), "generic/") != 0)
        pub_in[rows[n_load:]] = values[k, n_load:][rows[n_load:]]
        for src in sorted(set(sources[n_load:][rows[n_load:]])):  # the published rows, each source held out
            held = rows[n_load:] & (sources[n_load:] == src)
            pub_loso[held] = values[best(loso_rows(rows, same_vendor, fitted, sources, src, False)), n_load:][held]
        for src in sorted(set(sources[:n_load][rows[:n_load]])):
            held = rows[:n_load] & (sources[:n_load] == src)
            kk = best(loso_rows(rows, same_vendor, fitted, sources, src, eng == "generic"))
            # with no light-load rows of this engine left, the other stacks on the vendor's machines (NIM
            api = 0.0  # included) stand in for its API server, as for the factors
            if eng != "generic":
                api_mask = rows & (sources != src)
                if not (api_mask & light).any():
                    api_mask = vendor_rows & (sources != src)
                api = api_s(api_mask, np.where(rows, kk, chosen))
            shift = np.where(is_ttft[held], api * 1e3, 0.0)
            out.loc[held, "predicted_loso"] = values[kk, :n_load][held] + shift
    out["error_pct"] = (out["predicted"] / out["actual"] - 1.0) * 100.0
    out["loso_error_pct"] = (out["predicted_loso"] / out["actual"] - 1.0) * 100.0
    table = error_table(out)
    # the published maxima with each row's engine: in sample, and with the engine factors re-chosen without
    # the row's source (the serving factors stay those of the whole set: serving_cross_validation holds them out)
    published = {name: _pct_summary((v / pub["actual"].to_numpy() - 1.0) * 100.0)
                 for name, v in (("in_sample", pub_in), ("leave_one_source_out", pub_loso))}
    return engines, {"groups": table.to_dict(orient="records"), "published": published}, out


def _stats(e: pd.Series) -> tuple[int, float, float]:
    a = e.dropna().abs()
    return (len(a), float(a.median()), float(a.quantile(0.9))) if len(a) else (0, np.nan, np.nan)


def _pct_summary(err: np.ndarray) -> dict:
    n, med, p90 = _stats(pd.Series(err))
    return {"n": n, "median_abs_pct": round(med, 2), "p90_abs_pct": round(p90, 2)}


def error_table(pred: pd.DataFrame) -> pd.DataFrame:
    """Median / P90 |error| in sample and leave-one-source-out, per engine, metric, regime and source."""
    p = pred[pred["predicted"].notna()].copy()
    p["metric_group"] = np.where(p["stat"] == "na", p["kind"], p["kind"] + "_" + p["stat"])
    p["engine_name"] = p["engine"].replace("", "generic (NIM)")
    rows = []
    for by in (["engine_name", "metric_group"], ["metric_group", "regime"], ["source_family", "metric_group"],
               ["metric_group"]):
        for key, g in p.groupby(by if len(by) > 1 else by[0]):
            key = key if isinstance(key, tuple) else (key,)
            n, med, p90 = _stats(g["error_pct"])
            _, lmed, lp90 = _stats(g["loso_error_pct"]) if "loso_error_pct" in g else (0, np.nan, np.nan)
            rows.append({"by": "+".join(by), "group": " / ".join(map(str, key)), "n": n,
                         "median_abs_pct": round(med, 1), "p90_abs_pct": round(p90, 1),
                         "loso_median_abs_pct": round(lmed, 1), "loso_p90_abs_pct": round(lp90, 1)})
    return pd.DataFrame(rows)
