"""Problem files, the example problems end to end, the CLI (`planner solve`, `planner verify`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.catalog import load_catalog
from planner.cli import main
from planner.optimize.backends import DEFAULT_BACKEND, available_backends
from planner.optimize.pipeline import solve_file
from planner.plan import deterministic_view

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "problems").glob("*.yaml"))
AGREE_BACKENDS = [b for b in ("highs", "scip") if b in available_backends()]
# Each example's optimal objective on the default backend. Pinned from the code before the issue-7
# restructuring (51819a2), then re-pinned after issue 9 (corrected catalog prices, all-in power, effort levels,
# published checkpoints, simplicity limits, failure domains; see the commits that changed these) and on top of
# the p90-SLO capacity sizing, then after the HBM-in-GiB fix and refit (issue 8), then
# simplicity-and-failure-domains after the replica bound became valid under `survive` (it had cut the optimum
# off), then diurnal-own-rent after its classes are solved one by one (optimize.hourly_split: 193.378, the exact
# optimum, where the whole model stopped at 193.386 within its 1e-3 gap), then after the step-model fixes of
# issue 8 (k8d: one eager-launch floor, MLA down-projections whole on every TP rank, MoE routed-row traffic, MLA
# decode tile padding; refit): -2.9% .. +1.2%: a refactor that changes behaviour changes one of these.
# Since 2026-12-01 the pins are the exact optima (solved to a 1e-9 gap, SCIP and HiGHS agreeing): at an example's
# own gap a solver may stop on any plan within that gap, and which one moves with the floating-point environment
# (a fresh install with pandas 3.1.1 / numpy 2.4.6 gave mixed-fleet 452.30619 where the earlier one stopped at
# 452.31883, 2.8e-5 above the optimum; ai-factory-10mw 106637.21 was 1.8e-5 below its 106639.16).
# mixed-fleet 452.30619 -> 452.31773 (+2.6e-5) when the queueing model's prompt queue took its token share of a
# step packed to the budget instead of a whole chunk step less the decode part (h28: TTFT p90 was not monotone in
# the rate on vLLM speculative rows); the generic-engine rows its optimum uses wait a little longer behind prompts.
# Then with prompt chunks that land in one step sharing it (a share 1 - e^-f of the steps carries prompt tokens,
# not f; h28): diurnal-own-rent +9.3e-7, enterprise-budget -2.2e-6, mixed-fleet +2.7e-7 (452.31785),
# simplicity-and-failure-domains +2.0e-6 (the steps of rows whose step time is not linear in the prompt tokens).
# Then with reasoning deployments (effort levels with hidden tokens: gpt-oss low) planned under load instead of at
# zero load (h38, planner.perf.reasoning: TTFT p90 to the first visible token = queue + prefill + hidden decode):
# enterprise-budget -0.038% (throughput), mixed-fleet +0.0023%, power-limited-site +0.89% (cost),
# offline-tokens-per-dollar -0.72% (tokens per dollar); the other examples serve no hidden tokens.
# Seats and memory check on one rule (memory.held_context_tokens, h37): the generic engine holds each request's
# whole output from admission (no eviction, as its memory check always had it) where its seats counted half, so
# a candidate planned near its seats (no TTFT target, loose targets) failed evaluate's memory check and dropped
# out; now the seats are fewer and the candidate stays: ai-factory-10mw 106639.16 -> 109267.41 (+2.5%),
# enterprise-budget 740746.36 -> 741410.36 (+0.09%), offline-tokens-per-dollar 17051703.08 -> 17075635.18
# (+0.14%), power-limited-site 1378.5599 -> 1377.0461 (-0.11%, min cost), diurnal-own-rent +2.9e-5,
# mixed-fleet +2.0e-6, quickstart -5.8e-6, simplicity-and-failure-domains -1.4e-5.
# Both together (the session's merge, one joint refit that moved no factor): from 738ea02's pins enterprise-budget
# +0.052%, mixed-fleet +0.0025%, offline-tokens-per-dollar -0.57%, power-limited-site +0.89% (cost); the others as
# h37 says (h38 moves only examples with hidden tokens).
# H100 SXM / H200 SXM at the memory the driver exposes (79.18 / 139.80 GiB, measured; was the marketed 80 / 141,
# h40; refit moved no engine factor): a smaller KV pool caps the running batch lower, so the full-batch step that
# bounds TPOT is shorter: brownfield-h100 798.8957 -> 794.2764 (-0.58%: its owned H100s run Llama-3.3-70B fp8 at
# TP2, 49.4 ms of the 50 ms TPOT target, where TP4 was needed, and one owned server stays off), diurnal-own-rent
# -3.3e-5, quickstart +6.4e-6; the others do not plan on these GPUs' pools.
# Disaggregated reasoning rows on the units' own batch search (h43: `disaggregated_units(hidden=)`, whose
# candidates include the exact memory and engine limits, where `largest_batch_visible` had the batch list only):
# gpt-oss low units reach their memory limit as every other unit does (h200 TP1: batch 297 for 256):
# offline-tokens-per-dollar 16954487.797 -> 17356753.118 (+2.37% tokens per dollar: one gpt-oss-120b low
# disaggregated deployment of 3 replicas replaces two), mixed-fleet 452.329348 -> 452.329140 (-4.6e-7, cost; its
# gpt-oss-20b low unit's batch 6138 -> 6524); the others serve no disaggregated reasoning deployment.
# Both merged (coordinator, fifteenth session): offline-tokens-per-dollar 17356753.118 -> 17317594.202 (-0.23%;
# +2.14% from 16954487.797: the gpt-oss units' memory limit on the smaller H200 pool); the others as each says.
# Disaggregated reasoning units' hidden steps at the decode batch the load gives (h47, perf/reasoning_disagg;
# each step took the full batch's TPOT at any rate): below the full rate the first visible token comes sooner,
# so a unit holds its TTFT target at a higher rate: power-limited-site 1390.7886620 -> 1390.6705739 (-0.0085%,
# cost; its rag gpt-oss-120b low-effort B200 units serve +0.16% each); the others serve no disaggregated
# reasoning unit under a binding TTFT target (offline-tokens-per-dollar's 10-minute target never binds).
# The open-loop chain's lumps at their mean occupancy, kappa from the prompt backlog, TPOT percentiles with the
# whole occupancy spread (h55, queueing.py: each lump stood at its largest occupancy, TPOT mean +11-27% against
# the simulator at many running sequences, 0.5-0.95 of capacity; now within 2% to 0.9): a replica holds its
# TPOT p90 target at a higher rate where the mean dominated, a little lower where the occupancy's spread does:
# diurnal-own-rent 188.451950 -> 185.271948 (-1.69%, cost), mixed-fleet 452.329140 -> 445.991696 (-1.40%, cost),
# enterprise-budget 741129.941 -> 741106.898 (-0.0031%, throughput), quickstart 29.9447893 -> 29.9452935
# (+0.0017%), reasoning-deepseek-r1 -1.6e-6, simplicity-and-failure-domains -1.6e-6; ai-factory-10mw,
# brownfield-h100, offline-tokens-per-dollar, power-limited-site unchanged (the last moved +0.0084% while the
# disaggregated reasoning units read the aggregated TPOT_SPREAD; they keep their own 0.5,
# reasoning_disagg.UNIT_TPOT_SPREAD).
# No-load steps as the load model's mixture of decode-only and prompt-chunk steps (h56, serving.aggregated): the
# same deployments (quickstart, simplicity-and-failure-domains checked replica for replica), their average power
# from the time-weighted steps: diurnal-own-rent -0.0147%, mixed-fleet -0.0034%, power-limited-site -0.0004%,
# quickstart -0.0345%, reasoning-deepseek-r1 -0.0028%, simplicity-and-failure-domains -0.0707% (cost); the others
# unchanged. (The same figures with the refit efficiency.yaml: its serving factors did not move.)
# Both merged (coordinator, seventeenth session), against h55's figures: diurnal-own-rent 185.271948 -> 185.235589
# (-0.0196%), mixed-fleet 445.991696 -> 445.958400 (-0.0075%), quickstart 29.9452935 -> 29.9318046 (-0.045%),
# power-limited-site -0.0004%, reasoning-deepseek-r1 -0.0028%, simplicity-and-failure-domains -0.0707%,
# ai-factory-10mw -5.9e-8; the others as h55 says.
# The other seats' prompt work charged whole (h80, serving.life_steps: over one life the b - 1 others each bring
# a prompt, spread over every step of it, own chunk steps included; (osl - 1) / osl of it was charged): a replica
# with every seat busy completes about 1/osl fewer requests (no load, g(B)), and its TPOT is the same where a
# prompt is one chunk; under a Poisson load the open-loop chain keeps the old occupancy (the others' prompts that
# meet a request's own prompt steps wait on the prompt path, TTFT's M/D/1; a life's steps count the
# prompt's chunks at the whole budget, step_mix.own_steps): enterprise-budget 741106.898 ->
# 740103.093 (-0.135%, throughput), ai-factory-10mw 109267.401 -> 109149.532 (-0.108%, profit),
# offline-tokens-per-dollar -0.0076% (tokens per dollar), mixed-fleet 445.958400 -> 445.974254 (+3.6e-5),
# simplicity-and-failure-domains -1.2e-5, quickstart +5.9e-6, diurnal-own-rent -7.3e-7, power-limited-site
# -5.2e-8 (cost); brownfield-h100 and reasoning-deepseek-r1 unchanged.
# The step tables' prompt axis at the step's bends and the eager chunk floor per decode count (h95,
# steptable.prefill_grid, StepTables.chunk_floor_s: a chunk step reads as the step model computes it, the mixed
# floor with its engine-step and host terms): diurnal-own-rent 185.235453 -> 185.229928 (-3.0e-5, cost),
# quickstart 29.9319810 -> 29.9319455 (-1.2e-6), reasoning-deepseek-r1 -5.0e-7, simplicity-and-failure-domains
# -7.3e-8, mixed-fleet +5.1e-8, power-limited-site +7.4e-9, ai-factory-10mw -4.1e-9; the others unchanged.
# The generic engine's assumed 1,024 seats per attention-DP rank, as every catalogued engine's, and a disaggregated
# generic decode batch at most those seats (r15, evaluate.engine_seats_of; the refit of session 22 moves no
# example): offline-tokens-per-dollar 17316269.73 -> 17427441.25 (+0.64%, an attn_dp 4 gpt-oss-120b replica at
# batch 3,370 now seated), reasoning-deepseek-r1 1179.370 -> 1178.453 (-0.078%, attn_dp 8 at batch 4,613),
# mixed-fleet 445.974277 -> 445.979154 (+1.1e-5: a gpt-oss-20b disaggregated unit at batch 4,070 with attn_dp 1
# is over its 1,024 seats); the others unchanged.
PINNED_OBJECTIVES = {
    "ai-factory-10mw": 109149.53188380672,
    "brownfield-h100": 794.2763718037629,
    "diurnal-own-rent": 185.22992761921455,
    "enterprise-budget": 740103.093101373,
    "mixed-fleet": 445.97915351837105,
    "offline-tokens-per-dollar": 17427441.254758507,
    "power-limited-site": 1390.6643833303622,
    "quickstart": 29.931945459835053,
    "reasoning-deepseek-r1": 1178.4529413040277,
    "simplicity-and-failure-domains": 56.40178494977411,
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "p.yaml"
    p.write_text(text, encoding="utf-8")
    return str(p)


GOOD = """
name: t
workloads:
  - id: chat
    archetype: chat
    demand: {requests_per_s: 5}
    models: [llama-3.1-8b, qwen3-32b]
    precisions: [fp8]
    serving: [aggregated]
fleet:
  systems: [hgx-h100, hgx-h200]
site: {id: new-ai-facility}
"""


@pytest.mark.parametrize(
    "text, expect",
    [
        (
            GOOD.replace("archetype: chat", "archetype: chta"),
            "workloads[chat].archetype: unknown workload archetype",
        ),
        (
            GOOD.replace("requests_per_s: 5", "requests_per_s: -5"),
            "workloads[chat].demand.requests_per_s: must be > 0",
        ),
        (
            GOOD.replace("    serving:", "    tpot_ms: 0\n    serving:"),
            "workloads[chat].tpot_ms: must be > 0, got 0",
        ),
        (GOOD.replace("fleet:", "fleets:"), "fleets: unknown field"),
        (GOOD.replace("hgx-h200]", "hgx-h999]"), "fleet.systems[1]: unknown system 'hgx-h999'"),
        (
            GOOD.replace("precisions: [fp8]", "precisions: [fp9]"),
            "workloads[chat].precisions[0]: unknown precision",
        ),
        ("name: t\nworkloads: []\n", "workloads: needs at least 1 item(s), got 0"),
        ("name: [t\n", "not valid YAML at line"),
    ],
)
def test_bad_problem_files_exit_2(tmp_path, text, expect):
    res = CliRunner().invoke(main, ["solve", write(tmp_path, text)])
    assert res.exit_code == 2, res.output
    assert expect in res.output, res.output
    assert "p.yaml" in res.output and "Traceback" not in res.output


def test_infeasible_problem_exit_3_names_the_cause(tmp_path):
    text = GOOD.replace("site: {id: new-ai-facility}", "site: {id: new-ai-facility, power_limit_mw: 0.001}")
    res = CliRunner().invoke(main, ["solve", write(tmp_path, text)])
    assert res.exit_code == 3, res.output
    assert "at most 0 tok/s" in res.output or "site power" in res.output


def test_unreachable_ttft_is_explained(tmp_path):
    text = GOOD.replace("    serving:", "    ttft_ms: 1\n    serving:")
    res = CliRunner().invoke(main, ["solve", write(tmp_path, text)])
    assert res.exit_code == 3, res.output
    assert "no candidate meets TTFT 1 ms for" in res.output.replace("\n", " ") or "meets TTFT" in res.output


def test_solve_json_out_and_verify(tmp_path):
    prob = write(tmp_path, GOOD)
    runner = CliRunner()
    res = runner.invoke(main, ["solve", prob, "--json", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    for key in (
        "status",
        "objective",
        "objective_value",
        "best_bound",
        "gap",
        "solve_time_s",
        "backend",
        "fleet",
        "deployments",
    ):
        assert key in data
    for key in (
        "servers",
        "gpus",
        "racks",
        "it_power_kw",
        "facility_power_kw",
        "capex_usd",
        "opex_usd_per_year",
        "cost_usd_per_hour",
        "output_tok_s",
        "total_tok_s",
        "tokens_per_usd",
        "usd_per_mtok",
        "tokens_per_kwh",
    ):
        assert key in data["fleet"]
    for key in (
        "workload",
        "model",
        "precision",
        "system",
        "accelerator",
        "tp",
        "pp",
        "ep",
        "dp",
        "serving",
        "batch",
        "replicas",
        "gpus",
        "output_tok_s",
        "ttft_s",
        "tpot_s",
        "quality",
    ):
        assert key in data["deployments"][0]
    plan_file = tmp_path / "o" / "plan.json"
    ok = runner.invoke(main, ["verify", str(plan_file), prob])
    assert ok.exit_code == 0, ok.output
    bad = json.loads(plan_file.read_text())
    bad["deployments"][0]["ttft_s"] = 99.0
    bad["fleet"]["servers_new"] = {k: 0 for k in bad["fleet"]["servers_new"]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    res = runner.invoke(main, ["verify", str(tmp_path / "bad.json"), prob])
    assert res.exit_code != 0
    assert "TTFT" in res.output and "do not pack" in res.output


def test_same_input_same_plan(tmp_path, catalog):
    prob = write(tmp_path, GOOD)
    a = solve_file(prob, catalog).plan
    b = solve_file(prob, catalog).plan
    from planner.plan import plan_dict

    assert json.dumps(deterministic_view(plan_dict(a)), sort_keys=True) == json.dumps(
        deterministic_view(plan_dict(b)), sort_keys=True
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_solves_and_backends_agree(path, catalog):
    from planner.optimize.problem import load_problem

    gap = max(1e-4, load_problem(path).solver.gap)  # an example may declare a looser proven gap
    objectives = {}
    for backend in AGREE_BACKENDS:
        out = solve_file(path, catalog, backend=backend, runner_up=False)
        assert out.plan.status == "optimal", (backend, out.plan.message)
        assert out.verify.ok
        assert out.plan.gap is not None and out.plan.gap <= gap * 1.01
        objectives[backend] = out.plan.objective_value
    ref = PINNED_OBJECTIVES[path.stem]
    for v in objectives.values():  # every backend within its proven gap of the exact optimum
        assert abs(v - ref) <= gap * abs(ref) * 1.01, objectives


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_exact_optimum_is_pinned(path, catalog):
    """Solved to a 1e-9 gap, each example's objective is its pinned optimum to 1e-7: a change of the model,
    candidates or formulation that moves any optimum shows here, whichever near-optimal plan a solver stops on
    at the example's own gap."""
    from planner.optimize.pipeline import solve_problem
    from planner.optimize.problem import load_problem

    problem = load_problem(path)
    tight = problem.model_copy(update={"solver": problem.solver.model_copy(update={"gap": 1e-9})})
    plan = solve_problem(tight, catalog, backend=DEFAULT_BACKEND, runner_up=False)
    assert plan.status == "optimal", plan.message
    assert plan.objective_value == pytest.approx(PINNED_OBJECTIVES[path.stem], rel=1e-7)


def test_every_example_is_pinned():
    assert sorted(PINNED_OBJECTIVES) == [p.stem for p in EXAMPLES]


def test_verify_without_problem_uses_the_copy_in_the_plan(tmp_path):
    prob = write(tmp_path, GOOD)
    runner = CliRunner()
    assert runner.invoke(main, ["solve", prob, "--out", str(tmp_path / "o")]).exit_code == 0
    plan_path = tmp_path / "o" / "plan.json"
    data = json.loads(plan_path.read_text())
    assert data["problem_yaml"] == (tmp_path / "p.yaml").read_text()
    res = runner.invoke(main, ["verify", str(plan_path)])
    assert res.exit_code == 0, res.output
    # The copy is what gets checked: raising the demand in it tenfold makes the plan fall short.
    data["problem_yaml"] = data["problem_yaml"].replace("requests_per_s: 5", "requests_per_s: 500")
    plan_path.write_text(json.dumps(data))
    res = runner.invoke(main, ["verify", str(plan_path)])
    assert res.exit_code == 1 and "demand" in res.output, res.output
