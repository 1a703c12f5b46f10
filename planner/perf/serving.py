"""Serving modes on top of step times: aggregated continuous batching and disaggregated prefill/decode.

Aggregated (chunked prefill): a request lives L = own chunks + (osl - 1) / accept steps: its own prompt's chunk
steps, then one step per `accept` further tokens (accept 1 without speculative decoding). In steady state, with
every seat busy, each of the batch - 1 other seats completes one request per life too, so the steps of one life
carry (batch - 1) * isl prompt tokens of the others: (batch - 1) * isl / L a step, on EVERY step of the life, its
own chunk steps included (life_steps). They are computed in whole chunks on some steps (a share 1 - e^-f, f chunks
a step), the others decode only; TPOT is that mixture's mean step (the load model's at the same running batch,
step_mix.mixed_terms); a request lives its own chunk steps (each with the others' prompt share on top) and osl - 1
tokens at TPOT, output tokens/s = batch * osl / that life. Spreading the others' prompts over the (osl - 1) decode
steps alone at isl / osl a seat (as before) charged (osl - 1) / osl of them: at osl 1 none, so a replica of 1,024
seats read 7,130 requests/s of 4,096-token prompts where the simulator completes 13.5 (70B FP8 on 8x B200), osl 2
2.05x, osl 16 1.10x, osl 256 1.02x (now 1.03, 1.03, 1.01). (Under a Poisson load below the seats' limit, the
others' prompts that meet a request's own prompt steps wait on the prompt path instead: queueing.py's chain leaves
that share out of its occupancy, TTFT's M/D/1 holds it.) A new prompt is processed in chunks of at most the
engine's token budget, each riding on a step that also carries the decode batch: TTFT = chunks * that step.

Disaggregated: prefill instances run prompts back to back (as many per pass as the token budget holds), decode
instances run decode-only steps; a unit is n_p prefill + n_d decode instances (same parallelism, each <= 8):
the smallest unit whose output tokens/s per GPU is within 3% of the best ratio's; TTFT = prefill pass + KV
transfer.
"""

from __future__ import annotations

import numpy as np

from planner.perf.assumptions import ASSUMPTIONS
from planner.perf.draft_cols import DraftCols
from planner.perf.engines import rank_chunk_tokens, replica_token_budget
from planner.perf.kernels import causal_pairs
from planner.perf.resolve import Cols
from planner.perf.step import decode_step, forward_stage, prefill_pass


def _power_w(c: Cols, step: dict[str, np.ndarray], duty=1.0) -> np.ndarray:
    """Board power of one GPU: idle plus the compute- and memory-bound increments in proportion to how busy
    the tensor cores and HBM are (busy time at full efficiency / elapsed); capped at TDP.
    `duty` < 1 scales the active part (an instance idle part of the time)."""
    t = np.maximum(step["time_s"], 1e-12)
    u_c = np.clip(step["compute_busy_s"] / t, 0.0, 1.0)
    u_m = np.clip(step["memory_busy_s"] / t, 0.0, 1.0)
    idle = c.power_idle_w
    active = (c.power_compute_bound_w - idle) * u_c + (c.power_memory_bound_w - idle) * u_m
    return np.minimum(idle + active * duty, c.tdp_w)


def limited_by(step: dict[str, np.ndarray]) -> np.ndarray:
    """The largest share of a step: compute-bound ops, memory-bound ops, or communication."""
    stacked = np.stack([step["compute_s"], step["memory_s"], step["comm_s"]], axis=0)
    names = np.array(["compute", "bandwidth", "communication"], dtype=object)
    return names[np.argmax(stacked, axis=0)]


def speculative_terms(c: Cols) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query tokens per sequence per step, tokens emitted per step, draft tokens per step): (1, 1, 0)
    without speculation."""
    k = c.get("spec_k", np.zeros_like(c.batch))
    return 1.0 + k, c.get("spec_accept", np.ones_like(c.batch)), k


def draft_time_s(c: Cols, serving: dict[str, float], n_dec, ctx) -> np.ndarray:
    """Seconds of the k draft passes of one speculative step of n_dec sequences at ctx context tokens (0 where
    the row does not speculate): the draft's own layers, fusion FC and head through the step model
    (models.yaml `drafts:`, draft_arch), each pass a forward of its own (plus the fixed per-forward time,
    step_overhead_s: embedding, final norm, sampling launch). The first pass reads the 1 + k tokens the target
    just verified per sequence, the next k - 1 one token each (vLLM v1 spec_decode/eagle.py
    EagleProposer.propose; SGLang's EAGLE worker: a draft-extend pass over the accepted tokens, then
    num_steps - 1 single-token passes); each pass computes logits for one token per sequence."""
    k = np.asarray(c.get("spec_k", 0.0), dtype=float)
    if not np.any(k > 0):
        return np.zeros(np.broadcast_shapes(np.shape(k), np.shape(n_dec)))
    d = DraftCols(c)
    n = np.asarray(n_dec, dtype=float)

    def one_pass(q):
        return forward_stage(d, serving, n, ctx, 0.0, 0.0, 0.0, 1.0, n, q_dec=q)["time_s"] + d.step_overhead_s

    t = one_pass(1.0 + k) + np.maximum(k - 1.0, 0.0) * one_pass(1.0)
    return np.where((k > 0) & (n > 0), t, 0.0)  # a row with k > 0 has its draft (engines._spec_values)


def even_chunks(isl, room) -> tuple[np.ndarray, np.ndarray]:
    """(chunks, tokens a chunk) of a prompt of `isl` tokens split evenly over the `room` a step has for it."""
    chunks = np.ceil(isl / room)
    return chunks, isl / chunks


def life_steps(own_steps, osl, accept=1.0) -> np.ndarray:
    """Steps of a request's life: its own prompt's `own_steps` and one step per `accept` of its osl - 1 further
    tokens (in the unit of `own_steps`: real steps at no load, the step tables' token-steps under load with accept
    1 there). The other seats' prompt work is spread over all of them (the module's docstring)."""
    return own_steps + np.maximum(osl - 1.0, 0.0) / accept


def shared_chunks(tokens_per_step: np.ndarray, chunk_tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(share of steps carrying prompt tokens, prompt tokens each of them carries) where prompt chunks of
    `chunk_tokens` land on the steps at random (Poisson arrivals), `tokens_per_step` prompt tokens a step on
    average (f = tokens_per_step / chunk_tokens chunks a step): the chunks landing in one step share it (the
    scheduler fills one step's budget with every chunk ready), so a share 1 - e^-f of the steps carries prompt
    tokens, tokens_per_step / that share each (as the prefill-first schedule's pauses). The one rule of the mean
    step at no load (serving.aggregated) and under load (step_mix.mixed_terms, TPOT). The ITL's mixture
    (queueing.add_itl) does not read it: it counts the prompts each step carries itself (step_mix.prompt_steps:
    Poisson, or wider where prompts arrive in time)."""
    mixed = -np.expm1(-(tokens_per_step / np.maximum(chunk_tokens, 1.0)))
    return mixed, np.divide(tokens_per_step, mixed, out=np.zeros_like(mixed), where=mixed > 0)


STEP_SUMS = ("time_s", "compute_s", "memory_s", "comm_s", "overhead_s", "compute_busy_s", "memory_busy_s")


def _prefill_first(c: Cols) -> np.ndarray:
    """Rows whose engine runs a prompt step alone while decode waits (engines.yaml `scheduler: prefill_first`)."""
    return np.asarray(c.get("eng_prefill_first", 0.0)) > 0


def prompt_room(c: Cols, b) -> np.ndarray:
    """Prompt tokens one step of b decoding sequences has room for: the replica's token budget (its attention-DP
    ranks' chunks, engines.replica_token_budget) less the decode tokens, as the load model's mixed schedule
    (step_mix.mixed_terms); the whole budget on a prefill-first engine, whose prompt steps carry no decode."""
    budget = replica_token_budget(c)
    first = _prefill_first(c)
    return np.where(first, budget, np.maximum(budget - b, 1.0))


def _chunk_step(c: Cols, serving: dict[str, float], b, ctx, tokens, pairs_per_token, q,
                time_only: bool = False) -> dict[str, np.ndarray]:
    """A step carrying a prompt chunk of `tokens` tokens (their causal pairs at `pairs_per_token`, global and
    windowed) beside b decoding; on a prefill-first engine the pause, a prompt step with no decode."""
    return decode_step(c, serving, np.where(_prefill_first(c), 0.0, b), ctx, tokens, tokens * pairs_per_token[0],
                       tokens * pairs_per_token[1], c.isl, q_dec=q, prompt_chunk=True, time_only=time_only)


def _mean_step(c: Cols, serving: dict[str, float], b, ctx, per_step, pairs_per_token,
               chunk_tokens, room) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(the mean step, its seconds above the decode-only step: the prompt work a step carries). The mean step a
    running sequence sees while `per_step` prompt tokens a step (steady state) are computed
    beside the b decoding, in prompt chunks of `chunk_tokens` (a prompt split evenly over the `room` a step has,
    prompt_room): decode-only steps, and a share of steps carrying prompt chunks (shared_chunks), each a
    real step of its own (a named engine launches it eagerly). A prompt-first engine (SGLang, engines.yaml
    `scheduler: prefill_first`) runs the chunks alone in pauses between decode steps, the whole budget its room.

    Not one step carrying per_step tokens beside the b decoding (the blended average this replaced): an MoE step's
    expert reads grow with its tokens, E (1 - (1 - k/E)^T), so prompt tokens spread over every step charged each
    step the experts of b + per_step tokens. gpt-oss-120b on H100 at batch 1 (1,000 / 1,000 tokens) read 7.9
    experts a layer every step, not the 4 of its decode steps: TPOT 5.88 ms, the load model 4.03 (the decode step
    and one 1,000-token prompt step per request); at 8,000-token prompts 17.3 vs 4.1. And a dense step hid the
    prompt's FLOPs under its weight reads, which a real compute-bound chunk step does not (8B / H100 at batch 16,
    8,000 / 1,000 tokens: 7.3 ms blended, 9.0 under load)."""
    q, _, _ = speculative_terms(c)
    first = _prefill_first(c)
    dec = decode_step(c, serving, b, ctx, q_dec=q)
    mixed, tokens = shared_chunks(per_step, chunk_tokens)
    # a prefill-first pause packs at most the budget a step, the rest in further steps (the load model's
    # prefill_first_terms, the simulator's): one step of every waiting token (32,760 for gpt-oss-120b at batch
    # 4,096, 1,024 / 128, against SGLang's 8,192) took 0.12 s where four budget steps take 0.21 (TPOT -26%)
    steps = np.where(first, np.maximum(mixed, per_step / room), mixed)
    tokens = np.divide(per_step, steps, out=np.zeros_like(steps), where=steps > 0)
    carried = _chunk_step(c, serving, b, ctx, tokens, pairs_per_token, q)
    avg = {k: dec[k] + steps * (np.where(first, carried[k], carried[k] - dec[k])) for k in STEP_SUMS}
    return avg, avg["time_s"] - dec["time_s"]


def aggregated(c: Cols, serving: dict[str, float]) -> dict[str, np.ndarray]:
    b, isl, osl = c.batch, c.isl, c.osl
    ctx = isl + osl / 2.0  # average context over a sequence's life
    per_req_g, per_req_l = causal_pairs(isl), causal_pairs(isl, c.window_tokens)
    per_tok = (per_req_g / np.maximum(isl, 1.0), per_req_l / np.maximum(isl, 1.0))
    # Speculative decoding: each step verifies 1 + k tokens per sequence and emits `accept` of them on
    # average, after k draft passes (draft_time_s); prompts finish `accept` times faster, so each step carries
    # that much more prefill. The gain shrinks with batch because the verify step turns compute-bound.
    q, accept, _ = speculative_terms(c)
    # TPOT: the mean step one of the b running requests sees, beside the prompts of the b - 1 others (its own
    # is in its TTFT), as the load model at b running has it (step_mix.mixed_terms): each other seat's prompt
    # spread over the steps of a life (the module's docstring)
    others = np.maximum(b - 1.0, 0.0)
    room = prompt_room(c, b)
    own_chunks, own_tokens = even_chunks(isl, room)  # a prompt's chunks, its own as the others'
    # prompt tokens a seat brings per step: a life's steps with the prompt's chunks at the whole budget, as
    # step_mix.own_steps (a count growing with b would make TPOT fall as the batch grows)
    budget = rank_chunk_tokens(c)  # one prompt chunk per attention-DP rank, of that rank's size
    whole, _ = even_chunks(isl, replica_token_budget(c))
    share = isl / life_steps(whole, osl, accept)
    avg, prompt_s = _mean_step(c, serving, b, ctx, others * share, per_tok, own_tokens, room)
    step_s = avg["time_s"] + draft_time_s(c, serving, b, ctx)
    chunks = np.ceil(isl / budget)
    chunk = np.minimum(isl, budget) * c.attn_dp
    pre_tokens = np.maximum(chunk, b * share)
    # each chunk step carries the causal pairs of its tokens at the prompt's average per token (later chunks
    # attend to more, earlier to fewer): chunks x pre_tokens/isl of a prompt's pairs in all, one prompt's worth
    # when a step's budget is one chunk. Dividing by chunks again (as before) counted 1/chunks of them: a
    # 100k-token prompt at an 8k budget carried 1/13 of its attention (m8: DeepSeek-V3 8x H200 TTFT 2.89 s,
    # 7.6 s with every pair)
    scale = pre_tokens / np.maximum(isl, 1.0)
    ttft_step_s = decode_step(c, serving, b, ctx, pre_tokens, per_req_g * scale, per_req_l * scale, isl,
                              prompt_chunk=True, time_only=True)["time_s"]
    gpus = c.tp * c.pp * c.attn_dp
    tpot = step_s / accept
    # throughput: each seat's request lives its own prompt (in chunks beside the b - 1 others decoding; alone on
    # a prefill-first engine; each chunk step with the others' prompt share on top, as every step of the life)
    # and osl - 1 further tokens at TPOT; b seats complete b requests a life (the load model's g(b) = b / life,
    # queueing.service)
    own_s = _chunk_step(c, serving, others, ctx, own_tokens, per_tok, q, time_only=True)["time_s"]
    # the others' share on the own prompt's steps as counted in `share` (its chunks at the whole budget): their
    # whole prompt work charged once, however many steps the room beside the batch cuts the prompt into
    life_s = own_chunks * own_s + whole * prompt_s + np.maximum(osl - 1.0, 0.0) * tpot
    out_tok_s = b * osl / life_s
    return {
        "gpus": gpus,
        "ttft_s": chunks * ttft_step_s + c.get("eng_request_s", 0.0),  # + the API server (engines.py)
        "tpot_s": tpot,
        "itl_s": tpot * np.maximum(accept, c.get("eng_stream", 1.0)),
        "output_tok_s": out_tok_s,
        "avg_power_w": _power_w(c, avg) * gpus,
        "limited_by": limited_by(avg),
        "prefill_instances": np.zeros_like(b),
        "decode_instances": np.ones_like(b),
        "prefill_gpus": np.zeros_like(b),
        "decode_gpus": gpus,
        "peak_power_w": c.tdp_w * gpus,
        "ttft_lone_s": np.full_like(b, np.nan),  # disaggregated units' (their prefill instances')
        "prompts_per_pass": np.full_like(b, np.nan),
    }


def kv_transfer_s(c: Cols, gpus_unit, gpus_instance) -> np.ndarray:
    """Moving one prompt's KV (all layers, unique heads) from a prefill to a decode instance, striped over the
    instance's GPUs: scale-up link when the whole unit sits in one domain, else one NIC per GPU."""
    A = ASSUMPTIONS
    held = (c.layers - c.local_layers) * c.isl + c.local_layers * np.minimum(c.isl, c.window_tokens)
    kv = c.kv_layer_token_units * c.kv_bytes * held
    inside = gpus_unit <= c.scale_up_domain
    bw = np.where(inside, c.scale_up_bandwidth_bytes_s * A.link_efficiency, A.scale_out_bytes_s_per_gpu)
    lat = np.where(inside, A.collective_latency_s, A.network_latency_s)
    return lat + kv / (bw * gpus_instance)


def prefill_instance(cp: Cols, serving: dict[str, float], isl) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One prefill instance running prompts back to back, as many per pass as its token budget holds (per
    attention-DP rank): (the pass through all stages, requests/s the instance admits)."""
    pre_lat, pre_interval, n_req = prefill_batch_pass(cp, serving, isl, np.asarray(isl, dtype=float))
    return pre_lat, n_req / pre_interval


DISAGG_TOLERANCE = 0.03  # accept 3% less output/s per GPU for a smaller prefill:decode unit


def prefill_batch_pass(cp: Cols, serving: dict[str, float], isl, like) -> tuple[dict, np.ndarray, np.ndarray]:
    """One prefill instance's pass over as many prompts as its token budget holds (at least one per attention-DP
    rank): (latency, interval between passes, prompts per pass). Independent of the decode batch. The latency's
    `lone_s`: a pass of one prompt (a trickle's; the search's cache of this pass keeps it with the rest)."""
    n_req = cp.attn_dp * np.maximum(1.0, np.floor(rank_chunk_tokens(cp) / isl)) + np.zeros_like(like)
    pre_lat, pre_interval = prefill_pass(cp, serving, n_req, isl)
    pre_lat = dict(pre_lat, lone_s=prefill_pass(cp, serving, 1.0, isl)[0]["time_s"] + np.zeros_like(like))
    return pre_lat, pre_interval, n_req


UNIT_CHUNK_ROWS = 1024  # rows per pass of the unit search: its (top x top, rows) arrays stay in cache


def _smallest_best_unit(rate_p, rate_d, gp, g, top: int) -> tuple[np.ndarray, np.ndarray]:
    """(prefill, decode) instances of the unit: among every unit of 1..top of each, the smallest (fewest
    instances; first in the order (nd, npf) = (1, 1), (1, 2), ..., (top, top)) within DISAGG_TOLERANCE of the
    best output/s per GPU (top x top where none qualifies, i.e. NaN rows). A unit serves min(prefill, decode)
    requests/s. Built from the top multiples of each rate and GPU count, a chunk of rows at a time."""
    k = np.arange(1.0, top + 1)
    rp, rd, gp, g = np.broadcast_arrays(*(np.atleast_1d(np.asarray(x, dtype=float)) for x in (rate_p, rate_d,
                                                                                              gp, g)))
    nd_c, np_c = (x.reshape(-1) for x in np.meshgrid(k, k, indexing="ij"))
    order = np.lexsort((np.arange(top * top), np_c + nd_c))  # by size, then position
    n = len(rp)
    unit, found = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    for lo in range(0, n, UNIT_CHUNK_ROWS):
        sl = slice(lo, lo + UNIT_CHUNK_ROWS)
        per_gpu = np.minimum((k[:, None] * rd[sl])[:, None, :], (k[:, None] * rp[sl])[None, :, :])  # [nd, npf]
        per_gpu /= (k[:, None] * g[sl])[:, None, :] + (k[:, None] * gp[sl])[None, :, :]
        per_gpu = per_gpu.reshape(top * top, -1)
        good = (per_gpu >= np.max(per_gpu, axis=0) * (1.0 - DISAGG_TOLERANCE))[order]
        first = np.argmax(good, axis=0)  # the first good unit in that order
        found[sl] = good[first, np.arange(good.shape[1])]
        unit[sl] = order[first]
    return np.where(found, np_c[unit], float(top)), np.where(found, nd_c[unit], float(top))


def decode_tpot(c: Cols, serving: dict[str, float], time_only: bool = False
                ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Disaggregated decode instances at c.batch: (the step, its draft's time included; TPOT; the speculative
    acceptance length). `disaggregated`'s, and the decode step tables of reasoning units (`reasoning_disagg`),
    which need the step at other batches without the unit around it (`time_only`: the step's time alone, the
    same sums, as `decode_step` gives it)."""
    q, accept, _ = speculative_terms(c)
    ctx = c.isl + c.osl / 2.0
    dec = decode_step(c, serving, c.batch, ctx, q_dec=q, time_only=time_only)
    dec = dict(dec, time_s=dec["time_s"] + draft_time_s(c, serving, c.batch, ctx))
    return dec, dec["time_s"] / accept, accept


def disaggregated(c: Cols, serving: dict[str, float], cp: Cols | None = None, pre=None) -> dict[str, np.ndarray]:
    """`c` describes the decode instances; `cp` the prefill instances (their own TP/PP/EP/attention-DP and
    accelerator), default the same layout as decode. `pre`: `prefill_batch_pass` of these rows when known."""
    A = ASSUMPTIONS
    cp = c if cp is None else cp
    b, isl, osl = c.batch, c.isl, c.osl
    g = c.tp * c.pp * c.attn_dp
    gp = cp.tp * cp.pp * cp.attn_dp
    dec, tpot, accept = decode_tpot(c, serving)
    rate_d = b / (tpot * osl)  # requests/s one decode instance completes
    pre_lat, pre_interval, n_req = prefill_batch_pass(cp, serving, isl, b) if pre is None else pre
    rate_p = n_req / pre_interval  # requests/s one prefill instance admits
    # every unit of 1..8 prefill and 1..8 decode instances; a unit serves min(prefill, decode) requests/s
    best_np, best_nd = _smallest_best_unit(rate_p, rate_d, gp, g, A.max_disagg_instances)
    best_np, best_nd = best_np + np.zeros_like(b), best_nd + np.zeros_like(b)
    unit_gpus = best_np * gp + best_nd * g
    rate = np.minimum(best_np * rate_p, best_nd * rate_d)
    duty_p = np.clip(rate / (best_np * rate_p), 0.0, 1.0)
    duty_d = np.clip(rate / (best_nd * rate_d), 0.0, 1.0)
    pre_step = dict(pre_lat)
    pre_step["time_s"] = pre_lat["time_s"] / cp.pp  # utilization of one stage while pipelined
    for k in ("compute_busy_s", "memory_busy_s"):
        pre_step[k] = pre_lat[k] / cp.pp
    power = _power_w(cp, pre_step, duty_p) * best_np * gp + _power_w(c, dec, duty_d) * best_nd * g
    # prefill and decode on different systems: the KV leaves the scale-up domain
    same_system = np.asarray(cp.hbm_bytes == c.hbm_bytes) & np.asarray(cp.scale_up_domain == c.scale_up_domain)
    kv_unit = np.where(same_system, unit_gpus, np.inf)
    transfer = kv_transfer_s(c, kv_unit, np.minimum(g, gp))
    return {
        "gpus": unit_gpus,
        "ttft_s": pre_lat["time_s"] + transfer,
        # a lone prompt's (a trickle's TTFT; the queues grow it toward the full pass,
        # `disagg_capacity._prefill_wait`)
        "ttft_lone_s": pre_lat["lone_s"] + transfer,
        "prompts_per_pass": n_req,
        "tpot_s": tpot,
        "itl_s": tpot * np.maximum(accept, c.get("eng_stream", 1.0)),
        "output_tok_s": rate * osl,
        "avg_power_w": power,
        "limited_by": limited_by(dec),
        "prefill_instances": best_np,
        "decode_instances": best_nd,
        "prefill_gpus": best_np * gp,
        "decode_gpus": best_nd * g,
        "peak_power_w": cp.tdp_w * best_np * gp + c.tdp_w * best_nd * g,
    }


def static_batch(c: Cols, serving: dict[str, float]) -> np.ndarray:
    """End-to-end seconds of a static batch (vLLM benchmark_latency): one prefill pass of all `batch`
    prompts, then osl decode steps at the average context isl + osl/2."""
    pre, _ = prefill_pass(c, serving, c.batch, c.isl)
    dec = decode_step(c, serving, c.batch, c.isl + c.osl / 2.0)
    return pre["time_s"] + c.osl * dec["time_s"]
