"""The step model's collectives: TP all-reduces, the MoE layers' token exchange (EP all-to-all or the TP
experts' all-reduce) and the PP hand-off of one stage pass (step.forward_stage's `comm_s`). Apart from step.py
so that the pass's compute and memory ops read on their own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.kernels import _safe_div, allreduce_time, alltoall_time

if TYPE_CHECKING:
    from planner.perf.step import _Pass


def communication(p: _Pass) -> np.ndarray:
    """Seconds of the collectives in the scale-up domain (TP all-reduces, EP all-to-all) and the PP hand-off."""
    c, s, A = p.c, p.s, ASSUMPTIONS
    link = c.scale_up_bandwidth_bytes_s * A.link_efficiency
    lat = A.collective_latency_s
    msg = p.t_rank * c.hidden * A.act_bytes
    comm = allreduce_time(msg, p.tp, link, lat) * (s["all"] + s["dense"])  # after attention; after dense FFN
    comm += _moe_exchange(p, link, lat) * s["moe"]
    # pipeline hand-off to the next stage: scale-up link inside the domain, else the network
    if not np.any(c.pp > 1):  # comm + zeros (a step-table chunk without PP): the same bits
        shape = np.broadcast_shapes(comm.shape, np.shape(c.pp), np.shape(msg))
        return comm if comm.shape == shape else comm + np.zeros(shape)
    inside = p.tp * p.dp * c.pp <= c.scale_up_domain
    p2p_bw = np.where(inside, link, A.scale_out_bytes_s_per_gpu)
    p2p = np.where(c.pp > 1, np.where(inside, lat, A.network_latency_s) + _safe_div(msg, p2p_bw), 0.0)
    return comm + p2p


def _moe_exchange(p: _Pass, link, lat) -> np.ndarray:
    """Seconds of one MoE layer's token exchange: EP all-to-all (dispatch + combine) where ep > 1, else the
    all-reduce of the TP-sliced experts' outputs. The side no row takes is left out (a chunk of rows of one
    kind: steptable_groups.kind_order), the same values as np.where of both."""
    c, A = p.c, ASSUMPTIONS
    ep = c.ep
    a2a = ar = None
    if np.any(ep > 1):
        dest = ep * (1.0 - np.power(1.0 - 1.0 / np.maximum(ep, 1.0), c.top_k))  # distinct EP ranks per token
        a2a = 2.0 * alltoall_time(p.tokens / p.g * c.hidden * A.act_bytes * dest, p.g, link, lat)
    if not np.all(ep > 1):
        moe_tp_msg = np.where(p.dp > 1, p.tokens, p.t_rank) * c.hidden * A.act_bytes
        ar = allreduce_time(moe_tp_msg, p.g, link, lat)
    if a2a is not None and ar is not None:
        return np.where(ep > 1, a2a, ar)
    one = a2a if ar is None else ar
    return one if one.shape == np.broadcast_shapes(np.shape(ep), one.shape) else np.where(ep > 1, one, one)
