"""Quality after quantization: a model's benchmark score times the precision's recovery (pure catalog math,
shared by candidate filtering and the independent verifier)."""

from __future__ import annotations

from planner.catalog.catalog import Catalog


def quality_of(
    catalog: Catalog, model_id: str, precision_id: str, benchmark: str | None, effort: str | None = None
) -> float | None:
    """Score on `benchmark` after quantization at an effort level (None: no benchmark, or the model has no
    score there). A level's own scores come first; the model's `quality` list holds its default effort's."""
    m = catalog.models[model_id]
    if benchmark is None:
        return None
    level = m.effort(effort) if effort is not None else None
    base = level.score(benchmark) if level is not None else None
    if base is None and (effort is None or effort == m.default_effort):
        base = m.score(benchmark)
    if base is None:
        return None
    if precision_id == m.native_precision:
        return base
    rec, _ = catalog.precisions[precision_id].recovery_for(m.family, m.id)
    return base * rec


def checkpoint_of(catalog: Catalog, model_id: str, precision_id: str) -> str:
    """`published` where the model's weights exist in this precision; `upcast from X` where the precision has
    at least the native bits (lossless conversion); else the precision's named quantization step."""
    m = catalog.models[model_id]
    if precision_id in m.published_precisions():
        return "published"
    p, native = catalog.precisions[precision_id], catalog.precisions[m.native_precision]
    if p.weight_bits >= native.weight_bits:
        return f"upcast from {m.native_precision}"
    return p.quantization_step or f"quantize to {precision_id}"


def needs_quantization(checkpoint: str) -> bool:
    """Whether a `checkpoint_of` label is a quantization step (not published weights, not a lossless upcast)."""
    return checkpoint != "published" and not checkpoint.startswith("upcast from ")
