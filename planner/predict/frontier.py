"""The throughput-responsiveness frontier: output tokens/s per GPU against tokens/s per user.

For each accelerator x precision, every parallel split of the GPUs, batch size and serving mode is evaluated;
the Pareto frontier keeps the points no other point beats on both axes. Cost and energy views re-express the
same points as tokens per dollar (owned cost per GPU-hour from catalog prices, economics and modelled power)
and tokens per kWh, both on all-in power (GPUs + host + network, planner.power) as `solve` and `predict` count it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import power
from planner.catalog.catalog import Catalog
from planner.economics import owned_cost_usd_per_hour, price_usd
from planner.errors import InputError
from planner.perf import evaluate
from planner.predict.load import percentile_columns
from planner.predict.query import as_closed_loop, build_grid, normalize_queries


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


def _cost_per_gpu_hour(catalog: Catalog, acc_id: str, all_in_w_per_gpu: pd.Series) -> pd.Series:
    """Owned $/GPU-hour in the accelerator's reference system (cheapest per GPU; base prices, COST_ECONOMICS
    and COST_SITE; NaN when the catalog lacks either), energy on all-in power and facility on provisioned
    all-in kW (planner.power)."""
    sys_ = power.reference_system(catalog, acc_id)
    econ = catalog.economics.get(COST_ECONOMICS)
    site = catalog.sites.get(COST_SITE)
    if sys_ is None or econ is None or site is None:
        return pd.Series(np.nan, index=all_in_w_per_gpu.index)
    n = sys_.accelerator_count
    return owned_cost_usd_per_hour(
        capex_usd=price_usd(sys_.price, "base") * (1 + econ.network_fraction_of_capex) / n,
        avg_power_kw=all_in_w_per_gpu / 1e3,
        nameplate_kw=power.provisioned_kw(sys_) / n,
        amortization_years=econ.amortization_years,
        cost_of_capital=econ.cost_of_capital,
        maintenance_fraction_per_year=econ.maintenance_fraction_per_year,
        electricity_usd_per_kwh=price_usd(econ.electricity_usd_per_kwh, "base"),
        pue=site.pue,
        facility_usd_per_kw_month=price_usd(site.facility_usd_per_kw_month, "base"),
    )


def _all_in_w_per_gpu(catalog: Catalog, acc_id: str, board_w_per_gpu: pd.Series) -> pd.Series:
    sys_ = power.reference_system(catalog, acc_id)
    if sys_ is None:
        return pd.Series(np.nan, index=board_w_per_gpu.index)
    return power.all_in_avg_w(board_w_per_gpu, 1, sys_, catalog.accelerators[acc_id].tdp_w)


def compute_frontier(catalog: Catalog, model: str, gpus_list: list[str], precisions: list[str], isl: int,
                     osl: int, gpus: int | None = None) -> pd.DataFrame:
    """Frontier points per accelerator/precision with cost and energy views."""
    results = evaluate(frontier_grid(catalog, model, gpus_list, precisions, isl, osl, gpus), catalog)
    ok = results[results["fits"]].copy()
    if ok.empty:
        reasons = "; ".join(sorted(set(results["reason"].astype(str)))[:3])
        raise InputError(f"no configuration of {model} fits on {', '.join(gpus_list)}: {reasons}")
    ok = at_batch_as_clients(ok, catalog)
    ok["avg_power_w_per_gpu"] = ok["avg_power_w"] / ok["gpus"]
    fronts = []
    for (acc_id, prec), grp in ok.groupby(["accelerator", "precision"], sort=True):
        front = pareto_front(grp, "output_tok_s_per_user", "output_tok_s_per_gpu").copy()
        front["all_in_w_per_gpu"] = _all_in_w_per_gpu(catalog, acc_id, front["avg_power_w_per_gpu"])
        usd_h = _cost_per_gpu_hour(catalog, acc_id, front["all_in_w_per_gpu"])
        front["usd_per_gpu_hour"] = usd_h
        front["tokens_per_usd"] = front["output_tok_s_per_gpu"] * 3600.0 / usd_h
        front["tokens_per_kwh"] = power.tokens_per_kwh(front["output_tok_s_per_gpu"], front["all_in_w_per_gpu"])
        front["series"] = f"{acc_id} {prec}"
        fronts.append(front)
    cols = ["series", "accelerator", "precision", "tp", "pp", "ep", "attn_dp", "serving", "batch", "gpus",
            "output_tok_s_per_user", "output_tok_s_per_gpu", "ttft_s", "tpot_s", "avg_power_w_per_gpu",
            "all_in_w_per_gpu", "usd_per_gpu_hour", "tokens_per_usd", "tokens_per_kwh"]
    out = pd.concat(fronts, ignore_index=True)[cols]
    # a requested accelerator x precision with no configuration that fits was left out without a word (mi300x
    # nvfp4 beside gb200's lines): its first reason, for the command to say
    out.attrs["missing"] = {f"{a} {p}": _first_reason(results, a, p) for a in dict.fromkeys(gpus_list)
                            for p in dict.fromkeys(precisions) if f"{a} {p}" not in set(out["series"])}
    return out


def at_batch_as_clients(rows: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Configuration rows with their throughputs, TTFT and TPOT from the load model at their batch as
    closed-loop clients per replica (a disaggregated unit's on each decode instance), as `predict` answers the
    same configuration (`as_closed_loop`). The step model's full batch put disaggregated points 5-30% above
    it in tokens/s per GPU (llama-3.3-70b fp8 on H200, 1,024 / 256: median 10%, TP1 at batch 128 1,115 vs
    1,051) and a TTFT column beside none of predict's (gpt-oss-120b DEP4 at batch 4,096: 0.28 s vs 3.15 s)."""
    out = as_closed_loop(rows, percentile_columns(rows, catalog))
    out["output_tok_s_per_gpu"] = out["output_tok_s"] / out["gpus"]
    return out


def _first_reason(results: pd.DataFrame, accelerator: str, precision: str) -> str:
    mine = results[(results["accelerator"] == accelerator) & (results["precision"] == precision)]
    reasons = [str(r) for r in mine["reason"] if str(r)]
    return reasons[0] if reasons else "no valid parallel split"
