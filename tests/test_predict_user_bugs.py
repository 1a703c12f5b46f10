"""What a user fleet-sizing with `predict` under a load read wrong (session 19 bug hunt)."""

from __future__ import annotations

import math
import re

import pandas as pd

from planner.catalog import load_catalog
from planner.predict import predict_many

CAT = load_catalog()
Q8 = dict(model="llama-3.1-8b", gpu="h100-sxm", precision="fp8", kv_precision="fp8", isl=1024, osl=128)


def one(**kw) -> pd.Series:
    return predict_many(pd.DataFrame([kw]), CAT).iloc[0]


def test_a_saturated_steady_state_has_no_itl_either():
    """Above capacity the steady state has no latency: TPOT was empty but `itl_s` gave the step at every seat
    taken (0.33 s for a 70B on 8 H200s at 40 req/s) in the JSON and CSV."""
    for serving in ("aggregated", "disaggregated"):
        r = one(**Q8, gpus=2, tp=1, serving=serving, request_rate=1e6)
        assert r["fits"] and r["saturated"] and math.isnan(r["tpot_s"]), serving
        assert math.isnan(r["itl_s"]), serving
        light = one(**Q8, gpus=2, tp=1, serving=serving, request_rate=1.0)
        assert not light["saturated"] and light["itl_s"] > 0, serving


def test_the_table_names_attention_dp():
    """An 8-rank attention-DP replica read "TP1 PP1 EP8 x DP1": one GPU, to a reader."""
    import io

    from rich.console import Console

    from planner.predict import predict_one
    from planner.report.predict_view import render_prediction

    r = predict_one(CAT, model="qwen3-235b-a22b", gpu="h200-sxm", gpus=8, precision="fp8", isl=1024, osl=1024,
                    tp=1, ep=8, concurrency=64)
    assert r["fits"] and r["attn_dp"] == 8 and r["dp"] == 1
    buf = io.StringIO()
    render_prediction(Console(file=buf, width=200), r, under_load=True)
    assert "TP1 PP1 EP8 attention-DP8 x DP1" in buf.getvalue()


D70 = dict(model="llama-3.3-70b", gpu="h200-sxm", gpus=8, tp=2, precision="fp8", isl=2048, osl=256,
           serving="disaggregated")


def test_a_disaggregated_itl_under_a_load_is_that_loads():
    """itl_s was the unit's full batch's (26 ms) beside an ITL p50 / p99 of 12.6 / 13.6 ms at 3 req/s (and
    33 ms beside 13.6 with EAGLE-3): a mean above its own p99."""
    for spec in ("none", "eagle3"):
        r = one(**D70, request_rate=3.0, speculative=spec)
        assert r["fits"] and not r["saturated"], spec
        assert 0.8 * r["itl_p50_s"] <= r["itl_s"] <= 1.2 * r["itl_p99_s"], spec


def test_closed_loop_clients_beyond_the_seats_still_have_a_tpot():
    """512 clients on a 128-seat unit wait for a seat: a closed loop has a steady state (the aggregated answer
    gives its TPOT), but the disaggregated one blanked TPOT, ITL and end-to-end while giving TTFT."""
    r = one(**D70, concurrency=512)
    assert r["fits"] and r["saturated"] and r["ttft_p50_s"] > 0
    for k in ("tpot_s", "tpot_p90_s", "itl_s", "itl_p99_s", "e2e_p50_s", "output_tok_s_per_user"):
        assert r[k] > 0, k
    assert r["e2e_p50_s"] > r["ttft_p50_s"]



def test_a_percentile_written_as_a_fraction_is_refused():
    """0.99 (a quantile) held the targets at p0.99, near the fastest request, silently: predict and solve."""
    from pathlib import Path

    import pytest

    from planner.errors import InputError
    from planner.optimize.problem import problem_from_text

    r = one(**Q8, gpus=1, request_rate=1.0, slo_percentile=0.99)
    assert not r["fits"] and "99 for p99" in r["error"]
    # one message for every refused percentile, each naming the range (0 read "above 0", 0.5 being refused)
    for p, got in ((0.99, "0.99, which reads as p0.99"), (0.5, "0.5, which reads as p0.5"), (0, "0"),
                   (100, "100")):
        assert one(**Q8, gpus=1, request_rate=1.0, slo_percentile=p)["error"] == (
            f"slo_percentile must be a percentile from 1 to below 100 (99 for p99), got {got}")
    assert one(**Q8, gpus=1, request_rate=1.0, slo_percentile=1)["fits"]
    text = Path(__file__).parent.parent.joinpath("problems/quickstart.yaml").read_text()
    with pytest.raises(InputError, match=r"slo_percentile: must be >= 1, got 0.99"):
        problem_from_text(text + "slo_percentile: 0.99\n", "<test>")
    workload = text.replace("    headroom: 0.2", "    slo_percentile: 0.5\n    headroom: 0.2")
    with pytest.raises(InputError, match=r"workloads\[chat\]\.slo_percentile: must be >= 1"):
        problem_from_text(workload, "<test>")


def test_frontier_says_which_series_has_no_configuration(tmp_path):
    """A requested accelerator x precision that fits nowhere was left out of the summary without a word; --osl 1
    drew a frontier at 0.1 tok/s/user, a figure with no time between tokens behind it."""
    from click.testing import CliRunner

    from planner.cli import main

    base = ["frontier", "--model", "gpt-oss-120b", "--gpu", "mi300x", "--isl", "1024", "--out", str(tmp_path)]
    res = CliRunner().invoke(main, [*base, "--precision", "mxfp4", "--precision", "nvfp4", "--osl", "256"])
    assert res.exit_code == 0, res.output
    assert "mi300x mxfp4:" in res.output and "mi300x nvfp4: no configuration fits (fp4 not native" in res.output
    one_token = CliRunner().invoke(main, [*base, "--precision", "mxfp4", "--osl", "1"])
    assert one_token.exit_code == 2 and "--osl 1" in one_token.output


def test_short_latencies_do_not_read_zero():
    """A one-token answer's end to end read '0.0 s' and a 2.1 ms TTFT '2 / 2 / 2 ms'."""
    import io
    import re

    from rich.console import Console

    from planner.predict import predict_one
    from planner.report.predict_view import render_prediction

    r = predict_one(CAT, model="llama-3.1-8b", gpu="h100-sxm", gpus=1, precision="fp8", isl=128, osl=1,
                    request_rate=3.0)
    assert r["fits"] and r["e2e_p50_s"] < 0.01 and r["ttft_p50_s"] < 0.01
    buf = io.StringIO()
    render_prediction(Console(file=buf, width=200), r, under_load=True)
    text = buf.getvalue()
    e2e = re.search(r"end-to-end p50\s*│\s*([^│]+?)\s*│", text).group(1)
    assert e2e == f"{r['e2e_p50_s'] * 1e3:.1f} ms", e2e
    ttft = re.search(r"TTFT p50 / p90 / p99\s*│\s*([^│]+?)\s*│", text).group(1)
    assert ttft.startswith(f"{r['ttft_p50_s'] * 1e3:.1f} / "), ttft


def test_a_closed_loop_beyond_its_seats_says_so():
    """3,000 clients on one 8B replica read 'the load exceeds what the replicas complete; requests queue', an
    open loop's words: a closed loop completes what it sends, its clients wait for a seat."""
    closed = one(**Q8, gpus=1, tp=1, concurrency=3000)
    assert closed["saturated"] and "more clients than the replicas' seats" in closed["notes"]
    opened = one(**Q8, gpus=1, tp=1, request_rate=1e4)
    assert opened["saturated"] and "the load exceeds what the replicas complete" in opened["notes"]


def test_a_saturated_disaggregated_table_names_units():
    """The table's saturated row read 'the load exceeds what the replicas complete' beside notes naming units."""
    import io

    from rich.console import Console

    from planner.report.predict_view import render_prediction

    r = one(**Q8, gpus=2, tp=1, serving="disaggregated", request_rate=1e6).to_dict()
    assert r["saturated"] and "what the units complete" in r["notes"]
    buf = io.StringIO()
    render_prediction(Console(file=buf, width=250), r, under_load=True)
    assert "yes: the load exceeds what the units complete" in buf.getvalue()


def test_frontier_reads_ids_in_any_case(tmp_path):
    """predict read 'H100-SXM' and 'FP8' (a spreadsheet's case); frontier called them unknown."""
    from click.testing import CliRunner

    from planner.cli import main

    args = ["--model", "Llama-3.1-8B", "--gpu", "H100-SXM", "--precision", "FP8", "--isl", "128", "--osl", "64"]
    res = CliRunner().invoke(main, ["frontier", *args, "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "h100-sxm fp8:" in res.output and "no configuration fits" not in res.output


def test_a_missed_target_reads_its_best_latency_without_an_exponent():
    """A reasoning model's best p90 TTFT of ~30 s read 'best p90 TTFT 3e+04 ms exceeds the 5000 ms target'."""
    r = one(model="gpt-oss-120b", gpu="h100-sxm", gpus=2, precision="mxfp4", isl=2000, osl=1000, effort="high",
            ttft_slo_ms=5000, tpot_slo_ms=20)
    assert not r["fits"] and r["limited_by"] == "ttft"
    assert re.fullmatch(r"best p90 TTFT \d{2},\d{3} ms exceeds the 5000 ms target", r["notes"]), r["notes"]


def test_an_ep_no_split_takes_says_what_to_change():
    """--ep 3 for deepseek-r1 on 8 GPUs without --tp read TP1's reason, 'ep 3 must divide tp*attn_dp = 1', a split
    the user never asked for; the answer names the stage sizes tried and what ep can be, with or without a load."""
    r1 = dict(model="deepseek-r1", gpu="h200-sxm", gpus=8, precision="fp8", isl=1024, osl=1024, ep=3)
    for load in ({}, {"concurrency": 64}):
        r = one(**r1, **load)
        assert not r["fits"] and r["limited_by"] == "config"
        assert "(1, 2, 4 or 8 here); give an ep that divides one of them" in r["notes"], r["notes"]
    assert "give an ep that divides tp 2" in one(**r1, tp=2)["notes"]
    assert one(**r1 | dict(ep=8, tp=1))["fits"]  # one the GPUs divide into: attention DP 8
