"""A speculative draft's weights and KV cache take HBM next to the target's (memory.draft_weight_bytes_per_gpu,
draft_kv_bytes_per_seq_per_gpu): the memory fit, the largest batch and the step tables' KV capacity count them
for rows that speculate, and only for those. Figures by hand from the draft shapes in models.yaml `drafts:`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.evaluate import evaluate
from planner.perf.memory import held_context_tokens, memory
from planner.perf.params import load_efficiency
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.steptable import build_step_tables

CAT = load_catalog()
EFF = load_efficiency(CAT)
BF16 = 2.0
# Llama-3.1-8B with its EAGLE-3 draft (models.yaml: one dense layer, 32 heads, 8 KV heads of 128, MLP 14336,
# an own head over 32000 draft tokens, BF16), the target in BF16 on H100 with vLLM
LLAMA = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="bf16", kv_precision="bf16", pp=1, ep=1,
             attn_dp=1, isl=1024, osl=1024, engine="vllm", batch=8)
H, HEADS, KV, HD, FFN, DRAFT_VOCAB = 4096, 32, 8, 128, 14336, 32000
# DeepSeek-R1 FP8 with its MTP module (one MLA + MoE layer shaped like the target's) on 8x H200
DS = dict(model="deepseek-r1", accelerator="h200-sxm", precision="fp8", kv_precision="bf16", tp=8, pp=1, ep=8,
          attn_dp=1, isl=1024, osl=1024, engine="vllm", batch=8)


def _eagle3_weight_bytes(tp: int) -> float:
    """EAGLE-3 draft weights on one GPU by hand: the fc (3H -> H) whole on every rank; Q/K/V over [embedding;
    fused state] (2H wide), O, the MLP and the 32000-row head split by TP; the embedding is the target's."""
    fc = 3 * H * H
    qkv = 2 * H * (HEADS + 2 * KV) * HD
    o = HEADS * HD * H
    mlp = 3 * H * FFN
    head = DRAFT_VOCAB * H
    return BF16 * (fc + (qkv + o + mlp + head) / tp)


def _mtp_weight_bytes(tp: int) -> float:
    """DeepSeek's MTP module on one GPU of a TP = EP = tp stage by hand (DeepSeek-V3 config.json figures):
    MLA projections (down-projections and eh_proj whole on every rank, the rest split), the shared expert split
    by TP, the router whole, 256 routed experts spread over the stage; FP8 (1 byte) throughout; embedding and
    output head are the target's (shared)."""
    h, heads, q_lora, kv_lora, rope, nope, v = 7168, 128, 1536, 512, 64, 128, 128
    down = h * q_lora + h * (kv_lora + rope)  # q_a, kv_a (with the rope key)
    up = q_lora * heads * (nope + rope) + kv_lora * heads * (nope + v) + heads * v * h  # q_b, kv_b, o
    eh_proj = 2 * h * h
    shared = 3 * h * 2048
    router = h * 256
    experts = 256 * 3 * h * 2048
    return down + eh_proj + up / tp + shared / tp + router + experts / tp


def _pair(row: dict, method: str) -> pd.DataFrame:
    return evaluate(pd.DataFrame([row | {"speculative": "none"}, row | {"speculative": method}]), CAT,
                    efficiency=EFF)


@pytest.mark.parametrize("tp", [1, 2, 4])
def test_eagle3_draft_weights_and_kv_by_hand(tp):
    out = _pair(LLAMA | {"tp": tp}, "eagle3")
    assert out["fits"].all() and list(out["speculative_method"]) == ["none", "eagle3"]
    draft_w = out["weight_bytes_per_gpu"].iloc[1] - out["weight_bytes_per_gpu"].iloc[0]
    assert draft_w == pytest.approx(_eagle3_weight_bytes(tp), rel=1e-9)
    # one GQA layer's K and V for every token of each sequence, its 8 KV heads split by TP
    per_token = 2 * KV * HD * BF16 / tp
    draft_kv = out["kv_bytes_per_gpu"].iloc[1] - out["kv_bytes_per_gpu"].iloc[0]
    # vLLM takes KV blocks as it decodes: a running sequence holds isl + osl/2 on average
    assert draft_kv == pytest.approx(LLAMA["batch"] * (LLAMA["isl"] + LLAMA["osl"] / 2) * per_token, rel=1e-9)


def test_mtp_draft_weights_and_kv_by_hand():
    out = _pair(DS, "mtp")
    assert out["fits"].all() and list(out["speculative_method"]) == ["none", "mtp"]
    draft_w = out["weight_bytes_per_gpu"].iloc[1] - out["weight_bytes_per_gpu"].iloc[0]
    assert draft_w == pytest.approx(_mtp_weight_bytes(8), rel=1e-9)
    # one MLA layer's latent (512 + 64 values) per token, whole on every TP rank
    draft_kv = out["kv_bytes_per_gpu"].iloc[1] - out["kv_bytes_per_gpu"].iloc[0]
    assert draft_kv == pytest.approx(DS["batch"] * (DS["isl"] + DS["osl"] / 2) * (512 + 64) * BF16, rel=1e-9)
    # the whole module on one GPU (the model's figure, not the hand one above) against the published size: the
    # checkpoint's 685B less the 671B main model is the module with its own copies of the embedding and head,
    # which the draft shares with the target (models.yaml drafts:); FP8, one byte a parameter. Our count leaves
    # out the norms and the block scales: a few % below
    c, why = resolve(normalize_grid(pd.DataFrame([DS | {"tp": 1, "ep": 1, "speculative": "mtp"}])), CAT, EFF)
    assert (why == "").all(), why
    ds = CAT.models["deepseek-r1"]
    copies = 2 * ds.vocab_size * ds.hidden_size
    assert 0.95 * (685e9 - 671e9) < memory(c)["draft_weight_bytes_per_gpu"][0] + copies < 685e9 - 671e9


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_the_draft_takes_its_bytes_from_the_kv_pool(engine):
    """max batch with the draft = (free memory - draft weights) / (KV + draft KV + logits per sequence), the
    free memory and per-sequence bytes those of the same row without speculation (vLLM sizes the pool as a
    fraction of HBM, SGLang as HBM less its reserve: neither moves with the weights)."""
    row = LLAMA | {"tp": 1, "engine": engine, "isl": 8192, "osl": 1024}
    grid = pd.DataFrame([row | {"speculative": "none"}, row | {"speculative": "eagle3"}])
    c, why = resolve(normalize_grid(grid), CAT, EFF)
    assert (why == "").all(), why
    mem = memory(c)
    free = mem["usable_bytes"][0] - mem["weight_bytes_per_gpu"][0] - mem["reserve_bytes_per_gpu"][0]
    assert (mem["usable_bytes"][1], mem["reserve_bytes_per_gpu"][1]) == (mem["usable_bytes"][0],
                                                                        mem["reserve_bytes_per_gpu"][0])
    held = held_context_tokens(row["isl"], row["osl"], c.eng_kv_reserve[0])  # the engine's admission rule
    draft_kv_seq = held * 2 * KV * HD * BF16
    want = math.floor((free - _eagle3_weight_bytes(1)) / (mem["per_seq_bytes_per_gpu"][0] + draft_kv_seq))
    assert mem["max_batch_memory"][1] == want
    assert mem["max_batch_memory"][1] < mem["max_batch_memory"][0]
    assert (mem["draft_weight_bytes_per_gpu"][0], mem["draft_kv_bytes_per_seq_per_gpu"][0]) == (0.0, 0.0)


def test_a_batch_that_fits_without_the_draft_does_not_fit_with_it():
    row = LLAMA | {"tp": 1, "isl": 8192, "osl": 1024}
    top = int(evaluate(pd.DataFrame([row | {"speculative": "none"}]), CAT, efficiency=EFF)["max_batch_memory"][0])
    out = _pair(row | {"batch": top}, "eagle3")
    assert out["fits"].iloc[0]
    assert not out["fits"].iloc[1] and "KV per GPU" in out["reason"].iloc[1], out["reason"].iloc[1]
    assert out["max_batch_memory"].iloc[1] < top


def test_the_step_tables_kv_capacity_counts_the_draft():
    """Tokens of KV a replica admits (what the queueing model and the simulator admit against): (free memory
    - draft weights) / (target + draft KV bytes per token)."""
    rows = pd.DataFrame([DS | {"speculative": "none"}, DS | {"speculative": "mtp"}])
    tab = build_step_tables(rows, CAT, efficiency=EFF, decode_points=4, prefill_points=2)
    c, _ = resolve(normalize_grid(rows.assign(batch=1)), CAT, EFF)
    mem = memory(c)
    free = mem["usable_bytes"][0] - mem["weight_bytes_per_gpu"][0] - mem["reserve_bytes_per_gpu"][0]
    target_tok = 61 * (512 + 64) * BF16
    assert tab.kv_tokens[0] == math.floor(free / target_tok)
    want = math.floor((free - _mtp_weight_bytes(8)) / (target_tok + (512 + 64) * BF16))
    assert tab.kv_tokens[1] == want
    assert 0.94 < tab.kv_tokens[1] / tab.kv_tokens[0] < 0.96  # 1.56 GB of 48.9 GB free, and 62 layers' KV for 61


def test_rows_without_speculation_hold_no_draft():
    grid = pd.DataFrame([DS | {"speculative": "none"}, DS | {"speculative": "mtp"}, DS | {"speculative": "none"}])
    c, _ = resolve(normalize_grid(grid), CAT, EFF)
    mem = memory(c)
    assert np.array_equal(mem["draft_weight_bytes_per_gpu"] > 0, [False, True, False])
    assert np.array_equal(mem["draft_kv_bytes_per_seq_per_gpu"] > 0, [False, True, False])
    assert mem["weight_bytes_per_gpu"][0] == mem["weight_bytes_per_gpu"][2]


def test_the_draft_sharing_the_target_tables_is_a_named_assumption(monkeypatch):
    """The draft's embedding (and MTP's head) read from the target's is ASSUMPTIONS.draft_shares_target_tables,
    listed with its reason where the assumptions are (describe); turned off, each draft holds its own copies:
    MTP the embedding and head (2 x vocab x hidden, BF16, whole at tp 1), EAGLE-3 the embedding (split by TP;
    its head is its own already)."""
    import dataclasses

    from planner.perf import memory as memory_module
    from planner.perf.assumptions import describe

    stated = describe()
    assert stated["draft_shares_target_tables"]["value"] is True and "EagleProposer" in \
        stated["draft_shares_target_tables"]["reason"]
    assert "worst" in stated["draft_pp_stage"]["reason"]
    rows = pd.DataFrame([DS | {"tp": 1, "ep": 1, "speculative": "mtp"},
                         LLAMA | {"tp": 2, "speculative": "eagle3"}])
    c, why = resolve(normalize_grid(rows), CAT, EFF)
    assert (why == "").all(), why
    shared = memory(c)["draft_weight_bytes_per_gpu"]
    monkeypatch.setattr(memory_module, "ASSUMPTIONS",
                        dataclasses.replace(memory_module.ASSUMPTIONS, draft_shares_target_tables=False))
    own = memory(c)["draft_weight_bytes_per_gpu"]
    ds, llama = CAT.models["deepseek-r1"], CAT.models["llama-3.1-8b"]
    assert own - shared == pytest.approx([2 * ds.vocab_size * ds.hidden_size * BF16,
                                          llama.vocab_size * llama.hidden_size * BF16 / 2], rel=1e-12)


def test_the_draft_pipeline_stage_is_a_setting_that_places_it(monkeypatch):
    """ASSUMPTIONS.draft_pp_stage: 'worst' adds the draft to the worst stage (DeepSeek-R1's 61 layers at pp 2:
    31 layers + the MTP module); 'last' puts it on the last stage (30 layers + the module) and keeps the larger of
    that and the worst stage without it: less than 'worst' by one target layer's weights and KV here, no less
    than the target's worst stage; the same at pp = 1; any other value is refused."""
    import dataclasses

    from planner.perf import memory as memory_module

    rows = pd.DataFrame([DS | {"tp": 4, "pp": 2, "ep": 4, "speculative": "mtp"},
                         DS | {"tp": 4, "pp": 2, "ep": 4, "speculative": "none"},
                         DS | {"speculative": "mtp"}])
    c, why = resolve(normalize_grid(rows), CAT, EFF)
    assert (why == "").all(), why
    worst = memory(c)

    def with_stage(value):
        monkeypatch.setattr(memory_module, "ASSUMPTIONS",
                            dataclasses.replace(memory_module.ASSUMPTIONS, draft_pp_stage=value))
        return memory(c)

    last = with_stage("last")
    for k in ("weight_bytes_per_gpu", "kv_bytes_per_seq_per_gpu"):
        assert last[k][0] < worst[k][0], k  # the last stage holds 30 of the 61 layers, the worst 31
        assert last[k][0] >= worst[k][1], k  # no less than the target's worst stage
        assert last[k][1] == worst[k][1] and last[k][2] == worst[k][2], k  # no draft; pp = 1
    layer = worst["weight_bytes_per_gpu"][1] - memory_module.target_weight_bytes_per_gpu(
        c, memory_module.last_stage_layers(c))[1]  # one target layer (31 - 30) on a GPU of the stage
    assert worst["weight_bytes_per_gpu"][0] - last["weight_bytes_per_gpu"][0] == pytest.approx(layer, rel=1e-9)
    with pytest.raises(ValueError, match="draft_pp_stage"):
        with_stage("first")
