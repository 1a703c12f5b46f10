"""The prefill phase of disaggregated serving on its own: what one prefill instance of a layout does, so the
candidate search can drop dominated prefill layouts before pairing them with decode layouts.

prefill_phase(grid, catalog) -> DataFrame
    Per row (model, accelerator, precision, kv_precision, tp, pp, ep, attn_dp, isl, osl, optional engine: the
    prefill instance's own layout): fits / reason (weights and one prompt's activations in memory, layout rules),
    prefill_s (one pass through all stages: the TTFT share of prefill), prefill_rps (requests/s one instance
    admits running passes back to back), prefill_gpus (GPUs of one instance), prefill_power_w (its board power
    when busy all the time). The figures are those `serving.disaggregated` uses for the unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.evaluate import evaluate
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.serving import _power_w, prefill_instance

PHASE_COLUMNS = ("fits", "reason", "prefill_s", "prefill_rps", "prefill_gpus", "prefill_power_w")


def prefill_phase(grid: pd.DataFrame, catalog: Catalog, *, efficiency: Efficiency | None = None) -> pd.DataFrame:
    """One prefill instance per row (see the module docstring); rows come back in the grid's order."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    pg = grid.drop(columns=["speculative"], errors="ignore").reset_index(drop=True)
    pg = pg.assign(batch=1, serving="aggregated")  # drafts run on decode instances only
    ev = evaluate(pg, catalog, efficiency=eff)
    out = pd.DataFrame({"fits": ev["fits"].to_numpy(dtype=bool), "reason": ev["reason"].to_numpy(dtype=object)})
    if len(pg) == 0:
        return out.assign(prefill_s=[], prefill_rps=[], prefill_gpus=[], prefill_power_w=[])
    c, _ = resolve(normalize_grid(pg), catalog, eff)
    pre, rate = prefill_instance(c, eff.serving, c.isl)
    busy = dict(pre)
    for k in ("time_s", "compute_busy_s", "memory_busy_s"):
        busy[k] = pre[k] / c.pp  # one stage's share while passes are pipelined, as the unit's power counts it
    gpus = c.tp * c.pp * c.attn_dp
    fits = out["fits"].to_numpy()
    out["prefill_s"] = np.where(fits, pre["time_s"], np.nan)
    out["prefill_rps"] = np.where(fits, rate, np.nan)
    out["prefill_gpus"] = gpus.astype(np.int64)
    out["prefill_power_w"] = np.where(fits, _power_w(c, busy) * gpus, np.nan)
    return out
