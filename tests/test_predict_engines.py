"""predict with an engine and speculative decoding, and a concurrency answered exactly."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.catalog import load_catalog
from planner.cli import main
from planner.errors import InputError
from planner.predict import predict_many, predict_one

CAT = load_catalog()
Q = dict(model="llama-3.1-70b", gpu="h100-sxm", gpus=8, precision="fp8", isl=1000, osl=500)


def test_concurrency_one_is_one_request_in_flight():
    r = predict_one(CAT, **Q, concurrency=1)
    assert r["concurrency"] == r["in_flight"] == 1
    assert r["dp"] * 1 >= 1 and r["dp"] == 1  # one replica holds the request; never TP4 x DP2 at 2
    # one user's tokens/s: 1/TPOT while decoding, a little less over the whole request (its prefill counts)
    assert 0.95 * r["output_tok_s_per_user"] <= r["output_tok_s"] <= r["output_tok_s_per_user"] * (1 + 1e-9)


@pytest.mark.parametrize("conc", [1, 3, 5, 16])
def test_concurrency_is_honoured_exactly(conc):
    r = predict_one(CAT, **Q, concurrency=conc)
    assert r["concurrency"] == r["in_flight"] == conc
    assert r["output_tok_s"] <= conc * r["output_tok_s_per_user"] * (1 + 1e-9)


def test_engine_and_speculative_in_predict():
    plain = predict_one(CAT, **(Q | dict(model="llama-3.1-8b", gpus=1)), concurrency=4, engine="sglang")
    spec = predict_one(CAT, **(Q | dict(model="llama-3.1-8b", gpus=1)), concurrency=4, engine="sglang",
                       speculative="auto")
    assert plain["engine"] == spec["engine"] == "sglang"
    assert (plain["speculative"], spec["speculative"]) == ("none", "eagle3")
    assert spec["tpot_s"] < plain["tpot_s"] and spec["itl_s"] > spec["tpot_s"]
    assert spec["acceptance_length"] > 1.0


def test_batch_csv_engine_columns_and_errors():
    rows = pd.DataFrame([Q | {"engine": "vllm"}, Q | {"engine": "nope"}, Q | {"speculative": "medusa"},
                         Q | {"gpu": "mi300x", "engine": "trtllm"}])
    r = predict_many(rows, CAT)
    assert r["fits"].iloc[0] and r["engine"].iloc[0] == "vllm"
    assert "unknown engine 'nope'" in r["error"].iloc[1]
    assert "speculative must be one of" in r["error"].iloc[2]
    assert not r["fits"].iloc[3] and r["limited_by"].iloc[3] == "engine"
    with pytest.raises(InputError, match="unknown engine"):
        predict_one(CAT, **Q, engine="nope")


def test_cli_engine_flag():
    res = CliRunner().invoke(main, ["predict", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpus", "1",
                                    "--precision", "bf16", "--isl", "1000", "--osl", "500", "--engine", "tgi",
                                    "--speculative", "eagle3"])
    assert res.exit_code == 0, res.output
    assert "engine tgi has no eagle3 draft" in " ".join(res.output.split())
    bad = CliRunner().invoke(main, ["predict", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpus", "1",
                                    "--precision", "bf16", "--isl", "1000", "--osl", "500", "--engine", "x"])
    assert bad.exit_code == 2 and "unknown --engine 'x'" in bad.output


@pytest.mark.parametrize(("tpot_ms", "min_tp"), [(30, 8), (60, 4)])
def test_tpot_target_prefers_tensor_parallel_for_405b(tpot_ms, min_tp):
    """Llama-3.1-405B under a TPOT target: tensor parallel splits each step's weight reads, pipeline stages do
    not (a decode step still reads every stage), so a binding target picks TP, not TP1 x PP4-8."""
    r = predict_one(CAT, model="llama-3.1-405b", gpu="h200-sxm", gpus=8, precision="fp8", isl=1024, osl=1024,
                    tpot_slo_ms=tpot_ms)
    assert r["fits"] and r["pp"] == 1 and r["tp"] >= min_tp and r["tpot_s"] <= tpot_ms / 1e3


@pytest.mark.parametrize(("query", "limit"), [
    (dict(model="qwen3-8b", gpus=1, speculative="mtp"), "engine"),  # no engine has an MTP draft for Qwen3
    (dict(model="llama-3.1-405b", gpus=1, precision="bf16"), "memory"),  # 811 GB of weights on one H100
    (dict(model="llama-3.1-8b", gpus=1, engine="trtllm", gpu="mi300x"), "engine"),
])
def test_why_not_names_what_stops_it(query, limit):
    """limited_by names the reason's kind (a missing draft read 'memory')."""
    r = predict_one(CAT, **(Q | query))
    assert not r["fits"] and r["limited_by"] == limit, (r["limited_by"], r.get("why") or r.get("notes"))
    under = predict_one(CAT, **(Q | query), concurrency=4)
    assert not under["fits"] and under["limited_by"] == limit


def test_an_engine_cap_reason_is_the_engine():
    """evaluate's cap reason ('batch N exceeds engine E's cap ...') read 'config' when predict parsed the
    reason's words; evaluate now records the cause where it writes the reason (structured limited_by)."""
    import pandas as pd

    from planner.perf import evaluate

    row = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="bf16", kv_precision="bf16", tp=1, pp=1,
               ep=1, attn_dp=1, serving="aggregated", isl=16, osl=16, engine="vllm", batch=4096)
    r = evaluate(pd.DataFrame([row]), CAT).iloc[0]
    assert not r["fits"] and "exceeds engine vllm's cap" in r["reason"] and r["limited_by"] == "engine"
