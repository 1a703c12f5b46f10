"""Efficiency parameters of the performance model: loaded from `catalogs/calibration/efficiency.yaml`.

Per accelerator a handful of physically meaningful numbers (fractions of the datasheet peak, fixed latencies,
board power levels); plus a few global serving-software factors. H100/H200 are fitted from our op tables by
`planner.perf.fit`; every other accelerator is derived from its catalog spec with the stated factors in
`derive_params` (the same function the fit uses, so an accelerator added to the catalog later works without
regenerating the YAML).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from planner.catalog.catalog import Catalog
from planner.catalog.schemas import Accelerator
from planner.perf.assumptions import ASSUMPTIONS

EFFICIENCY_PATH = Path(__file__).resolve().parents[2] / "catalogs" / "calibration" / "efficiency.yaml"


def efficiency_path() -> Path:
    """The efficiency YAML in use: $PLANNER_EFFICIENCY_PATH, else catalogs/calibration/efficiency.yaml."""
    env = os.environ.get("PLANNER_EFFICIENCY_PATH")
    return Path(env) if env else EFFICIENCY_PATH

# Per-accelerator parameters (SI units; names carry them). Order = column order of `accelerator_params`.
ACCEL_PARAMS: tuple[str, ...] = (
    "gemm_eta_max_bf16",  # sustained GEMM FLOP/s / dense peak at large M, per compute dtype
    "gemm_eta_max_fp8",
    "gemm_eta_max_int8",
    "gemm_eta_max_fp4",
    "gemm_m_half_tokens",  # tokens M at which GEMM efficiency is half its maximum: eta(M) = max * M/(M+M_half)
    "gemm_hbm_eta",  # achieved / datasheet HBM bandwidth when a GEMM streams its weights
    "attn_decode_hbm_eta",  # achieved / datasheet HBM bandwidth of decode attention reading the KV cache
    "attn_prefill_eta_max",  # flash-attention prefill FLOP/s / bf16 dense peak at long sequences
    "attn_prefill_seq_half_tokens",  # sequence length at which prefill attention efficiency is half its max
    "kernel_launch_s",  # fixed latency of one standalone GEMM timed with CUDA events (op tables; also the
    #                    per-kernel floor of an eagerly launched step, step.eager_launch_s)
    "attn_launch_s",  # the same for one standalone SDPA attention call (op tables only)
    "kernel_overhead_s",  # fixed latency per kernel in a graph-replayed step (launch, ramp-up, tail)
    "step_overhead_s",  # fixed latency per forward step (embedding, final norm, sampling launch)
    "power_idle_w",
    "power_memory_bound_w",  # board power while streaming HBM at full speed
    "power_compute_bound_w",  # board power while tensor cores run flat out (at the power cap)
)

# The serving software: stated properties of a fused production engine (ASSUMPTIONS) plus the global factors
# fitted on the published benchmark set (neutral values here; the YAML's `serving` section overrides them).
SERVING_DEFAULTS: dict[str, float] = {
    "gemm_eta_scale": 1.0,  # production GEMM efficiency / our cuBLAS op-table efficiency (capped at 0.98 of peak)
    "seq_overhead_s": 0.0,  # scheduler + sampling cost per running sequence per step
    "weight_only_moe_eta_scale": 1.0,  # weight-only (dequantizing) expert GEMMs / plain GEMM efficiency
    "block_fp8_moe_eta_scale": 1.0,  # expert GEMMs on block-scaled FP8 weights / plain FP8 GEMM efficiency
    "kernels_per_layer": float(ASSUMPTIONS.kernels_per_layer),
    "kernels_per_moe_layer_extra": float(ASSUMPTIONS.kernels_per_moe_layer_extra),
    "eager_kernels_per_layer": float(ASSUMPTIONS.eager_kernels_per_layer),
    "act_hidden_values": ASSUMPTIONS.activation_values_per_token_hidden,
    "act_ffn_values": ASSUMPTIONS.activation_values_per_token_ffn,
}

MEASURED_REFS = ("h100-sxm", "h200-sxm")


@dataclass(frozen=True)
class EfficiencyFile:
    """An efficiency YAML as read once: its path, the sha256 of its bytes (what the fit's per-row file names,
    loso_rows) and its parsed content (with the fit's cross-validation sections)."""

    path: Path
    sha256: str
    data: dict


@dataclass(frozen=True)
class Efficiency:
    """Resolved parameters: one row per accelerator id (columns ACCEL_PARAMS), and the serving factors."""

    accel: pd.DataFrame
    serving: dict[str, float]
    provenance: dict[str, dict[str, str]] = field(default_factory=dict)
    engines: dict = field(default_factory=dict)  # {engine: {vendor: {eta_factor, seq_factor, step_s}}}
    # the file load_efficiency built it from; None when built or changed in memory (init=False:
    # dataclasses.replace does not copy it, so a modified Efficiency never passes for the file's)
    source: EfficiencyFile | None = field(default=None, init=False, compare=False, repr=False)


def _value(entry) -> float:
    return float(entry["value"]) if isinstance(entry, dict) else float(entry)


def read_efficiency_file(path: Path | None = None) -> EfficiencyFile | None:
    """The efficiency YAML at `path` (default efficiency_path()) read once; None where there is no file."""
    path = path if path is not None else efficiency_path()
    if not path.is_file():
        return None
    raw = path.read_bytes()
    # libyaml's parser where PyYAML has it (the same safe constructors, so the same values: tested): the
    # pure-Python one took ~90 ms of every `planner solve`'s candidate stage on this 60 KB file
    return EfficiencyFile(path, sha256_hex(raw), yaml.load(raw, Loader=SAFE_LOADER) or {})


def sha256_hex(data: str | bytes) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def read_yaml(path: Path | None = None) -> dict:
    f = read_efficiency_file(path)
    return f.data if f is not None else {}


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def derive_params(acc: Accelerator, refs: dict[str, dict[str, float]]) -> dict[str, tuple[float, str]]:
    """Parameters of an accelerator we did not measure: {name: (value, source)}.

    `refs` are the fitted parameters of the measured parts (h100-sxm, h200-sxm). Hardware fractions scale
    from the catalog's measured MAMF / copy fractions with the ratio the references show between the fitted
    sustained value and the catalog's best-point figure; software latencies are the references' mean.
    """
    A = ASSUMPTIONS
    ref = list(refs.values())

    def mean(name: str) -> float:
        return float(np.mean([r[name] for r in ref]))

    m = acc.measured
    out: dict[str, tuple[float, str]] = {}
    # Sustained bf16 GEMM efficiency: the catalog's MAMF fraction times the references' sustained/best ratio
    # (the best point of a table is above the sustained large-M fit because of the 700 W clock drop).
    ratio_bf16 = mean("gemm_eta_max_bf16") / mean("catalog_bf16_fraction")
    if m is not None and m.gemm_bf16_peak_fraction:
        bf16 = m.gemm_bf16_peak_fraction * ratio_bf16
        out["gemm_eta_max_bf16"] = (bf16, f"catalog measured.gemm_bf16_peak_fraction {m.gemm_bf16_peak_fraction}"
                                    f" x {ratio_bf16:.3f} (sustained/best on h100-sxm, h200-sxm)")
    else:
        bf16 = A.default_gemm_bf16_fraction * ratio_bf16
        out["gemm_eta_max_bf16"] = (bf16, f"stated default MAMF {A.default_gemm_bf16_fraction} x {ratio_bf16:.3f}")
    fp8_over_bf16 = mean("gemm_eta_max_fp8") / mean("gemm_eta_max_bf16")
    if m is not None and m.gemm_fp8_peak_fraction:
        fp8 = m.gemm_fp8_peak_fraction * mean("gemm_eta_max_fp8") / mean("catalog_fp8_fraction")
        out["gemm_eta_max_fp8"] = (fp8, "catalog measured.gemm_fp8_peak_fraction x sustained/best ratio")
    else:
        fp8 = bf16 * fp8_over_bf16
        out["gemm_eta_max_fp8"] = (fp8, f"bf16 value x {fp8_over_bf16:.3f} (fp8/bf16 on h100-sxm, h200-sxm)")
    out["gemm_eta_max_int8"] = (fp8, "assumed equal to fp8 (same tensor-core rate class)")
    out["gemm_eta_max_fp4"] = (fp8, "assumed equal to fp8 (no FP4 GEMM measured; Blackwell FP4 GEMMs are "
                                    "reported at similar fractions of their peak)")
    out["gemm_m_half_tokens"] = (mean("gemm_m_half_tokens"), "mean of h100-sxm, h200-sxm (tile-quantization "
                                                              "effect, taken as architecture-independent)")
    hbm = mean("gemm_hbm_eta")
    if m is not None and m.copy_bandwidth_fraction:
        hbm = min(0.95, m.copy_bandwidth_fraction * hbm / mean("catalog_copy_fraction"))
        out["gemm_hbm_eta"] = (hbm, "catalog measured.copy_bandwidth_fraction x GEMM/copy ratio of the refs")
    else:
        out["gemm_hbm_eta"] = (hbm, "mean of h100-sxm, h200-sxm (no copy bandwidth measured)")
    out["attn_decode_hbm_eta"] = (hbm * mean("attn_decode_hbm_eta") / mean("gemm_hbm_eta"),
                                  "gemm_hbm_eta x attention/GEMM bandwidth ratio of the refs")
    out["attn_prefill_eta_max"] = (bf16 * mean("attn_prefill_eta_max") / mean("gemm_eta_max_bf16"),
                                   "gemm_eta_max_bf16 x attention/GEMM ratio of the refs")
    out["attn_prefill_seq_half_tokens"] = (mean("attn_prefill_seq_half_tokens"),
                                           "mean of h100-sxm, h200-sxm (flash-attention tiling, taken as "
                                           "architecture-independent)")
    for name in ("kernel_launch_s", "attn_launch_s", "kernel_overhead_s", "step_overhead_s"):
        out[name] = (mean(name), "mean of h100-sxm, h200-sxm (software latency, not hardware)")
    idle = (m.power_idle_w if m is not None and m.power_idle_w else None) or acc.idle_w
    if idle is None:
        idle = A.default_idle_fraction_of_tdp * acc.tdp_w
        out["power_idle_w"] = (idle, f"stated {A.default_idle_fraction_of_tdp} x TDP")
    else:
        out["power_idle_w"] = (float(idle), "catalog idle_w / measured.power_idle_w")
    if m is not None and m.power_memory_bound_w:
        out["power_memory_bound_w"] = (m.power_memory_bound_w, "catalog measured.power_memory_bound_w")
    else:
        share = A.default_power_memory_bound_share
        out["power_memory_bound_w"] = (idle + share * (acc.tdp_w - idle), f"idle + {share} x (TDP - idle)")
    if m is not None and m.power_compute_bound_w:
        out["power_compute_bound_w"] = (m.power_compute_bound_w, "catalog measured.power_compute_bound_w")
    else:
        out["power_compute_bound_w"] = (acc.tdp_w, "TDP (compute-bound boards sit at their power cap)")
    return out


def catalog_fractions(catalog: Catalog, acc_id: str) -> dict[str, float]:
    """The catalog's best-point fractions of a reference part (what `derive_params` scales other parts by)."""
    acc = catalog.accelerators.get(acc_id)
    m = acc.measured if acc is not None else None
    ref = BUILTIN_REFERENCE
    return {
        "catalog_bf16_fraction": (m.gemm_bf16_peak_fraction if m and m.gemm_bf16_peak_fraction
                                  else ref["catalog_bf16_fraction"]),
        "catalog_fp8_fraction": (m.gemm_fp8_peak_fraction if m and m.gemm_fp8_peak_fraction
                                 else ref["catalog_fp8_fraction"]),
        "catalog_copy_fraction": (m.copy_bandwidth_fraction if m and m.copy_bandwidth_fraction
                                  else ref["catalog_copy_fraction"]),
    }


def build_efficiency(catalog: Catalog, data: dict) -> Efficiency:
    """Parameters for every catalog accelerator: the YAML's entry if present, else derived from the spec."""
    yaml_acc: dict = data.get("accelerators", {}) or {}
    refs = {
        a: {k: _value(v) for k, v in yaml_acc[a].items() if k in ACCEL_PARAMS} | catalog_fractions(catalog, a)
        for a in MEASURED_REFS
        if a in yaml_acc
    }
    if not refs:
        refs = {"builtin": dict(BUILTIN_REFERENCE)}
    rows, prov = {}, {}
    for acc_id, acc in catalog.accelerators.items():
        if acc_id in yaml_acc and all(k in yaml_acc[acc_id] for k in ACCEL_PARAMS):
            rows[acc_id] = {k: _value(yaml_acc[acc_id][k]) for k in ACCEL_PARAMS}
            prov[acc_id] = {k: str(yaml_acc[acc_id][k].get("fitted_from") or yaml_acc[acc_id][k].get("source"))
                            for k in ACCEL_PARAMS if isinstance(yaml_acc[acc_id][k], dict)}
        else:
            derived = derive_params(acc, refs)
            rows[acc_id] = {k: v for k, (v, _) in derived.items()}
            prov[acc_id] = {k: s for k, (_, s) in derived.items()}
    accel = pd.DataFrame.from_dict(rows, orient="index")[list(ACCEL_PARAMS)] if rows else pd.DataFrame(
        columns=list(ACCEL_PARAMS))
    serving = dict(SERVING_DEFAULTS)
    for k, v in (data.get("serving", {}) or {}).items():
        if k in serving:
            serving[k] = _value(v)
    return Efficiency(accel=accel, serving=serving, provenance=prov, engines=data.get("engines", {}) or {})


_CACHE: dict[tuple[int, str, float], tuple[Catalog, Efficiency]] = {}


def load_efficiency(catalog: Catalog, path: Path | None = None) -> Efficiency:
    """Efficiency for a catalog (cached per catalog object and YAML file version)."""
    p = Path(path) if path is not None else efficiency_path()
    mtime = p.stat().st_mtime if p.is_file() else 0.0
    key = (id(catalog), str(p), mtime)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is catalog:  # the cache holds the catalog, so its id cannot be reused
        return hit[1]
    f = read_efficiency_file(p)
    eff = build_efficiency(catalog, f.data if f is not None else {})
    object.__setattr__(eff, "source", f)  # frozen; set here only (see Efficiency.source)
    if len(_CACHE) > 16:
        _CACHE.clear()
    _CACHE[key] = (catalog, eff)
    return eff


# Used only when efficiency.yaml is missing (a fresh checkout before `python -m planner.perf.fit`): round
# values of the H100 fit, so the model still runs; fidelity reports will say the YAML is missing.
BUILTIN_REFERENCE: dict[str, float] = {
    "gemm_eta_max_bf16": 0.76,
    "gemm_eta_max_fp8": 0.68,
    "gemm_eta_max_int8": 0.68,
    "gemm_eta_max_fp4": 0.68,
    "gemm_m_half_tokens": 200.0,
    "gemm_hbm_eta": 0.90,
    "attn_decode_hbm_eta": 0.85,
    "attn_prefill_eta_max": 0.66,
    "attn_prefill_seq_half_tokens": 1000.0,
    "kernel_launch_s": 20e-6,
    "attn_launch_s": 30e-6,
    "kernel_overhead_s": 3e-6,
    "step_overhead_s": 100e-6,
    "power_idle_w": 120.0,
    "power_memory_bound_w": 430.0,
    "power_compute_bound_w": 700.0,
    "catalog_bf16_fraction": 0.79,
    "catalog_fp8_fraction": 0.72,
    "catalog_copy_fraction": 0.88,
}
