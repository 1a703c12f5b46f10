"""Reasoning deployments under load: requests that decode `hidden` reasoning tokens before their first visible one.

A request decodes hidden + visible tokens: the step tables, KV, seats and the replica's saturation see all of
them (the grid's osl is both). What the user sees starts at the first visible token, so
  TTFT = queue wait + prefill + the hidden tokens' decode steps, each term read at the SLO percentile;
  TPOT = over the visible tokens;
  throughput counts visible tokens (the candidate search divides by the effort's `output_multiplier`).
Aggregated replicas: the queueing model's TTFT percentile plus the hidden phase at the same percentile
(`hidden_phase_s`, threaded through `queueing.open_loop` and `max_rate_meeting`). Adding the two quantiles
bounds the quantile of their sum from above (exact where they move together, as both grow with the occupancy).
Disaggregated units: the units' own batch search with the hidden tokens threaded through
(`disagg_capacity.disaggregated_units`, `search.largest_batch_meeting(hidden=)`: the decode instances decode hidden
+ visible tokens, the unit is sized with each hidden step at its full batch's TPOT), then the same prefill and
decode-seat queues as every unit (`disagg_capacity.disaggregated_under_slo`), the hidden steps read at the decode
batch the load gives (`reasoning_disagg`). With no hidden tokens both paths are the ordinary ones, to the last bit.
"""

from __future__ import annotations

import numpy as np


def decoded_osl(visible_osl: int, output_multiplier: float) -> int:
    """Tokens a request decodes for `visible_osl` visible ones at an effort's output multiplier (the hidden
    reasoning tokens come first): the candidate grid's osl, what extract and verify read back, and the hidden
    tokens `predict --effort` resolves to (this minus the visible osl)."""
    return round(visible_osl * output_multiplier)


def hidden_phase_s(hidden: np.ndarray, step_mean: np.ndarray, step_q: np.ndarray, z: float, tpot_sd: np.ndarray,
                   n_visible: np.ndarray, spread: float) -> np.ndarray:
    """Seconds the `hidden` decode steps before the first visible token take at a percentile, read as TPOT is
    (`queueing.open_loop`): the mean step, the occupancy's percentile step shrunk by `spread` (a phase averages
    the occupancy over its steps), and the Poisson luck of prompt chunks landing in it (their sd over h steps is
    TPOT's sd per step x sqrt(h x the `n_visible` gaps TPOT's sd was taken over)). Exactly 0 on rows without
    hidden tokens (so TTFT plus it is the ordinary TTFT to the bit)."""
    h = np.asarray(hidden, dtype=float)
    with np.errstate(invalid="ignore"):  # rows without a rate (NaN, inf): their figures are dropped anyway
        phase = h * step_mean + np.hypot(h * spread * (step_q - step_mean), z * tpot_sd * np.sqrt(h * n_visible))
    return np.where(h > 0, phase, 0.0)


__all__ = ["decoded_osl", "hidden_phase_s"]
