"""What a `predict` answer tells a buyer: the engine by name (generic included, as plans name it), the draft and
its acceptance, and the make-up of a disaggregated replica (prefill and decode instances)."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from rich.console import Console

from planner.catalog import load_catalog
from planner.predict import predict_many, predict_one
from planner.report.predict_view import render_prediction

CAT = load_catalog()
Q = dict(model="llama-3.3-70b", gpu="h200-sxm", gpus=8, precision="fp8", isl=4096, osl=256)


def shown(r: dict, **kw) -> str:
    buf = io.StringIO()
    render_prediction(Console(file=buf, width=200), r, **kw)
    return buf.getvalue()


def test_the_generic_engine_is_named_and_reads_back():
    out = predict_many(pd.DataFrame([Q, Q | dict(engine="generic"), Q | dict(engine="vllm")]), CAT)
    assert out["engine"].tolist() == ["generic", "generic", "vllm"]
    assert out["error"].fillna("").tolist() == ["", "", ""]
    assert out.iloc[0]["output_tok_s"] == out.iloc[1]["output_tok_s"]  # `generic` is the default engine


def test_a_disaggregated_answer_names_its_prefill_and_decode_instances():
    r = predict_one(CAT, **Q, serving="disaggregated", tpot_slo_ms=30)
    assert r["fits"] and r["serving"] == "disaggregated"
    assert r["prefill_instances"] >= 1 and r["decode_instances"] >= 1
    # a replica is the unit: its instances of tp x pp GPUs each, dp units on the deployment's GPUs
    unit = (r["prefill_instances"] + r["decode_instances"]) * r["tp"] * r["pp"]
    assert r["dp"] == Q["gpus"] // unit
    assert f"{r['prefill_instances']:g} prefill (TP1 PP1) + {r['decode_instances']:g} decode (TP1 PP1)" in shown(r)
    agg = predict_one(CAT, **Q, tpot_slo_ms=30)
    assert pd.isna(agg["prefill_instances"]) and "disaggregated unit" not in shown(agg)


def test_the_table_names_engine_draft_and_what_ttft_tpot_mean():
    r = predict_one(CAT, **Q | dict(isl=1024), engine="vllm", speculative="auto", tpot_slo_ms=30)
    text = shown(r)
    assert "vllm" in text and f"eagle3 ({r['acceptance_length']:.2f} tokens accepted per step" in text
    # Llama-3's EAGLE-3 acceptance is copied from gpt-oss-20b's draft (engines.yaml assumed: true): said so
    assert r["acceptance_assumed"] is True and "assumed: measured on another model's draft" in text
    measured = predict_one(CAT, **Q | dict(isl=1024, model="gpt-oss-20b", precision="mxfp4"), engine="vllm",
                           speculative="eagle3", tpot_slo_ms=30)
    assert measured["acceptance_assumed"] is False and "assumed" not in shown(measured)
    assert "TPOT (mean, the batch as closed-loop clients)" in text
    loaded = predict_one(CAT, **Q | dict(isl=1024), request_rate=2.0)
    assert "TPOT (mean under the load)" in shown(loaded, under_load=True) and "generic" in shown(loaded)
    # a figure the answer lacks, missing (None) or NaN, prints "-" (None was formatted, and raised)
    assert "ITL p50 / p99" in shown(loaded, under_load=True)
    gaps = shown(loaded | {"itl_p99_s": None, "e2e_p50_s": float("nan")}, under_load=True)
    assert f"{loaded['itl_p50_s'] * 1e3:,.1f} / - ms" in gaps and "end-to-end p50" in gaps


def test_a_whole_nvl72_reaches_wide_expert_parallel():
    """Issue 8: on GB200 NVL72 wide EP serves several times the tokens per GPU of HGX B200 at 100 tok/s/user.
    Published NVL72 figures run it disaggregated: one wide decode instance, several small prefill instances.
    Predict gives a DEP decode split prefill instances down to 1/8 of its GPUs (a DEP32 prefill instance per
    DEP32 decode one needed 128 GPUs a unit: 72 GB200 answered 3 x DEP16 + DEP16 prefill, or 9 x TP8 and no
    better per GPU than one HGX B200), and DEP sizes that divide the GPUs but not the 256 experts (ceil(256 /
    ep) slots a GPU, the spare ones replicas: memory.expert_slot_factor)."""
    q = dict(model="deepseek-r1", precision="nvfp4", kv_precision="fp8", isl=1024, osl=1024, tpot_slo_ms=10)
    nvl = predict_one(CAT, gpu="gb200", gpus=72, serving="disaggregated", **q)
    hgx = predict_one(CAT, gpu="b200", gpus=8, **q)
    assert nvl["attn_dp"] >= 16 and nvl["ep"] == nvl["attn_dp"]
    assert nvl["prefill_tp"] * nvl["prefill_attn_dp"] < nvl["attn_dp"]  # smaller prefill instances
    assert nvl["tpot_p90_s"] <= 0.010
    assert nvl["output_tok_s_per_gpu"] > 3 * hgx["output_tok_s_per_gpu"]  # idle GPUs counted


def test_disaggregated_prefill_gets_its_own_layout_and_accelerator():
    """Issue 8: prefill and decode with their own layouts, optionally on different systems, from predict too."""
    q = Q | dict(serving="disaggregated", tp=1, pp=1, max_throughput=True)
    r = predict_one(CAT, **q, prefill_gpu="h100-sxm", prefill_tp=2)
    assert r["fits"] and (r["prefill_gpu"], r["prefill_tp"], r["prefill_pp"]) == ("h100-sxm", 2, 1)
    assert "h100-sxm GPUs prefill" in r["notes"] and "TP2 PP1 on h100-sxm" in shown(r)
    # the answer is the performance model's unit at the chosen batch, that batch on each of its decode instances
    # as closed-loop clients (the load model every figure of an answer without a load comes from)
    from planner.perf import evaluate, latency_under_load

    row = dict(model=Q["model"], accelerator=Q["gpu"], precision="fp8", kv_precision="bf16", tp=1, pp=1, ep=1,
               attn_dp=1, serving="disaggregated", isl=Q["isl"], osl=Q["osl"], prefill_accelerator="h100-sxm",
               prefill_tp=2, prefill_pp=1)
    ev = evaluate(pd.DataFrame([row | dict(batch=r["in_flight"] // r["dp"])]), CAT).iloc[0]
    assert (ev["prefill_instances"], ev["decode_instances"]) == (r["prefill_instances"], r["decode_instances"])
    clients = ev["batch"] * ev["decode_instances"]
    loop = latency_under_load(pd.DataFrame([row | dict(batch=ev["batch"], concurrency=clients)]), CAT).iloc[0]
    assert r["output_tok_s"] == pytest.approx(loop["output_tok_s"] * r["dp"], rel=1e-12)
    same = predict_one(CAT, **q)
    assert (same["prefill_gpu"], same["prefill_tp"]) == (Q["gpu"], 1)  # default: the decode instances' own
    assert same["output_tok_s"] != r["output_tok_s"]


def test_prefill_columns_need_disaggregated_serving_and_known_ids():
    bad = predict_many(pd.DataFrame([Q | dict(prefill_tp=2), Q | dict(serving="disaggregated", prefill_gpu="x"),
                                     Q | dict(serving="disaggregated", prefill_pp=0)]), CAT)
    assert bad["notes"].str.contains("give serving disaggregated").iloc[0]
    assert bad["notes"].str.contains("unknown prefill_gpu 'x'").iloc[1]
    assert bad["notes"].str.contains("prefill_pp must be a positive integer").iloc[2]
