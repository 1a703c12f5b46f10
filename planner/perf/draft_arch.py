"""Speculative drafts (models.yaml `drafts:`) as rows of model numbers, so that the step model prices a draft
pass as the network it is (planner/perf/serving.py `draft_time_s`).

One row per (model, method), columns arch.MODEL_COLUMNS plus `bf16_weights` and `own_head` (1 where the draft
has an output head of its own over its draft vocabulary (EAGLE-3), 0 where it uses the target's (MTP); what the
memory fit counts, planner/perf/memory.py `draft_weight_bytes_per_gpu`). A draft pass runs `layers`
decoder layers, the fusion FC in front of them and the draft's output head; the token embedding is a lookup
(no GEMM). The fusion FC (MTP eh_proj, EAGLE-3 fc) is a plain replicated linear in the engines (vLLM
deepseek_mtp.py / llama_eagle3.py), so it is counted as attention-projection weights every TP rank holds whole.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog, per_catalog
from planner.catalog.schema_drafts import Draft
from planner.catalog.schemas import Model
from planner.perf.arch import MODEL_COLUMNS, model_row

DRAFT_COLUMNS: tuple[str, ...] = (*MODEL_COLUMNS, "bf16_weights", "own_head")


def draft_model(target: Model, d: Draft) -> Model:
    """The draft as a (unvalidated) Model with the target's hidden size: what arch.model_row reads."""
    common = {"layers": d.layers, "vocab_size": d.vocab_size or target.vocab_size, "tied_embeddings": False,
              "params_excluded_b": 0.0, "local_attention": None}
    if d.layer == "target":  # the target's layer, MoE where the target is MoE (every draft layer routed)
        moe = target.moe.model_copy(update={"dense_layers": 0, "moe_layer_interval": 1}) if target.moe else None
        return target.model_copy(update={**common, "moe": moe})
    return target.model_copy(update={**common, "num_heads": d.num_heads, "num_kv_heads": d.num_kv_heads,
                                     "head_dim": d.head_dim, "ffn_intermediate": d.ffn_intermediate,
                                     "moe": None, "mla": None, "sparse_attention": None,
                                     "fp8_weight_block": None})


def draft_row(target: Model, d: Draft) -> dict[str, float]:
    """DRAFT_COLUMNS of one draft."""
    m = draft_model(target, d)
    row = model_row(m)
    h = float(m.hidden_size)
    fusion = d.fusion_inputs * h * h / d.layers  # per layer: the step model multiplies by the layers
    extra_qkv = 0.0
    if d.layer == "dense":  # Q/K/V read attention_inputs hidden sizes (EAGLE-3: [embedding; fused state])
        extra_qkv = (d.attention_inputs - 1) * h * (m.num_heads + 2.0 * m.num_kv_heads) * m.head_dim
    row["attn_params"] += fusion + extra_qkv
    row["attn_replicated_params"] += fusion
    row["bf16_weights"] = float(d.weights == "bf16")
    row["own_head"] = float(d.vocab_size is not None)  # schema_drafts: no vocab_size = the target's head
    return row


_TABLES: dict = {}


def _build(catalog: Catalog) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[tuple[str, str], int]]:
    rows = [{"model": mid, "method": d.method, **draft_row(m, d)}
            for mid, m in sorted(catalog.models.items()) for d in m.drafts]
    table = pd.DataFrame(rows, columns=["model", "method", *DRAFT_COLUMNS])
    index = {(r["model"], r["method"]): i for i, r in enumerate(rows)}  # a model lists a method once (schema)
    return table, {c: table[c].to_numpy(dtype=float) for c in DRAFT_COLUMNS}, index


def draft_table(catalog: Catalog) -> pd.DataFrame:
    """Every model's drafts, indexed 0..n-1 (columns DRAFT_COLUMNS, plus `model` and `method`), cached per
    catalog object (catalogs are immutable)."""
    return per_catalog(_TABLES, catalog, _build)[0]


def draft_index(catalog: Catalog, model_id: str, method: str) -> int:
    """Row of the model's draft for `method` in draft_table, or -1 where it has none."""
    return per_catalog(_TABLES, catalog, _build)[2].get((model_id, method), -1)


def draft_arrays(catalog: Catalog) -> dict[str, np.ndarray]:
    """draft_table's numeric columns as float arrays (what a Cols carries under `spec_draft_table`)."""
    return per_catalog(_TABLES, catalog, _build)[1]
