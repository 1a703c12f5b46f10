"""A toy model and a toy accelerator whose performance-model numbers can be computed by hand in the tests."""

from __future__ import annotations

import pandas as pd

from planner.catalog import load_catalog
from planner.catalog.catalog import Catalog
from planner.catalog.schemas import Accelerator, Model
from planner.perf.params import ACCEL_PARAMS, SERVING_DEFAULTS, Efficiency, load_efficiency

TOY_MODEL = Model(
    id="toy", name="Toy", sources=["test"], hf_id="none/toy", family="toy", total_params_b=0.0001,
    active_params_b=0.0001, layers=2, hidden_size=64, num_heads=4, num_kv_heads=2, head_dim=16,
    ffn_intermediate=128, vocab_size=100, max_context=4096, native_precision="bf16",
)
TOY_ACC = Accelerator(
    id="toy-gpu", name="Toy GPU", sources=["test"], vendor="nvidia", architecture="toy", form_factor="sxm",
    hbm_gb=10, hbm_bandwidth_tb_s=1.0, tdp_w=500, idle_w=100, dense_tflops={"bf16": 100, "fp8": 200},
    native_precisions=["bf16", "fp8"], scale_up_bandwidth_gb_s=100, scale_up_domain=8, scale_up_tech="toy link",
)
# Round efficiency figures so the hand computation stays readable.
TOY_PARAMS = {
    "gemm_eta_max_bf16": 0.5, "gemm_eta_max_fp8": 0.5, "gemm_eta_max_int8": 0.5, "gemm_eta_max_fp4": 0.5,
    "gemm_m_half_tokens": 1e-9, "gemm_hbm_eta": 0.5, "attn_decode_hbm_eta": 0.5, "attn_prefill_eta_max": 0.5,
    "attn_prefill_seq_half_tokens": 1e-9, "kernel_launch_s": 0.0, "attn_launch_s": 0.0, "kernel_overhead_s": 1e-6,
    "step_overhead_s": 10e-6, "power_idle_w": 100.0, "power_memory_bound_w": 300.0, "power_compute_bound_w": 500.0,
}
NEUTRAL_SERVING = dict(SERVING_DEFAULTS) | {"gemm_eta_scale": 1.0, "seq_overhead_s": 0.0,
                                            "weight_only_moe_eta_scale": 1.0}

_BASE = load_catalog()


def toy_catalog(**acc_updates) -> Catalog:
    """The bundled catalog plus the toy model and accelerator (accelerator fields overridable)."""
    acc = TOY_ACC.model_copy(update=acc_updates)
    entries = {k: dict(v) for k, v in _BASE.entries.items()}
    entries["models"]["toy"] = TOY_MODEL
    entries["accelerators"]["toy-gpu"] = acc
    return Catalog(entries=entries, origin=dict(_BASE.origin))


def toy_efficiency(catalog: Catalog, **serving) -> Efficiency:
    eff = load_efficiency(_BASE)
    accel = eff.accel.copy()
    accel.loc["toy-gpu"] = pd.Series(TOY_PARAMS)[list(ACCEL_PARAMS)]
    return Efficiency(accel=accel, serving=NEUTRAL_SERVING | serving, provenance={})


def base_catalog() -> Catalog:
    return _BASE


def assert_same_tables(got, want) -> None:
    """Two StepTables equal field for field: the same dtype and shape, floats to the bit (NaN where NaN)."""
    import numpy as np

    for name in want.__dataclass_fields__:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b, err_msg=name)  # NaN where NaN, every other bit equal
        else:
            assert (a == b).all(), name
