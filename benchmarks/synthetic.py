"""A seeded synthetic problem of W workloads x S systems for scale tests (no performance model needed).

Systems are 8-GPU servers (and one 72-GPU whole rack) with prices and powers spread around the catalog's;
each (workload, system) pair gets a few configurations (1-8 GPUs, tok/s per GPU with diminishing returns).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.economics import HOURS_PER_YEAR
from planner.optimize.instance import Instance, RackData, SystemData, WorkloadData
from planner.optimize.prune import prune_dominated


def synthetic_instance(
    catalog=None, *, workloads: int = 50, systems: int = 15, seed: int = 7, configs: int = 8
) -> tuple[Instance, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    crf, pue, elec = 0.30, 1.3, 0.08
    sys_d: dict[str, SystemData] = {}
    for k in range(systems):
        whole = k == systems - 1
        gpus = 72 if whole else 8
        kw = 120.0 if whole else float(rng.uniform(6, 15))
        price = float(gpus * rng.uniform(15_000, 60_000))
        idle = 100.0
        usd_w = pue * elec / 1000
        sys_d[f"sys{k:02d}"] = SystemData(
            id=f"sys{k:02d}",
            accelerator=f"acc{k:02d}",
            gpus=gpus,
            domain=gpus,
            nameplate_kw=kw,
            rack_units=None if whole else int(rng.choice([4, 6, 8, 10])),
            whole_rack=whole,
            cooling="liquid" if whole else "air",
            price_usd=price,
            capex_usd=price * 1.1,
            buy=True,
            rent=False,
            existing=0,
            supply=None,
            rent_supply=None,
            rent_usd_per_gpu_hour=None,
            idle_w=idle,
            tdp_w=700,
            non_gpu_avg_w=1000.0,
            new_usd_per_hour=price * 1.1 * (crf + 0.05) / HOURS_PER_YEAR + (1000 + gpus * idle) * usd_w,
            existing_usd_per_hour=0.0,
            usd_per_w_hour=usd_w,
        )
    racks = {
        "air-40kw": RackData("air-40kw", 40.0, 42, "air", None, 25_000.0, 25_000.0 * (crf + 0.05) / 8760),
        "liquid-132kw": RackData(
            "liquid-132kw", 132.0, 48, "liquid", None, 80_000.0, 80_000.0 * (crf + 0.05) / 8760
        ),
    }
    wls: dict[str, WorkloadData] = {}
    rows = []
    for w in range(workloads):
        wid = f"w{w:02d}"
        wls[wid] = WorkloadData(
            wid,
            1024,
            256,
            1.0,
            0.05,
            None,
            None,
            float(rng.uniform(5e3, 2e5)),
            0.1,
            int(rng.integers(1, 3)),
            None,
            None,
            None,
            ("aggregated",),
        )
        for sid, sd in sys_d.items():
            base = rng.uniform(300, 3000)
            for c in range(configs):
                g = int(rng.choice([1, 2, 4, 8] + ([16, 32] if sd.gpus == 72 else [])))
                out = base * g ** rng.uniform(0.8, 1.0) * rng.uniform(0.7, 1.0)
                watts = g * rng.uniform(350, 900)
                rows.append(
                    dict(
                        key=f"{wid}/m/{sid}/fp8/tp{g}pp1/b{c}/agg",
                        workload=wid,
                        model="m",
                        precision="fp8",
                        kv_precision="fp8",
                        system=sid,
                        accelerator=sd.accelerator,
                        tp=g,
                        pp=1,
                        ep=1,
                        attn_dp=1,
                        serving="aggregated",
                        batch=c + 1,
                        gpus=g,
                        group_gpus=g,
                        output_tok_s=out,
                        total_tok_s=out * 5,
                        ttft_s=0.5,
                        tpot_s=0.04,
                        avg_power_w=watts,
                        peak_power_w=watts * 1.2,
                        quality=None,
                        mode="own",
                    )
                )
    inst = Instance(
        name=f"synthetic-{workloads}x{systems}",
        workloads=wls,
        systems=sys_d,
        racks=racks,
        pue=pue,
        power_limit_kw=None,
        electricity_usd_per_kwh=elec,
        facility_usd_per_kw_month=0.0,
        crf=crf,
        maintenance_fraction=0.05,
        network_fraction=0.1,
        amortization_years=4,
        cost_of_capital=0.08,
        budget_capex_usd=None,
        budget_usd_per_hour=None,
        objective="min_cost",
        demand_cap_multiple=None,
        time_limit_s=60,
        gap=1e-4,
    )
    cands = prune_dominated(pd.DataFrame(rows).drop_duplicates("key").sort_values("key").reset_index(drop=True),
                            {s: sd.idle_w for s, sd in inst.systems.items()})
    return inst, cands
