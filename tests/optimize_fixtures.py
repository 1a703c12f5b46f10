"""Hand-made instances and candidate tables: the MIP is tested without the performance model."""

from __future__ import annotations

import pandas as pd

from planner.optimize.instance import Instance, RackData, SystemData, WorkloadData


def system(
    sid: str,
    acc: str,
    *,
    gpus: int = 8,
    domain: int = 8,
    kw: float = 10.0,
    units: int | None = 8,
    price: float = 250_000,
    buy: bool = True,
    rent: float | None = None,
    existing: int = 0,
    supply: int | None = None,
    cooling: str = "air",
    idle_w: float = 100.0,
    usd_per_w_hour: float = 1.3e-4,
    crf: float = 0.25,
    whole_rack: bool = False,
) -> SystemData:
    capex = price
    fixed = capex * crf / 8760 + (gpus * idle_w) * usd_per_w_hour
    return SystemData(
        id=sid,
        accelerator=acc,
        gpus=gpus,
        domain=domain,
        nameplate_kw=kw,
        rack_units=None if whole_rack else units,
        whole_rack=whole_rack,
        cooling=cooling,
        price_usd=price,
        capex_usd=capex,
        buy=buy,
        rent=rent is not None,
        existing=existing,
        supply=supply,
        rent_supply=None,
        rent_usd_per_gpu_hour=rent,
        idle_w=idle_w,
        tdp_w=700,
        non_gpu_avg_w=0.0,
        new_usd_per_hour=fixed,
        existing_usd_per_hour=fixed - capex * crf / 8760,
        usd_per_w_hour=usd_per_w_hour,
    )


def workload(wid: str, demand: float, *, headroom: float = 0.0, min_replicas: int = 1) -> WorkloadData:
    return WorkloadData(
        wid, 1024, 256, 1.0, 0.05, None, None, demand, headroom, min_replicas, None, None, None, ("aggregated",)
    )


def instance(
    workloads, systems, racks=(), *, power_limit_kw=None, capex=None, hourly=None, objective="min_cost", cap=None
) -> Instance:
    return Instance(
        name="test",
        workloads={w.id: w for w in workloads},
        systems={s.id: s for s in systems},
        racks={r.id: r for r in racks},
        pue=1.3,
        power_limit_kw=power_limit_kw,
        electricity_usd_per_kwh=0.1,
        facility_usd_per_kw_month=0.0,
        crf=0.25,
        maintenance_fraction=0.0,
        network_fraction=0.0,
        amortization_years=5,
        cost_of_capital=0.08,
        budget_capex_usd=capex,
        budget_usd_per_hour=hourly,
        objective=objective,
        demand_cap_multiple=cap,
        time_limit_s=30,
        gap=1e-6,
    )


def rack(
    rid: str, kw: float = 40.0, units: int = 42, count: int | None = None, cooling: str = "air", price: float = 0.0
) -> RackData:
    return RackData(rid, kw, units, cooling, count, price, price * 0.25 / 8760)


def cand(
    workload: str,
    system: str,
    acc: str,
    *,
    gpus: int,
    out: float,
    watts: float,
    tp: int | None = None,
    model: str = "m",
    precision: str = "fp8",
    batch: int = 32,
    mode: str = "own",
    group: int | None = None,
):
    tp = tp or gpus
    key = f"{workload}/{model}/{system}/{precision}/tp{tp}pp1/b{batch}/agg" + ("/rent" if mode == "rent" else "")
    return dict(
        key=key,
        workload=workload,
        model=model,
        precision=precision,
        kv_precision="fp8",
        system=system,
        accelerator=acc,
        tp=tp,
        pp=1,
        ep=1,
        attn_dp=1,
        serving="aggregated",
        batch=batch,
        gpus=gpus,
        group_gpus=group or tp,
        output_tok_s=out,
        total_tok_s=out * 5,
        ttft_s=0.3,
        tpot_s=0.03,
        avg_power_w=watts,
        peak_power_w=watts * 1.2,
        quality=60.0,
        mode=mode,
    )


def table(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows))
