"""All-in power of a system (GPUs + host + network) and the energy figures built on it, in one place.

`solve`, `frontier` and `predict` all count power the way a buyer compares it (InferenceX's all-in power per
GPU: chassis incl. CPUs and NICs, plus scale-out switches, before PUE):

    provisioned kW  = chassis nameplate kW + network_power_kw      (what the site must provision, per system)
    average W       = GPU board W (performance model, at the load)
                      + host W (non_gpu_load_fraction x (nameplate - GPUs x TDP): CPUs, memory, fans, NICs)
                      + network W (switches and optics run flat out whatever the load)
    tokens per kWh  = output tokens/s x 3600 / (average all-in kW)         (IT energy, before PUE)
    tokens/s per provisioned MW = output tokens/s / (provisioned MW)

Energy figures from GPU board power alone read 2.5-3.5x more tokens per kWh than a buyer will compare against
(market review 2026-11, 'Power').
"""

from __future__ import annotations

from planner.catalog.catalog import Catalog
from planner.catalog.schemas import System

# Average draw of a server's non-GPU parts as a share of (nameplate - GPUs x TDP): CPUs, memory and fans idle
# much of the time during inference; half is a planning assumption (problems may override it).
DEFAULT_NON_GPU_LOAD_FRACTION = 0.5


def provisioned_kw(system: System) -> float:
    """All-in power one system needs provisioned: chassis nameplate + its share of the network."""
    return system.nameplate_power_kw + system.network_power_kw


def host_avg_w(system: System, gpu_tdp_w: float, non_gpu_load_fraction: float) -> float:
    """Average draw of the chassis outside the GPU boards (CPUs, memory, fans, NICs)."""
    chassis_w = system.nameplate_power_kw * 1000
    return non_gpu_load_fraction * max(0.0, chassis_w - system.accelerator_count * gpu_tdp_w)
    return non_gpu_load_fraction * max(0.0, chassis_w - system.accelerator_count * gpu_tdp_w)


def overhead_avg_w(system: System, gpu_tdp_w: float, non_gpu_load_fraction: float) -> float:
    """Average all-in draw of one system beyond its GPU boards: host + network."""
    return host_avg_w(system, gpu_tdp_w, non_gpu_load_fraction) + system.network_power_kw * 1000


def all_in_avg_w(gpu_board_w, gpus, system: System, gpu_tdp_w: float,
                 non_gpu_load_fraction: float = DEFAULT_NON_GPU_LOAD_FRACTION):
    """All-in average watts of `gpus` GPUs drawing `gpu_board_w` in total: their boards plus their per-GPU
    share of the system's host and network (works on floats and on numpy/pandas arrays)."""
    per_gpu = overhead_avg_w(system, gpu_tdp_w, non_gpu_load_fraction) / system.accelerator_count
    return gpu_board_w + per_gpu * gpus


def tokens_per_kwh(output_tok_s, all_in_w):
    """Output tokens per kWh of all-in IT energy (before PUE)."""
    return output_tok_s * 3600.0 / (all_in_w / 1000.0)


def tokens_s_per_provisioned_mw(output_tok_s: float, provisioned_kw_total: float) -> float | None:
    """Output tokens/s per MW of provisioned all-in IT power (before PUE)."""
    return output_tok_s / (provisioned_kw_total / 1000.0) if provisioned_kw_total > 0 else None


def reference_system(catalog: Catalog, accelerator_id: str) -> System | None:
    """The system `predict` and `frontier` assume an accelerator sits in: the cheapest per GPU (base price)."""
    systems = [s for s in catalog.systems.values() if s.accelerator == accelerator_id]
    if not systems:
        return None
    return min(systems, key=lambda s: (s.price.base_usd / s.accelerator_count, s.id))
