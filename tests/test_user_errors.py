"""Every mistake a user can make gets one clear message naming the file and field, exit 2 (3 for an infeasible
problem, naming the blocking limit and by how much), and never a traceback. Found by trying them (QA pass)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_catalog_loading import GOOD_ACCEL as ACCEL
from test_optimize_problems import GOOD

from planner.cli import main
from planner.errors import InputError

PREDICT = ["predict", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpus", "1", "--precision", "fp8",
           "--isl", "128", "--osl", "128"]


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def clean(res, code: int) -> str:
    """The output of a run that must exit with `code`, without a traceback; newlines folded."""
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return " ".join(res.output.split())


def problem(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def folder(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "cat"
    d.mkdir(exist_ok=True)
    (d / "mine.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return d


# ------------------------------------------------------------------------------------------ problem files
@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (GOOD.replace("requests_per_s: 5", "requests_per_s: true"),
         "workloads[chat].demand.requests_per_s: must be a number, not true/false"),
        (GOOD.replace("requests_per_s: 5", "requests_per_s: .inf"),
         "workloads[chat].demand.requests_per_s: must be a finite number"),
        (GOOD + "economics: {system_prices_usd: {hgx-h100: -5}}\n",
         "economics.system_prices_usd.hgx-h100: must be >= 0, got -5"),
        (GOOD + "economics: {rental_usd_per_gpu_hour: {hgx-h100: -1}}\n",
         "economics.rental_usd_per_gpu_hour.hgx-h100: must be >= 0"),
        (GOOD + "economics: {rack_prices_usd: {no-such-rack: 5}}\n",
         "economics.rack_prices_usd.no-such-rack: unknown rack type"),
        (GOOD.replace("systems: [hgx-h100, hgx-h200]", "systems: [hgx-h100]\n  supply: {hgx-h100: -1}"),
         "fleet.supply.hgx-h100: must be >= 0, got -1"),
        (GOOD.replace("    serving:", "    quality_floor: {benchmark: MMLU, min_score: 5}\n"
                      "    no_quality_floor: true\n    serving:"),
         "workloads[chat]: give quality_floor or no_quality_floor: true, not both"),
        (GOOD.replace("    serving:", "    quality_floor: {benchmark: iq, min_score: 5}\n    serving:"),
         "workloads[chat].quality_floor.benchmark: no catalog model has a score on 'iq'"),
        (GOOD.replace("site: {id: new-ai-facility}",
                      "site: {id: new-ai-facility, cooling: [liquid], racks: [{type: air-42u-40kw}]}"),
         "site.racks[0].type: rack type 'air-42u-40kw' is air-cooled but site.cooling allows only liquid"),
        (GOOD + "name: again\n", "line 13, column 1: key 'name' appears twice in one mapping (first at line 2)"),
        (GOOD.replace("[hgx-h100, hgx-h200]", "[hgx-h100, hgx-h100]"),
         "fleet.systems: hgx-h100 listed more than once"),
        (GOOD + "objective: {kind: min_cost, demand_cap_multiple: 2}\n",
         "objective: demand_cap_multiple applies to max_throughput and max_tokens_per_dollar"),
        (GOOD.replace("demand: {requests_per_s: 5}", "demand: [5]"),
         "workloads[chat].demand: must be a mapping (field: value), got [5]"),
        (GOOD.replace("serving: [aggregated]", "serving: aggregated"),
         "workloads[chat].serving: must be a list, e.g. [a, b], got 'aggregated'"),
        (GOOD.replace("[hgx-h100, hgx-h200]", "[h100-sxm]"),
         "fleet.systems[0]: 'h100-sxm' is an accelerator, not a system; systems holding it: hgx-h100"),
        ("", "p.yaml: the file is empty"),
    ],
)
def test_bad_problem_file_is_named_precisely(tmp_path, text, expect):
    out = clean(run("solve", problem(tmp_path, text), "--no-runner-up"), 2)
    assert expect in out
    assert "p.yaml" in out


def test_binary_problem_file_is_not_a_traceback(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_bytes(b"\xff\xfe\x00binary")
    assert "p.yaml: not a UTF-8 text file" in clean(run("solve", p), 2)


# ------------------------------------------------------------------------------------------ catalog folders
@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (ACCEL.replace("hbm_gb: 80", "hbm_gb: true"),
         "mine.yaml: toy-gpu.hbm_gb: must be a number, not true/false"),
        (ACCEL.replace("tdp_w: 700", "tdp_w: .inf"), "mine.yaml: toy-gpu.tdp_w: must be a finite number"),
        (ACCEL.replace("    tdp_w: 700\n", "    tdp_w: 700\n    tdp_w: 600\n"), "key 'tdp_w' appears twice"),
        (ACCEL.replace("scale_up_domain: 8", "scale_up_domain: 8\n    name: Again"), "key 'name' appears twice"),
    ],
)
def test_bad_catalog_entry_is_named_precisely(tmp_path, text, expect):
    out = clean(run("catalog", "validate", folder(tmp_path, text)), 2)
    assert expect in out


def test_binary_catalog_file_is_not_a_traceback(tmp_path):
    d = tmp_path / "cat"
    d.mkdir()
    (d / "x.yaml").write_bytes(b"\xff\xfe\x00binary")
    assert "x.yaml: not a UTF-8 text file" in clean(run("catalog", "validate", d), 2)


def test_catalog_folder_without_yaml_is_an_error(tmp_path):
    (tmp_path / "cat" / "sub").mkdir(parents=True)
    (tmp_path / "cat" / "sub" / "x.yaml").write_text("accelerators: []\n")
    assert "no catalog files (*.yaml, *.yml) at the top of this folder" in clean(
        run("catalog", "validate", tmp_path / "cat"), 2
    )


def test_no_bundled_needs_a_folder():
    assert "--no-bundled needs at least one catalog folder" in clean(run("catalog", "validate", "--no-bundled"), 2)


def test_scale_up_conflict_names_the_overriding_accelerator_file(tmp_path):
    text = ACCEL.replace("toy-gpu", "h100-sxm").replace("scale_up_domain: 8", "scale_up_domain: 4")
    out = clean(run("catalog", "validate", folder(tmp_path, text)), 2)
    assert "hgx-h100.scale_up_domain: 8 exceeds the scale_up_domain 4 of accelerator h100-sxm" in out
    assert "mine.yaml" in out


# ------------------------------------------------------------------------------------------ infeasible: exit 3
@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        ("budget: {capex_usd: 1000}\n", "capex budget $1.00k is short by"),
        ("budget: {usd_per_hour: 0.5}\n", "hourly budget $0.50/h is short by"),
    ],
)
def test_budget_too_small_names_the_budget(tmp_path, extra, expect):
    out = clean(run("solve", problem(tmp_path, GOOD + extra), "--no-runner-up"), 3)
    assert expect in out and "raise it to" in out
    assert "cannot be met" not in out  # not "serve nothing": the budget is what to change


def test_power_limit_too_small_names_site_power_and_what_is_needed(tmp_path):
    text = GOOD.replace("site: {id: new-ai-facility}", "site: {id: new-ai-facility, power_limit_mw: 0.001}")
    out = clean(run("solve", problem(tmp_path, text), "--no-runner-up"), 3)
    assert "site power 0.001 MW is the limit: this workload alone needs at least" in out


def test_demand_above_supply_names_supply_and_how_many_more(tmp_path):
    text = GOOD.replace("requests_per_s: 5", "requests_per_s: 500").replace(
        "systems: [hgx-h100, hgx-h200]", "systems: [hgx-h100]\n  supply: {hgx-h100: 1}"
    )
    out = clean(run("solve", problem(tmp_path, text), "--no-runner-up"), 3)
    assert "supply is the limit" in out and "hgx-h100 alone would need" in out


def test_quality_floor_no_model_meets_names_best_and_gap(tmp_path):
    floor = "    quality_floor: {benchmark: GPQA Diamond, min_score: 99}\n"
    text = GOOD.replace("    serving:", floor + "    serving:")
    out = clean(run("solve", problem(tmp_path, text), "--no-runner-up"), 3)
    assert "no allowed model meets the quality floor 99 on GPQA Diamond: the best is" in out
    assert "short; lower quality_floor.min_score" in out


def test_site_cooling_that_fits_no_system_is_named(tmp_path):
    text = GOOD.replace("site: {id: new-ai-facility}", "site: {id: new-ai-facility, cooling: [liquid]}")
    out = clean(run("solve", problem(tmp_path, text), "--no-runner-up"), 3)
    assert "no allowed system can be used: none of hgx-h100 (air" in out and "site.cooling" in out


# ------------------------------------------------------------------------------------------ verify
@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """A plan with several replicas of one deployment, written by `planner solve --out`."""
    d = tmp_path_factory.mktemp("solved")
    prob = problem(d, GOOD.replace("requests_per_s: 5", "requests_per_s: 777"))
    clean(run("solve", prob, "--out", d / "out", "--no-runner-up"), 0)
    return prob, d / "out" / "plan.json"


def test_written_plan_verifies_despite_rounding(solved):
    prob, plan = solved
    assert any(d["replicas"] > 1 for d in json.loads(plan.read_text())["deployments"])
    assert "plan OK" in clean(run("verify", plan, prob), 0)


def test_verify_plan_of_another_problem_exit_2(solved, tmp_path):
    _, plan = solved
    other = problem(tmp_path, GOOD.replace("name: t", "name: other"), "other.yaml")
    out = clean(run("verify", plan, other), 2)
    assert "the plan is for problem 't', but" in out and "other.yaml is problem 'other'" in out


def tampered(tmp_path: Path, plan: Path, edit) -> Path:
    data = json.loads(plan.read_text())
    edit(data)
    p = tmp_path / "plan.json"
    p.write_text(json.dumps(data))
    return p


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (lambda d: d["deployments"][0].update(model="gpt-9"), "unknown model gpt-9"),
        (lambda d: d["deployments"][0].update(precision="fp3"), "unknown precision fp3"),
        (lambda d: d["deployments"][0].update(workload="ghost"), "unknown workload ghost"),
        (lambda d: d["deployments"][0].update(system="hgx-x"), "system hgx-x is not allowed"),
        (lambda d: d["fleet"].update(servers_new={"hgx-x": 1}), "hgx-x: bought but buying it is not allowed"),
        (lambda d: d.update(objective="max_throughput"), "objective max_throughput in the plan"),
        (lambda d: d["fleet"].update(gpus={"h100-sxm": 1}), "GPUs {'h100-sxm': 1} in the plan"),
        (lambda d: d["fleet"].update(facility_power_kw=0), "facility power 0 kW in the plan"),
        (lambda d: d["deployments"].append(d["deployments"][0]), "listed 2 times"),
        (lambda d: d["workloads"][0].update(capacity_output_tok_s=1), "workload chat: 1 tok/s"),
    ],
)
def test_tampered_plan_is_a_violation_not_a_traceback(solved, tmp_path, edit, expect):
    prob, plan = solved
    out = clean(run("verify", tampered(tmp_path, plan, edit), prob), 1)
    assert expect in out


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (lambda d: d["deployments"][0].update(tp=0), "plan.json: deployments[0].tp: must be > 0, got 0"),
        (lambda d: d["fleet"].update(servers_new={"hgx-h100": -1}), "fleet.servers_new.hgx-h100: must be >= 0"),
        (lambda d: d["deployments"][0].update(tp="eight"), "deployments[0].tp: Input should be a valid integer"),
        (lambda d: d["deployments"][0].update(color="red"), "deployments[0].color: unknown field"),
        (lambda d: d.update(deployments={"a": 1}), "deployments: must be a list"),
    ],
)
def test_malformed_plan_exit_2_names_the_field(solved, tmp_path, edit, expect):
    prob, plan = solved
    assert expect in clean(run("verify", tampered(tmp_path, plan, edit), prob), 2)


@pytest.mark.parametrize(
    ("content", "expect"),
    [("[]", "the top level must be a JSON object"), ("name: x", "not a plan.json: invalid JSON at line 1")],
)
def test_not_a_plan_json_exit_2(solved, tmp_path, content, expect):
    prob, _ = solved
    p = tmp_path / "plan.json"
    p.write_text(content)
    assert expect in clean(run("verify", p, prob), 2)


# ------------------------------------------------------------------------------------------ predict
@pytest.mark.parametrize(
    ("args", "expect", "code"),
    [
        (["--ep", "0"], "ep must be a positive integer, got 0", 2),
        (["--ep", "-1"], "ep must be a positive integer, got -1", 2),
        (["--ep", "2"], "ep 2 needs a mixture-of-experts model (llama-3.1-8b is dense)", 2),
        (["--ttft-slo-ms", "nan"], "--ttft-slo-ms': must be a finite number > 0, got 'nan'", 2),
        (["--tpot-slo-ms", "inf"], "--tpot-slo-ms': must be a finite number > 0, got 'inf'", 2),
        (["--out", "x.csv"], "--out FILE applies to --batch only", 2),
        (["--gpu", "hgx-h100"], "'hgx-h100' is a system, not an accelerator: use its accelerator 'h100-sxm'", 2),
    ],
)
def test_predict_bad_flags(args, expect, code):
    assert expect in clean(run(*PREDICT, *args), code)


def test_predict_unmeetable_target_prints_the_target():
    out = clean(run(*PREDICT, "--tpot-slo-ms", "0.01"), 0)
    assert "exceeds the 0.01 ms target" in out


def csv_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "q.csv"
    p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return p


ROW = "llama-3.1-8b,h100-sxm,1,fp8,128,128"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (f"modle,gpu,gpus,precision,isl,osl\n{ROW}\n", "missing column(s) model (the header has: modle, gpu"),
        (f"modle,gpu,gpus,precision,isl,osl\n{ROW}\n", "did you mean 'model' for 'modle'?"),
        ("model;gpu;gpus;precision;isl;osl\n", "columns must be separated by commas"),
        (f"model,model,gpu,gpus,precision,isl,osl\nx,{ROW}\n", "column 'model' appears more than once"),
        (f"model,gpu,gpus,precision,isl,osl\n{ROW},1,2\n", "q.csv: line 2 has 8 fields but the header has 6"),
        ("model,gpu,gpus,precision,isl,osl\n", "q.csv: no queries below the header line"),
        ("", "q.csv: the file is empty"),
        # a misspelt query column was carried through as a label: the answer ignored the load or target
        (f"model,gpu,gpus,precision,isl,osl,concurency\n{ROW},4\n",
         "column 'concurency' is not a query column; did you mean 'concurrency'?"),
        (f"model,gpu,gpus,precision,isl,osl,tpot_ms\n{ROW},30\n", "did you mean 'tpot_slo_ms'?"),
        (f"model,gpu,gpus,precision,isl,osl,--ttft-slo-ms\n{ROW},900\n", "did you mean 'ttft_slo_ms'?"),
        # another tool's name for a query column (difflib ratio 0.62 to hidden_tokens: no misspelling)
        (f"model,gpu,gpus,precision,isl,osl,reasoning_tokens\n{ROW},500\n", "did you mean 'hidden_tokens'?"),
    ],
)
def test_wrong_csv_exit_2(tmp_path, text, expect):
    assert expect in clean(run("predict", "--batch", csv_file(tmp_path, text), "--out", tmp_path / "o.csv"), 2)


@pytest.mark.parametrize(("column", "meant"), [
    ("concurency", "concurrency"), ("reasoning_tokens", "hidden_tokens"), ("max_num_seqs", "max_batch")])
def test_the_library_refuses_a_misspelt_column_as_the_csv_does(column, meant):
    """`predict_many` carried a misspelt column through as a label and answered without it (reasoning_tokens:
    no hidden tokens decoded), where a --batch CSV refused it."""
    import pandas as pd

    from planner.catalog import load_catalog
    from planner.predict import predict_many

    query = dict(model="llama-3.1-8b", gpu="h100-sxm", gpus=1, precision="fp8", isl=128, osl=128, label="a")
    with pytest.raises(InputError, match=f"column '{column}' is not a query column; did you mean '{meant}'"):
        predict_many(pd.DataFrame([query | {column: 4}]), load_catalog())


def test_csv_bad_cells_are_row_errors_that_name_the_text(tmp_path):
    import pandas as pd

    src = csv_file(tmp_path, f"""
        model,gpu,gpus,precision,isl,osl,tp,max_throughput,label
        {ROW},abc,,a
        {ROW},nan,,b
        {ROW},,maybe,c
        {ROW},1,,d
    """)
    dst = tmp_path / "sub" / "o.csv"  # a missing parent folder is created
    out = clean(run("predict", "--batch", src, "--out", dst), 2)  # every row written, then exit 2 (user errors)
    assert "4 rows, 1 fit, 3 with an input error" in out
    assert "q.csv: 3 of 4 rows have an input error (lines 2, 3, 4)" in out
    res = pd.read_csv(dst, keep_default_na=False)
    assert list(res["label"]) == ["a", "b", "c", "d"]
    assert res.loc[0, "error"] == "tp must be a number, got 'abc'"
    assert res.loc[1, "error"] == "tp must be a finite number, got 'nan'"
    assert res.loc[2, "error"] == "max_throughput must be true or false, got 'maybe'"
    assert list(res["gpus"].astype(str)) == ["1"] * 4  # numbers stay numbers beside a bad cell


# ------------------------------------------------------------------------------------------ flags and --out
@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_time_limit_must_be_a_positive_number(tmp_path, value):
    out = clean(run("solve", problem(tmp_path, GOOD), "--time-limit", value), 2)
    assert "--time-limit': must be a finite number > 0" in out


@pytest.mark.parametrize(
    "args",
    [
        ["solve", "{p}", "--no-runner-up", "--out", "{f}/sub"],
        ["predict", "--batch", "{q}", "--out", "{f}/o.csv"],
        ["calibrate", "--out", "{f}/sub"],
        ["frontier", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--precision", "fp8", "--isl", "128",
         "--osl", "128", "--out", "{f}/sub"],
    ],
)
def test_out_below_a_file_exit_2(tmp_path, args):
    f = tmp_path / "afile"
    f.write_text("x")
    names = {"p": problem(tmp_path, GOOD), "q": csv_file(tmp_path, f"model,gpu,gpus,precision,isl,osl\n{ROW}\n"),
             "f": f}
    out = clean(run(*[a.format(**names) for a in args]), 2)
    assert "cannot create the folder" in out and "afile" in out


def test_frontier_plots_are_byte_identical(tmp_path):
    import pandas as pd

    from planner.report.frontier_plot import plot_frontier

    front = pd.DataFrame({"series": ["a"] * 3, "output_tok_s_per_user": [1.0, 2.0, 3.0],
                          "output_tok_s_per_gpu": [3.0, 2.0, 1.0], "tokens_per_usd": [1.0, 2.0, 3.0],
                          "tokens_per_kwh": [3.0, 1.0, 2.0]})
    first = [p.read_bytes() for p in plot_frontier(front, tmp_path, "t") if p.suffix == ".svg"]
    second = [p.read_bytes() for p in plot_frontier(front, tmp_path, "t") if p.suffix == ".svg"]
    assert first == second


def test_empty_rack_list_is_an_error(tmp_path):
    from planner.errors import InputError
    from planner.optimize.problem import load_problem

    text = (Path("problems/quickstart.yaml").read_text()
            .replace("  power_limit_mw: 1.0", "  power_limit_mw: 1.0\n  racks: []"))
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=r"site\.racks"):
        load_problem(path)
