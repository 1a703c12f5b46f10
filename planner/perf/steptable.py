"""Step-time tables: the performance model's step time of each configuration on a small grid of (decode
sequences, prefill tokens in the step), plus the scheduler limits (max running sequences, token budget, KV-cache
tokens). The load simulator interpolates in them instead of calling the model every step, and the queueing
approximation reads its per-occupancy service figures from them, so both run on the same numbers.

Step time at other contexts: decode attention reads every context token's KV once per step, so a step's time
is linear in the total context of its decode sequences; the table holds the time at `ctx_ref` tokens per
sequence (isl + osl/2, the average over a request's life) and the slope per decode count (`ctx_slope_s`; where
an engine's host work hides the GPU's, 0), `s_per_ctx_token` the slope at the seats the KV cache holds.

Steps carrying prompt tokens: the prompt axis has points where the step bends (`prefill_grid`), each the step
launched as a decode-only step, and `chunk_floor_s` the eager floor of a step with prompt tokens per decode
count; a step with prompt tokens is the larger of the two (`interp_step`), as the step model's
max(work, launch) is, whatever the point spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.engines import rank_chunk_tokens, replica_token_budget
from planner.perf.evaluate import engine_seats_of, evaluate_columns
from planner.perf.kernels import causal_pairs
from planner.perf.memory import kv_bytes_per_seq_per_gpu, memory
from planner.perf.params import Efficiency, load_efficiency
from planner.perf.resolve import Cols, Taken, normalize_grid, resolve, take
from planner.perf.serving import draft_time_s, speculative_terms
from planner.perf.step import decode_step, mixed_step_floor_s
from planner.perf.steptable_groups import MEMBER_COLUMNS, kind_order, shared_groups
from planner.perf.steptable_points import PROMPT_EPSILON, prefill_grid
from planner.perf.steptable_read import at, interp_on_grid, interp_step, locate, prefill_at

DECODE_POINTS = 20  # 0 plus 19 geometric points from 1 to the max running sequences
PREFILL_POINTS = 9  # 0, then points up to the token budget placed where the step's time bends (`prefill_grid`)


@dataclass(frozen=True)
class StepTables:
    """Per configuration row r (R rows): the grids and step seconds, and the limits of its scheduler."""

    decode: np.ndarray  # (R, D) decode sequences at each grid point (0, then geometric up to max_seqs)
    prefill: np.ndarray  # (R, P) prefill tokens in the step, ascending (0 .. token_budget; `prefill_grid`)
    time_s: np.ndarray  # (R, D, P) step seconds with ctx_ref context tokens per decode sequence
    s_per_ctx_token: np.ndarray  # (R,) extra seconds per context token of a decode sequence beyond ctx_ref
    ctx_ref: np.ndarray  # (R,) isl + osl / 2
    step_avg_s: np.ndarray  # (R, D) step with decode[d] sequences plus their share of prefill (decode*isl/osl)
    max_seqs: np.ndarray  # (R,) running-sequence cap of the engine
    token_budget: np.ndarray  # (R,) tokens per step (decode + prefill chunk)
    kv_tokens: np.ndarray  # (R,) KV-cache capacity of the replica in tokens
    isl: np.ndarray  # (R,) mean prompt tokens
    osl: np.ndarray  # (R,) mean output tokens
    fits: np.ndarray  # (R,) bool: the configuration runs at all (batch 1 fits memory, split valid)
    reason: np.ndarray  # (R,) why not ('' where it fits)
    gpus: np.ndarray  # (R,) GPUs of the replica
    burst: np.ndarray  # (R,) tokens per streamed chunk (speculative acceptance, multi-step bursts): ITL = burst x
    #                    the per-token step
    request_s: np.ndarray | None = None  # (R,) engine API-server time per request, added to TTFT (see engines.py)
    mixed_floor_s: np.ndarray | None = None  # (R,) least seconds of a step carrying prompt tokens (launched
    #                                          eagerly outside the decode CUDA graphs; step.mixed_step_floor_s)
    kv_reserve: np.ndarray | None = None  # (R,) share of each running request's remaining output tokens whose KV
    #                                       the scheduler keeps free before it admits another (engines.yaml
    #                                       `scheduler:`; 0 = on demand with preemption, 1 = no eviction)
    kv_reserve_min: np.ndarray | None = None  # (R,) floor the reserve decays to, by kv_reserve_decay per decode
    kv_reserve_decay: np.ndarray | None = None  # (R,) step; a decaying reserve retracts when full (SGLang)
    prefill_first: np.ndarray | None = None  # (R,) 1 where prompt steps run alone, decode paused (engines.yaml)
    spec_accept: np.ndarray | None = None  # (R,) mean tokens a speculative step emits (1 without speculation)
    spec_draft_tokens: np.ndarray | None = None  # (R,) draft tokens a speculative step verifies (0 without)
    limited_by: np.ndarray | None = None  # (R,) what stops a row that does not run (evaluate's: memory, engine,
    #                                       config), '' where it fits
    chunk_floor_s: np.ndarray | None = None  # (R, D) least seconds of a step carrying prompt tokens beside
    #                                          decode[d] sequences: the step of PROMPT_EPSILON tokens, launched
    #                                          eagerly with its engine and host terms. time_s's points are steps
    #                                          launched as decode-only steps (the floor apart: linear in the
    #                                          prompt tokens between the bends prefill_grid places points at),
    #                                          and a step carrying prompt tokens is the larger of the two
    #                                          (`interp_step`); by hand (tests): 0, time_s holds what it holds
    ctx_slope_s: np.ndarray | None = None  # (R, D) s_per_ctx_token at each decode count of the grid (the
    #                                        simulator's; s_per_ctx_token is it at the seats the KV cache holds);
    #                                        by hand (tests): s_per_ctx_token at every count
    kv_seats: np.ndarray | None = None  # (R,) evaluate's max_batch_memory (inf where not given): the seats never
    #                                     exceed what its memory check admits (queueing.service); it holds for
    #                                     the isl, osl and kv_reserve the tables were built at (a replace() of
    #                                     those keeps it: rebuild instead)

    def __post_init__(self) -> None:
        # tables built by hand (tests) leave these out: none
        for name in ("request_s", "mixed_floor_s", "kv_reserve", "kv_reserve_decay", "prefill_first",
                     "spec_accept", "spec_draft_tokens"):
            if getattr(self, name) is None:
                fill = np.ones if name == "spec_accept" else np.zeros
                object.__setattr__(self, name, fill(len(self.isl)))
        if self.limited_by is None:
            object.__setattr__(self, "limited_by", np.full(len(self.isl), "", dtype=object))
        if self.ctx_slope_s is None:
            one = np.asarray(self.s_per_ctx_token, dtype=float)[:, None]
            object.__setattr__(self, "ctx_slope_s", np.repeat(one, self.decode.shape[1], axis=1))
        if self.chunk_floor_s is None:
            object.__setattr__(self, "chunk_floor_s", np.zeros(self.decode.shape))
        if self.kv_seats is None:
            object.__setattr__(self, "kv_seats", np.full(len(self.isl), np.inf))
        if self.kv_reserve_min is None:  # a fixed reserve
            object.__setattr__(self, "kv_reserve_min", np.array(self.kv_reserve, dtype=float))

    def __len__(self) -> int:
        return len(self.isl)

    def row(self, r: int) -> StepTables:
        """One configuration as a table of length 1."""
        return StepTables(**{k: getattr(self, k)[r:r + 1] for k in self.__dataclass_fields__})


SHARE_GRID_POINTS = True  # queueing_only tables: the model once per group of rows sharing all but the output
#                          length (`shared_groups`; the same numbers to the bit, tests/test_steptable_shared.py).
#                          The candidate search's grids hold ~2.4 such rows per group (mixed-fleet: 8,748
#                          aggregated rows, 3,618 groups), and all but decode attention and the longest
#                          sequence's kernel limits is the same at a group's points. The capacity's tables (CPU
#                          ms, min of 7, alternating in one process, load ~4): mixed-fleet 262 -> 143,
#                          power-limited-site 182 -> 86, enterprise-budget 146 -> 87, offline 49 -> 47
STEP_CHUNK_ROWS = 192  # configurations per model pass over the table's points: its temporaries stay in cache
#                       (one pass over every row took ~40% longer on the examples). Measured (CPU ms, 2,500 rows,
#                       min of 5-10 under load): 12 x 5 queueing-only tables (60 points) 110 / 90 / 89 / 107 at
#                       64 / 128 / 256 / 512 rows; 20 x 9 tables (202 points) 291 / 241 / 187 / 177 / 300 at
#                       40 / 64 / 128 / 256 / 512 rows: flat near 128-256 rows whatever the points per row

GROUP_CHUNK_ROWS = 768  # groups per model pass in `_grid_points_shared`: most of its arrays are one row's points
#                        per group. With the groups on the last axis (`_group_points_inner`), CPU ms of the
#                        tables (min of 7, alternating in one process, load ~2): mixed-fleet 170 / 140 / 126 /
#                        139 / 136 at 192 / 384 / 768 / 1,536 / 4,096 (with the groups first, 384 was best)

FACTOR_AXES = True  # `_grid_points_shared`: the decode counts and prompt tokens of a group's points on two axes
#                     of their own, the groups on the last (`_group_points_inner`), instead of a group's points
#                     on one axis (g, 1, D x P): what depends on one of them alone (decode attention with the
#                     members' contexts, the eager-launch and host terms) is computed on D or P points, and a
#                     per-row column broadcasts along whole contiguous rows of elements (the groups first,
#                     (g, 1, D, 1) x (g, 1, 1, P), broadcast in inner loops of P = 5; with the groups last the
#                     tables took 16-28% less CPU, mixed-fleet ~155 -> ~130 ms, power-limited 123 -> 88); the
#                     same operations on the same values (tests/test_steptable_shared.py)

class _RowsView(Taken):
    """Rows `idx` (a slice) of resolved columns as the model reads them: each per-row column (length n) as an
    (m, 1) view that broadcasts against per-point (m, K) arrays, taken when first read (the step model reads
    ~70 of ~110 columns); scalars and other shapes as they are. A column read again is a plain dict look-up
    (Taken's)."""

    def __missing__(self, name: str):
        v = self._src[name]
        if isinstance(v, np.ndarray) and v.ndim in (1, 2) and v.shape[0] == self._n:
            v = v[self._idx]
            v = v[:, None] if v.ndim == 1 else v
        dict.__setitem__(self, name, v)
        return v


class _GroupView(_RowsView):
    """One row per group of rows that share every column the step model reads but the output length (`idx`:
    a member of each group): each per-row column as (g, 1, 1), broadcasting against the group's shared points
    (g, 1, K) and its members' contexts (g, G, 1) (`ndim` 1: as (g,), the groups on the last axis,
    `_group_points_inner`); `osl`, where the members differ, given in `own` (the model reads it for the
    longest sequence's kernel limits, step.longest_sequence_tokens)."""

    def __init__(self, src: Cols, idx: np.ndarray, n: int, own: dict[str, np.ndarray], ndim: int = 3) -> None:
        super().__init__(src, idx, n)
        self._trail = (None,) * (ndim - 1)
        for name, v in own.items():
            dict.__setitem__(self, name, v)

    def __missing__(self, name: str):
        v = self._src[name]
        if isinstance(v, np.ndarray) and v.ndim == 1 and v.shape[0] == self._n:
            v = v[self._idx][(slice(None), *self._trail)]
        dict.__setitem__(self, name, v)
        return v


def _drafts(c: Cols, n_dec) -> bool:
    """Whether some point of the table is a speculative step with draft passes (their cost is then added)."""
    _, accept, k = speculative_terms(c)
    return bool(np.any((accept > 1.0) & (np.asarray(n_dec, dtype=float) > 0) & (k > 0)))


def _step(c: Cols, serving: dict, n_dec, ctx, n_pre, isl, drafts: bool | None = None,
          prompt_chunk=False) -> np.ndarray:
    """Seconds per token-step: with speculative decoding a real step verifies 1 + k tokens per sequence (after
    k draft passes) and emits `accept` on average, so the table holds the real step (carrying accept x the
    prompt tokens) divided by accept; without it, the step itself. `drafts`: `_drafts` of the whole table when
    these are some of its rows (the draft term then goes to the same rows as in one pass). `prompt_chunk`:
    the points that are real steps carrying a prompt chunk (step.decode_step)."""
    q, accept, k = speculative_terms(c)
    n_dec = np.asarray(n_dec, dtype=float)
    spec = (accept > 1.0) & (n_dec > 0)  # a step with no decode sequence is a plain prefill pass
    acc = np.where(spec, accept, 1.0)
    n_pre = np.asarray(n_pre, dtype=float) * acc
    per_tok_g = causal_pairs(isl) / np.maximum(isl, 1.0)  # average causal pairs per prompt token
    per_tok_l = causal_pairs(isl, c.window_tokens) / np.maximum(isl, 1.0)
    t = decode_step(c, serving, n_dec, ctx, n_pre, n_pre * per_tok_g, n_pre * per_tok_l, isl,
                    q_dec=np.where(spec, q, 1.0), prompt_chunk=prompt_chunk, time_only=True)["time_s"]
    if (np.any(spec & (k > 0)) if drafts is None else drafts):
        t = t + np.where(spec, draft_time_s(c, serving, n_dec, ctx), 0.0)
    return t / acc


def _model_points(c: Cols, n: int, eff: Efficiency, n_dec, ctx, n_pre, chunk, isl, drafts: bool,
                  run: slice | np.ndarray) -> np.ndarray:
    """Step seconds (m, K) from the model at the points (m, K) of rows `run` of the resolved columns `c` (n
    rows), in row chunks; NaN where the model gives no finite time."""
    m = len(n_dec)
    # the rows that fit where some do not (the model is elementwise over rows), each column gathered once as
    # the model first reads it
    src = c if isinstance(run, slice) else take(c, run, n)
    out = np.empty(n_dec.shape)
    for lo in range(0, m, STEP_CHUNK_ROWS):  # the model is elementwise: any split of the rows gives the same
        sl = slice(lo, lo + STEP_CHUNK_ROWS)
        out[sl] = _step(_RowsView(src, sl, m), eff.serving, n_dec[sl], ctx[sl], n_pre[sl], isl[sl, None],
                        drafts, chunk[sl])
    return np.where(np.isfinite(out), out, np.nan)


def _grid_points_shared(c: Cols, n: int, eff: Efficiency, decode, prefill, ctx, isl, osl, drafts: bool,
                        run: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """`_model_points` of the grid's points (m, D x P) of rows `run` (decode counts `decode` (m, D), prompt
    tokens `prefill` (m, P), one context `ctx` (m,) per row), computed once per group of rows `gid`
    (`shared_groups`): the group's points are one row's, the members' contexts and output lengths enter where
    the model reads them (decode attention, the kernel limits of the longest sequence), so each member gets the
    numbers its own row would (the same operations on the same values, element for element)."""
    m, D = decode.shape
    P = prefill.shape[1]
    out = np.empty((m, D * P))
    if m == 0:  # no row fits (a forged or impossible configuration): no group; np.r_ below would make one empty
        return out
    src = c if m == n else take(c, run, n)
    order = np.argsort(gid, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(gid[order]) != 0])
    sizes = np.diff(np.r_[starts, m])
    pts = None if FACTOR_AXES else _points(decode, prefill, None, ctx, None, None, grid_only=True)
    for size in np.unique(sizes):
        begin = starts[sizes == size]
        begin = begin[kind_order(src, order[begin])]
        members = order[begin[:, None] + np.arange(size)[None, :]]  # (groups, size) positions in `run`
        for lo in range(0, len(members), GROUP_CHUNK_ROWS):
            mem = members[lo:lo + GROUP_CHUNK_ROWS]
            r = mem[:, 0]
            if FACTOR_AXES:
                t = _group_points_inner(src, r, m, eff, decode[r], prefill[r], ctx[mem], isl[mem], osl[mem],
                                        drafts)
            else:  # (g, 1, 1) columns against the group's points (g, 1, D x P) and members' contexts (g, G, 1)
                own = {k: v[mem][:, :, None] for k, v in (("isl", isl), ("osl", osl)) if k in MEMBER_COLUMNS}
                t = _step(_GroupView(src, r, m, own), eff.serving, pts[0][r][:, None, :], ctx[mem][:, :, None],
                          pts[2][r][:, None, :], own.get("isl", isl[r][:, None, None]), drafts,
                          pts[3][r][:, None, :])
            out[mem] = np.broadcast_to(t, (len(r), size, D * P))
    return np.where(np.isfinite(out), out, np.nan)


def _group_points_inner(src: Cols, r: np.ndarray, m: int, eff: Efficiency, decode, prefill, ctx, isl, osl,
                        drafts: bool) -> np.ndarray:
    """Step seconds (g, G, D x P) of g groups (rows `r` of `src`'s m, one a group) of G members (`FACTOR_AXES`;
    `ctx`, `isl` and `osl` (g, G) the members'): the model on arrays with the groups on the last axis,
    contiguous, and the members, decode counts and prompt tokens on leading axes of their own ((G, 1, 1, g),
    (1, D, 1, g), (1, 1, P, g)). A per-row column (g,) then broadcasts along whole rows of elements, and what
    depends on the decode counts or the prompt tokens alone (decode attention with the members' contexts, the
    eager-launch and host terms) is computed on D or P points. The same operations on the same values as each
    row's own computation, element for element (tests/test_steptable_shared.py)."""
    g, D = decode.shape
    P = prefill.shape[1]

    def members(x):  # (g, G) -> (G, 1, 1, g)
        return np.ascontiguousarray(x.T)[:, None, None, :]

    own = {k: members(v) for k, v in (("isl", isl), ("osl", osl)) if k in MEMBER_COLUMNS}
    pre = np.ascontiguousarray(prefill.T)[None, None, :, :]
    t = _step(_GroupView(src, r, m, own, ndim=1), eff.serving, np.ascontiguousarray(decode.T)[None, :, None, :],
              members(ctx), pre, own.get("isl", isl[:, 0]), drafts, _eager_column(P)[None, None, :, None])
    t = np.broadcast_to(t, (ctx.shape[1], D, P, g))
    return t.transpose(3, 0, 1, 2).reshape(g, ctx.shape[1], D * P)


def _eager_column(P: int) -> np.ndarray:
    """(P,) which of the P prompt columns the model computes (the table's, then PROMPT_EPSILON's) is a real
    step carrying a prompt chunk, launched eagerly: the last (the chunk floor, `StepTables.chunk_floor_s`)."""
    return np.arange(P) == P - 1


def _points(decode: np.ndarray, prefill: np.ndarray, max_seqs: np.ndarray, ctx_ref: np.ndarray, isl: np.ndarray,
            osl: np.ndarray, grid_only: bool):
    """(decode sequences, context, prefill tokens, carries a prompt chunk) at each point (m, K) of rows of a
    table: the grid's D x P points, then (unless `grid_only`) the D averaged steps and the context-slope probes
    (the decode-only steps of the grid's D - 1 decode counts above 0 at twice the context)."""
    m, D = decode.shape
    P = prefill.shape[1]
    grid = (np.repeat(decode, P, axis=1), np.tile(prefill, (1, D)))
    # the floor column's points are real steps carrying a chunk (eager); the others and the averaged steps not
    chunk = np.tile(_eager_column(P), (m, D))
    if grid_only:
        return grid[0], np.repeat(ctx_ref[:, None], D * P, axis=1), grid[1], chunk
    n_dec = np.concatenate([grid[0], decode, decode[:, 1:]], axis=1)
    n_pre = np.concatenate([grid[1], decode * isl[:, None] / osl[:, None], np.zeros((m, D - 1))], axis=1)
    ctx = np.concatenate([np.repeat(ctx_ref[:, None], D * P + D, axis=1),
                          np.repeat(2.0 * ctx_ref[:, None], D - 1, axis=1)], axis=1)
    return n_dec, ctx, n_pre, np.concatenate([chunk, np.zeros((m, 2 * D - 1), dtype=bool)], axis=1)


def build_step_tables(configs: pd.DataFrame, catalog: Catalog, *, efficiency: Efficiency | None = None,
                      max_seqs=None, token_budget=None, decode_points: int = DECODE_POINTS,
                      prefill_points: int = PREFILL_POINTS,
                      resolved: tuple[Cols, np.ndarray] | None = None, queueing_only: bool = False) -> StepTables:
    """Step tables of every configuration row (CONFIG_COLUMNS; `batch`, when present, is the engine's cap on
    running sequences per replica, default the engine's (evaluate.engine_seats_of); `max_seqs`/`token_budget`
    arguments (scalars or per-row arrays) override). A coarser grid (decode_points, prefill_points) trades
    interpolation accuracy for speed (the candidate search uses 12 x 5). `resolved`: `resolve` of these rows at
    batch 1 where the caller has it (not modified). `queueing_only`: the tables the queueing approximation reads
    (the candidate search's): the model runs on the grid's points of the rows that fit only; the averaged steps
    and the context slope (the simulator's) and every step of a row that does not fit are NaN (the grid's
    points of the other rows are the same numbers: the model is elementwise)."""
    eff = efficiency if efficiency is not None else load_efficiency(catalog)
    n = len(configs)
    cfg = configs.reset_index(drop=True)
    probe = cfg.assign(batch=1)
    c, reason = resolved if resolved is not None else resolve(normalize_grid(probe), catalog, eff)
    # no frame, no model of aggregated rows: what runs, why not and the GPUs read
    _, ev = evaluate_columns(probe, catalog, efficiency=eff, resolved=(c, reason), timed=False)
    # the engine's scheduler limits (catalog `engines:`; the generic engine's assumed ones) unless given
    if max_seqs is None:
        raw = pd.to_numeric(cfg["batch"], errors="coerce") if "batch" in cfg else pd.Series(np.nan,
                                                                                             index=cfg.index)
        default = engine_seats_of(c)
        max_seqs = np.where(raw.isna(), default, raw.to_numpy(dtype=float))
    max_seqs = np.maximum(np.broadcast_to(np.asarray(max_seqs, dtype=float), (n,)), 1.0)
    if token_budget is None:
        token_budget = replica_token_budget(c)
    accept = np.asarray(c.get("spec_accept", np.ones(n)), dtype=float)
    # per token-step (see _step) a real step's budget covers accept token-steps
    budget = np.broadcast_to(np.asarray(token_budget, dtype=float), (n,)) / np.maximum(accept, 1.0)
    burst = np.maximum(accept, np.asarray(c.get("eng_stream", np.ones(n)), dtype=float))
    mem = memory(c)
    free = mem["usable_bytes"] - mem["weight_bytes_per_gpu"] - mem["reserve_bytes_per_gpu"]
    isl, osl = c.isl, c.osl
    ctx_ref = isl + osl / 2.0
    per_tok = kv_bytes_per_seq_per_gpu(c, ctx_ref) / ctx_ref
    kv_tokens = np.floor(np.maximum(free, 0.0) / per_tok) * c.attn_dp
    fits = np.asarray(ev["fits"], dtype=bool)

    frac = np.linspace(0.0, 1.0, decode_points - 1)
    top, which = np.unique(max_seqs, return_inverse=True)  # a few caps among many rows: each grid powered once
    decode = np.concatenate([np.zeros((n, 1)), np.power(top[:, None], frac[None, :])[which]], axis=1)
    prefill = prefill_grid(budget, np.minimum(isl, rank_chunk_tokens(c)) / np.maximum(accept, 1.0), c.attn_dp,
                           prefill_points)
    D, P = decode_points, prefill_points
    # the table's prompt columns, then the chunk floor's (PROMPT_EPSILON tokens, eager): the model runs on P + 1
    prefill = np.concatenate([prefill, np.full((n, 1), PROMPT_EPSILON)], axis=1)
    P1 = P + 1
    # one vectorized call over every (row, point): the grid's D x P points, the D averaged steps and the two
    # slope probes (queueing_only: the grid's points of the rows that fit). Per-row columns enter as (n, 1) and
    # broadcast against the (n, points) arrays, so what depends on the configuration alone is computed once per
    # row, not once per point
    run = np.flatnonzero(fits) if queueing_only and not fits.all() else slice(None)
    # the draft term goes to the same rows whatever rows run: decided on every row's decode counts (the grid's
    # and the probes' max_seqs, every point's value)
    drafts = _drafts(_RowsView(c, slice(None), n), np.concatenate([decode, max_seqs[:, None]], axis=1))
    t = np.full((n, D * P1 + 2 * D - 1), np.nan)
    if queueing_only and SHARE_GRID_POINTS:  # rows sharing all but the output length: the model once a group
        rows = np.arange(n) if isinstance(run, slice) else run
        gid = shared_groups(c, n, rows, (max_seqs, budget))
        t[rows, :D * P1] = _grid_points_shared(c, n, eff, decode[rows], prefill[rows], ctx_ref[rows], isl[rows],
                                              osl[rows], drafts, rows, gid)
    else:
        pts = _points(decode[run], prefill[run], max_seqs[run], ctx_ref[run], isl[run], osl[run], queueing_only)
        t[run, :pts[0].shape[1]] = _model_points(c, n, eff, *pts, isl[run], drafts, run)
    steps = t[:, :D * P1].reshape(n, D, P1)
    time_s = np.ascontiguousarray(steps[:, :, :P])
    chunk_floor = np.ascontiguousarray(steps[:, :, P])
    step_avg = np.ascontiguousarray(t[:, D * P1:D * P1 + D])
    # per decode count: the decode-only step at twice the context less the grid's at ctx_ref; at 0 as at 1
    slope_d = np.maximum((t[:, D * P1 + D:] - time_s[:, 1:, 0]) / (decode[:, 1:] * ctx_ref[:, None]), 0.0)
    slope_d = np.ascontiguousarray(np.concatenate([slope_d[:, :1], slope_d], axis=1))
    # the row's one slope where it runs loaded: the seats its KV cache holds at ctx_ref, up to the engine's cap.
    # At the cap (SGLang: 4,096) the host's per-sequence work hides the GPU's (eng_overlap), so every SGLang
    # calibration row read 0 there and its variable lengths spread no TPOT
    seats = np.clip(kv_tokens / ctx_ref, 1.0, max_seqs)
    slope = at(slope_d, locate(decode, seats[:, None]))[:, 0]
    return StepTables(decode=decode, prefill=prefill[:, :P], time_s=time_s, s_per_ctx_token=slope,
                      ctx_slope_s=slope_d, ctx_ref=ctx_ref,
                      step_avg_s=step_avg, max_seqs=max_seqs, token_budget=budget, kv_tokens=kv_tokens,
                      isl=isl, osl=osl, fits=fits, reason=np.asarray(ev["reason"], dtype=object),
                      limited_by=np.where(fits, "", np.asarray(ev["limited_by"], dtype=object)).astype(object),
                      kv_seats=np.asarray(mem["max_batch_memory"], dtype=float) * np.ones(n),
                      gpus=ev["gpus"], burst=burst, chunk_floor_s=chunk_floor,
                      request_s=np.asarray(c.get("eng_request_s", np.zeros(n)), dtype=float) * np.ones(n),
                      mixed_floor_s=mixed_step_floor_s(c, eff.serving) * np.ones(n),
                      kv_reserve=np.asarray(c.get("eng_kv_reserve", np.ones(n)), dtype=float) * np.ones(n),
                      kv_reserve_min=np.asarray(c.get("eng_kv_reserve_min", c.get("eng_kv_reserve", np.ones(n))),
                                                dtype=float) * np.ones(n),
                      kv_reserve_decay=np.asarray(c.get("eng_kv_reserve_decay", np.zeros(n)),
                                                  dtype=float) * np.ones(n),
                      prefill_first=np.asarray(c.get("eng_prefill_first", np.zeros(n)), dtype=float) * np.ones(n),
                      spec_accept=np.maximum(accept, 1.0) * np.ones(n),
                      spec_draft_tokens=np.asarray(c.get("spec_k", np.zeros(n)), dtype=float) * np.ones(n))


__all__ = ["PROMPT_EPSILON", "StepTables", "at", "build_step_tables", "interp_on_grid", "interp_step", "locate",
           "prefill_at", "prefill_grid"]
