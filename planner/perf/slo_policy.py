"""SLO policy: what a capacity computed in `planner.perf.capacity` holds its targets to, and the rule for a
workload without a TTFT target (each replica's rate held to an assumed share of saturation), with the one
spelling of both that the plan, `solve`'s Targets table, the proposal and `predict` print.

Apart from the capacity computation: the renderers and the plan's readers need the words without the model.
"""

from __future__ import annotations

import numpy as np

from planner.perf.assumptions import ASSUMPTIONS


def no_ttft_target_words(cap: float | None = None) -> str:
    """The assumption in words, the one spelling the plan's slo_basis, predict's notes and the proposal's
    assumptions print: `cap` (a share of saturation; a plan's recorded `utilization_cap`), by default
    `Assumptions.no_ttft_target_utilization`, read when called."""
    share = ASSUMPTIONS.no_ttft_target_utilization if cap is None else cap
    return f"no TTFT target: <= {share:.0%} of saturation (assumed)"


def without_ttft_target(ttft_s, n: int) -> np.ndarray:
    """Rows without a TTFT target: None (none for every row), or per row inf / NaN."""
    if ttft_s is None:
        return np.ones(n, dtype=bool)
    return ~np.isfinite(np.broadcast_to(np.asarray(ttft_s, dtype=float), (n,)))


def utilization_cap(has_deployments: bool, has_ttft_target: bool) -> float | None:
    """The share of saturation a workload's replicas were held to (`utilization_bound`): the assumption, read
    when called, where it has deployments and no TTFT target; None where a target bounds the rate (or nothing
    runs). What extract records in the plan (`WorkloadResult.utilization_cap`) and verify expects there."""
    return ASSUMPTIONS.no_ttft_target_utilization if has_deployments and not has_ttft_target else None


def utilization_bound(rate: np.ndarray, saturation, ttft_s) -> tuple[np.ndarray, np.ndarray]:
    """(`rate` held to the assumed share of `saturation` on the rows without a TTFT target, the rows whose rate
    that bound set): `rate` in requests/s, or utilization with saturation 1. Nothing else stops the rate
    searches short of saturation there, where the queue's waits are unbounded
    (`Assumptions.no_ttft_target_utilization`). A stated TTFT target is the bound itself: those rows are
    unchanged. TPOT only grows with the rate, so a lower rate still meets it. The mask is what callers label
    'utilization' (a row the bound set, with a rate to serve)."""
    rate = np.asarray(rate, dtype=float)
    free = without_ttft_target(ttft_s, len(rate))
    bound = ASSUMPTIONS.no_ttft_target_utilization * np.asarray(saturation, dtype=float)  # read when called
    held = free & (rate >= bound)
    return np.where(held, bound, rate), held & (bound > 0)


def slo_basis(percentile: float, servings, utilization_assumed: bool = False, reasoning: int = 0) -> str:
    """What a capacity computed here holds its targets to, in words: the one label `solve`'s Targets table, the
    plan's workload result, the proposal and `predict` print. `servings`: the serving modes of the workload's
    deployments; `utilization_assumed`: planned without a TTFT target (`utilization_bound`); `reasoning`: how
    many of them decode hidden reasoning tokens before the first visible one (their TTFT is to that token,
    `planner.perf.reasoning`). Aggregated replicas hold TTFT and TPOT at the percentile (the queueing model);
    disaggregated units hold TTFT there (prefill and decode-seat queues) and TPOT as the decode step at the
    unit's full batch, a bound on every percentile (`disaggregated_under_slo`)."""
    p = f"p{float(percentile):g}"
    modes = set(servings)
    if "disaggregated" not in modes:
        text = p
    elif modes == {"disaggregated"}:
        text = f"{p} TTFT; TPOT full-batch step (bounds every percentile)"
    else:
        text = f"{p} (disaggregated: TTFT {p}, TPOT full-batch step)"
    if utilization_assumed:
        text += "; " + no_ttft_target_words()
    if reasoning:
        text += "; reasoning deployments: TTFT to the first visible token (queue, prefill, hidden tokens' decode)"
    return text


def recorded_basis(basis: str | None, percentile: float | None, servings) -> str:
    """What a plan's workload result holds its targets to, one label for solve's Targets table and the proposal:
    its `slo_basis`; for plans written before it, `slo_basis` of the recorded percentile and serving modes; plans
    without a percentile were solved against means."""
    if basis:
        return basis
    return "mean" if percentile is None else slo_basis(percentile, servings)


__all__ = ["no_ttft_target_words", "recorded_basis", "slo_basis", "utilization_bound", "utilization_cap",
           "without_ttft_target"]
