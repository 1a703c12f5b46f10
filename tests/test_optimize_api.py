"""The public entry points of planner.optimize: solve_problem, the problem copy in the plan, CandidateCache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.catalog import load_catalog
from planner.errors import InfeasibleError, InputError
from planner.optimize import (
    CandidateCache,
    load_problem,
    parse_problem,
    problem_from_text,
    solve_problem,
    verify_plan,
)
from planner.optimize.pipeline import problem_yaml, solve_file
from planner.plan import deterministic_view, plan_dict

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "problems").glob("*.yaml"))
QUICKSTART = ROOT / "problems" / "quickstart.yaml"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def same(a, b) -> bool:
    view = lambda p: json.dumps(deterministic_view(plan_dict(p)), sort_keys=True)  # noqa: E731
    return view(a) == view(b)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_problem_yaml_reads_back_to_the_same_problem(path):
    p = load_problem(path)
    assert problem_from_text(problem_yaml(p), "copy") == p


def test_solve_problem_matches_solve_file_and_keeps_the_problem(catalog):
    p = load_problem(QUICKSTART)
    plan = solve_problem(p, catalog, runner_up=False)
    assert plan.objective_value == pytest.approx(29.931945459835053, rel=1e-7)  # = PINNED_OBJECTIVES["quickstart"]
    assert problem_from_text(plan.problem_yaml, "copy") == p  # a YAML dump of the model
    text = QUICKSTART.read_text()
    verbatim = solve_problem(p, catalog, runner_up=False, problem_text=text)
    assert verbatim.problem_yaml == text
    via_file = solve_file(QUICKSTART, catalog, runner_up=False).plan
    assert via_file.problem_yaml == text and via_file.objective_value == plan.objective_value
    assert callable(verify_plan)


def test_solve_problem_raises_typed_errors(catalog):
    data = load_problem(QUICKSTART).model_dump(mode="json", exclude_none=True)
    data["workloads"][0]["archetype"] = "no-such-archetype"
    with pytest.raises(InputError, match="archetype"):
        solve_problem(parse_problem(data, "<t>"), catalog)
    data = load_problem(QUICKSTART).model_dump(mode="json", exclude_none=True)
    data["workloads"][0]["tpot_ms"] = 0.01  # no configuration is that fast
    with pytest.raises(InfeasibleError):
        solve_problem(parse_problem(data, "<t>"), catalog, runner_up=False)


def _variant(**changes) -> dict:
    data = load_problem(QUICKSTART).model_dump(mode="json", exclude_none=True)
    for path, value in changes.items():
        node = data
        *head, last = path.split("__")
        for k in head:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        node[last] = value
    return data


def test_cache_reused_when_only_money_power_or_demand_change(catalog):
    cache = CandidateCache()
    base = parse_problem(_variant(), "<t>")
    solve_problem(base, catalog, runner_up=False, candidate_cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    for changes in (
        {"economics__electricity_usd_per_kwh": 0.31},
        {"economics__system_prices_usd": {"hgx-h100": 150000.0}},
        {"workloads__0__demand": {"requests_per_s": 55.0}},
        {"site__power_limit_mw": 5.0},
        {"budget__capex_usd": 9e7},
    ):
        p = parse_problem(_variant(**changes), "<t>")
        hits = cache.hits
        cached = solve_problem(p, catalog, runner_up=False, candidate_cache=cache)
        assert cache.hits == hits + 1, changes
        fresh = solve_problem(p, catalog, runner_up=False)
        assert same(cached, fresh), changes  # the reuse changes nothing in the plan
    assert cache.misses == 1


def test_cache_misses_when_a_latency_target_changes(catalog):
    cache = CandidateCache()
    solve_problem(parse_problem(_variant(), "<t>"), catalog, runner_up=False, candidate_cache=cache)
    p = parse_problem(_variant(workloads__0__tpot_ms=80.0), "<t>")
    solve_problem(p, catalog, runner_up=False, candidate_cache=cache)
    assert (cache.hits, cache.misses) == (0, 2)


def test_cached_expansion_follows_the_modes_a_system_offers(catalog):
    """The same evaluation, other modes (renting allowed; renting only): the cache expands anew; a price change
    reuses the expansion; every candidate table equals one built without the cache."""
    from planner.optimize.candidates import build_candidates, expansion_key
    from planner.optimize.resolve_problem import build_instance

    cache = CandidateCache()
    variants = [_variant(), _variant(fleet__acquire=["buy", "rent"]),
                _variant(fleet__acquire=["rent"]),
                _variant(economics__electricity_usd_per_kwh=0.3)]
    keys = []
    for data in variants:
        p = parse_problem(data, "<t>")
        keys.append(expansion_key(build_instance(p, catalog)))
        cached = build_candidates(build_instance(p, catalog), catalog, cache=cache)
        fresh = build_candidates(build_instance(p, catalog), catalog)
        assert cached.table.equals(fresh.table)
    assert len({keys[0], keys[1], keys[2]}) == 3 and keys[0] == keys[3]
    assert "rent" in set(build_candidates(build_instance(parse_problem(variants[1], "<t>"), catalog), catalog,
                                          cache=cache).table["mode"])
    assert cache.misses == 1 and len(cache._expanded) == 3  # one evaluation, three expansions for four


def test_plan_records_targets_limits_fingerprint_and_version(catalog):
    import planner
    from planner.catalog.fingerprint import catalog_fingerprint

    data = _variant(site__power_limit_mw=3.0, budget__usd_per_hour=5000.0)
    p = parse_problem(data, "<t>")
    plan = solve_problem(p, catalog, runner_up=False)
    w = plan.workloads[0]
    arch = catalog.workloads[data["workloads"][0]["archetype"]]
    assert w.tpot_target_s == pytest.approx(arch.tpot_ms / 1000) and w.ttft_target_s == pytest.approx(
        arch.ttft_ms / 1000
    )
    assert 0 < w.tpot_s <= w.tpot_target_s and 0 < w.ttft_s <= w.ttft_target_s
    assert w.tpot_s == max(d.tpot_s for d in plan.deployments)
    assert w.required_output_tok_s == pytest.approx(w.demand_output_tok_s * (1 + w.headroom))
    assert w.capacity_output_tok_s >= w.required_output_tok_s * (1 - 1e-9)
    assert plan.limits.site_power_kw == 3000.0 and plan.limits.budget_usd_per_hour == 5000.0
    assert plan.limits.budget_capex_usd is None and plan.limits.rack_power_kw
    assert plan.fleet.facility_power_kw <= plan.limits.site_power_kw
    assert plan.catalog_fingerprint == catalog_fingerprint(catalog) and len(plan.catalog_fingerprint) == 16
    assert plan.planner_version == planner.__version__
    # another catalog figure, another fingerprint
    other = load_catalog()
    sid = next(iter(other.systems))
    other.systems[sid] = other.systems[sid].model_copy(update={"nameplate_power_kw": 99.0})
    assert catalog_fingerprint(other) != plan.catalog_fingerprint


def test_cached_re_prediction_is_keyed_by_the_performance_data(catalog):
    """The verifier's re-prediction memoized in a CandidateCache: the same rows on a catalog with other
    performance data (here a slower HBM) are predicted afresh, never served from the memo."""
    from planner.catalog.catalog import Catalog
    from planner.optimize.pipeline import _perf_predictor
    from planner.optimize.resolve_problem import build_instance
    from planner.perf import predict_under_slo

    p = parse_problem(_variant(), "<t>")
    cache = CandidateCache()
    plan = solve_problem(p, catalog, runner_up=False, candidate_cache=cache)
    rows = len(plan.deployments)
    assert rows >= 1 and len(cache._predicted) == rows  # the solve's verification went through the memo, by row
    grids = []
    spy = lambda g: grids.append(g) or predict_under_slo(g, catalog)  # noqa: E731
    verify_plan(plan, build_instance(p, catalog), catalog, spy)
    grid = grids[0]
    acc = plan.deployments[0].accelerator
    slow = catalog.accelerators[acc].model_copy(
        update={"hbm_bandwidth_tb_s": catalog.accelerators[acc].hbm_bandwidth_tb_s / 2})
    other = Catalog({**catalog.entries, "accelerators": {**catalog.accelerators, acc: slow}}, dict(catalog.origin))
    memo_base, memo_other = _perf_predictor(catalog, cache)(grid), _perf_predictor(other, cache)(grid)
    assert memo_base.equals(predict_under_slo(grid, catalog))
    assert memo_other.equals(predict_under_slo(grid, other))
    assert not memo_other["output_tok_s"].equals(memo_base["output_tok_s"])
    assert len(cache._predicted) == 2 * rows
