"""Closed loops with fixed lengths on a prefill-first engine (SGLang): the clients travel in cohorts, one pause of
prompts each per round (planner/perf/cohorts.py), against the simulator (the reference)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.cohorts import cohorts, first_tokens, pause_s
from planner.perf.load import latency_under_load
from planner.perf.steptable import build_step_tables

CAT = load_catalog()
ROW = dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1,
           engine="sglang", isl=1024, length_dist="fixed", serving="aggregated")


def both(osl: int, clients: int):
    g = pd.DataFrame([dict(ROW, osl=osl, concurrency=clients)])
    a = latency_under_load(g, CAT, method="analytic").iloc[0]
    s = latency_under_load(g, CAT, method="simulate").iloc[0]
    return a, s


# (osl, clients, {metric: tolerance}); the per-step Poisson pauses' errors there: osl 2 TTFT mean -40%, p99 -29%,
# TPOT p99 -49%, ITL p99 -49%; osl 16 TTFT mean -61%, ITL p50 +540% (a pause after every decode step where the
# simulator's cohorts leave most decode steps without one). Cohorts: -8%, 0%, 0%, 0%; -6%, 0%.
CASES = [(2, 32, {"ttft_mean_s": 0.15, "ttft_p99_s": 0.10, "tpot_p99_s": 0.10, "itl_p99_s": 0.10}),
         (16, 32, {"ttft_mean_s": 0.15, "itl_p50_s": 0.10, "tpot_mean_s": 0.10})]


@pytest.mark.parametrize("osl,clients,tol", CASES)
def test_cohorts_follow_the_simulator(osl, clients, tol):
    a, s = both(osl, clients)
    for k, t in tol.items():
        assert abs(a[k] / s[k] - 1.0) <= t, (k, a[k], s[k])


def test_a_cohorts_first_prompt_steps_alone_then_the_rest_together():
    """4 clients, 1024-token prompts, an 8192-token budget: the API server passes the re-sends one at a time, so
    the first prompt's step runs alone and the other three share the next; their first tokens come together."""
    tab = build_step_tables(pd.DataFrame([dict(ROW, osl=2, concurrency=4)]), CAT)
    t = first_tokens(tab, np.array([4.0]), 4)[0, 3]  # a cohort of 4: its prompts 1..4
    assert t[0] < t[1] and np.allclose(t[1:], t[3])
    assert np.isclose(t[3], pause_s(tab, np.array([[4.0]]))[0, 0])


def test_cohorts_hold_at_most_the_clients():
    p = cohorts(np.array([0.5, 0.98]), np.array([8.0, 8.0]), 16)
    assert np.allclose(p.sum(axis=1), 1.0) and np.all(p[:, 8:] == 0.0)
    assert p[1, 7] > p[0, 7]  # a busier prompt path gathers more into one pause
