"""solve with serving engines: a workload may list engines to search; the plan names each deployment's engine;
the same configuration under a dominated engine is pruned before the MIP."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.errors import InputError
from planner.optimize import solve_problem
from planner.optimize.problem import problem_from_text
from planner.optimize.resolve_workloads import current_engines
from planner.optimize.variants import prune_variants

CAT = load_catalog()
QUICK = (Path(__file__).resolve().parents[1] / "problems" / "quickstart.yaml").read_text()


def with_engines(engines: str) -> str:
    return QUICK.replace("    headroom: 0.2", f"    engines: {engines}\n    headroom: 0.2", 1)


def test_plan_names_the_engine_of_each_deployment():
    plan = solve_problem(problem_from_text(with_engines("[vllm, sglang, trtllm]"), "q.yaml"), CAT, runner_up=False)
    assert plan.status == "optimal"
    assert plan.deployments
    for d in plan.deployments:
        assert d.engine in ("vllm", "sglang", "trtllm")
        assert d.key.split("/")[4].endswith(f"-{d.engine}")


def test_without_engines_the_generic_engine_is_planned_and_named():
    plan = solve_problem(problem_from_text(QUICK, "q.yaml"), CAT, runner_up=False)
    assert {d.engine for d in plan.deployments} == {"generic"}


def test_unknown_engine_is_an_input_error():
    with pytest.raises(InputError, match=r"engines.*unknown|unknown.*engine"):
        solve_problem(problem_from_text(with_engines("[vllmx]"), "q.yaml"), CAT, runner_up=False)


def test_prune_engines_keeps_only_undominated_engines():
    base = dict(workload="w", model="m", accelerator="a", precision="fp8", kv_precision="fp8", tp=1, pp=1, ep=1,
                attn_dp=1, serving="aggregated", gpus=1)
    res = pd.DataFrame([base | dict(engine="sglang", output_tok_s=100.0, avg_power_w=500.0),
                        base | dict(engine="trtllm", output_tok_s=120.0, avg_power_w=500.0),  # dominates sglang
                        base | dict(engine="vllm", output_tok_s=130.0, avg_power_w=600.0),  # more tok/s, more W
                        base | dict(tp=2, gpus=2, engine="sglang", output_tok_s=50.0, avg_power_w=900.0)])
    kept = prune_variants(res, {"a": 100.0})
    assert sorted(zip(kept["tp"], kept["engine"], strict=True)) == [(1, "trtllm"), (1, "vllm"), (2, "sglang")]


def test_engines_all_searches_every_catalog_engine_that_serves_the_accelerator():
    from planner.optimize.grid import build_grid
    from planner.optimize.resolve_problem import build_instance

    inst = build_instance(problem_from_text(with_engines("all"), "q.yaml"), CAT)
    assert inst.workloads["chat"].engines == current_engines(CAT)
    grid, _ = build_grid(inst, CAT)
    # every engine whose vendors include NVIDIA is searched on H100 (all four)
    nvidia = {e for e in current_engines(CAT) if CAT.engines[e].supports("h100-sxm", "nvidia")}
    assert set(grid["engine"]) == nvidia
    assert "vllm-v0" in CAT.engines and "vllm-v0" not in set(grid["engine"])  # superseded: only when named


def test_engines_word_other_than_all_is_an_input_error():
    with pytest.raises(InputError,
                       match=r"engines: give a list of engine ids or `all` \(one engine: \[vllm\]\), got 'every'"):
        problem_from_text(with_engines("every"), "q.yaml")
