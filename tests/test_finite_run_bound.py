"""A finite Poisson run below capacity builds no more queue than its requests can: the analytic answer was the
steady state's (10 requests of llama-3.3-70b TP8 on H200 at 0.89 of capacity read e2e p50 8.3 s and 17 requests/s
where the simulator reads 1.7 s and 5.0/s), and predict held the run's targets to that queue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf import latency_under_load
from planner.predict import predict_many

CAT = load_catalog()
TP8 = pd.DataFrame([dict(model="llama-3.3-70b", accelerator="h200-sxm", precision="fp8", kv_precision="bf16",
                         serving="aggregated", isl=1024, osl=256, tp=8, pp=1, ep=1, attn_dp=1)])
SEEDS = 32


def _capacity() -> float:
    return float(latency_under_load(TP8.assign(concurrency=1), CAT)["capacity_rps"].iloc[0])


def _both(frac: float, n: int):
    row = TP8.assign(request_rate=frac * _capacity(), num_requests=n)
    analytic = latency_under_load(row, CAT).iloc[0]
    k = max(1, min(SEEDS, 1000 // n))
    sim = latency_under_load(pd.concat([row] * k, ignore_index=True).assign(seed=np.arange(k)), CAT,
                             method="simulate")
    return analytic, sim.mean(numeric_only=True)


@pytest.mark.parametrize("frac, n", [(0.89, 10), (0.89, 3), (0.3, 10)])
def test_short_run_below_capacity_is_the_runs(frac, n):
    a, s = _both(frac, n)
    assert not a["saturated"]
    assert a["e2e_p50_s"] == pytest.approx(s["e2e_p50_s"], rel=0.12)
    assert a["tpot_p90_s"] == pytest.approx(s["tpot_p90_s"], rel=0.12)
    assert a["requests_s"] == pytest.approx(s["requests_s"], rel=0.10)  # n over the run's span, not the rate


def test_long_run_keeps_the_steady_state():
    a, s = _both(0.3, 1000)  # a thousand requests at 0.3 of capacity: the steady state's queue, as before
    steady = latency_under_load(TP8.assign(request_rate=0.3 * _capacity()), CAT).iloc[0]
    assert a["e2e_p50_s"] == pytest.approx(steady["e2e_p50_s"])
    assert a["e2e_p50_s"] == pytest.approx(s["e2e_p50_s"], rel=0.05)


def test_predict_holds_a_short_run_to_its_own_tpot():
    """TPOT p90 <= 20 ms at 0.89 of TP8's capacity: the steady state's 46 ms missed it (no answer); the run's
    10 requests decode at ~7 ms."""
    q = dict(model="llama-3.3-70b", gpu="h200-sxm", gpus=8, precision="fp8", isl=1024, osl=256, tp=8,
             request_rate=0.89 * _capacity(), num_requests=10, tpot_slo_ms=20)
    got = predict_many(pd.DataFrame([q]), CAT).iloc[0]
    assert got["fits"], got["notes"]
    assert got["tpot_at_slo_s"] < 0.02
