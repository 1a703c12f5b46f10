"""A model's speculative-decoding draft as architecture (models.yaml `drafts:`), so that its cost per draft
token comes from the step model (planner/perf/draft_arch.py), not from a share of the target's step.

Two shapes cover the catalog's methods:

`layer: target`  one decoder layer shaped like the target's own (MoE) layers, in the target's precision, behind
                 a fusion FC over [token embedding; last hidden state] and the target's output head: DeepSeek's
                 MTP module (DeepSeek-V3 technical report, arXiv 2412.19437, section 2.2: projection matrix
                 M_k in R^(d x 2d), Transformer block TRM_k, shared output head; config num_nextn_predict_layers).
`layer: dense`   one dense decoder layer at the target's hidden size (EAGLE-3, Li et al., arXiv 2503.01840):
                 a fusion FC over 3 of the target's hidden states (low, middle, high layers: 3d -> d), attention
                 whose Q/K/V projections read [token embedding; fused state] (2d wide), a dense MLP, and its own
                 output head over a reduced draft vocabulary (config draft_vocab_size) where the config says so.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from planner.catalog.schema_base import PositiveInt, Strict
from planner.catalog.schema_engines import SpeculativeMethod


class Draft(Strict):
    """The draft network one speculative method runs for this model (one draft pass per drafted token)."""

    method: SpeculativeMethod
    layer: Literal["target", "dense"] = Field(description="target: one decoder layer shaped like the target's "
                                              "(MoE) layers, in its precision (MTP); dense: one dense decoder "
                                              "layer at the target's hidden size (EAGLE-3)")
    layers: PositiveInt = Field(1, le=8, description="decoder layers one draft pass runs (EAGLE layers; an MTP "
                                "pass runs one module: 1)")
    fusion_inputs: PositiveInt = Field(le=8, description="hidden-size vectors the fusion FC maps to one (MTP "
                                       "eh_proj: embedding + hidden = 2; EAGLE-3 fc: 3 target layers = 3)")
    attention_inputs: PositiveInt = Field(1, le=4, description="width of the attention's Q/K/V input in "
                                          "hidden sizes (EAGLE-3: [embedding; fused state] = 2)")
    num_heads: PositiveInt | None = Field(None, description="dense layer: attention heads")
    num_kv_heads: PositiveInt | None = Field(None, description="dense layer: KV heads")
    head_dim: PositiveInt | None = Field(None, description="dense layer: head width")
    ffn_intermediate: PositiveInt | None = Field(None, description="dense layer: MLP width")
    vocab_size: PositiveInt | None = Field(None, description="rows of the draft's own output head (EAGLE-3 "
                                           "draft_vocab_size), whose weights the memory fit counts; none = the "
                                           "target's head, shared (MTP: not counted again)")
    weights: Literal["target", "bf16"] = Field("target", description="precision of the draft's weights: the "
                                               "target's (MTP, shipped in the target checkpoint) or BF16")
    checkpoint: str = Field(min_length=3, description="the draft's config.json (URL), or why none is published")
    source: str = Field(min_length=3, description="where the figures were read")
    assumed: bool = Field(False, description="true where a figure was not read in a source this repo holds")
    reason: str | None = Field(None, min_length=3, description="why it is taken as it is (with assumed: true)")

    @model_validator(mode="after")
    def _shape(self) -> Draft:
        dense = (self.num_heads, self.num_kv_heads, self.head_dim, self.ffn_intermediate)
        if self.layer == "dense" and any(v is None for v in dense):
            raise ValueError("a dense draft layer needs num_heads, num_kv_heads, head_dim and ffn_intermediate")
        if self.layer == "target" and any(v is not None for v in dense):
            raise ValueError("a target-shaped draft layer takes the target's attention and FFN: leave num_heads, "
                             "num_kv_heads, head_dim and ffn_intermediate out")
        if self.layer == "target" and (self.layers != 1 or self.attention_inputs != 1):
            raise ValueError("a target-shaped (MTP) draft pass runs one module whose attention reads the fused "
                             "state: layers and attention_inputs are 1 (vLLM deepseek_mtp runs one module a "
                             "pass, spec_step_idx % num_mtp_layers)")
        if self.num_heads and self.num_kv_heads and self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}")
        if self.assumed and not self.reason:
            raise ValueError("assumed: true needs a reason")
        return self
