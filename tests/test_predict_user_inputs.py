"""Mistakes a user makes in predict's issue-8 inputs (load, percentile, engine, speculative columns and flags):
each is one message naming the field, never a traceback; a bad CSV cell is its row's error and the other rows
are still answered."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.predict import predict_many
from planner.predict.csv_queries import read_queries

QUICK = Path(__file__).resolve().parents[1] / "problems" / "quickstart.yaml"
ROW = "llama-3.1-8b,h100-sxm,1,fp8,128,128"
FLAGS = ["predict", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpus", "1", "--precision", "fp8",
         "--isl", "128", "--osl", "128"]


def test_csv_percentile_that_is_not_a_number_is_its_rows_error(tmp_path, cat):
    """slo_percentile 'p99' in one row stopped the whole --batch with a traceback (float('p99') while the
    percentile of every row was read); it is that row's error, and the other rows are answered. Numbers in the
    messages read as the user typed them (0, not the 0.0 a CSV column of numbers is read as)."""
    src = tmp_path / "q.csv"
    src.write_text("model,gpu,gpus,precision,isl,osl,slo_percentile,request_rate,concurrency,label\n"
                   f"{ROW},p99,,,a\n{ROW},0,,,b\n{ROW},,-1,,c\n{ROW},,,2.5,d\n", encoding="utf-8")
    out = predict_many(read_queries(src), cat)
    assert list(out["label"]) == ["a", "b", "c", "d"]
    assert out["error"].tolist() == [
        "slo_percentile must be a percentile from 1 to below 100 (99 for p99), got 'p99'",
        "slo_percentile must be a percentile from 1 to below 100 (99 for p99), got 0",  # not "above 0"
        "request_rate must be > 0 (requests/s; inf = all at once), got -1",
        "concurrency must be a whole number of clients, got 2.5",  # it ran as 2 clients
    ]


@pytest.mark.parametrize("flag", ["--request-rate", "--slo-percentile"])
def test_nan_flag_is_refused_not_taken_for_not_given(flag):
    """click reads 'nan' as a float, and a NaN field is "not given": --request-rate nan answered with no load,
    --slo-percentile nan at p90, both exit 0."""
    res = CliRunner().invoke(main, [*FLAGS, flag, "nan"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert f"Invalid value for '{flag}': must be a number, got 'nan'" in res.output


def test_concurrency_below_the_replicas_says_which_idle(cat):
    """Concurrency 1 on TP4 x DP2 runs one replica (issue 8's bug was answering it at concurrency 2); the answer
    showed DP2 beside concurrency 1 with nothing saying the other replica idles."""
    q = pd.DataFrame([dict(model="llama-3.1-8b", gpu="h100-sxm", gpus=8, precision="fp8", isl=128, osl=128, tp=4,
                           concurrency=1)])
    r = predict_many(q, cat).iloc[0]
    assert r["fits"] and r["dp"] == 2 and r["in_flight"] == 1
    assert "1 of 2 replicas idle: the 1 concurrent request(s) run on 1" in r["notes"]
    assert r["output_tok_s"] == pytest.approx(1 / r["tpot_s"], rel=0.1)  # one user's tokens, not two


@pytest.mark.parametrize(("line", "message"), [
    ("    speculative: mtp",
     "speculative: give `auto` or a list of none, mtp, eagle3 (one method: [mtp]), got 'mtp'"),
    ("    engines: trtllm", "engines: give a list of engine ids or `all` (one engine: [vllm]), got 'trtllm'"),
])
def test_one_method_or_engine_written_bare_says_how_to_list_it(line, message):
    """`speculative: mtp` read "give `auto` or a list of none, mtp, eagle3, got 'mtp'": mtp is one of them, so
    the message now shows the list form."""
    from planner.errors import InputError
    from planner.optimize.problem import problem_from_text

    text = QUICK.read_text().replace("    headroom: 0.2", f"{line}\n    headroom: 0.2", 1)
    with pytest.raises(InputError) as err:
        problem_from_text(text, "q.yaml")
    assert message in str(err.value)


def test_a_saturated_steady_state_prints_dashes_and_its_percentile(cat):
    """A request rate above capacity without num_requests has no steady-state latency: the table printed 'nan ms'
    for TTFT/TPOT and labelled the SLO percentile 'mean (p90 asked; no load model for this answer)'."""
    import io

    from rich.console import Console

    from planner.predict import predict_one
    from planner.report.predict_view import render_prediction

    r = predict_one(cat, model="llama-3.1-8b", gpu="h100-sxm", gpus=1, precision="fp8", isl=128, osl=128, tp=1,
                    request_rate=1e5)
    assert r["fits"] and r["saturated"]
    buf = io.StringIO()
    render_prediction(Console(file=buf, width=200), r, under_load=True)
    text = buf.getvalue()
    assert "nan" not in text and "no load model" not in text, text
    assert "TTFT p50 / p90 / p99" in text and "- / - / - ms" in text
    assert "│ SLO percentile" in text and "p90 │" in text


def test_prefill_on_another_accelerator_under_a_load_says_how_the_gpus_split(cat):
    """--gpus counts both kinds; the answer without a load said 'each replica: N <prefill accelerator> GPUs
    prefill, M decode', the one under a load said nothing (its title names only --gpu)."""
    q = dict(model="llama-3.1-8b", gpu="h200-sxm", gpus=2, precision="fp8", isl=1024, osl=128, tp=1,
             serving="disaggregated", prefill_gpu="h100-sxm", prefill_tp=1)
    r = predict_many(pd.DataFrame([q | dict(request_rate=1.0)]), cat).iloc[0]
    assert r["fits"] and r["prefill_gpu"] == "h100-sxm", r["notes"]
    assert "each replica: 1 h100-sxm GPUs prefill, 1 h200-sxm GPUs decode (--gpus counts both" in r["notes"]


def test_tp1_with_ep_is_attention_dp_as_plans_write_it(cat):
    """A plan's MoE layout 'tp1 pp1 ep2 adp2' given to predict as --tp 1 --ep 2 answered 'ep 2 must divide
    tp*attn_dp = 1' (attention-DP splits were searched only with tp left open); TP1 x EP2 has no other reading."""
    q = dict(model="qwen3-30b-a3b", gpu="h100-sxm", gpus=2, precision="fp8", isl=512, osl=128, tp=1, ep=2)
    r = predict_many(pd.DataFrame([q]), cat).iloc[0]
    assert r["fits"], r["notes"]
    assert (r["tp"], r["ep"], r["attn_dp"], r["dp"]) == (1, 2, 2, 1)


@pytest.mark.parametrize(("flags", "message"), [
    (["--engine", "vllm", "--slo-percentile", "99"], "--engine, --slo-percentile would be ignored (give them as "
                                                    "columns: engine, slo_percentile)"),
    (["--serving", "auto"], "--serving would be ignored (give it as a column: serving)"),
    (["--json"], "--json prints one query's answer; --batch writes its answers as CSV to --out"),
])
def test_query_flags_beside_batch_are_refused_not_dropped(tmp_path, flags, message):
    """`predict --batch q.csv --out o.csv --engine vllm` answered every row with the generic engine, exit 0."""
    src = tmp_path / "q.csv"
    src.write_text(f"model,gpu,gpus,precision,isl,osl\n{ROW}\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["predict", "--batch", str(src), "--out", str(tmp_path / "o.csv"), *flags])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert message in " ".join(res.output.split())
    assert not (tmp_path / "o.csv").exists()


def test_batch_row_errors_are_printed_with_their_line(tmp_path):
    """A bad cell is its row's error (the other rows answered); the summary said only '1 with an input error',
    leaving the user to search the answer's error column. Blank lines count as the file counts them.

    The command then exits 2: it exited 0 (pinned here), so a script chaining `predict --batch` read a file
    with error rows as a clean answer, where every other user mistake exits 2 naming file and field."""
    src = tmp_path / "q.csv"
    src.write_text(f"model,gpu,gpus,precision,isl,osl,slo_percentile\n\n{ROW},p99\n{ROW},95\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    res = CliRunner().invoke(main, ["predict", "--batch", str(src), "--out", str(out)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    text = " ".join(res.output.split())
    assert "q.csv: line 3: slo_percentile must be a percentile from 1 to below 100 (99 for p99), got 'p99'" in text
    assert "q.csv: 1 of 2 rows has an input error (line 3);" in text
    assert "o.csv holds every other row's answer and these rows' errors (its error column)" in text
    got = pd.read_csv(out)  # the good row is answered all the same
    assert got["fits"].tolist() == [False, True] and got["error"].isna().tolist() == [False, True]


def test_batch_without_row_errors_exits_0(tmp_path):
    src = tmp_path / "q.csv"
    src.write_text(f"model,gpu,gpus,precision,isl,osl\n{ROW}\n{ROW}\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["predict", "--batch", str(src), "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 0 and "2 rows, 2 fit, 0 with an input error" in res.output


def test_batch_of_bad_rows_only_names_no_other_answer(tmp_path):
    """Every row bad: the message said the answer file held 'every other row's answer', where there was none."""
    src = tmp_path / "q.csv"
    src.write_text("model,gpu,gpus,precision,isl,osl\nnope,h100-sxm,1,fp8,128,128\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["predict", "--batch", str(src), "--out", str(tmp_path / "o.csv")])
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and "q.csv: 1 of 1 rows has an input error (line 2);" in text
    assert "o.csv holds these rows' errors (its error column)" in text and "every other" not in text


def test_num_requests_has_a_limit(cat, monkeypatch):
    """A finite run is simulated request by request (~2 ms each): --num-requests 100000000 ran for hours."""
    q = dict(model="llama-3.1-8b", gpu="h100-sxm", gpus=1, precision="fp8", isl=128, osl=128, request_rate=5.0)
    with monkeypatch.context() as env:  # first a run that is cheap where the limit is missing
        env.setenv("PLANNER_MAX_NUM_REQUESTS", "20")
        assert "above the limit of 20" in predict_many(pd.DataFrame([q | dict(num_requests=21)]), cat)["error"][0]
    r = predict_many(pd.DataFrame([q | dict(num_requests=100_000_000)]), cat).iloc[0]
    assert r["error"] == "num_requests 100,000,000 is above the limit of 1,000,000 (PLANNER_MAX_NUM_REQUESTS)"


def test_query_field_numbers_read_as_typed(tmp_path, cat):
    """The query checks (validate.py) name a number as the load checks do (cells.shown): a CSV column of
    numbers is read as floats, so the tp 0 a user typed was answered 'got 0.0'."""
    src = tmp_path / "q.csv"
    src.write_text("model,gpu,gpus,precision,isl,osl,tp,ttft_slo_ms\n"
                   f"{ROW},0,\n{ROW},,-5\n", encoding="utf-8")
    assert predict_many(read_queries(src), cat)["error"].tolist() == [
        "tp must be a positive integer, got 0", "ttft_slo_ms must be > 0, got -5"]


def test_ids_and_choices_in_another_case_are_read_as_the_id(tmp_path, cat):
    """A spreadsheet capitalises cells: 'Llama-3.1-8B', 'H100-SXM', 'FP8', 'Aggregated', 'VLLM' were each their
    row's error ('unknown model', 'serving must be ...') while 'AUTO' speculative was read. Every id and choice
    is lower case, so the other case names one; a cell naming none still is its row's error."""
    src = tmp_path / "q.csv"
    src.write_text("model,gpu,gpus,precision,isl,osl,serving,engine,kv_precision,length_dist,concurrency\n"
                   f"{ROW},,,,,\nLlama-3.1-8B,H100-SXM,1,FP8,128,128,Aggregated,VLLM,FP8,Fixed,2\n"
                   f"{ROW},,Generic,,,\n{ROW},Aggregate,,,,\n", encoding="utf-8")
    out = predict_many(read_queries(src), cat)
    assert out["fits"].tolist() == [True, True, True, False]
    assert out.loc[1, "model"] == "llama-3.1-8b" and out.loc[1, "engine"] == "vllm"
    assert out.loc[2, "engine"] == "generic"
    assert "serving must be aggregated, disaggregated or auto, got 'Aggregate'" in out.loc[3, "error"]


def test_variable_lengths_without_a_load_are_an_input_error():
    """length_dist shapes the requests of a load; without one the answer (each batch as closed-loop clients of
    fixed lengths) came back the same as for 'fixed', byte for byte, without a word."""
    res = CliRunner().invoke(main, [*FLAGS, "--length-dist", "variable"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "--length-dist variable needs --request-rate or --concurrency" in res.output
    assert CliRunner().invoke(main, [*FLAGS, "--length-dist", "variable", "--concurrency", "2"]).exit_code == 0
    assert CliRunner().invoke(main, [*FLAGS, "--length-dist", "fixed"]).exit_code == 0


@pytest.mark.parametrize("load", [{}, {"request_rate": 2.0}])
def test_speculative_auto_without_a_draft_says_so(cat, load):
    """auto is the model's draft where the engine has one; gemma-3-27b has none, and the answer read
    'speculative: none' beside the 'auto' asked, without a word why."""
    out = predict_many(pd.DataFrame([dict(model="gemma-3-27b", gpu="h100-sxm", gpus=2, precision="bf16", isl=1000,
                                          osl=200, speculative="AUTO", **load)]), cat).iloc[0]
    assert out["fits"] and out["speculative"] == "none"
    assert "speculative auto: gemma-3-27b has no draft on engine generic" in out["notes"]
