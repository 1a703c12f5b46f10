"""Quality after quantization: a model's benchmark score times the precision's recovery (pure catalog math,
shared by candidate filtering and the independent verifier)."""

from __future__ import annotations

from planner.catalog.catalog import Catalog


def quality_of(catalog: Catalog, model_id: str, precision_id: str, benchmark: str | None) -> float | None:
    """Score on `benchmark` after quantization (None: no benchmark, or the model has no score there)."""
    m = catalog.models[model_id]
    if benchmark is None:
        return None
    base = m.score(benchmark)
    if base is None:
        return None
    if precision_id == m.native_precision:
        return base
    rec, _ = catalog.precisions[precision_id].recovery_for(m.family, m.id)
    return base * rec
