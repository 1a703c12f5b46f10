"""serving_under_load.csv rows mapped onto model runs: the model, accelerator, precision, KV dtype and engine
each row ran, and the load it ran under.

`load_mapping(catalog)`  every row mapped onto model inputs (model, accelerator, precision, KV dtype, engine,
    TP/PP/EP/attention-DP from the serving command, mean ISL/OSL of the run) and a load (burst of N prompts,
    closed loop at concurrency C, single request), or marked not expressible with the reason.
`vllm_engine` / `published_engine`  the catalog engine a row's framework text names (vLLM by its version), for
    these rows and for published_benchmarks.csv's.
Mapping rules (stated, never per point): ShareGPT runs use the run's mean input/output tokens (notes) with
variable lengths, at most 2048 tokens a request (vllm bench's filter); 'KV default' = bf16 (NIM FP8: fp8);
an engine's MoE experts are TP-sharded unless the command asks for EP (TensorRT-LLM `--ep_size`, vLLM
`--enable-expert-parallel`) or the row's system states expert parallelism; NIM rows use the generic engine
(the page does not name it). SGLang's `--enable-dp-attention` without `--dp-size` is plain TP (server_args.py
_handle_data_parallelism, 0.5 series: dp_size 1 turns DP attention off), as read. Each vLLM row runs the engine
of its version (`vllm_engine`: V0 below 0.8). A speculative run drafts the tokens its command states
(`draft_tokens`: vLLM num_speculative_tokens, SGLang --speculative-num-steps; none stated = the engine's
engines.yaml length); a top-k > 1 tree draft as the chain of its num_steps (see draft_tokens). A vLLM command
with `--async-scheduling` runs the overlap scheduler (`overlap_scheduling` 1; see ASYNC_SCHEDULING). A run its
source prints twice counts once (QUOTED_TWICE: the quote is marked not expressible, `duplicate_of` naming the
kept row).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog

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


# Runs a source prints twice: one run quoted in two sections of a page, every column the same but the id and the
# section (QUOTE_PLACE), and every figure the same to the last digit (a rerun would differ
# in some). Counted once, as the kept run: the quote is
# marked not expressible with `duplicate_of` naming the kept row, so neither the engine fit (the light-load TTFT
# median its request_s is taken from) nor the error tables nor the repeats table count one run twice. The CSV
# stays the source's copy; `quoted_once` checks every entry still holds. dropped run -> (kept run, where quoted)
QUOTED_TWICE = {
    "GPS-qwen3-8b-h100-latency-19": (
        "GPS-qwen3-8b-h100-latency-0",
        "GPUStack qwen3-8b/h100-latency.md prints one vLLM v0.11.0 run (`vllm serve Qwen/Qwen3-8B`, ShareGPT, 100 "
        "requests at max concurrency 4, input 23260 / output 22061 tokens, the same 10 figures) in section '1. "
        "Choosing the Inference Engine' (label 'vLLM') and again as case 'BS=4' of 'Other Benchmark Cases'"),
}
# Columns two quotes of one run may differ in: the row id and where on the page the run is quoted (`scenario`, and
# `notes`' opening "Page section '...' / label '...'. ": the rest of the notes, the serving command and the token
# totals, must match)
QUOTE_PLACE = ("id", "scenario", "notes")
QUOTE_PLACE_NOTE = r"^Page section .*?'\. "

# vLLM's --async-scheduling (0.10-0.11: opt-in, config/scheduler.py SchedulerConfig.async_scheduling, "EXPERIMENTAL
# ... may help reduce the CPU overheads") is the overlap scheduler engines.yaml's vLLM entry has off by default: it
# takes sched/async_scheduler.py AsyncScheduler (a placeholder for each token in flight) and a queue of 2 batches
# (executor/multiproc_executor.py max_concurrent_batches; engine/core.py step_with_batch_queue schedules the next
# batch while the GPU runs this one). vLLM refuses it with pipeline parallel or a draft (engine/arg_utils.py
# create_engine_config raises ValueError "Async scheduling is not supported with pipeline-parallel-size > 1", and
# "speculative decoding is not supported with async scheduling"; read in the v0.10.2 and v0.11.0 wheels, PyPI): a
# command stating it there (GPUStack's gpt-oss-120b PP2 run, vLLM v0.10.2) cannot have run it as stated, and runs
# with the engine's default
ASYNC_SCHEDULING = "--async-scheduling"


V1_DEFAULT_MINOR = 8  # vLLM 0.8.0 (2025-03) made the V1 engine the default; 0.x below it ran the V0 engine
V1_DEFAULT_YEAR = 2025  # a row that names no vLLM version but a year before 2025 ran V0


def catalog_model_id(name) -> str | None:
    """The catalog id a source's model name stands for (the first MODEL_RULES pattern it matches), or None."""
    return next((mid for pat, mid in MODEL_RULES if re.search(pat, str(name))), None)


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
    model = catalog_model_id(r["model"])
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
    if engine in catalog.engines and (why := catalog.engines[engine].unsupported_reason(acc, precision)):
        return out | {"why_not": why}  # the planner refuses it too (engines.yaml unsupported_paths)
    n_gpus = int(r["num_gpus"])
    tp = _int(r"(?:-tp|--tp-size|--tp_size|--tensor-parallel-size)[ =](\d+)", cmd, 0)
    pp = _int(r"(?:-pp|--pp-size|--pp_size|--pipeline-parallel-size)[ =](\d+)", cmd, 1)
    tp = tp or max(1, n_gpus // pp)
    dp = _int(r"(?:--dp-size|--dp|--data-parallel-size)[ =](\d+)", cmd, 1)
    moe = catalog.models[model].moe is not None
    ep = _int(r"(?:--ep_size|--ep-size|--ep)[ =](\d+)", cmd, 1)
    # vLLM's --enable-expert-parallel, or a page that states it in words where it prints no command (REAG's
    # MiniMax-M2.5 runs: "TP4 with expert parallelism"): experts over every GPU of the TP x DP group
    if "--enable-expert-parallel" in cmd or "expert parallelism" in str(r["system"]).lower():
        ep = tp * dp
    spec, draft = "none", np.nan
    if "speculative" in cmd or "EAGLE" in str(r["framework"]).upper() or "MTP" in str(r["framework"]).upper():
        spec = "mtp" if model.startswith("deepseek") else "eagle3"
        draft = draft_tokens(f"{cmd} {r['framework']} {notes}")
    isl, osl = _lengths(r, notes)
    if isl is None:
        return out | {"why_not": "input/output lengths not given as numbers or run totals"}
    load = _load(r, notes)
    if load is None:
        return out | {"why_not": f"load {r['concurrency_or_batch']!r} not mapped"}
    if (why := UNSTATED_FLAGS.get((fam, load.get("request_rate", np.nan)))) is not None:
        return out | {"why_not": why}
    load = {"request_rate": np.inf if load["load"] == "burst" else np.nan} | load
    # ShareGPT runs draw each request's lengths from the dataset: the run's means (notes) with ShareGPT's
    # shapes (sharegpt_lengths.py), and `vllm bench serve` keeps only prompts <= 1024 and prompt + output <=
    # 2048 tokens. The spread matters most in a burst: the longest outputs decode at the end at a small batch
    # and set the run's length.
    sharegpt = "sharegpt" in str(r["isl"]).lower()
    async_sched = engine == "vllm" and ASYNC_SCHEDULING in cmd.split() and pp == 1 and spec == "none"
    return out | {"expressible": True, "model": model, "accelerator": acc, "precision": precision,
                  "kv_precision": kv, "engine": engine, "tp": tp, "pp": pp, "ep": ep if moe else 1,
                  "attn_dp": dp if moe else 1, "isl": isl, "osl": osl, "speculative": spec,
                  "draft_tokens": draft, "gpus": n_gpus,
                  "overlap_scheduling": 1.0 if async_sched else np.nan,  # NaN: the engine's (engines.yaml)
                  "length_dist": "variable" if sharegpt else "fixed",
                  "max_context": SHAREGPT_MAX_CONTEXT if sharegpt else np.inf} | load


def draft_tokens(text: str) -> float:
    """Draft tokens per step the run states, or NaN for the engine's default: vLLM `num_speculative_tokens`,
    SGLang `--speculative-num-steps`. A top-k > 1 tree (SGLang --speculative-eagle-topk, GPUStack's Qwen3-8B
    runs: 4 steps, top-k 4, 16 draft tokens) is taken as the chain of its num_steps, stated as such: the chain's
    acceptance is a lower bound of the tree's (the tree holds the top-1 chain), and its verify step carries
    1 + num_steps tokens per sequence where the tree verifies num_draft_tokens (16): the two errors pull
    opposite ways, and the rows' acceptance is assumed anyway (engine_fit leaves them out)."""
    if m := re.search(r"num_speculative_tokens\W{0,3}(\d+)", text):
        return float(m.group(1))
    if m := re.search(r"--speculative-num-steps[ =](\d+)", text):
        return float(m.group(1))
    return np.nan


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
    return quoted_once(rows, pd.DataFrame([_map_row(r, catalog) for _, r in rows.iterrows()]))


def run_id(row_id: str, metric: str) -> str:
    """The run a row's figure belongs to: its id without the metric suffix ('GPS-...-latency-0-ttft_p50_ms' ->
    'GPS-...-latency-0'); an id without one is its own run."""
    suffix = f"-{metric}"
    return row_id[:-len(suffix)] if row_id.endswith(suffix) else row_id


def quoted_once(rows: pd.DataFrame, mapped: pd.DataFrame) -> pd.DataFrame:
    """`mapped` (rows of `rows`, in order) with QUOTED_TWICE's quotes marked not expressible and `duplicate_of`
    the kept run's row of the same metric ('' elsewhere). Raises ValueError where an entry no longer holds: the
    kept run missing, or the two differing in any column but QUOTE_PLACE (a rerun, not a quote)."""
    runs = pd.Series([run_id(i, m) for i, m in zip(rows["id"], rows["metric"], strict=True)], index=rows.index)
    out = mapped.assign(duplicate_of="")
    rows = rows.assign(notes_after_place=rows["notes"].astype(str).str.replace(QUOTE_PLACE_NOTE, "", regex=True))
    same = [c for c in rows.columns if c not in QUOTE_PLACE]
    for dropped, (kept, why) in QUOTED_TWICE.items():
        quote = rows[runs == dropped]
        if quote.empty:
            continue  # another copy of the CSV, without the quote
        ref = rows[runs == kept]
        a, b = (f.assign(run_metric=f["metric"]).set_index("run_metric")[same].sort_index() for f in (quote, ref))
        if not (a.index.equals(b.index) and a.astype(str).equals(b.astype(str))):
            raise ValueError(f"QUOTED_TWICE: {dropped} is no longer a quote of {kept} (figures or inputs differ)")
        kept_id = dict(zip(ref["metric"], ref["id"], strict=True))
        idx = out.index[np.flatnonzero((runs == dropped).to_numpy())]
        out.loc[idx, "duplicate_of"] = [kept_id[m] for m in quote["metric"]]
        out.loc[idx, "expressible"] = False
        out.loc[idx, "why_not"] = f"the run of {kept} quoted twice, counted there: {why}"
    return out


def published_engine(framework: str, date: str = "") -> str:
    """The engine a published_benchmarks.csv row names in its `framework` column ('TensorRT-LLM 0.19.0
    (trtllm-bench throughput)', 'vLLM (2024 ROCm build)', ...): the row's own text, as for the rows under
    load; the generic engine ('') where it names none the catalog has."""
    return _engine(str(framework), str(date)) or ""

