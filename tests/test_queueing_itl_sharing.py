"""ITL's steps (queueing.add_itl, step_mix.py) and TPOT's mean step (step_mix: mixed_terms, shared_chunks) count
prompt chunks alike: chunks landing in one step share it, f chunks a step. Where prompts come with the steps (a
closed loop's completions) the counts are Poisson, so a share 1 - e^-f of the steps carries prompt tokens; where
they come in time (Poisson arrivals) a long step gathers more for the next, fewer steps carry more each. At the
steady-state prompt rate of an occupancy (m - 1 others each bringing a prompt per osl steps) and nothing packed,
the mean gap between tokens is the mean step either way."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_perf_load import linear_table

from planner.perf import queueing as Q
from planner.perf.step_mix import shared_chunks


def test_shared_chunks_is_poisson_sharing():
    """f = 0.5 chunks a step: 1 - e^-0.5 = 39.3% of the steps carry prompt tokens, 0.5 / 0.393 chunks each."""
    share, tokens = shared_chunks(np.array([50.0, 0.0]), np.array([100.0, 100.0]))  # 50 / 100 tokens
    assert share[0] == pytest.approx(1.0 - np.exp(-0.5))
    assert tokens[0] == pytest.approx(50.0 / (1.0 - np.exp(-0.5)))
    assert share[1] == 0.0 and tokens[1] == 0.0  # no prompts: no step carries any


@pytest.mark.parametrize("isl", [100, 2000, 20000])  # one chunk, one chunk of many steps' worth, several chunks
@pytest.mark.parametrize("floor_s", [0.0, 0.05])  # a named engine's eager step carrying prompt tokens
def test_itl_counts_the_steps_tpot_counts(isl, floor_s):
    """Step a + b * decoding + c * prompt tokens (10 ms, 0.1 ms a sequence, 20 us a prompt token), at least
    `floor_s` when it carries prompt tokens; 64 seats, 8,192-token budget, 200 output tokens. At every occupancy
    on the grid and the prompt rate that keeps it steady, with the counts Poisson, the ITL has mixed_terms's share
    1 - e^-f of steps with prompt tokens (its percentiles switch there from the decode step to a chunk step)
    and its mean is mixed_terms's mean step (within 0.5%: the floor makes a step's time bend in its chunks). A
    20,000-token prompt is 3 chunks of the 8,192-token budget; ready prompts are cut where the room ends (two
    prompts: 5 steps, not 6 chunks), so only the mean is checked there, within 3% (1.6% measured).
    Counting a step per chunk (the old add_itl) put the share of prompt steps up
    to 1.55x mixed_terms' and, with the floor (every chunk its own 50 ms step), the mean up to 10% above TPOT's."""
    tab = replace(linear_table(a=0.01, b=1e-4, c=2e-5, isl=isl, osl=200, max_seqs=64),
                  mixed_floor_s=np.array([floor_s]))
    sv = Q.service(tab)
    for m in tab.decode[0][2:]:  # occupancies 1.25 .. 64 (past one sequence: others bring prompts)
        at = np.array([m])
        step, dec, chunks = (Q.at_occupancy(sv, v, at) for v in (sv.step_s, sv.dec_s, sv.chunks))
        life = chunks[0] + 199.0  # steps of a life: its own prompt's chunks, then osl - 1 (serving.life_steps)
        f = (m - 1.0) / life * chunks[0]  # mixed_terms's f: the others' chunks per step
        share = -np.expm1(-f)
        q_dec, q_chunk = 100.0 * (1.0 - share) - 0.1, 100.0 * (1.0 - share) + 0.1
        lam = m / (life * step)  # per step, m - 1 others finish a prompt every life's steps
        out: dict = {}
        Q.add_itl(sv, tab, at, lam, np.zeros(1), (q_dec, q_chunk), out, timed=np.zeros(1, dtype=bool))
        assert out["itl_mean_s"][0] == pytest.approx(step[0], rel=3e-2 if isl > 8000 else 5e-3), m
        if isl > 8000:  # ready prompts fill the room: fewer steps than their chunks one by one (see docstring)
            continue
        assert out[f"itl_p{q_dec:g}_s"][0] == pytest.approx(dec[0]), m
        assert out[f"itl_p{q_chunk:g}_s"][0] > dec[0], m


def test_prompts_in_time_gather_in_fewer_steps():
    """Poisson arrivals: the chunks a step carries are those that came during the step before, and a step with
    a chunk lasts longer, so the counts spread as a branching process (mean f, variance f / (1 - mu^2), mu =
    chunks/s x a chunk's time): fewer steps carry prompts than Poisson counts give, the mean gap is the same."""
    tab = linear_table(a=0.01, b=1e-4, c=2e-5, isl=2000, osl=200, max_seqs=64)
    sv = Q.service(tab)
    at = np.array([64.0])
    step = Q.at_occupancy(sv, sv.step_s, at)
    lam = at / (200.0 * step)
    f = 63.0 / 200.0
    q = 100.0 * np.exp(-f)  # Poisson counts: the last decode-only percentile
    got = {}
    for timed in (False, True):
        out: dict = {}
        Q.add_itl(sv, tab, at, lam, np.zeros(1), (q + 1.0,), out, timed=np.array([timed]))
        got[timed] = out
    dec = Q.at_occupancy(sv, sv.dec_s, at)[0]
    assert got[False][f"itl_p{q + 1.0:g}_s"][0] > dec  # Poisson: past e^-f the steps carry a chunk
    assert got[True][f"itl_p{q + 1.0:g}_s"][0] == pytest.approx(dec)  # in time: more decode-only steps
    assert got[True]["itl_mean_s"][0] == pytest.approx(got[False]["itl_mean_s"][0], rel=1e-3)
