"""solve gives disaggregated prefill and decode instances their own layouts where a workload asks
(`prefill_layouts: search`; issue 8, item 5): decode layouts are paired with the prefill layouts left after
pruning the prefill phase on its own, the perf model rate-matches the unit, and the plan names both layouts
and the instance counts.

Known answer by brute force: Llama-3.1-8B FP8 on H100, ISL 16384 / OSL 256, TTFT 1 s, TPOT 30 ms (p90). Every
(decode layout, prefill layout) pair of TP 1-8 x PP 1-2 (64 units) run through the same perf function: the best
output tokens/s per GPU is a unit whose prefill layout differs from its decode layout, >1% above the best unit
with one shared layout.
"""

from __future__ import annotations

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.optimize import solve_problem
from planner.optimize.candidates import build_candidates
from planner.optimize.problem import problem_from_text
from planner.optimize.resolve_problem import build_instance
from planner.optimize.variants import prune_prefill_layouts
from planner.perf import capacity_under_slo

CAT = load_catalog()
LAYOUTS = [(t, p) for t in (1, 2, 4, 8) for p in (1, 2)]
PROBLEM = """
name: t
workloads:
  - id: longdoc
    isl_tokens: 16384
    osl_tokens: 256
    ttft_ms: 1000
    tpot_ms: 30
    demand: {requests_per_s: 20}
    models: [llama-3.1-8b]
    precisions: [fp8]
    serving: [disaggregated]
    prefill_layouts: search
fleet:
  systems: [hgx-h100]
site: {id: new-ai-facility}
"""


@pytest.fixture(scope="module")
def brute():
    rows = [dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=t, pp=p,
                 ep=1, attn_dp=1, serving="disaggregated", isl=16384, osl=256, prefill_tp=pt, prefill_pp=pq,
                 prefill_ep=1, prefill_attn_dp=1) for t, p in LAYOUTS for pt, pq in LAYOUTS]
    r = capacity_under_slo(pd.DataFrame(rows), CAT, ttft_s=1.0, tpot_s=0.03, percentile=90.0)
    r = r[r["fits"]].copy()
    r["per_gpu"] = r["output_tok_s"] / r["gpus"]
    return r


def test_brute_force_says_an_own_prefill_layout_wins(brute):
    shared = brute[(brute["tp"] == brute["prefill_tp"]) & (brute["pp"] == brute["prefill_pp"])]
    assert brute["per_gpu"].max() > 1.01 * shared["per_gpu"].max()


def test_candidates_keep_the_brute_force_best_unit(brute):
    cs = build_candidates(build_instance(problem_from_text(PROBLEM, "t.yaml"), CAT), CAT)
    t = cs.table
    best = brute.loc[brute["per_gpu"].idxmax()]
    per_gpu = t["output_tok_s"] / t["gpus"]
    assert per_gpu.max() == pytest.approx(best["per_gpu"], rel=1e-9)
    top = t.loc[per_gpu.idxmax()]
    label = f"tp{best['prefill_tp']}pp{best['prefill_pp']}"
    assert top["key"].split("/")[6] == f"disagg-prefill-{label}"
    assert top["group_gpus"] == max(best["tp"], best["prefill_tp"])


def test_by_default_both_phases_share_one_layout():
    text = PROBLEM.replace("    prefill_layouts: search\n", "")
    cs = build_candidates(build_instance(problem_from_text(text, "t.yaml"), CAT), CAT)
    assert set(k.split("/")[6] for k in cs.table["key"]) == {"disagg"}


def test_the_plan_names_both_layouts_and_the_unit():
    plan = solve_problem(problem_from_text(PROBLEM, "t.yaml"), CAT, runner_up=False)  # verified inside
    assert plan.status == "optimal" and plan.deployments
    own = [d for d in plan.deployments if (d.prefill_tp, d.prefill_pp) != (d.tp, d.pp)]
    assert own, [d.key for d in plan.deployments]
    for d in own:
        assert d.serving == "disaggregated" and d.prefill_instances >= 1 and d.decode_instances >= 1
        assert f"/disagg-prefill-tp{d.prefill_tp}pp{d.prefill_pp}" in d.key
        pre = d.prefill_instances * d.prefill_tp * d.prefill_pp * d.prefill_attn_dp
        assert d.gpus_per_replica == pre + d.decode_instances * d.tp * d.pp * d.attn_dp


def test_prefill_pruning_keeps_one_layout_per_instance_size():
    key = dict(workload="w", model="m", accelerator="a", precision="fp8", kv_precision="fp8", engine="", isl=1000,
               osl=100, pp=1, ep=1, attn_dp=1, fits=True, prefill_power_w=1000.0)
    phase = pd.DataFrame([
        key | dict(tp=1, pp=2, prefill_gpus=2, prefill_s=0.40, prefill_rps=10.0),  # most requests/s within half
        key | dict(tp=2, prefill_gpus=2, prefill_s=0.20, prefill_rps=9.0),
        key | dict(tp=1, prefill_gpus=1, prefill_s=0.80, prefill_rps=4.0),  # over half the target: the fastest
        key | dict(tp=4, prefill_gpus=4, prefill_s=0.10, prefill_rps=12.0, fits=False),
        key | dict(tp=8, prefill_gpus=8, prefill_s=1.10, prefill_rps=30.0),  # slower than the target itself
    ])
    kept = prune_prefill_layouts(phase, {"w": 1.0})
    assert sorted(zip(kept["tp"], kept["pp"], strict=True)) == [(1, 1), (1, 2)]
    # a tighter target: the PP2 pass no longer leaves room, the faster TP2 does
    kept = prune_prefill_layouts(phase, {"w": 0.5})
    assert sorted(zip(kept["tp"], kept["pp"], strict=True)) == [(2, 1)]
