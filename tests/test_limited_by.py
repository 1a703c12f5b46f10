"""Every reason the model writes for a configuration that does not run carries a structured `limited_by`
(memory, engine or config), set where the reason is written (resolve, evaluate); predict reads it instead of
parsing the reason's words (`planner.predict.load.limit_of`)."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf import evaluate, latency_under_load
from planner.perf.capacity import capacity_under_slo
from planner.perf.resolve import FAILURE_KINDS
from planner.predict.load import limit_of

BASE = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="bf16", kv_precision="bf16", tp=1, pp=1, ep=1,
            attn_dp=1, serving="aggregated", isl=1024, osl=256, engine="", speculative="none", batch=8)
# (changes to BASE, the kind, words of the reason) - one per place a reason is written
CASES = [
    (dict(model="no-such-model"), "config", "unknown model"),
    (dict(model="llama-3.3-70b", tp=3), "config", "does not divide"),
    (dict(isl=200_000), "config", "exceed the model's context"),
    (dict(kv_precision="fp8", precision="bf16", model="llama-3.3-70b", tp=5), "config", "does not divide"),
    (dict(model="llama-3.1-405b"), "memory", "weights "),
    (dict(batch=100_000), "memory", "GB KV per GPU"),
    (dict(engine="vllm", batch=4096, isl=16, osl=16), "engine", "exceeds engine vllm's cap"),
    (dict(engine="trtllm", accelerator="mi300x"), "engine", "does not run on"),
    (dict(engine="tgi", pp=2), "engine", "no pipeline parallel"),
    (dict(model="qwen3-8b", engine="vllm", speculative="mtp"), "engine", "draft"),
    (dict(serving="disaggregated", prefill_tp=3, model="llama-3.3-70b", tp=8), "config", "prefill instance: tp 3"),
    (dict(serving="disaggregated", prefill_accelerator="h100-sxm", model="llama-3.1-405b", tp=8, precision="fp8",
          prefill_tp=1), "memory", "prefill instance: weights"),
]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def grid() -> pd.DataFrame:
    g = pd.DataFrame([{**BASE, "prefill_accelerator": "", "prefill_tp": float("nan"), **c} for c, _, _ in CASES])
    return g.assign(prefill_accelerator=g["prefill_accelerator"].fillna(""))


def test_every_reason_evaluate_writes_carries_its_kind(catalog):
    res = evaluate(grid(), catalog)
    for (change, kind, words), (_, r) in zip(CASES, res.iterrows(), strict=True):
        assert not r["fits"] and words in r["reason"], (change, r["reason"])
        assert r["limited_by"] == kind, (change, r["reason"], r["limited_by"])
        assert limit_of(r["limited_by"]) == kind
    ok = evaluate(pd.DataFrame([BASE]), catalog).iloc[0]
    assert ok["fits"] and ok["limited_by"] not in FAILURE_KINDS  # a row that runs: its step's resource


def test_the_searches_and_the_load_model_keep_the_kind(catalog):
    """capacity_under_slo (the candidate search) and latency_under_load (predict under a load) pass the cause
    on: capacity wrote 'tpot' for an engine or configuration failure (its binding-target guess), and the load
    model's rows had only the reason's words."""
    g = grid().drop(columns=["batch"])
    kinds = [k for _, k, _ in CASES]
    agg = (g["serving"] == "aggregated").to_numpy()
    # the batch is the load model's cap on running sequences: the KV case has none at batch 1 (it fits there)
    cap = capacity_under_slo(g[agg], catalog, ttft_s=1.0, tpot_s=0.05)
    want = [k for k, a, (c, _, _) in zip(kinds, agg, CASES, strict=True) if a and "batch" not in c]
    got = [r["limited_by"] for (c, _, _), a, (_, r) in zip(CASES, agg, cap.iterrows(), strict=False)
           if a and "batch" not in c]
    assert got == want
    load = latency_under_load(g[agg], catalog, request_rate=1.0)
    mine = [x for x, a in zip(CASES, agg, strict=True) if a]
    for (c, kind, _), (_, r) in zip(mine, load.iterrows(), strict=True):
        if "batch" in c:
            continue
        assert r["load_reason"] and r["load_limited_by"] == kind, (c, r["load_reason"], r["load_limited_by"])
    ask = latency_under_load(pd.DataFrame([BASE]).drop(columns=["batch"]), catalog)  # no load given
    assert ask.iloc[0]["load_reason"] == "give request_rate or concurrency" and ask.iloc[0]["load_limited_by"] == \
        "config"


def test_a_reason_without_its_kind_answers_unknown():
    """predict answers every query: a row whose kind is missing (columns built without resolve) says so."""
    assert limit_of("") == "unknown" and limit_of(float("nan")) == "unknown" and limit_of(None) == "unknown"
    assert [limit_of(k) for k in (*FAILURE_KINDS, "ttft", "tpot")] == [*FAILURE_KINDS, "ttft", "tpot"]


def test_every_failing_row_of_a_grid_carries_a_kind(catalog):
    """Over a grid of splits, engines and batches: a row fails exactly where it has a kind; an input that names
    nothing known (an engine, a speculative method) is the configuration's, what a known engine lacks is the
    engine's."""
    g = pd.DataFrame([{**BASE, "model": m, "tp": tp, "pp": pp, "engine": e, "batch": b}
                      for m in ("llama-3.1-8b", "llama-3.3-70b", "llama-3.1-405b") for tp in (1, 3, 8)
                      for pp in (1, 2) for e in ("", "vllm", "tgi", "no-such-engine") for b in (1, 4096, 100_000)])
    res = evaluate(g, catalog)
    kinds = res["limited_by"].isin(FAILURE_KINDS)
    assert (kinds == ~res["fits"]).all() and set(res["limited_by"][kinds]) == set(FAILURE_KINDS)
    assert (res["limited_by"][g["engine"] == "no-such-engine"] == "config").all()
    tgi_pp = (g["engine"] == "tgi") & (g["pp"] == 2) & res["reason"].str.contains("no pipeline parallel")
    assert tgi_pp.any() and (res["limited_by"][tgi_pp] == "engine").all()


def test_a_shared_resolve_keeps_its_kinds(catalog):
    """A search resolves once and predicts many batches from the same columns: a batch's memory failure must
    not reach the next batch's rows through the shared kinds."""
    from planner.perf.params import load_efficiency
    from planner.perf.resolve import normalize_grid, resolve

    eff = load_efficiency(catalog)
    g = pd.DataFrame([BASE])
    shared = resolve(normalize_grid(g), catalog, eff)
    big = evaluate(g.assign(batch=100_000), catalog, efficiency=eff, resolved=shared).iloc[0]
    assert not big["fits"] and big["limited_by"] == "memory"
    small = evaluate(g.assign(batch=1), catalog, efficiency=eff, resolved=shared).iloc[0]
    assert small["fits"] and small["limited_by"] not in FAILURE_KINDS
    assert list(shared[0]["fail_kind"]) == [""] and list(shared[1]) == [""]
