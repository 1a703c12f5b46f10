"""A row's speculative draft seen as a model of its own (`DraftCols`): what the step model prices a draft pass
with (serving.draft_time_s) and what the memory fit counts of the draft (memory.draft_weight_bytes_per_gpu,
memory.draft_kv_bytes_per_seq_per_gpu). Its own module because resolve imports draft_arch (through engines)."""

from __future__ import annotations

import numpy as np

from planner.catalog.schema_base import COMPUTE_DTYPES
from planner.perf.resolve import Cols, Taken

BF16_CODE = float(COMPUTE_DTYPES.index("bf16"))


def drafting(c: Cols) -> np.ndarray | None:
    """Rows that speculate (spec_k > 0), or None where none does (no draft to build)."""
    k = c.get("spec_k")
    if k is None:
        return None
    on = np.asarray(k, dtype=float) > 0
    return on if np.any(on) else None


class DraftCols(Taken):
    """The draft of each row seen as a model of its own (draft_arch.draft_table row `spec_draft_id`): its
    architecture columns, one pipeline stage (the draft runs after the target's last stage), and BF16
    weights where the draft ships them (EAGLE-3 checkpoints); the accelerator, layout, KV format and engine
    columns stay the target's. Columns are gathered when first read (resolve.Taken's lookups). Rows without
    a draft read draft 0: callers mask them with `drafting`."""

    def __init__(self, base: Cols) -> None:
        ids = np.asarray(base["spec_draft_id"])
        on = drafting(base)
        if on is not None and np.any(on & (ids < 0)):  # engines._spec_values gives every k > 0 row its draft
            raise ValueError("a row speculates (spec_k > 0) without a draft architecture (spec_draft_id < 0)")
        self._ids = np.maximum(ids, 0).astype(np.int64)
        super().__init__(base, self._ids, -1)
        self._table = base["spec_draft_table"]
        bf16 = self._table["bf16_weights"][self._ids] > 0
        own = {"pp": np.ones_like(np.asarray(base["tp"], dtype=float))}
        if np.any(bf16):  # 16-bit weights at the BF16 tensor-core peak, no weight-only dequantization
            own |= {"w_bytes": np.where(bf16, 2.0, base["w_bytes"]),
                    "weight_only": np.where(bf16, 0.0, base["weight_only"]),
                    "dtype_code": np.where(bf16, BF16_CODE, base["dtype_code"]),
                    "peak_flops_s": np.where(bf16, base["flops_bf16"], base["peak_flops_s"]),
                    "gemm_eta_max": np.where(bf16, base["gemm_eta_max_bf16"], base["gemm_eta_max"])}
        self.update(own)

    def __missing__(self, name: str):
        # the draft's own architecture (draft_arch.DRAFT_COLUMNS) where it has the column, else the target's row
        v = self._table[name][self._ids] if name in self._table else self._src[name]
        dict.__setitem__(self, name, v)
        return v
