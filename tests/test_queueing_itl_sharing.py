"""ITL's mixture of steps (queueing.add_itl) and TPOT's mean step (queueing._mixed) count prompt chunks by one
rule (queueing.shared_chunks): chunks landing in one step share it, so a share 1 - e^-f of the steps carries
prompt tokens at f chunks a step. At the steady-state prompt rate of an occupancy (m - 1 others each bringing a
prompt per osl steps) and nothing packed, the mean gap between tokens is then the mean step."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_perf_load import linear_table

from planner.perf import queueing as Q


def test_shared_chunks_is_poisson_sharing():
    """f = 0.5 chunks a step: 1 - e^-0.5 = 39.3% of the steps carry prompt tokens, 0.5 / 0.393 chunks each."""
    share, tokens = Q.shared_chunks(np.array([0.5, 0.0]), np.array([50.0, 0.0]))
    assert share[0] == pytest.approx(1.0 - np.exp(-0.5))
    assert tokens[0] == pytest.approx(50.0 / (1.0 - np.exp(-0.5)))
    assert share[1] == 0.0 and tokens[1] == 0.0  # no prompts: no step carries any


@pytest.mark.parametrize("isl", [100, 2000, 20000])  # one chunk, one chunk of many steps' worth, several chunks
@pytest.mark.parametrize("floor_s", [0.0, 0.05])  # a named engine's eager step carrying prompt tokens
def test_itl_counts_the_steps_tpot_counts(isl, floor_s):
    """Step a + b * decoding + c * prompt tokens (10 ms, 0.1 ms a sequence, 20 us a prompt token), at least
    `floor_s` when it carries prompt tokens; 64 seats, 8,192-token budget, 200 output tokens. At every occupancy
    on the grid and the prompt rate that keeps it steady, the ITL mixture has _mixed's share 1 - e^-f of steps
    with prompt tokens (its percentiles switch there from the decode step to the shared chunk step) and its mean
    is _mixed's mean step. Counting a step per chunk (the old add_itl) put the share of prompt steps up to 1.55x
    _mixed's and, with the floor (every chunk its own 50 ms step), the mean up to 10% above TPOT's."""
    tab = replace(linear_table(a=0.01, b=1e-4, c=2e-5, isl=isl, osl=200, max_seqs=64),
                  mixed_floor_s=np.array([floor_s]))
    sv = Q.service(tab)
    for m in tab.decode[0][2:]:  # occupancies 1.25 .. 64 (past one sequence: others bring prompts)
        at = np.array([m])
        step, dec, chunks = (Q.at_occupancy(sv, v, at) for v in (sv.step_s, sv.dec_s, sv.chunks))
        share = -np.expm1(-(m - 1.0) / 200.0 * chunks[0])  # _mixed's f: the others' chunks per step
        q_dec, q_chunk = 100.0 * (1.0 - share) - 0.1, 100.0 * (1.0 - share) + 0.1
        lam = m / (200.0 * step)  # per step, m - 1 others finish a prompt every osl steps
        out: dict = {}
        Q.add_itl(sv, tab, at, lam, np.zeros(1), (q_dec, q_chunk), out)
        assert out["itl_mean_s"][0] == pytest.approx(step[0], rel=1e-6), m
        assert out[f"itl_p{q_dec:g}_s"][0] == pytest.approx(dec[0]), m
        assert out[f"itl_p{q_chunk:g}_s"][0] > dec[0], m
