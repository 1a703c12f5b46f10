"""Architecture-derived parameter counts and KV sizes against the published figures (catalog_facts.md §4)."""

from __future__ import annotations

import pytest

from planner.catalog import load_catalog
from planner.catalog.architecture import (
    indexer_params_per_layer,
    kv_bytes_per_sequence,
    kv_bytes_per_token,
    moe_layer_indices,
    param_counts,
)
from planner.catalog.schema_base import KV_BYTES
from planner.catalog.schemas import Model

MODEL_IDS = [
    "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b", "llama-3.1-405b", "llama-4-scout",
    "llama-4-maverick", "mixtral-8x7b", "deepseek-v3", "deepseek-r1", "gpt-oss-20b", "gpt-oss-120b",
    "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b", "gemma-3-27b", "deepseek-v3.2", "kimi-k2.5", "minimax-m2.5",
]  # fmt: skip

# OpenAI's gpt-oss model card (arXiv 2508.10925) counts active parameters without the input embedding table
# (a lookup, no FLOPs): 5.13B = 4 of 128 experts x 36 layers + attention + unembedding (catalog_facts.md §4:
# "5.1B excluding the embedding table, 5.7B including it"). Our active count includes both tables, so the input
# table is subtracted before comparing. All other vendors' active (or dense) figures include the embeddings.
ACTIVE_EXCLUDES_INPUT_EMBEDDING = {"gpt-oss-20b", "gpt-oss-120b"}
# MiniMax's 10B active for M2/M2.5 matches the architecture without either embedding table (9.8B; 11.0B with
# both, 10.4B with the output table only).
ACTIVE_EXCLUDES_EMBEDDINGS = {"minimax-m2.5"}
# DeepSeek restates V3's 671B / 37B for V3.2: the lightning indexer (61 x 13.96M = 0.85B) is not in them.
PUBLISHED_EXCLUDES_INDEXER = {"deepseek-v3.2"}

# KV bytes per token with a bf16 cache and all layers full (catalog_facts.md §4, "KV bytes/token (BF16)").
KV_BF16_FACTS = {
    "llama-2-70b": 327680, "llama-3.1-8b": 131072, "llama-3.1-70b": 327680, "llama-3.3-70b": 327680,
    "llama-3.1-405b": 516096, "llama-4-scout": 196608, "llama-4-maverick": 196608, "mixtral-8x7b": 131072,
    "deepseek-v3": 70272, "deepseek-r1": 70272, "gpt-oss-20b": 49152, "gpt-oss-120b": 73728,
    "qwen3-32b": 262144, "qwen3-30b-a3b": 98304, "qwen3-235b-a22b": 192512, "gemma-3-27b": 507904,
    # not in catalog_facts.md; by hand from the configs: V3.2 = V3 + the indexer's 128-value key per layer
    # (61 x (576 + 128) x 2); Kimi K2.5 = V3's MLA latent; MiniMax-M2.5 GQA 62 x 2 x 8 x 128 x 2
    "deepseek-v3.2": 85888, "kimi-k2.5": 70272, "minimax-m2.5": 253952,
}  # fmt: skip

TOLERANCE = 0.03


@pytest.fixture(scope="module")
def models() -> dict[str, Model]:
    return load_catalog().models


def _published_active(model: Model, active: float) -> float:
    """Our active count under the definition the vendor used for active_params_b."""
    if model.id in ACTIVE_EXCLUDES_INPUT_EMBEDDING:
        return active - model.vocab_size * model.hidden_size
    if model.id in ACTIVE_EXCLUDES_EMBEDDINGS:
        return active - 2 * model.vocab_size * model.hidden_size
    return active


def _indexer(model: Model) -> float:
    return model.layers * indexer_params_per_layer(model) if model.id in PUBLISHED_EXCLUDES_INDEXER else 0.0


def test_catalog_has_every_model(models):
    assert set(MODEL_IDS) <= set(models)


def test_params_match_published_for_every_catalog_model(models):
    bad = []
    for m in models.values():
        total, active = param_counts(m)
        total, active = total - _indexer(m), _published_active(m, active) - _indexer(m)
        pairs = (("total", total, m.total_params_b), ("active", active, m.active_params_b))
        for what, computed, published in pairs:
            if abs(computed / (published * 1e9) - 1) > TOLERANCE:
                bad.append(f"{m.id} {what}: computed {computed / 1e9:.2f}B vs published {published}B")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("model_id", "total_b", "active_b"),
    [
        ("llama-3.1-8b", 8.030, 8.030),
        ("llama-3.1-405b", 405.85, 405.85),
        ("mixtral-8x7b", 46.70, 12.88),
        ("deepseek-v3", 671.03, 37.55),  # 671B excludes the 14B MTP module, like the catalog fields
        ("qwen3-235b-a22b", 235.09, 22.19),
        ("llama-4-maverick", 400.71 + 0.87, 17.18),  # text 400.7B + estimated vision encoder
        ("gpt-oss-120b", 116.79, 5.71),  # 5.13B without the input embedding table
        # V3 + indexer 61 x (1536*64*128 + 7168*128 + 7168*64) = 0.8515B, in total and active
        ("deepseek-v3.2", 671.03 + 0.85, 37.55 + 0.85),
        # 2.35B embeddings + 61 x 101.1M MLA (64 heads) + 1 dense 396M + 60 x (384 experts x 44.04M + shared
        # + router) + 0.4B vision; active: 8 of 384 experts. Published 1.04T / 32B
        ("kimi-k2.5", 1026.81, 32.86),
        ("minimax-m2.5", 228.69, 11.03),  # 9.80B without both embedding tables; published 230B / 10B
    ],
)
def test_params_exact_recomputation(models, model_id, total_b, active_b):
    total, active = param_counts(models[model_id])
    assert total / 1e9 == pytest.approx(total_b, abs=0.01)
    assert active / 1e9 == pytest.approx(active_b, abs=0.01)


def test_moe_layer_placement(models):
    assert moe_layer_indices(models["llama-4-maverick"]) == list(range(1, 48, 2))  # interleave_moe_layer_step 2
    assert moe_layer_indices(models["llama-4-scout"]) == list(range(48))
    assert moe_layer_indices(models["deepseek-v3"]) == list(range(3, 61))  # first_k_dense_replace 3
    assert moe_layer_indices(models["llama-3.1-8b"]) == []


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_kv_bytes_per_token_bf16_matches_facts(models, model_id):
    assert kv_bytes_per_token(models[model_id], KV_BYTES["bf16"]) == KV_BF16_FACTS[model_id]


def test_kv_fp8_halves_bf16(models):
    m = models["llama-3.1-70b"]
    assert kv_bytes_per_token(m, KV_BYTES["fp8"]) == 163840


def test_gemma_window_at_32k(models):
    m = models["gemma-3-27b"]
    per_layer = 2 * 16 * 128 * 2  # K and V, 16 KV heads, head_dim 128, bf16 = 8192 B
    expected = 10 * per_layer + 52 * per_layer * 1024 / 32768  # 81920 + 13312
    assert expected == 95232
    assert kv_bytes_per_token(m, 2.0, 32768) == pytest.approx(95232)
    assert kv_bytes_per_sequence(m, 2.0, 32768) == pytest.approx(95232 * 32768)
    assert kv_bytes_per_sequence(m, 2.0, 32768) == 10 * per_layer * 32768 + 52 * per_layer * 1024


def test_window_shorter_context_is_full(models):
    m = models["gemma-3-27b"]
    assert kv_bytes_per_token(m, 2.0, 512) == pytest.approx(507904)
    assert kv_bytes_per_token(m, 2.0, 1024) == pytest.approx(507904)


def test_gpt_oss_and_llama4_windows(models):
    # gpt-oss-120b at 131072: 18 full layers (2*8*64*2 = 2048 B each) + 18 sliding layers holding 128 tokens.
    assert kv_bytes_per_token(models["gpt-oss-120b"], 2.0, 131072) == pytest.approx(18 * 2048 + 18 * 2048 / 1024)
    # Llama 4 Maverick at 1M: 12 global layers + 36 chunked layers holding 8192 tokens (4096 B/layer-token).
    expected = 12 * 4096 + 36 * 4096 * 8192 / 1048576
    assert kv_bytes_per_token(models["llama-4-maverick"], 2.0, 1048576) == pytest.approx(expected)


def test_mla_ignores_gqa_fields(models):
    m = models["deepseek-r1"]
    assert kv_bytes_per_token(m, 2.0, 100_000) == kv_bytes_per_token(m, 2.0) == 61 * (512 + 64) * 2
    assert kv_bytes_per_sequence(m, 1.0, 4096) == 61 * 576 * 4096


def test_rejects_empty_context(models):
    with pytest.raises(ValueError):
        kv_bytes_per_sequence(models["llama-3.1-8b"], 2.0, 0)


def test_published_counts_of_the_issue_8_models(models):
    """The figures users quote: Kimi K2 ~1.04T / 32B, MiniMax-M2 ~230B / 10B, DeepSeek-V3.2 671B / 37B."""
    for model_id, total_b, active_b in (("kimi-k2.5", 1040, 32), ("minimax-m2.5", 230, 10),
                                        ("deepseek-v3.2", 671, 37)):
        m = models[model_id]
        assert (m.total_params_b, m.active_params_b) == (total_b, active_b)
        total, active = param_counts(m)
        total, active = total - _indexer(m), _published_active(m, active) - _indexer(m)
        assert total / 1e9 == pytest.approx(total_b, rel=TOLERANCE)
        assert active / 1e9 == pytest.approx(active_b, rel=TOLERANCE)


def test_dsa_indexer_parameters_and_kv(models):
    m = models["deepseek-v3.2"]
    assert indexer_params_per_layer(m) == 1536 * 64 * 128 + 7168 * 128 + 7168 * 64
    assert indexer_params_per_layer(models["deepseek-v3"]) == 0.0
    # the KV cache keeps every token's latent plus the indexer key: sparse attention saves reads, not memory
    assert kv_bytes_per_sequence(m, 1.0, 100_000) == 61 * (576 + 128) * 100_000
