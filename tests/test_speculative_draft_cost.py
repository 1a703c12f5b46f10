"""A speculative step's draft passes are priced from the draft's own architecture (models.yaml `drafts:`)
through the step model, not as a share of the target's step: a one-layer dense EAGLE-3 draft on a large MoE
target costs what one dense layer, its fusion FC and its head cost, however the target's step grows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from planner.catalog import load_catalog
from planner.catalog.schema_drafts import Draft
from planner.catalog.schemas import Model
from planner.perf.arch import model_row
from planner.perf.draft_arch import draft_table
from planner.perf.evaluate import evaluate
from planner.perf.params import load_efficiency
from planner.perf.resolve import Cols, normalize_grid, resolve
from planner.perf.serving import draft_time_s
from planner.perf.step import decode_step, forward_stage

CAT = load_catalog()
EFF = load_efficiency(CAT)
# MiniMax-M2.5 (MoE, 62 layers, 256 experts) with its EAGLE-3 draft on 4x MI355X, as AMD's ROCm blog ran it
ROW = dict(model="minimax-m2.5", accelerator="mi355x", precision="fp8", kv_precision="bf16", tp=4, pp=1, ep=4,
           attn_dp=1, isl=1024, osl=1024, engine="vllm", speculative="eagle3")
H, HEADS, KV, HD, FFN, VOCAB = 3072, 48, 8, 128, 1536, 32000  # models.yaml minimax-m2.5 drafts: eagle3


def test_the_draft_row_counts_the_eagle3_layer_by_hand():
    d = draft_table(CAT).set_index(["model", "method"]).loc[("minimax-m2.5", "eagle3")]
    fc = 3 * H * H  # fusion FC over 3 target hidden states
    qkv = 2 * H * (HEADS + 2 * KV) * HD  # Q/K/V read [embedding; fused state]: 2H wide
    o = HEADS * HD * H
    assert d["attn_params"] == fc + qkv + o
    assert d["attn_replicated_params"] == fc  # a replicated linear: every TP rank holds it whole
    assert d["dense_ffn_params"] == 3 * H * FFN and d["lm_head_params"] == VOCAB * H
    assert (d["layers"], d["dense_layers"], d["moe_layers"], d["is_moe"], d["bf16_weights"]) == (1, 1, 0, 0, 1)
    assert d["kv_layer_token_units"] == 2 * KV * HD


def _one_dense_layer(c: Cols) -> Cols:
    """The target's resolved row with its model replaced by a one-layer dense BF16 model of the draft's shape,
    built from a catalog Model (not from the draft table), the fusion FC and 2H-wide Q/K/V added by hand."""
    target = CAT.models["minimax-m2.5"]
    dense = target.model_copy(update={"layers": 1, "num_heads": HEADS, "num_kv_heads": KV, "head_dim": HD,
                                      "ffn_intermediate": FFN, "vocab_size": VOCAB, "moe": None,
                                      "params_excluded_b": 0.0})
    row = model_row(dense)
    row["attn_params"] += 3 * H * H + H * (HEADS + 2 * KV) * HD
    row["attn_replicated_params"] += 3 * H * H
    out = Cols(c)
    out.update({k: np.full_like(c.tp, v) for k, v in row.items()})
    out.update(pp=np.ones_like(c.tp), w_bytes=np.full_like(c.tp, 2.0), weight_only=np.zeros_like(c.tp),
               peak_flops_s=c.flops_bf16, gemm_eta_max=c.gemm_eta_max_bf16)
    return out


@pytest.mark.parametrize("k", [1, 3])
def test_a_dense_draft_on_a_moe_target_costs_one_dense_layer(k):
    grid = pd.DataFrame([ROW | {"batch": b, "draft_tokens": k} for b in (1, 4, 64, 256)])
    c, why = resolve(normalize_grid(grid), CAT, EFF)
    assert (why == "").all(), why
    n, ctx = c.batch, c.isl + c.osl / 2.0
    got = draft_time_s(c, EFF.serving, n, ctx)
    layer = _one_dense_layer(c)
    # k passes: the first over the 1 + k tokens the target verified, the next one token each; logits for one
    # token a sequence; each pass a forward of its own (step_overhead_s)

    def one(q):
        fwd = forward_stage(layer, EFF.serving, n, ctx, 0.0, 0.0, 0.0, 1.0, n, q_dec=q)["time_s"]
        return fwd + c.step_overhead_s

    want = one(1.0 + k) + (k - 1) * one(1.0)
    assert got == pytest.approx(want, rel=1e-12)
    # the old rule: k x 5% of the target's decode step, a share that grows with the MoE target's step
    old = k * 0.05 * decode_step(c, EFF.serving, n, ctx)["time_s"]
    assert not np.allclose(got, old, rtol=0.2)
    assert np.all(got < 0.5 * old)  # one 0.2B-parameter layer, not 5% of a 230B MoE step a token
    share = got / decode_step(c, EFF.serving, n, ctx)["time_s"]
    assert share.max() > 1.5 * share.min()  # not a constant share of the target's step


def test_the_mtp_draft_is_one_target_shaped_moe_layer():
    d = draft_table(CAT).set_index(["model", "method"]).loc[("deepseek-v3", "mtp")]
    m = CAT.models["deepseek-v3"]
    full = model_row(m)
    assert (d["layers"], d["moe_layers"], d["dense_layers"], d["bf16_weights"]) == (1, 1, 0, 0)
    assert d["expert_params"] == full["expert_params"] and d["num_experts"] == full["num_experts"]
    assert d["attn_params"] == full["attn_params"] + 2 * 7168 * 7168  # + eh_proj over [embedding; hidden]
    assert d["lm_head_params"] == full["lm_head_params"]  # the shared output head
    # one MoE layer + eh_proj + embedding and head copies: the 14B the checkpoint adds (685B - 671B)
    layer = d["attn_params"] + d["shared_params"] + d["router_params"] + d["num_experts"] * d["expert_params"]
    assert 13.0e9 < layer + 2 * d["lm_head_params"] < 14.5e9


def test_every_model_an_engine_drafts_for_has_a_draft_architecture():
    for e in CAT.engines.values():
        for s in e.speculative:
            for m in CAT.models.values():
                if s.matches(m.family, m.id):
                    assert m.draft(s.method) is not None, (e.id, s.method, m.id)


def test_a_model_without_the_draft_architecture_cannot_speculate():
    bare = CAT.models["minimax-m2.5"].model_copy(update={"drafts": []})
    cat = replace(CAT, entries={**CAT.entries, "models": {**CAT.models, "minimax-m2.5": bare}})
    out = evaluate(pd.DataFrame([ROW | {"batch": 4}, ROW | {"batch": 4, "speculative": "auto"}]), cat)
    assert not out["fits"].iloc[0] and "no eagle3 draft architecture" in out["reason"].iloc[0]
    assert out["fits"].iloc[1] and out["speculative_method"].iloc[1] == "none"  # auto runs without one


DENSE = dict(method="eagle3", layer="dense", fusion_inputs=3, attention_inputs=2, num_heads=32, num_kv_heads=8,
             head_dim=128, ffn_intermediate=14336, vocab_size=32000, weights="bf16", checkpoint="https://x/c.json",
             source="test")


@pytest.mark.parametrize("change, message", [
    ({"num_heads": None}, "a dense draft layer needs"),
    ({"layer": "target"}, "a target-shaped draft layer takes the target's"),
    ({"num_kv_heads": 7}, "not a multiple of num_kv_heads"),
    ({"assumed": True}, "assumed: true needs a reason"),
    ({"method": "medusa"}, "method"),
    ({"fusion_inputs": 0}, "fusion_inputs"),
    ({"weights": "fp8"}, "weights"),
    ({"draft_vocab": 32000}, "draft_vocab"),  # unknown field
])
def test_broken_drafts_are_rejected(change, message):
    Draft.model_validate(DENSE)  # the unbroken one loads
    with pytest.raises(ValidationError, match=message):
        Draft.model_validate(DENSE | change)


def test_a_model_lists_one_draft_per_method():
    m = CAT.models["llama-3.1-8b"]
    assert m.draft("eagle3") is not None and m.draft("mtp") is None
    data = m.model_dump()
    data["drafts"] = [DENSE, DENSE]
    with pytest.raises(ValidationError, match="drafts list a method twice"):
        Model.model_validate(data)


@pytest.mark.parametrize("change", [{"layers": 2}, {"attention_inputs": 2}])
def test_an_mtp_draft_runs_one_module_a_pass(change):
    """The step model would price `layers` stacked modules a pass (and ignore attention_inputs) for a target-
    shaped draft; vLLM runs one MTP module a pass, so both are rejected rather than mispriced."""
    mtp = {"method": "mtp", "layer": "target", "fusion_inputs": 2, "checkpoint": "https://x", "source": "test"}
    Draft.model_validate(mtp)
    with pytest.raises(ValidationError, match="one module"):
        Draft.model_validate(mtp | change)
