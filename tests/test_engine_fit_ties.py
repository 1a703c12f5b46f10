"""Engine factors the calibration rows cannot inform stay neutral (planner.perf.engines.nearest_neutral_best)."""

import itertools

import numpy as np
import yaml

from planner.perf.engines import ENGINE_NEUTRAL, nearest_neutral_best, neutral_distance
from planner.perf.params import efficiency_path

GRID = {"eta_factor": (0.5, 1.0, 1.5), "moe_factor": (0.25, 0.5, 1.0), "seq_factor": (0.0, 1.0, 3.0),
        "step_s": (0.0, 1e-3)}
COMBOS = [dict(zip(GRID, v, strict=True)) for v in itertools.product(*GRID.values())]
FAR = np.array([neutral_distance(f) for f in COMBOS])


def test_a_factor_without_effect_on_the_loss_is_left_neutral():
    # the loss depends on eta_factor only (dense-model rows: moe_factor changes nothing; host time hidden)
    loss = np.array([abs(np.log(f["eta_factor"] / 1.5)) for f in COMBOS])
    got = COMBOS[nearest_neutral_best(loss, FAR)]
    assert got == {"eta_factor": 1.5, "moe_factor": 1.0, "seq_factor": 1.0, "step_s": 0.0}
    assert COMBOS[int(np.argmin(loss))]["moe_factor"] == 0.25  # what plain argmin order gave


def test_a_strict_minimum_wins_however_far_from_neutral():
    target = {"eta_factor": 0.5, "moe_factor": 0.25, "seq_factor": 3.0, "step_s": 1e-3}
    loss = np.array([0.0 if f == target else 1.0 for f in COMBOS])
    assert COMBOS[nearest_neutral_best(loss, FAR)] == target


def test_the_neutral_engine_is_at_distance_zero_and_nan_losses_are_skipped():
    neutral = {k: ENGINE_NEUTRAL[k] for k in GRID}
    assert neutral_distance(neutral) == 0.0
    loss = np.full(len(COMBOS), 0.3)
    loss[0] = np.nan
    assert COMBOS[nearest_neutral_best(loss, FAR)] == neutral


def test_vllm_on_amd_fitted_on_dense_models_only_keeps_a_neutral_moe_factor():
    # AMDDOC and OCI (the fitted vLLM-on-MI300X rows) are Llama 70B / 405B: nothing there informs moe_factor
    data = yaml.safe_load(efficiency_path().read_text(encoding="utf-8"))
    assert data["engines"]["vllm"]["amd"]["moe_factor"]["value"] == 1.0
    assert data["engines"]["tgi"]["amd"]["moe_factor"]["value"] == 1.0
