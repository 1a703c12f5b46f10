"""A prompt's own time to its first token beside speculative decoding, in the queueing model's real steps.

The step tables hold a speculative row in token-steps: a real step (k draft passes, a verify pass of 1 + k
tokens per decoding sequence, `accept` tokens emitted on average) divided by `accept`, its prompt axis in
tokens per token-step (the real budget / accept). That is the right unit for what a running request sees per
token (TPOT, ITL). A prompt's first token, though, comes at the end of the real step that computes its last
chunk: a prompt that fits one step waits a whole real step, not 1/accept of one. The table's decode-0 row has no
token-steps (nobody decodes, nothing is drafted or verified): it is a real prompt-only step, which is why it
lies above the decode-1 row (up to 2.5x on the prompt columns of vLLM / TensorRT-LLM EAGLE-3 rows, accept
2.53): the rows are in different units, not the zero row charged for drafts. Read as real steps (decode-0 as
it is, the others times accept) every table's step grows with the sequences decoding (test_speculative_steps).
"""

from __future__ import annotations

import numpy as np

from planner.perf.prefill_first import alone_s
from planner.perf.steptable import StepTables, interp_on_grid


def real_step_s(tab: StepTables, m: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Seconds of a real step with m (R, D) sequences decoding (the table's decode grid) carrying `tokens`
    (R, D) prompt tokens: the decode-0 row as it is, the others' token-step at tokens / accept times accept (the
    same real step: it carries accept x the token-step's prompt tokens); at least the floor of a step with
    prompt tokens, which is a real step's (steptable.mixed_floor_s)."""
    acc = np.maximum(tab.spec_accept, 1.0)[:, None]
    dec = np.asarray(m) >= 1.0
    raw = interp_on_grid(tab, np.where(dec, tokens / acc, tokens), floored=False)
    # with sequences decoding, at least the prompt-only step of the same tokens (it does that work and more, and
    # runs eagerly as that one does): between the table's first two prompt points the token-step interpolates
    # from a graph-launched decode step, which the floor (the eager launch alone) does not make up for
    alone = alone_s(tab, np.broadcast_to(tokens, raw.shape))
    t = np.where(dec, np.maximum(raw * acc, alone), raw)
    return np.where(tokens > 0, np.maximum(t, tab.mixed_floor_s[:, None]), t)


def own_prefill_s(tab: StepTables, m: np.ndarray, room: np.ndarray, prefill_s: np.ndarray) -> np.ndarray:
    """A prompt's own prefill (R, D) beside m decoding sequences: `prefill_s` (chunks x the chunk's token-step)
    where the row does not speculate; where it does, whole real steps: ceil(isl / (accept x room)) chunks, each
    a real step (real_step_s) carrying its share of the prompt. `room`: prompt tokens per token-step (R, D)."""
    acc = tab.spec_accept[:, None]
    spec = acc > 1.0
    if not spec.any():
        return prefill_s
    isl = tab.isl[:, None]
    chunks = np.ceil(isl / (acc * room))  # a real step's prompt room: accept token-steps'
    return np.where(spec, chunks * real_step_s(tab, m, isl / chunks), prefill_s)


def real_steps(tab: StepTables, v: np.ndarray) -> np.ndarray:
    """A per-occupancy step figure `v` (R, D) on the table's decode grid (queueing.Service's) as real steps: times
    accept where sequences decode (the decode-0 point is one already). What an arriving prompt waits through
    when it lands mid-step: the real step in progress, drafts and verify included."""
    return np.where(tab.decode >= 1.0, v * np.maximum(tab.spec_accept, 1.0)[:, None], v)


__all__ = ["own_prefill_s", "real_step_s", "real_steps"]
