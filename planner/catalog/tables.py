"""Catalog entries as SI-unit tables: the one place where human units (GB, TB/s, TFLOP/s, kW) become SI.

Everything downstream (performance model, candidates, optimizer) reads these frames, indexed by entry id,
so unit conversion happens exactly once.
"""

from __future__ import annotations

import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.schemas import COMPUTE_DTYPES

GB = 1e9
TB = 1e12
TFLOP = 1e12
KW = 1e3


def accelerator_table(catalog: Catalog) -> pd.DataFrame:
    """One row per accelerator: bytes, bytes/s, FLOP/s per compute dtype (0 where not native), watts."""
    rows = []
    for a in catalog.accelerators.values():
        row = {
            "id": a.id,
            "hbm_bytes": a.hbm_gb * GB,
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


def system_table(catalog: Catalog) -> pd.DataFrame:
    """One row per system: accelerator, count, nameplate watts, rack units (0 = whole rack), price in USD."""
    rows = [
        {
            "id": s.id,
            "accelerator": s.accelerator,
            "accelerator_count": s.accelerator_count,
            "scale_up_domain": s.scale_up_domain,
            "nameplate_power_w": s.nameplate_power_kw * KW,
            "rack_units": s.rack_units or 0,
            "whole_rack": s.whole_rack,
            "cooling": s.cooling,
            "price_low_usd": s.price.low_usd,
            "price_base_usd": s.price.base_usd,
            "price_high_usd": s.price.high_usd,
        }
        for s in catalog.systems.values()
    ]
    return pd.DataFrame(rows).set_index("id").sort_index()


def rack_table(catalog: Catalog) -> pd.DataFrame:
    rows = [
        {"id": r.id, "max_power_w": r.max_power_kw * KW, "rack_units": r.rack_units, "cooling": r.cooling}
        for r in catalog.racks.values()
    ]
    return pd.DataFrame(rows).set_index("id").sort_index()
