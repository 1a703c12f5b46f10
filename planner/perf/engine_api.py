"""The engine fit's API-server time (request_s) and the predictions that run with it.

request_s enters a prediction twice: added to TTFT (the request's own HTTP / chat template / tokenization time),
and, as API_SERIAL_SHARE of it, the serial intake that spreads a burst over time at the API server
(arrivals.py): in a burst of 1,000 requests the last reaches the scheduler 1,000 x the serial share after the
first. The grid trials (engine_fit._trials) run every combo with request_s = 0, since request_s is fitted after
the factors; a constant TTFT shift on top of them leaves the intake out. So the fitted and the
leave-one-source-out (LOSO) predictions are the rows under load predicted again with each group's chosen combo
and its own request_s: in sample once (what `planner calibrate` computes from efficiency.yaml), once per held-out
source with the factors and request_s re-chosen without it. Two prediction passes over the rows, where a second
grid of trials with request_s would take ~200.

`api_fixed_point`  request_s of a group: the light-load TTFT residual of the model run with that request_s.
`engines_section`, `predict_rows`  the rows under load with given factors and request_s per engine x vendor
    (or architecture family).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from planner.catalog.catalog import Catalog
from planner.perf.params import Efficiency
from planner.perf.serving_fidelity import load_predictions

REQUEST_S_DECIMALS = 4  # as efficiency.yaml writes it: the fitted and LOSO predictions run with the written value
FIXED_POINT_TOL_S = 1e-6  # well below the written resolution (1e-4 s)
FIXED_POINT_ITERS = 30


def named_rows(group: np.ndarray) -> np.ndarray:
    """Rows of a named engine (the generic engine's rows have no API-server time in the model)."""
    return np.char.find(group.astype(str), "generic/") != 0


def engines_section(t, combo_of_row: np.ndarray, api_s: dict[str, float], rows: np.ndarray,
                    keys: np.ndarray | None = None) -> dict:
    """{engine: {vendor or family: factors}} of every named engine's fit key among `rows`: the grid combo its
    rows have in `combo_of_row` (one per key) and the request_s of the rows' engine x vendor group from `api_s`
    ('engine/vendor' -> s). `keys` per row ('engine/vendor' or 'engine/family', engine_fit.choose) defaults to
    the engine x vendor group."""
    group = t.group[:len(rows)]  # `rows` may cover the rows under load only
    keys = (group if keys is None else keys)[:len(rows)]
    out: dict = {}
    for key in sorted(set(keys[rows & named_rows(group)])):
        eng, where = key.split("/")
        mine = rows & (keys == key)
        (k,) = set(combo_of_row[:len(rows)][mine].tolist())
        (g,) = set(group[mine])
        out.setdefault(eng, {})[where] = {**t.combos[int(k)], "request_s": float(api_s[g])}
    return out


def predict_rows(t, catalog: Catalog, eff: Efficiency, rows: np.ndarray, engines: dict) -> np.ndarray:
    """Predicted values of the rows under load `rows` (a mask over t.base, or over base + published rows, whose
    published part is ignored) with `engines` as efficiency.yaml's engines section (the accelerator and serving
    factors those of `eff`)."""
    rows = rows[:t.n_load]
    trial = dataclasses.replace(eff, engines=engines)
    mapped = t.base[rows].drop(columns=["predicted", "regime", "why_not"])
    return load_predictions(mapped, catalog, trial)["predicted"].to_numpy(dtype=float)


def api_fixed_point(t, catalog: Catalog, eff: Efficiency, mask: np.ndarray, combo_of_row: np.ndarray,
                    keys: np.ndarray | None = None) -> float:
    """request_s fitted on the light-load rows of `mask` (t.api_s), with the model's own intake: the TTFT the
    residual is taken from is the model's with the candidate request_s, whose serial share queues the requests
    of a light burst (8 at once: the last waits 7 x the share), so request_s is the fixed point
    a = api_s(wait(a)). The wait grows with a at a slope of at most the serial share x (requests - 1) < 1, so
    the iteration converges; rows of the generic engine (no API server in the model) keep no wait. Rounded as
    efficiency.yaml writes it. `keys`: each row's fit key, as engines_section takes it."""
    a = t.api_s(mask, combo_of_row)
    light = mask & t.light & named_rows(t.group)
    if a <= 0.0 or not light.any():
        return round(a, REQUEST_S_DECIMALS)
    base_ms = t.values[combo_of_row[light], np.flatnonzero(light)]  # request_s = 0: no intake, no API time
    groups = set(t.group[light])
    for _ in range(FIXED_POINT_ITERS):
        pred = predict_rows(t, catalog, eff, light, engines_section(t, combo_of_row, dict.fromkeys(groups, a),
                                                                     light, keys))
        wait_ms = np.zeros(len(t.group))
        wait_ms[light] = pred - a * 1e3 - base_ms
        new = t.api_s(mask, combo_of_row, wait_ms)
        if abs(new - a) < FIXED_POINT_TOL_S:
            return round(new, REQUEST_S_DECIMALS)
        a = new
    raise RuntimeError(f"request_s of {sorted(groups)} did not converge in {FIXED_POINT_ITERS} iterations")


__all__ = ["REQUEST_S_DECIMALS", "api_fixed_point", "engines_section", "named_rows", "predict_rows"]
