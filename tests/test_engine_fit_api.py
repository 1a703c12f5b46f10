"""The engine fit's predictions run with each group's API-server time (request_s): in sample they are what the
model gives with the fitted engines section (as `planner calibrate` with efficiency.yaml), and both in sample and
held out a burst's TTFT carries the API server's serial intake; request_s is a fixed point of its own fit."""

from __future__ import annotations

import numpy as np
import pytest

from planner.catalog import load_catalog
from planner.perf import engine_api, engine_fit
from planner.perf.arrivals import serial_s
from planner.perf.engines import ENGINE_NEUTRAL
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.serving_fidelity import load_predictions
from planner.perf.under_load_mapping import load_mapping

CAT = load_catalog()
EFF = load_efficiency(CAT)


@pytest.fixture(scope="module")
def fit():
    """fit_engines with one factor set (the neutral engine) for the whole grid: what is checked here is how the
    predictions run with request_s, not which factors win (the grid takes ~200 prediction passes)."""
    neutral = {k: ENGINE_NEUTRAL[k] for k in engine_fit.ENGINE_GRID}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine_fit, "engine_combos", lambda: [neutral])
        t = engine_fit._trials(CAT, EFF)
        engines, _, out = engine_fit.fit_engines(CAT, EFF, trials=t)
    return t, engines, out


def _burst_ttft_p99(out):
    """TTFT p99 rows of bursts (every request sent at t=0) of more than one request, with a finite prediction."""
    return ((out["load"] == "burst") & np.isinf(out["request_rate"].astype(float)) & (out["num_requests"] > 1)
            & (out["kind"] == "ttft") & (out["stat"] == "p99") & out["predicted"].notna()).to_numpy()


def _intake_floor_ms(out, api_col: str) -> np.ndarray:
    """The least TTFT p99 a burst can have: the request's own API time plus the wait of the 99th-percentile
    request at the serial intake (request i reaches the scheduler i x the serial time after the first)."""
    api = out[api_col].to_numpy(dtype=float)
    n = out["num_requests"].to_numpy(dtype=float)
    return 1e3 * (api + 0.99 * (n - 1.0) * np.array([serial_s(a) for a in api]))


def test_the_fitted_predictions_are_the_models_with_the_fitted_engines(fit):
    """In sample, every row under load is predicted as the model predicts it with the engines section written to
    efficiency.yaml (request_s included): what `planner calibrate` prints in sample.
    A constant TTFT shift on predictions run without request_s (the old fit) differs on every burst."""
    _, engines, out = fit
    eff = Efficiency(accel=EFF.accel, serving=EFF.serving, provenance=EFF.provenance, engines=engines)
    fresh = load_predictions(load_mapping(CAT), CAT, eff)
    assert fresh["id"].tolist() == out["id"].tolist()
    np.testing.assert_array_equal(fresh["predicted"].to_numpy(), out["predicted"].to_numpy())
    assert (out["request_s"] > 0).any()


@pytest.mark.parametrize(("pred_col", "api_col"), [("predicted", "request_s"),
                                                    ("predicted_loso", "request_s_loso")])
def test_a_bursts_ttft_carries_the_api_servers_serial_intake(fit, pred_col, api_col):
    """In sample and with the row's source held out, a burst's TTFT p99 is at least its request_s plus the
    intake wait of the 99th-percentile request (1,000 requests at 2.5 ms of serial work each: 2.5 s)."""
    t, _, out = fit
    rows = _burst_ttft_p99(out) & (out[api_col] > 0).to_numpy()
    assert rows.sum() >= 10
    floor = _intake_floor_ms(out, api_col)
    assert (out[pred_col].to_numpy(dtype=float)[rows] >= floor[rows] * (1.0 - 1e-9)).all()
    if pred_col == "predicted":
        # the trials (request_s = 0) plus request_s fall below the floor on the fast bursts: a fit that ignored
        # request_s beyond a TTFT shift fails here
        shifted = t.values[0, :t.n_load] + 1e3 * out[api_col].to_numpy(dtype=float)
        assert (shifted[rows] < floor[rows]).any()


def test_held_out_predictions_are_the_models_with_the_held_out_fit(fit):
    """With GPS held out, its bursts are predicted as the model predicts them with the factors and request_s
    re-chosen without GPS (request_s from NIM's light rows, the other stacks on NVIDIA): the serial intake
    included, so not the trials plus a TTFT shift."""
    t, _, out = fit
    runs = ("GPS-gpt-oss-120b-h100-5-", "GPS-deepseek-r1-h200-2-", "GPS-qwen3-14b-h100-1-")
    rows = np.zeros(len(out), dtype=bool)
    for r in runs:
        rows |= out["id"].str.startswith(r).to_numpy()
    api = out.loc[rows, "request_s_loso"].to_numpy(dtype=float)
    assert (api > 0).all()
    neutral = {k: ENGINE_NEUTRAL[k] for k in engine_fit.ENGINE_GRID}
    engines: dict = {}
    for eng, a in zip(out.loc[rows, "engine"], api, strict=True):
        engines.setdefault(eng, {})["nvidia"] = {**neutral, "request_s": a}
    eff = Efficiency(accel=EFF.accel, serving=EFF.serving, provenance=EFF.provenance, engines=engines)
    fresh = load_predictions(load_mapping(CAT)[lambda m: m["id"].isin(out.loc[rows, "id"])], CAT, eff)
    assert fresh["id"].tolist() == out.loc[rows, "id"].tolist()
    np.testing.assert_array_equal(fresh["predicted"].to_numpy(), out.loc[rows, "predicted_loso"].to_numpy())
    ttft = rows & (out["kind"] == "ttft").to_numpy()
    shifted = t.values[0, :t.n_load][ttft] + 1e3 * out.loc[ttft, "request_s_loso"].to_numpy(dtype=float)
    assert (np.abs(out.loc[ttft, "predicted_loso"].to_numpy() - shifted) > 1.0).any()


def test_request_s_is_a_fixed_point_of_its_light_load_fit(fit):
    """request_s is fitted on light-load TTFT residuals of a model that itself runs with request_s (its serial
    intake queues a burst of 8): the written value, run through the model, fits itself to the written precision.
    In the GPS closed loops (<= 8 clients, 100 requests) the intake adds under 2.1 ms to a mean TTFT (2.01 ms at
    most since the lengths are ShareGPT's own, sharegpt_lengths.py),
    nothing to a median; in DSTKTGI's bursts of 8 it moves TGI's request_s by more than the rounding."""
    t, engines, _ = fit
    chosen = np.zeros(len(t.group), dtype=np.int64)  # the one neutral combo
    for eng, by_vendor in engines.items():
        for vendor, entry in by_vendor.items():
            g = f"{eng}/{vendor}"
            mask = t.group == g
            a = entry["request_s"]["value"]
            light = mask & t.light
            if a == 0.0 or not light.any():
                continue
            section = engine_api.engines_section(t, chosen, {g: a}, light)
            pred = engine_api.predict_rows(t, CAT, EFF, light, section)
            wait = np.zeros(len(t.group))
            wait[light] = pred - 1e3 * a - t.values[0, light]
            assert t.api_s(mask, chosen, wait) == pytest.approx(a, abs=1e-4), g
            gps = light & (t.sources == "GPS")
            assert (np.abs(wait[gps]) < 2.1).all()
    tgi = (t.group == "tgi/amd")
    one_shot = t.api_s(tgi, chosen)
    assert abs(one_shot - engines["tgi"]["amd"]["request_s"]["value"]) > 1e-3
