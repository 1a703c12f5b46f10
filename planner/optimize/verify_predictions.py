"""verify's re-prediction family: each deployment of the plan through the performance model again (the caller's
`predict`, the same model the candidates were sized with), its tokens/s, TTFT, TPOT, power and layout compared
with what the plan says, and the latency targets checked on the re-predicted figures.

Like the rest of verify it reads only the plan and the resolved problem: the rows it asks for are rebuilt from
the plan's deployments, never taken from the candidate table.
"""

from __future__ import annotations

import pandas as pd

from planner.optimize.instance import Instance
from planner.optimize.verify_buyer import output_multiplier
from planner.perf.reasoning import decoded_osl
from planner.plan import GENERIC_ENGINE

PREDICTION_TOL = 0.01  # re-predicted tok/s, TTFT, TPOT may differ from the plan by 1% (float noise, versions)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= PREDICTION_TOL * max(1.0, abs(a), abs(b))


def _phase_layout(d) -> dict:
    """A disaggregated deployment's prefill layout as perf grid columns (none: prefill shares the decode one)."""
    if d.serving != "disaggregated" or d.prefill_tp is None:
        return {}
    return {f"prefill_{c}": getattr(d, f"prefill_{c}") or 1 for c in ("tp", "pp", "ep", "attn_dp")}


def _grid_row(d, inst: Instance, effort_multiplier: float) -> dict:
    """A deployment as the perf grid row it was evaluated from (generated tokens per visible one: its effort;
    the hidden ones come before the first visible token)."""
    w = inst.workloads[d.workload]
    osl = decoded_osl(w.osl, effort_multiplier)
    return dict(
        model=d.model,
        accelerator=d.accelerator,
        precision=d.precision,
        kv_precision=d.kv_precision,
        tp=d.tp,
        pp=d.pp,
        ep=d.ep,
        attn_dp=d.attn_dp,
        serving=d.serving,
        batch=d.batch,
        isl=w.isl,
        osl=osl,
        hidden_tokens=osl - w.osl,
        ttft_target_s=w.ttft_target_s,
        tpot_target_s=w.tpot_target_s,
        slo_percentile=w.slo_percentile,
        engine="" if d.engine == GENERIC_ENGINE else d.engine,
        speculative=d.speculative,
        **_phase_layout(d),
    )


def _repredicted(deployments: list, inst: Instance, predict, catalog) -> tuple[list, list[dict]]:
    """(the deployments re-checked, their re-predicted figures as the plan states them: visible tokens)."""
    mult = [output_multiplier(catalog, d) for d in deployments]
    res = predict(pd.DataFrame([_grid_row(d, inst, k) for d, k in zip(deployments, mult, strict=True)]))
    res = res.reset_index(drop=True)
    # reasoning effort: visible tokens per generated one (TTFT is the first visible token's already)
    res["output_tok_s"] = res["output_tok_s"].astype(float) / pd.Series(mult)
    return deployments, res.to_dict("records")


def check_predictions(deployments: list, inst: Instance, predict, v: list[str], catalog=None) -> int:
    """Re-predict `deployments` (all of whose workload, system, model and precision exist) and append to `v` a
    message per figure the plan states otherwise; returns the number of checks made."""
    deployments, rows = _repredicted(deployments, inst, predict, catalog)
    n = 0
    for d, r in zip(deployments, rows, strict=True):
        n += 1
        if not bool(r.get("fits", True)):
            v.append(f"{d.key}: the performance model says it does not run ({r.get('reason')})")
            continue
        n += _check_figures(d, r, inst, v)
    return n


def _check_figures(d, r: dict, inst: Instance, v: list[str]) -> int:
    """One deployment that runs: its figures against the re-predicted row `r`; returns the checks made."""
    w = inst.workloads[d.workload]
    n = 0
    for col, mine in (
        ("output_tok_s", d.output_tok_s_per_replica),
        ("ttft_s", d.ttft_s),
        ("tpot_s", d.tpot_s),
        ("avg_power_w", d.avg_power_w_per_replica),
    ):
        n += 1
        if not _close(float(r[col]), mine):
            v.append(f"{d.key}: {col} {mine:g} in the plan, {float(r[col]):g} re-predicted")
    n += 2
    if float(r["ttft_s"]) > w.ttft_target_s * (1 + PREDICTION_TOL) or float(r["tpot_s"]) > w.tpot_target_s * (
        1 + PREDICTION_TOL
    ):
        v.append(
            f"{d.key}: re-predicted TTFT/TPOT {float(r['ttft_s']) * 1000:.0f}/{float(r['tpot_s']) * 1000:.1f}"
            f" ms miss the targets {w.ttft_target_s * 1000:g}/{w.tpot_target_s * 1000:g} ms"
        )
    for col in ("prefill_instances", "decode_instances"):
        mine = getattr(d, col)
        if d.serving == "disaggregated" and mine is not None:
            n += 1
            if round(float(r.get(col, float("nan")) or 0)) != mine:
                v.append(f"{d.key}: {mine} {col.replace('_', ' ')} per unit in the plan, {r.get(col)} "
                         "re-predicted")
    n += 1
    if d.speculative != "none" and not _close(float(r.get("acceptance_length", float("nan"))),
                                              d.acceptance_length or 0.0):
        v.append(f"{d.key}: acceptance length {d.acceptance_length} in the plan, "
                 f"{r.get('acceptance_length')} re-predicted")
    n += 1
    if str(r.get("speculative_method", "none") or "none") != d.speculative:
        v.append(f"{d.key}: speculative {d.speculative} in the plan, re-predicted "
                 f"{r.get('speculative_method')}")
    if int(r["gpus"]) != d.gpus_per_replica:
        v.append(f"{d.key}: {d.gpus_per_replica} GPUs per replica in the plan, {int(r['gpus'])} re-predicted")
    return n
