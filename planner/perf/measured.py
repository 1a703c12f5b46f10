"""Our measured op tables (`catalogs/measured/`) and the model's prediction for each of their rows.

Standalone ops (gemm, moe_bmm, attn_dec, attn_pre, copy) were timed one call at a time with CUDA events, so
their prediction adds the fixed launch latency `kernel_launch_s` / `attn_launch_s`; whole decode steps
(`e2e_dec`, CUDA graphs) and prefill passes (`e2e_pre`) go through the same `decode_step` / `prefill_pass`
the serving model uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.kernels import attention_prefill_efficiency, gemm_efficiency, roofline_time
from planner.perf.params import SERVING_DEFAULTS, Efficiency
from planner.perf.resolve import Cols, normalize_grid, resolve
from planner.perf.step import decode_step, prefill_pass

MEASURED_DIR = Path(__file__).resolve().parents[2] / "catalogs" / "measured"
TABLES: dict[str, str] = {"h100-sxm": "ops_h100_sxm.csv", "h200-sxm": "ops_h200.csv"}
# The probe's model shapes -> catalog models with the same architecture.
PROBE_MODELS: dict[str, str] = {"llama3.1-8b-shape": "llama-3.1-8b", "llama3-70b-shape": "llama-3.1-70b"}
PROBE_KV_PAD_ROWS = 16  # the fp8 70B probe pads batches below 16 to 16 rows (weights, activations and KV)
# The probe is eager PyTorch code, not a fused engine: its kernels per layer and non-GEMM traffic per token and
# layer (in hidden- / FFN-wide bf16 vectors) are counted from catalogs/measured/gpu_probe.py, not fitted.
#   8B (TinyLlama.step): 2 fp32 RMSNorms of 8 kernels each (float, pow, mean, add, rsqrt, mul, to, mul:
#   36 B per element each), QKV GEMM, 2 KV-cache copies, SDPA, output transpose copy, O GEMM, add, gate/up GEMM,
#   silu, mul, down GEMM, add = 28 kernels; bytes per hidden element 2*36 + 2 + 4 + 2*6 = 90 (45 vectors),
#   per FFN element silu 4 + mul 6 = 10 (5 vectors).
#   70B fp8 (probe_e2e_fp8_70b.step): 4 x (fp8 cast + scaled_mm), SDPA, 2 adds, silu, mul = 13 kernels; bytes per
#   hidden element 3 casts x 3 + 2 adds x 6 = 21 (10.5 vectors), per FFN element cast 3 + silu 4 + mul 6 = 13
#   (6.5 vectors).
PROBE_SOFTWARE: dict[str, dict[str, float]] = {
    "llama-3.1-8b": {"kernels_per_layer": 28.0, "act_hidden_values": 45.0, "act_ffn_values": 5.0},
    "llama-3.1-70b": {"kernels_per_layer": 13.0, "act_hidden_values": 10.5, "act_ffn_values": 6.5},
}


def load_ops(directory: Path = MEASURED_DIR) -> pd.DataFrame:
    """All op tables stacked, with an `accelerator` column (catalog id) and a `source` (file:row)."""
    frames = []
    for acc, name in TABLES.items():
        path = directory / name
        if not path.is_file():
            continue
        df = pd.read_csv(path)
        df.insert(0, "accelerator", acc)
        df["source"] = [f"catalogs/measured/{name}:{i + 2}" for i in range(len(df))]
        frames.append(df)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def _acc(eff: Efficiency, catalog: Catalog, acc_id: str) -> tuple[pd.Series, dict]:
    a = catalog.accelerators[acc_id]
    spec = {"bw": a.hbm_bandwidth_tb_s * 1e12, "bf16": a.dense_tflops["bf16"] * 1e12,
            "fp8": a.dense_tflops.get("fp8", 0.0) * 1e12}
    return eff.accel.loc[acc_id], spec


def predict_op_rows(ops: pd.DataFrame, catalog: Catalog, eff: Efficiency) -> np.ndarray:
    """Predicted time (s) of each gemm / moe_bmm / attn_dec / attn_pre / copy row; NaN for other ops."""
    pred = np.full(len(ops), np.nan)
    for acc_id, idx in ops.groupby("accelerator").groups.items():
        p, spec = _acc(eff, catalog, acc_id)
        sub = ops.loc[idx]
        pos = ops.index.get_indexer(idx)
        op = sub["op"].to_numpy()
        m, n, k = (sub[c].to_numpy(dtype=float) for c in ("m", "n", "k"))
        fp8 = sub["dtype"].to_numpy() == "fp8"
        ebytes = np.where(fp8, 1.0, 2.0)
        peak = np.where(fp8, spec["fp8"], spec["bf16"])
        eta_max = np.where(fp8, p["gemm_eta_max_fp8"], p["gemm_eta_max_bf16"])
        experts = sub["experts"].to_numpy(dtype=float) if "experts" in sub else np.ones(len(sub))
        experts = np.where(op == "moe_bmm", experts, 1.0)
        flops = 2.0 * experts * m * n * k
        moved = experts * ((n * k + m * k) * ebytes + m * n * 2.0)
        eta_c = gemm_efficiency(m, eta_max, p["gemm_m_half_tokens"])
        t_gemm = p["kernel_launch_s"] + roofline_time(flops, moved, peak, spec["bw"], eta_c, p["gemm_hbm_eta"])
        b, h, hkv, d = (sub[c].to_numpy(dtype=float) for c in ("batch", "heads", "kv_heads", "head_dim"))
        kv_len, seq = sub["kv_len"].to_numpy(dtype=float), sub["seq"].to_numpy(dtype=float)
        kv_bytes = 2.0 * b * hkv * kv_len * d * 2.0
        t_dec = p["attn_launch_s"] + roofline_time(4.0 * b * h * kv_len * d, kv_bytes, spec["bf16"], spec["bw"],
                                                   p["attn_prefill_eta_max"], p["attn_decode_hbm_eta"])
        pre_flops = 2.0 * seq * seq * h * d  # causal: half of 4 S^2 H d
        eta_pre = attention_prefill_efficiency(seq, p["attn_prefill_eta_max"], p["attn_prefill_seq_half_tokens"])
        t_pre = p["attn_launch_s"] + pre_flops / (spec["bf16"] * eta_pre)
        t_copy = sub["bytes"].to_numpy(dtype=float) * 2.0 / (spec["bw"] * p["gemm_hbm_eta"])
        t = np.select([np.isin(op, ["gemm", "moe_bmm"]), op == "attn_dec", op == "attn_pre", op == "copy"],
                      [t_gemm, t_dec, t_pre, t_copy], np.nan)
        pred[pos] = t
    return pred


def e2e_grid(ops: pd.DataFrame) -> pd.DataFrame:
    """The e2e rows as a model grid: catalog model, precision, batch (padded as the probe ran it), context."""
    e2e = ops[ops["op"].isin(["e2e_dec", "e2e_pre"])].copy()
    e2e["model"] = e2e["model"].map(PROBE_MODELS)
    e2e["precision"] = e2e["dtype"]
    rows = e2e["batch"].fillna(1).astype(float)
    pad = (e2e["dtype"] == "fp8") & (e2e["op"] == "e2e_dec")
    e2e["rows"] = np.where(pad, np.maximum(rows, PROBE_KV_PAD_ROWS), rows)
    e2e["context"] = e2e["kv_len"].fillna(e2e["seq"]).astype(float)
    return e2e


def predict_e2e_rows(e2e: pd.DataFrame, catalog: Catalog, eff: Efficiency) -> np.ndarray:
    """Predicted seconds of each e2e_dec (one decode step) and e2e_pre (one prefill pass) row."""
    grid = pd.DataFrame({
        "model": e2e["model"].to_numpy(), "accelerator": e2e["accelerator"].to_numpy(),
        "precision": e2e["precision"].to_numpy(), "kv_precision": "bf16", "tp": 1,
        "batch": e2e["rows"].to_numpy(), "isl": e2e["context"].to_numpy(), "osl": 1,
    })
    c, reason = resolve(normalize_grid(grid), catalog, eff)
    if (reason != "").any():
        raise ValueError(f"probe rows do not resolve: {set(reason[reason != ''])}")
    out = np.full(len(e2e), np.nan)
    models = e2e["model"].to_numpy()
    is_dec = e2e["op"].to_numpy() == "e2e_dec"
    for model, sw in PROBE_SOFTWARE.items():
        idx = np.flatnonzero(models == model)
        if len(idx) == 0:
            continue
        sub = Cols({k: (v[idx] if isinstance(v, np.ndarray) and len(v) == len(e2e) else v) for k, v in c.items()})
        probe = dict(SERVING_DEFAULTS) | {"gemm_eta_scale": 1.0, "seq_overhead_s": 0.0} | sw
        dec = decode_step(sub, probe, sub.batch, sub.isl)["time_s"]
        pre = prefill_pass(sub, probe, 1.0, sub.isl)[0]["time_s"]
        out[idx] = np.where(is_dec[idx], dec, pre)
    return out
