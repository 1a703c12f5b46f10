"""Step tables of speculative rows (steptable._step) in their two units, and what a prompt waits for
(speculative_prompt.py): where sequences decode a table holds token-steps (the real step, k draft passes and a
verify pass of 1 + k tokens a sequence, over the `accept` tokens it emits); where none does, a real prompt-only
step. Read as real steps every table grows with the sequences decoding."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf import queueing as Q
from planner.perf.speculative_prompt import real_step_s
from planner.perf.steptable import build_step_tables


@pytest.fixture(scope="module")
def tables():
    rows = [dict(model=m, accelerator=a, precision=p, tp=tp, pp=pp, isl=i, osl=o, engine=e, speculative=s)
            for (m, tp, pp), (a, p), (i, o), (e, s) in itertools.product(
                [("llama-3.1-8b", 1, 1), ("qwen3-32b", 8, 2), ("llama-3.3-70b", 8, 2), ("deepseek-r1", 8, 1)],
                [("h200-sxm", "fp8"), ("b200", "nvfp4")], [(512, 128), (8192, 512), (220, 200)],
                [("vllm", "auto"), ("sglang", "auto"), ("trtllm", "auto"), ("", "auto"), ("vllm", "none")])]
    grid = pd.DataFrame(rows).assign(kv_precision="fp8", ep=1, attn_dp=1, serving="aggregated")
    tab = build_step_tables(grid, load_catalog())
    run = np.flatnonzero(tab.fits)
    return Q.dataclass_rows(tab, run)


def test_every_table_grows_with_the_sequences_decoding_as_real_steps(tables):
    """At every prompt column: the real step with d + 1 decoding is no shorter than with d (token-steps of one
    row share one unit), and one decoding sequence's real step (accept x the token-step, carrying accept x the
    column's prompt tokens) no shorter than the prompt-only step of the column's tokens. In token-steps alone the
    decode-0 row lies above the decode-1 row on every speculative row (up to 2.5x on the prompt columns): the
    units differ, the zero row is charged no draft and no verify width."""
    t = tables.time_s
    acc = tables.spec_accept
    spec = acc > 1.0
    assert spec.sum() > 40 and (~spec).sum() > 10
    assert (np.diff(t[:, 1:, :], axis=1) >= -1e-12).all()  # d >= 1: one unit
    assert (t[:, 0, :] <= acc[:, None] * t[:, 1, :] * (1 + 1e-9)).all()
    assert (t[spec, 0, 1:] > t[spec, 1, 1:]).any(axis=1).all()  # the token-step unit: below the real zero row


def test_a_prompt_waits_a_real_step_beside_decoding_sequences(tables):
    """A prompt's own prefill (queueing.Service.prefill_s) grows with the sequences decoding beside it on every
    table, speculative or not: its first token comes at the end of the real step computing its last chunk, at
    least the prompt-only step of its tokens. Read as token-steps it fell up to 12% from 0 to 1 decoding on the
    speculative rows (1/accept of a real step where the mixed-step floor does not make it up)."""
    sv = Q.service(tables)
    assert (np.diff(sv.prefill_s, axis=1) >= -1e-12 * sv.prefill_s[:, 1:]).all()
    spec = tables.spec_accept > 1.0
    m = tables.decode[spec]
    one = np.argmax(m >= 1.0, axis=1)  # the first decode point with a sequence decoding
    isl = tables.isl[spec]
    real = real_step_s(Q.dataclass_rows(tables, np.flatnonzero(spec)), m, np.broadcast_to(isl[:, None], m.shape))
    r = np.arange(len(m))
    assert (real[r, one] >= real[:, 0] * (1 - 1e-12)).all()
