"""A problem's workloads resolved against the catalog (part of `build_instance`): archetype defaults, latency
targets in seconds, demand as output tokens/s (peak and average), the models, precisions and engines searched.
"""

from __future__ import annotations

import math

from planner.catalog.catalog import Catalog
from planner.optimize.input_errors import InputErrors
from planner.optimize.instance import WorkloadData
from planner.optimize.problem import Problem


def _rate_out_tok_s(d, isl: int, osl: int) -> float:
    """Output tokens/s of a demand figure (tokens_per_day counts input + output tokens)."""
    if d.output_tokens_per_s:
        return float(d.output_tokens_per_s)
    if d.requests_per_s:
        return float(d.requests_per_s) * osl
    return d.tokens_per_day / (isl + osl) / 86400 * osl


def _demands(w, isl: int, osl: int) -> tuple[float | None, float | None]:
    """(peak, average) output tokens/s of a workload. tokens_per_day is an average (peak = x peak_factor);
    requests_per_s and output_tokens_per_s are peaks (average = / peak_factor, or `average_demand`)."""
    if w.demand is None:
        return None, None
    d = w.demand
    rate = _rate_out_tok_s(d, isl, osl)
    factor = w.peak_factor if w.peak_factor is not None else d.peak_factor
    if d.tokens_per_day:
        peak, average = rate * factor, rate
    else:
        peak, average = rate, (rate / w.peak_factor if w.peak_factor is not None else None)
    if w.average_demand is not None:
        average = _rate_out_tok_s(w.average_demand, isl, osl)
    return peak, average


def _check_workload_refs(w, path: str, catalog: Catalog, err: InputErrors) -> None:
    if w.quality_floor is not None and not any(
        m.score(w.quality_floor.benchmark) is not None for m in catalog.models.values()
    ):
        benchmarks = sorted({q.benchmark for m in catalog.models.values() for q in m.quality})
        err.bad(
            f"{path}.quality_floor.benchmark",
            f"no catalog model has a score on {w.quality_floor.benchmark!r} "
            f"(benchmarks: {', '.join(benchmarks) or 'none'})",
        )
    for key, ids, table in (
        ("models", w.models, catalog.models),
        ("precisions", w.precisions, catalog.precisions),
        ("engines", [e for e in w.engines or [] if e != "all"], catalog.engines),
    ):
        for i, x in enumerate(ids or []):
            if x not in table:
                err.bad(f"{path}.{key}[{i}]", f"unknown {key[:-1]} {x!r} (known: {err.known(table)})")


def current_engines(catalog: Catalog) -> tuple[str, ...]:
    """Catalog engines that no newer version supersedes (what `engines: all` means)."""
    return tuple(sorted(e for e, eng in catalog.engines.items() if eng.superseded_by is None))


def _engines(listed: list[str] | None, catalog: Catalog) -> tuple[str, ...] | None:
    """The engines a workload searches: None = the generic engine; `all` = every current catalog engine (each is
    then kept only on the accelerators and precisions it serves; superseded versions only when named)."""
    if not listed:
        return None
    return current_engines(catalog) if "all" in listed else tuple(listed)


def resolve_workload(w, catalog: Catalog, err: InputErrors, problem: Problem) -> WorkloadData | None:
    path = f"workloads[{w.id}]"
    arch = None
    if w.archetype is not None:
        arch = catalog.workloads.get(w.archetype)
        if arch is None:
            err.bad(
                f"{path}.archetype",
                f"unknown workload archetype {w.archetype!r} (known: {err.known(catalog.workloads)})",
            )
            return None
    vals = {}
    for f in ("isl_tokens", "osl_tokens", "ttft_ms", "tpot_ms"):
        v = getattr(w, f)
        if v is None and arch is not None:
            v = getattr(arch, f)
        if f == "ttft_ms" and v in (None, "none"):  # no TTFT target (none given, or dropped with `none`, or
            v = math.inf  # none in the archetype): planned at an assumed utilization (perf.capacity)
        if v is None:
            err.bad(f"{path}.{f}", "required field is missing (give it, or an archetype)")
        vals[f] = v
    if any(v is None for v in vals.values()):
        return None
    floor = None if w.no_quality_floor else (w.quality_floor or (arch.quality_floor if arch else None))
    _check_workload_refs(w, path, catalog, err)
    isl, osl = int(vals["isl_tokens"]), int(vals["osl_tokens"])
    demand, average = _demands(w, isl, osl)
    survive = w.survive or problem.survive
    return WorkloadData(
        id=w.id,
        isl=isl,
        osl=osl,
        ttft_target_s=vals["ttft_ms"] / 1000,
        tpot_target_s=vals["tpot_ms"] / 1000,
        floor_benchmark=floor.benchmark if floor else None,
        floor_score=floor.min_score if floor else None,
        demand_out_tok_s=demand,
        headroom=w.headroom,
        min_replicas=w.min_replicas,
        models=tuple(w.models) if w.models else None,
        precisions=tuple(w.precisions) if w.precisions else None,
        kv_precisions=tuple(w.kv_precisions) if w.kv_precisions else None,
        serving=tuple(w.serving),
        engines=_engines(w.engines if w.engines is not None else problem.fleet.engines, catalog),
        speculative=("auto",) if w.speculative and "auto" in w.speculative else
        tuple(w.speculative) if w.speculative else None,
        prefill_layouts=w.prefill_layouts,
        allow_quantization=w.allow_quantization,
        effort=(w.effort,) if isinstance(w.effort, str) else tuple(w.effort) if w.effort else None,
        survive_level=survive.level if survive and survive.count > 0 else None,
        survive_count=survive.count if survive else 0,
        average_out_tok_s=average,
        slo_percentile=float(w.slo_percentile if w.slo_percentile is not None else problem.slo_percentile),
    )
