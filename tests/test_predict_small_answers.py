"""Three `predict` answers that misled: a one-token answer's TPOT (no time between output tokens exists), a light
load's requests in flight rounded to 0, and a target held at p99.9 with only p50/p90/p99 in the answer."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from rich.console import Console

from planner.catalog import load_catalog
from planner.predict import predict_many
from planner.report.predict_view import render_prediction

CAT = load_catalog()
# times between output tokens, and their inverse
INTER_TOKEN = ("tpot_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "itl_s", "itl_p50_s", "itl_p99_s",
               "output_tok_s_per_user", "tpot_at_slo_s")
Q = dict(model="llama-3.1-8b", gpu="h100-sxm", gpus=1, precision="fp8", isl=128, osl=1)


def many(*rows: dict) -> pd.DataFrame:
    return predict_many(pd.DataFrame(list(rows)), CAT)


def table(r: pd.Series, **kw) -> str:
    out = io.StringIO()
    render_prediction(Console(file=out, width=200), r.to_dict(), **kw)
    return out.getvalue()


def test_one_output_token_has_no_tpot_or_itl_with_or_without_a_load():
    # the step model priced a decode step no request sees: 0.296 s TPOT for --osl 1
    got = many(Q, Q | dict(request_rate=5), Q | dict(concurrency=4))
    assert got["fits"].all()
    for col in INTER_TOKEN:
        assert got[col].isna().all(), col
    assert got["ttft_s"].notna().all() and (got["output_tok_s"] > 0).all()
    assert got["notes"].str.contains("one output token").all()
    shown = table(got.iloc[0])
    assert "TPOT (mean, the batch as closed-loop clients)" in shown and "nan" not in shown
    # two output tokens keep theirs
    assert many(Q | dict(osl=2))["tpot_s"].notna().all()


def test_a_tpot_target_with_one_output_token_is_met_trivially():
    # held to the step's figure, a 1 ms TPOT target failed every one-token query (and a loose one passed it)
    got = many(Q | dict(tpot_slo_ms=1), Q | dict(tpot_slo_ms=1, request_rate=5))
    assert got["fits"].all()
    assert got["notes"].str.contains("TPOT target is met trivially").all()
    assert (got["tpot_slo_ms"] == 1).all()  # the query's target is echoed as given


def test_a_light_load_keeps_its_fraction_of_a_request_in_flight():
    # Little's law: 5 req/s of one-token requests is ~0.02 in flight, which int() wrote as 0
    got = many(Q | dict(isl=1, request_rate=5), Q | dict(isl=1000, osl=100, request_rate=5),
               Q | dict(concurrency=3))
    light, mid, closed = got["in_flight"]
    assert 0 < light < 0.1 and 1 < mid < 10 and closed == 3
    assert f"{light:.2g}" in table(got.iloc[0], under_load=True)


def test_only_the_table_rounds_the_requests_in_flight():
    """The answer data keeps Little's law's mean in full (the CSV/JSON read 0.018 for 0.01791, 14 for 13.7);
    the table shows two significant digits below 10, whole numbers above."""
    light, heavy = many(Q | dict(isl=1, request_rate=5), Q | dict(isl=1000, osl=100, request_rate=20)).iloc
    assert light["in_flight"] != float(f"{light['in_flight']:.2g}")
    assert not float(heavy["in_flight"]).is_integer() and heavy["in_flight"] > 10
    shown = [next(line.split("│")[2].strip() for line in table(r, under_load=True).splitlines()
                  if "requests in flight" in line) for r in (light, heavy)]
    assert shown == [f"{light['in_flight']:.2g}", f"{heavy['in_flight']:,.0f}"]


def test_the_latency_a_target_is_held_to_is_in_the_answer_at_any_percentile():
    q = Q | dict(gpus=2, isl=1000, osl=100, slo_percentile=99.9, ttft_slo_ms=2000)
    got = many(q, q | dict(request_rate=20), q | dict(ttft_slo_ms=None))
    assert got["fits"].all()
    # beyond p99, at or above the p99 columns and within the target
    assert (got["ttft_at_slo_s"] >= got["ttft_p99_s"]).all() and (got["ttft_at_slo_s"] <= 2.0).all()
    assert (got["tpot_at_slo_s"] >= got["tpot_p99_s"]).all()
    shown = table(got.iloc[1], under_load=True, targets=True)
    assert "at p99.9" in shown and f"{got.iloc[1]['ttft_at_slo_s'] * 1e3:,.0f} ms" in shown
    assert "what targets are held to" in shown
    # without targets the row is the query's percentile, and says so (it claimed targets that were not given)
    bare = table(got.iloc[1], under_load=True, targets=False)
    assert "at p99.9 (the query's SLO percentile; no targets given)" in bare
    assert "what targets are held to" not in bare


def test_the_row_at_the_slo_percentile_shows_only_where_it_adds_to_the_table():
    """Targets given, or a percentile not among the p50 / p90 / p99 rows (--slo-percentile 95): the row. The
    default p90 without targets, or --slo-percentile 99: its figures are the p90 / p99 row's, so no row (the
    data columns ttft_at_slo_s / tpot_at_slo_s stay on every answer)."""
    base = Q | dict(gpus=2, isl=1000, osl=100, request_rate=5)
    got = many(base, base | dict(slo_percentile=99), base | dict(slo_percentile=95),
               base | dict(tpot_slo_ms=50))
    assert got["ttft_at_slo_s"].notna().all() and got["tpot_at_slo_s"].notna().all()
    shown = [table(r, under_load=True, targets=t) for (_, r), t in zip(got.iterrows(), (0, 0, 0, 1), strict=True)]
    assert ["TTFT / TPOT at p" in s for s in shown] == [False, False, True, True]
    assert "at p95 (the query's SLO percentile; no targets given)" in shown[2]
    assert "at p90 (what targets are held to)" in shown[3]


def test_a_one_token_disaggregated_answer_with_a_tpot_target_is_at_one_operating_point():
    """--osl 1 with a TPOT target, disaggregated: the target set aside left no target, so the answer took the
    unit's full rate (TTFT mean 609 ms, 23 output tok/s) beside one closed-loop client's percentiles (p99 472 ms,
    3.1 requests/s). It is now at the capacity a target asks for, as with osl 2: every figure at one rate."""
    q = dict(model="llama-3.3-70b", precision="fp8", gpu="b200", gpus=8, isl=4096, osl=1, engine="sglang",
             serving="disaggregated", tpot_slo_ms=60, slo_percentile=95)
    r = many(q).iloc[0]
    assert r["fits"] and r["ttft_p50_s"] <= r["ttft_s"] <= r["ttft_p99_s"]
    assert r["requests_s"] == pytest.approx(r["output_tok_s"], rel=1e-9)  # one token a request
    assert r["e2e_p50_s"] == r["ttft_p50_s"]  # a request ends at its first token
    two = many(q | dict(osl=2)).iloc[0]  # the same unit and rate: one more token, met on its TPOT target
    assert r["requests_s"] == pytest.approx(two["requests_s"], rel=0.05)
