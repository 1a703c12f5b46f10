"""SGLang's KV admission under load (engines.yaml `scheduler: kv_reserve_min`) for the simulator: the
retraction of running requests when a decode step finds the cache full (ScheduleBatch.retract_decode) and the
decode steps after which a decaying reserve share (new_token_ratio) admits the next waiting request."""

from __future__ import annotations

import numpy as np

RETRACT_DECODE_STEPS = 20  # SGLang global_config retract_decode_steps: free tokens kept per remaining request


def evict(v: int, isl, gen, held, done_pre, pre_need) -> float:
    """Free request v's KV so that it re-prefills its prompt and what it generated (a preemption by
    recompute, vLLM's and SGLang's); returns the KV tokens freed."""
    freed = float(held[v])
    held[v] = 0.0
    done_pre[v] = 0.0
    pre_need[v] = isl[v] + gen[v]
    return freed


def retract(dec, isl, osl, gen, held, done_pre, pre_need, waiting, free: float):
    """SGLang ScheduleBatch.retract_decode: the running requests with the fewest output tokens (ties: the longest
    prompt) leave, at least one, until RETRACT_DECODE_STEPS free tokens per remaining request; their KV is freed,
    they queue behind the waiting requests (FCFS) to re-prefill prompt + output, and the reserve share restarts
    at (decoded + 20 x remaining) / the remaining requests' max_new_tokens. Returns (running, share, freed)."""
    order = np.lexsort((-isl[dec], gen[dec]))  # fewest generated first, then the longest prompt
    out = []
    k = 0
    freed = 0.0
    while k < len(dec) - 1 and (k == 0 or free + freed < RETRACT_DECODE_STEPS * (len(dec) - k)):
        v = int(dec[order[k]])
        freed += evict(v, isl, gen, held, done_pre, pre_need)
        out.append(v)
        k += 1
    waiting.extend(out)
    keep = dec[np.sort(order[k:])]
    share = (float(gen[keep].sum()) + RETRACT_DECODE_STEPS * len(keep)) / max(float(osl[keep].sum()), 1.0)
    share = min(1.0, share)
    return keep, share, freed


def steps_until_admission(k: int, n: int, share: float, decay: float, floor: float, free: float, left: float,
                           need: float, need_out: float, watermark: float) -> int:
    """Decode steps (<= k) after which a decaying reserve share (SGLang new_token_ratio) admits the head of the
    queue: each step takes n KV tokens and lowers both the share and the running requests' remaining output."""
    j = np.arange(1, k + 1, dtype=float)
    s = np.maximum(share - decay * j, floor)
    spare = free - n * j - s * (left - n * j) - need - s * need_out
    hit = np.flatnonzero(spare >= watermark)
    return int(j[hit[0]]) if len(hit) else k


__all__ = ["RETRACT_DECODE_STEPS", "evict", "retract", "steps_until_admission"]
