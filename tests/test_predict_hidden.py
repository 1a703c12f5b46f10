"""`planner predict --hidden-tokens` / the `hidden_tokens` column (planner.predict.hidden): a reasoning deployment
decodes hidden + visible tokens, its TTFT is to the first visible token and its throughput counts visible tokens;
a bad value is an input error naming the field (predict and predict_under_slo alike)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.catalog import load_catalog
from planner.cli import main
from planner.errors import InputError
from planner.perf import predict_under_slo
from planner.predict import predict_many

Q = dict(model="llama-3.1-8b", gpu="h100-sxm", gpus=8, precision="fp8", isl=1000, tp=1, pp=1)
H, OSL = 500, 300


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_hidden_tokens_are_decoded_first_and_the_answer_counts_visible_tokens(catalog):
    """Against the same queries decoding osl + hidden tokens with none hidden (the same tables and load): a closed
    loop (aggregated) and a light request rate (disaggregated unit) serve the same requests, the first visible
    token comes the hidden tokens' steps later (each step the closed loop's TPOT; in a simulated finite run, each
    request's own mean step; a disaggregated unit's mean step at the batch its load gives, as its TPOT),
    and output throughput counts the visible tokens only."""
    loads = [dict(concurrency=16), dict(serving="disaggregated", request_rate=2.0),
             dict(concurrency=4, num_requests=8)]
    got = predict_many(pd.DataFrame([Q | load | dict(osl=OSL, hidden_tokens=H) for load in loads]), catalog)
    plain = predict_many(pd.DataFrame([Q | load | dict(osl=OSL + H) for load in loads]), catalog)
    assert got["fits"].all() and plain["fits"].all()
    assert got["requests_s"].to_numpy() == pytest.approx(plain["requests_s"].to_numpy(), rel=1e-12)
    assert got["tpot_s"].to_numpy() == pytest.approx(plain["tpot_s"].to_numpy(), rel=1e-12)
    for col in ("ttft_s", "ttft_p90_s"):  # a finite run's percentiles are of each request's sum: its mean only
        # the disaggregated unit's mean: its hidden and visible steps both at the batch the load gives (h52)
        rows = [0, 1, 2] if col == "ttft_s" else [0]
        want = (plain[col] + H * plain["tpot_s"]).to_numpy()
        assert got[col].to_numpy()[rows] == pytest.approx(want[rows], rel=1e-9)
    assert got["output_tok_s"].to_numpy() == pytest.approx((plain["output_tok_s"] * OSL / (OSL + H)).to_numpy(),
                                                           rel=1e-12)
    assert got["notes"].str.contains(f"{H} hidden reasoning tokens").all()


def test_a_ttft_target_holds_for_the_first_visible_token(catalog):
    """With targets and no load, the chosen batch holds TTFT p90 to the first visible token, so hidden tokens
    take a smaller batch than the same visible answer without them."""
    q = Q | dict(osl=OSL, ttft_slo_ms=5000, tpot_slo_ms=50)
    got = predict_many(pd.DataFrame([q, q | dict(hidden_tokens=H)]), catalog)
    assert got["fits"].all() and (got["ttft_p90_s"] <= 5.0).all()
    assert got["ttft_p90_s"].iloc[1] > H * got["tpot_s"].iloc[1]  # the hidden steps are in it
    assert got["in_flight"].iloc[1] < got["in_flight"].iloc[0]


@pytest.mark.parametrize("bad", ["-5", "2.5"])
def test_a_bad_hidden_tokens_is_an_input_error_naming_it(bad, catalog):
    """One prediction: exit 2 with one line naming the field (ours for a negative number, click's for text);
    a --batch row: that row's error."""
    result = CliRunner().invoke(main, ["predict", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpus", "1",
                                       "--precision", "fp8", "--isl", "1000", "--osl", "300", "--hidden-tokens",
                                       bad])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "hidden_tokens" in result.output.replace("--hidden-tokens", "hidden_tokens")
    rows = predict_many(pd.DataFrame([Q | dict(osl=OSL, hidden_tokens=v) for v in (bad, -1, "many", True)]),
                        catalog)
    assert rows["error"].str.startswith("hidden_tokens must be").all() and not rows["fits"].any()


def test_predict_under_slo_refuses_negative_hidden_tokens(catalog):
    row = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, pp=1,
               ep=1, attn_dp=1, isl=1000, osl=800, serving="aggregated", slo_percentile=90.0, ttft_target_s=2.0,
               tpot_target_s=0.05)
    for h in (-3, 800):  # negative, or no visible token left
        with pytest.raises(InputError, match=f"hidden_tokens must be >= 0 and below osl.*got hidden_tokens {h}"):
            predict_under_slo(pd.DataFrame([row, row | dict(hidden_tokens=h)]), catalog)


def test_an_effort_level_is_its_hidden_tokens(catalog):
    """`effort` resolves through the model's catalog effort levels to round(osl x output_multiplier) - osl
    hidden tokens (as solve decodes an effort): the same answer as those hidden_tokens; a level the model lacks,
    a model without levels, or both fields are the row's error naming the field."""
    model = catalog.models["gpt-oss-120b"]
    low = model.effort("low").output_multiplier
    q = dict(model=model.id, gpu="h200-sxm", gpus=1, precision="mxfp4", isl=1000, osl=OSL, tp=1, concurrency=8)
    got = predict_many(pd.DataFrame([q | dict(effort="low"), q | dict(hidden_tokens=round(OSL * low) - OSL)]),
                       catalog)
    assert got["fits"].all() and (got["error"] == "").all()
    pd.testing.assert_frame_equal(got.drop(columns=["effort", "hidden_tokens"]).iloc[[0]].reset_index(drop=True),
                                  got.drop(columns=["effort", "hidden_tokens"]).iloc[[1]].reset_index(drop=True))
    bad = predict_many(pd.DataFrame([q | dict(effort="extreme"), Q | dict(osl=OSL, effort="low"),
                                     q | dict(effort="low", hidden_tokens=5)]), catalog)["error"].tolist()
    assert bad[0].startswith("unknown effort 'extreme' for gpt-oss-120b (known: low")
    assert bad[1] == "effort 'low': llama-3.1-8b has no reasoning effort levels (give hidden_tokens instead)"
    assert bad[2] == "give effort or hidden_tokens, not both"


def test_a_reasoning_model_asked_without_hidden_tokens_says_what_its_osl_counts(catalog):
    """gpt-oss reasons: asked with neither effort nor hidden_tokens, the answer decodes osl tokens in all (as
    benchmark tools count its output) and its note says so and how to ask for TTFT to the first visible token;
    a model without effort levels, or a query that names its hidden tokens (even 0), gets no such note."""
    q = dict(model="gpt-oss-120b", gpu="h200-sxm", gpus=1, precision="mxfp4", isl=1000, osl=OSL, tp=1,
             concurrency=8)
    got = predict_many(pd.DataFrame([q, q | dict(hidden_tokens=0), Q | dict(osl=OSL, concurrency=8)]), catalog)
    notes = got["notes"].fillna("").tolist()
    assert "gpt-oss-120b reasons (effort levels low, medium, high, default" in notes[0]
    assert "osl counts every decoded token here" in notes[0] and "--effort" in notes[0]
    assert "reasons" not in notes[1] and "reasons" not in notes[2]
    figures = ["ttft_s", "tpot_s", "output_tok_s"]
    assert got.loc[0, figures].tolist() == got.loc[1, figures].tolist()  # a note, not another answer


def test_a_context_overflow_says_the_osl_counted_the_hidden_tokens(catalog):
    """The model's context check reads isl + every decoded token: a query whose visible answer fits the context
    but not with its hidden tokens is refused with the split spelled out (under a load too); without hidden
    tokens the message is the model's own."""
    q = Q | dict(isl=100_000, osl=20_000)
    hid = dict(hidden_tokens=20_000)
    got = predict_many(pd.DataFrame([q | hid, q | hid | dict(request_rate=1.0), q | dict(osl=40_000)]), catalog)
    assert not got["fits"].any()
    said = "isl+osl = 140000 tokens (osl 40000: 20000 visible + 20000 hidden reasoning) exceed the model's context"
    assert got["notes"].iloc[0].startswith(said) and got["notes"].iloc[1].startswith(said)
    assert got["notes"].iloc[2].startswith("isl+osl = 140000 tokens exceed the model's context")
