"""`planner predict` and `planner frontier`: answers, batch round trip, and clear failures."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.catalog import load_catalog
from planner.cli import main
from planner.predict import RESULT_COLUMNS, predict_many

BASE = ["predict", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--precision", "fp8", "--isl", "1024",
        "--osl", "256"]


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_predict_json_has_every_key():
    result = run(*BASE, "--gpus", "1", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(RESULT_COLUMNS) <= set(out)
    assert out["fits"] is True
    assert out["output_tok_s"] > 0 and out["ttft_s"] > 0 and out["tpot_s"] > 0
    assert out["output_tok_s_per_gpu"] == pytest.approx(out["output_tok_s"])
    assert out["avg_power_w"] <= out["peak_power_w"]


def test_split_search_uses_all_gpus_as_replicas_or_groups():
    out = json.loads(run(*BASE, "--gpus", "8", "--json").output)
    assert out["tp"] * out["pp"] * out["dp"] <= 8
    assert out["output_tok_s_per_gpu"] == pytest.approx(out["output_tok_s"] / 8)


def test_latency_targets_are_met_or_explained():
    # An 8B model decodes in ~7 ms per step on one H100 (our measured bf16 step at batch 1), so 20 ms is reachable.
    out = json.loads(run(*BASE, "--gpus", "8", "--ttft-slo-ms", "500", "--tpot-slo-ms", "20", "--json").output)
    assert out["fits"] is True
    assert out["ttft_s"] <= 0.5 and out["tpot_s"] <= 0.020
    # A looser target can only allow more throughput.
    loose = json.loads(run(*BASE, "--gpus", "8", "--ttft-slo-ms", "500", "--tpot-slo-ms", "60", "--json").output)
    assert loose["output_tok_s"] >= out["output_tok_s"]
    impossible = json.loads(run(*BASE, "--gpus", "1", "--tpot-slo-ms", "0.01", "--json").output)
    assert impossible["fits"] is False and impossible["limited_by"] == "tpot"


def test_model_that_does_not_fit_is_an_answer():
    result = run("predict", "--model", "llama-3.1-405b", "--gpu", "l40s", "--gpus", "1", "--precision", "bf16",
                 "--isl", "128", "--osl", "128", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["fits"] is False and out["notes"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "llama-9"], "unknown --model 'llama-9'"),
        (["--gpu", "h900"], "unknown --gpu 'h900'"),
        (["--tp", "3"], "--tp 3 does not divide the 32 attention heads"),
        (["--tp", "8", "--gpus", "4"], "--gpus 4 < --tp x --pp = 8"),
        (["--isl", "0"], "--isl must be a positive integer"),
    ],
)
def test_bad_input_exit_2(args, message):
    base = dict(zip(BASE[1::2], BASE[2::2], strict=True))
    base["--gpus"] = "8"
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    flat = ["predict", *[x for kv in base.items() for x in kv]]
    result = run(*flat)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_batch_round_trip(tmp_path):
    queries = pd.DataFrame([
        {"model": "llama-3.1-8b", "gpu": "h100-sxm", "gpus": 1, "precision": "fp8", "isl": 128, "osl": 128,
         "max_throughput": "true", "label": "a"},
        {"model": "llama-3.3-70b", "gpu": "h200-sxm", "gpus": 8, "precision": "fp8", "isl": 1024, "osl": 256,
         "tpot_slo_ms": 50, "label": "b"},
        {"model": "nope", "gpu": "h100-sxm", "gpus": 1, "precision": "fp8", "isl": 1, "osl": 1, "label": "c"},
    ])
    src, dst = tmp_path / "q.csv", tmp_path / "p.csv"
    queries.to_csv(src, index=False)
    result = run("predict", "--batch", str(src), "--out", str(dst))
    assert result.exit_code == 2, result.output  # row c's unknown model: written, then exit 2 naming its line
    assert "q.csv: line 4: unknown model 'nope'" in result.output
    out = pd.read_csv(dst)
    assert list(out["label"]) == ["a", "b", "c"]
    assert out.loc[0, "fits"] and out.loc[1, "fits"]
    assert "unknown model 'nope'" in out.loc[2, "error"]


def test_batch_and_single_agree(catalog):
    q = {"model": "qwen3-30b-a3b", "gpu": "h200-sxm", "gpus": 2, "precision": "fp8", "isl": 2048, "osl": 512}
    single = json.loads(run("predict", *[x for k, v in q.items() for x in (f"--{k}", str(v))], "--json").output)
    many = predict_many(pd.DataFrame([q]), catalog).iloc[0]
    assert single["output_tok_s"] == pytest.approx(many["output_tok_s"])


def test_frontier_writes_csv_and_plots(tmp_path):
    result = run("frontier", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpu", "b200", "--precision",
                 "fp8", "--isl", "1024", "--osl", "256", "--gpus", "2", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    front = pd.read_csv(tmp_path / "frontier.csv")
    assert set(front["series"]) == {"h100-sxm fp8", "b200 fp8"}
    for _, grp in front.groupby("series"):
        g = grp.sort_values("output_tok_s_per_user")
        # A frontier trades one axis for the other: per-GPU throughput falls as per-user speed rises.
        assert (g["output_tok_s_per_gpu"].diff().dropna() <= 1e-9).all()
    for name in ("frontier.png", "frontier.svg", "frontier_cost.png", "frontier_energy.svg"):
        assert (tmp_path / name).stat().st_size > 1000


def test_calibrate_writes_report_and_meets_targets(tmp_path):
    result = run("calibrate", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "targets" in result.output
    published = pd.read_csv(tmp_path / "fidelity_published.csv")
    assert len(published) == 256
    assert {"predicted", "actual", "error_pct", "why_not"} <= set(published.columns)
    summary = json.loads((tmp_path / "fidelity_summary.json").read_text())
    assert summary["published_throughput"]["median_abs_pct"] <= 20
    assert "Spearman" in result.output


def test_max_throughput_excludes_latency_targets():
    result = run(*BASE, "--gpus", "1", "--max-throughput", "--tpot-slo-ms", "30")
    assert result.exit_code == 2 and "--max-throughput means no latency target: drop --" in result.output
    explicit = json.loads(run(*BASE, "--gpus", "1", "--max-throughput", "--json").output)
    default = json.loads(run(*BASE, "--gpus", "1", "--json").output)
    assert explicit["output_tok_s"] == default["output_tok_s"]


def test_table_says_which_model_each_throughput_comes_from():
    """Without a load every figure is the load model's at the batch as closed-loop clients, and the table says so
    (the output tok/s was the step model's at the full batch beside the load model's requests/s: 70B TP2 x4
    printed 6,662 tok/s beside 20.69 req/s x 256 = 5,297 with nothing telling them apart). Under a load both are
    the load's."""
    plain = run(*BASE, "--gpus", "1", "--tpot-slo-ms", "30")
    assert plain.exit_code == 0, plain.output
    assert "output tokens/s (all GPUs, the batch as closed-loop clients)" in plain.output
    assert "requests/s (the batch as closed-loop clients)" in plain.output
    loaded = run(*BASE, "--gpus", "1", "--concurrency", "8")
    assert loaded.exit_code == 0, loaded.output
    assert "output tokens/s (all GPUs) " in loaded.output
    assert "closed-loop clients)" not in loaded.output


def test_disaggregated_answer_does_not_claim_the_percentile_it_could_not_hold():
    """A disaggregated answer held its targets on the mean while the table said "SLO percentile p90"; now it
    is answered at solve's capacity under the SLO: TTFT at p90 from the queues, TPOT the full batch's step. The
    label is the plan's `slo_basis` (one text for solve, the proposal and predict; it read "TTFT p90; ..." here
    and "p90 TTFT, TPOT mean" in solve), and without a TTFT target it states the utilization assumed."""
    res = run("predict", "--model", "llama-3.3-70b", "--gpu", "h200-sxm", "--gpus", "8", "--precision", "fp8",
              "--isl", "4096", "--osl", "256", "--serving", "disaggregated", "--tpot-slo-ms", "40")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "p90 TTFT; TPOT full-batch step (bounds every percentile); no TTFT target: <= 90% of saturation" in text
    assert "no TTFT target: <= 90% of saturation (assumed): " in text and " requests/s; " in text


def test_calibrate_strict_says_which_targets_it_enforces():
    """`calibrate --strict` exits 0 while four issue-8 targets under load are missed (it enforces the closing
    `targets` table only); its help said "a fidelity target"."""
    text = " ".join(run("calibrate", "--help").output.split())
    assert "closing `targets` table" in text and "issue-8 targets under load are reported, not enforced" in text


@pytest.mark.parametrize("args, said", [
    (("--slo-percentile", "0.5", "--concurrency", "4"), "--slo-percentile must be a percentile from 1 to below"),
    (("--num-requests", "5"), "--num-requests needs --request-rate or --concurrency"),
    (("--request-rate", "inf"), "--request-rate inf sends --num-requests at once: give --num-requests"),
    (("--tp", "2", "--pp", "4", "--gpus", "12"), "--gpus 12 is not a multiple of --tp x --pp = 8"),
    (("--ep", "2"), "--ep 2 needs a mixture-of-experts model (llama-3.1-8b is dense)"),
    (("--prefill-tp", "2"), "--prefill-tp set the prefill instances of serving disaggregated: give --serving"),
    (("--engine", "nope"), "unknown --engine 'nope'"),
    (("--effort", "high", "--hidden-tokens", "3"), "give --effort or --hidden-tokens, not both"),
])
def test_a_query_error_names_the_flag_the_user_typed(args, said):
    """The command line's errors named the CSV columns (`slo_percentile must be ...`) of flags the user typed as
    --slo-percentile; a --batch row's error keeps its column's name (test_predict_user_inputs)."""
    gpus = () if "--gpus" in args else ("--gpus", "8")
    result = run(*BASE, *gpus, *args)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert said in result.output, result.output
    assert "_" not in result.output.split("error:")[1].split("(known")[0], result.output
