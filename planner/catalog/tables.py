"""Catalog entries as SI-unit tables: the one place where human units (GB, TB/s, TFLOP/s, kW) become SI.

Everything downstream (performance model, candidates, optimizer) reads these frames, indexed by entry id,
so unit conversion happens exactly once.
"""

from __future__ import annotations

import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.schema_base import COMPUTE_DTYPES

GB = 1e9
# Memory sizes: vendors' "80 GB" / "141 GB" / "192 GB" and the driver's figures are binary gigabytes (nvidia-smi
# shows MiB: our H100 exposes 79.18 GiB = 85.0e9 B, our H200 139.8 GiB = 150.1e9 B, catalogs/measured/info_*.json;
# an MI300X 192 GiB). Reading them as 1e9 B lost 7% of HBM, a third or more of the KV cache where weights
# nearly fill the GPU (Qwen3-32B bf16 on one 80 GB GPU). `hbm_gb` is therefore taken in GiB.
GIB = 2.0**30
TB = 1e12
TFLOP = 1e12


def accelerator_table(catalog: Catalog) -> pd.DataFrame:
    """One row per accelerator: bytes, bytes/s, FLOP/s per compute dtype (0 where not native), watts."""
    rows = []
    for a in catalog.accelerators.values():
        row = {
            "id": a.id,
            "hbm_bytes": a.hbm_gb * GIB,
            "hbm_bandwidth_bytes_s": a.hbm_bandwidth_tb_s * TB,
            "tdp_w": a.tdp_w,
            "idle_w": a.idle_w if a.idle_w is not None else float("nan"),
            "scale_up_bandwidth_bytes_s": a.scale_up_bandwidth_gb_s * GB,
            "scale_up_domain": a.scale_up_domain,
        }
        for dtype in COMPUTE_DTYPES:
            row[f"flops_{dtype}"] = a.dense_tflops.get(dtype, 0.0) * TFLOP
        rows.append(row)
    return pd.DataFrame(rows).set_index("id").sort_index()
