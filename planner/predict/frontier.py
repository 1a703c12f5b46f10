"""The throughput-responsiveness frontier: output tokens/s per GPU against tokens/s per user.

For each accelerator x precision, every parallel split of the GPUs, batch size and serving mode is evaluated;
the Pareto frontier keeps the points no other point beats on both axes. Cost and energy views re-express the
same points as tokens per dollar (owned cost per GPU-hour from catalog prices, economics and modelled power)
and tokens per kWh.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.economics import owned_cost_usd_per_hour, price_usd
from planner.errors import InputError
from planner.perf import evaluate
from planner.predict.query import build_grid, normalize_queries


def frontier_grid(catalog: Catalog, model: str, gpus_list: list[str], precisions: list[str], isl: int, osl: int,
                  gpus: int | None) -> pd.DataFrame:
    """Every configuration to evaluate: accelerator x precision x split x serving mode x batch (the same
    search `planner predict` runs, with both serving modes)."""
    catalog.get("models", model)
    rows = []
    for acc_id in gpus_list:
        acc = catalog.get("accelerators", acc_id, what="accelerator")
        for prec in precisions:
            catalog.get("precisions", prec, what="precision")
            rows.append({"model": model, "gpu": acc_id, "gpus": gpus or acc.scale_up_domain, "precision": prec,
                         "isl": isl, "osl": osl, "serving": "auto"})
    queries = normalize_queries(pd.DataFrame(rows), catalog)
    bad = queries[queries["error"] != ""]
    if len(bad):
        raise InputError(bad["error"].iloc[0])
    grid = build_grid(queries, catalog)
    if grid.empty:
        raise InputError(f"no valid parallel split for {model} on {', '.join(gpus_list)}")
    return grid


def pareto_front(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows not dominated on (x, y), both maximized; sorted by x ascending."""
    pts = points.sort_values([x, y], ascending=[False, False])
    best_y = -np.inf
    keep = []
    for idx, yv in zip(pts.index, pts[y], strict=True):
        if yv > best_y:
            keep.append(idx)
            best_y = yv
    return points.loc[keep].sort_values(x)


# The cost view prices every accelerator the same way: base prices, this economics entry and this site.
COST_ECONOMICS = "default"
COST_SITE = "new-ai-facility"


def _cost_per_gpu_hour(catalog: Catalog, acc_id: str, avg_power_w_per_gpu: pd.Series) -> pd.Series:
    """Owned $/GPU-hour of the cheapest system carrying this accelerator (base prices, COST_ECONOMICS and
    COST_SITE; NaN when the catalog lacks either)."""
    systems = [s for s in catalog.systems.values() if s.accelerator == acc_id]
    if not systems:
        return pd.Series(np.nan, index=avg_power_w_per_gpu.index)
    econ = catalog.economics.get(COST_ECONOMICS)
    site = catalog.sites.get(COST_SITE)
    if econ is None or site is None:
        return pd.Series(np.nan, index=avg_power_w_per_gpu.index)
    sys_ = min(systems, key=lambda s: (s.price.base_usd / s.accelerator_count, s.id))
    n = sys_.accelerator_count
    # Host power beyond the boards is charged in proportion: nameplate share of the GPUs' TDP.
    host_factor = sys_.nameplate_power_kw * 1e3 / (n * catalog.accelerators[acc_id].tdp_w)
    return owned_cost_usd_per_hour(
        capex_usd=price_usd(sys_.price, "base") * (1 + econ.network_fraction_of_capex) / n,
        avg_power_kw=avg_power_w_per_gpu * host_factor / 1e3,
        nameplate_kw=sys_.nameplate_power_kw / n,
        amortization_years=econ.amortization_years,
        cost_of_capital=econ.cost_of_capital,
        maintenance_fraction_per_year=econ.maintenance_fraction_per_year,
        electricity_usd_per_kwh=price_usd(econ.electricity_usd_per_kwh, "base"),
        pue=site.pue,
        facility_usd_per_kw_month=price_usd(site.facility_usd_per_kw_month, "base"),
    )


def compute_frontier(catalog: Catalog, model: str, gpus_list: list[str], precisions: list[str], isl: int,
                     osl: int, gpus: int | None = None) -> pd.DataFrame:
    """Frontier points per accelerator/precision with cost and energy views."""
    results = evaluate(frontier_grid(catalog, model, gpus_list, precisions, isl, osl, gpus), catalog)
    ok = results[results["fits"]].copy()
    if ok.empty:
        reasons = "; ".join(sorted(set(results["reason"].astype(str)))[:3])
        raise InputError(f"no configuration of {model} fits on {', '.join(gpus_list)}: {reasons}")
    ok["avg_power_w_per_gpu"] = ok["avg_power_w"] / ok["gpus"]
    fronts = []
    for (acc_id, prec), grp in ok.groupby(["accelerator", "precision"], sort=True):
        front = pareto_front(grp, "output_tok_s_per_user", "output_tok_s_per_gpu").copy()
        usd_h = _cost_per_gpu_hour(catalog, acc_id, front["avg_power_w_per_gpu"])
        front["usd_per_gpu_hour"] = usd_h
        front["tokens_per_usd"] = front["output_tok_s_per_gpu"] * 3600.0 / usd_h
        front["tokens_per_kwh"] = front["output_tok_s_per_gpu"] * 3600.0 / (front["avg_power_w_per_gpu"] / 1e3)
        front["series"] = f"{acc_id} {prec}"
        fronts.append(front)
    cols = ["series", "accelerator", "precision", "tp", "pp", "ep", "attn_dp", "serving", "batch", "gpus",
            "output_tok_s_per_user", "output_tok_s_per_gpu", "ttft_s", "tpot_s", "avg_power_w_per_gpu",
            "usd_per_gpu_hour", "tokens_per_usd", "tokens_per_kwh"]
    return pd.concat(fronts, ignore_index=True)[cols]
