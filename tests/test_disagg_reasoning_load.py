"""Disaggregated reasoning units under load (planner.perf.reasoning_disagg): the hidden tokens' decode steps
before the first visible token run at the decode batch the load gives, not the unit's full batch. Until
2026-12-01 every hidden step took the full batch's TPOT at any load: at 2 requests/s on llama-3.1-8b, 500 hidden
tokens, TTFT 12.7 s disaggregated against 1.9 s aggregated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.disagg_capacity import disaggregated_at_load, disaggregated_units
from planner.perf.evaluate import evaluate
from planner.predict import predict_many

H = 500  # hidden tokens before the first visible one
CFG = dict(accelerator="h100-sxm", kv_precision="bf16", pp=1, ep=1, attn_dp=1, serving="disaggregated", isl=1000)
LLAMA = CFG | dict(model="llama-3.1-8b", precision="fp8", tp=1, osl=300 + H)
# a mixture-of-experts step is far from linear in the batch (the test fails on a chord between 1 and the unit's)
GPT_OSS = CFG | dict(model="gpt-oss-120b", precision="mxfp4", tp=2, osl=1000 + H)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_light_load_hidden_steps_are_a_lone_sequence_s(catalog):
    """At a trickle (0.01 requests/s) a request runs alone: TTFT to the first visible token is its own prefill
    pass and KV transfer (`ttft_lone_s`) plus H steps of batch 1, both from `evaluate` at batch 1 (hand-summed);
    the aggregated answer at the same load (the queueing model) differs by the two lone prefill paths'
    difference alone (the disaggregated one moves the KV), within 2%."""
    q = dict(model="llama-3.1-8b", gpu="h100-sxm", gpus=8, precision="fp8", isl=1000, osl=300, tp=1, pp=1,
             hidden_tokens=H, request_rate=0.01)
    got = predict_many(pd.DataFrame([q | dict(serving="disaggregated"), q | dict(serving="aggregated")]), catalog)
    one, agg = evaluate(pd.DataFrame([LLAMA | dict(batch=1), LLAMA | dict(batch=1, serving="aggregated")]),
                        catalog).itertuples()
    want = one.ttft_lone_s + H * one.tpot_s  # a lone prompt's own pass (not the unit's full pass)
    assert got["ttft_s"].iloc[0] == pytest.approx(want, rel=2e-3)
    assert got["ttft_p50_s"].iloc[0] == pytest.approx(want, rel=2e-3)
    gap = got["ttft_s"].iloc[0] - got["ttft_s"].iloc[1]
    assert gap == pytest.approx(one.ttft_lone_s - agg.ttft_s, abs=0.02 * got["ttft_s"].iloc[1])


@pytest.mark.parametrize("cfg, seen", [(LLAMA, 4), (GPT_OSS, 8), (GPT_OSS, 32)])
def test_hidden_steps_at_the_batch_littles_law_gives(catalog, cfg, seen):
    """At the rate where a request sees `seen` sequences on its decode instance (itself and, by Little's law,
    rate x osl x TPOT(seen) / decode instances others), the hidden phase is H x TPOT(seen) from `evaluate` at
    that batch: the reasoning unit's mean TTFT less the same unit's without hidden tokens (the same batch, queues
    and load). At the unit's full rate the phase tends to the full batch's step, the bound it was sized on."""
    plain = disaggregated_units(pd.DataFrame([cfg]), catalog).iloc[[0]]
    unit = disaggregated_units(pd.DataFrame([cfg]), catalog, hidden=np.array([float(H)])).iloc[[0]]
    assert unit["batch"].iloc[0] == plain["batch"].iloc[0] > seen  # no targets: the same unit, memory-bound
    step = evaluate(pd.DataFrame([cfg | dict(batch=seen)]), catalog)["tpot_s"].iloc[0]
    rate = (seen - 1) * unit["decode_instances"].iloc[0] / (cfg["osl"] * step)
    mu = unit["output_tok_s"].iloc[0] / cfg["osl"]
    assert rate < mu
    got, ref = (disaggregated_at_load(u, request_rate=rate).iloc[0] for u in (unit, plain))
    for col in ("ttft_mean_s", "ttft_p50_s"):
        assert got[col] - ref[col] == pytest.approx(H * step, rel=1e-9)
    assert got["ttft_p90_s"] - ref["ttft_p90_s"] > H * step  # the occupancy's spread at the percentile
    full = (disaggregated_at_load(u, request_rate=0.999 * mu).iloc[0] for u in (unit, plain))
    top = next(full)["ttft_mean_s"] - next(full)["ttft_mean_s"]
    assert H * step < top <= H * unit["tpot_s"].iloc[0] * (1 + 1e-12)


def test_a_unit_shrunk_to_the_querys_gpus_reads_its_own_steps(catalog):
    """predict shrinks a unit that needs more GPUs than the query has to a smaller batch (`fitting_units`); its
    step table is rebuilt for that batch, so at a trickle the hidden steps are still a lone sequence's."""
    from planner.predict import disagg

    cfg = pd.DataFrame([CFG | dict(model="llama-3.1-70b", precision="fp8", tp=4, isl=2000, osl=200)])
    inf = np.array([np.inf])
    unit = disagg.fitting_units(cfg, catalog, inf, inf, np.array([16.0]), np.array([100.0]))
    assert unit["fits"].iloc[0] and unit["gpus"].iloc[0] <= 16
    assert unit["batch"].iloc[0] < disaggregated_units(cfg, catalog, hidden=np.array([100.0]))["batch"].iloc[0]
    one = evaluate(cfg.assign(batch=1), catalog).iloc[0]
    mu = unit["output_tok_s"].iloc[0] / 200
    got = disaggregated_at_load(unit, request_rate=1e-4 * mu)["ttft_mean_s"].iloc[0]
    assert got == pytest.approx(one["ttft_lone_s"] + 100 * one["tpot_s"], rel=1e-3)


def test_step_table_from_the_batch_search_runs_is_the_decode_steps_own(catalog):
    """The knots a reasoning unit's step table takes from the batch search's runs of the model
    (`largest_batch_meeting(runs=)`) are the decode step's own, to the bit: the table with them equals the one
    computed knot by knot, on units whose search judged some powers of two below their batch (targets make it
    bisect)."""
    from planner.perf.params import load_efficiency
    from planner.perf.reasoning_disagg import step_columns, with_decode_steps
    from planner.perf.search import largest_batch_meeting

    cfg = pd.DataFrame([LLAMA, GPT_OSS, LLAMA | dict(isl=4000), GPT_OSS | dict(tp=4)])
    h = np.full(len(cfg), float(H))
    runs: list = []
    units = largest_batch_meeting(cfg, catalog, ttft_s=20.0, tpot_s=0.03, hidden=h, runs=runs)
    eff = load_efficiency(catalog)
    got = with_decode_steps(units, cfg, catalog, eff, h, known=runs)
    want = with_decode_steps(units, cfg, catalog, eff, h)
    cols = step_columns(want)
    reused = sum(int(((b & (b - 1)) == 0).sum()) for _, b, _, _ in runs)
    assert len(cols) >= 4 and reused > len(cfg)  # more than the batch-1 knots came from the runs
    assert np.array_equal(got[cols].to_numpy(), want[cols].to_numpy())
