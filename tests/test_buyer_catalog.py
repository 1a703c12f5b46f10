"""Prices, rental terms, licences, all-in power and checkpoints: the catalog figures a buyer would check, used
the same way by solve, predict and frontier (issue 9, phase 1)."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from planner import power
from planner.catalog import load_catalog
from planner.economics import HOURS_PER_YEAR
from planner.errors import CatalogError, InfeasibleError, InputError
from planner.optimize.pipeline import solve_file
from planner.optimize.problem import parse_problem
from planner.optimize.resolve_problem import build_instance
from planner.optimize.verify import verify_plan
from planner.predict import predict_one
from planner.predict.frontier import compute_frontier


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def instance(catalog, text: str):
    from planner.catalog.loader import load_yaml

    return build_instance(parse_problem(load_yaml(textwrap.dedent(text))), catalog)


def solve(tmp_path: Path, catalog, text: str):
    p = tmp_path / "p.yaml"
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return solve_file(p, catalog, runner_up=False)


RENT = """
name: rent
workloads:
  - id: chat
    archetype: chat
    demand: {requests_per_s: 20}
    models: [llama-3.1-8b]
    precisions: [fp8]
    serving: [aggregated]
    no_quality_floor: true
fleet:
  systems: [hgx-h100]
  acquire: [rent]
"""


# ------------------------------------------------------------------------------------------------ prices
def test_prices_follow_the_market_review(catalog):
    s = catalog.systems
    # B200 was priced like H200, GB200 NVL72 ~30% low, MI300X platform ~40% low (market review 2026-11).
    assert s["hgx-b200"].price.base_usd == 460_000 and s["hgx-b200"].price.base_usd > s["hgx-h200"].price.base_usd
    assert (s["gb200-nvl72"].price.low_usd, s["gb200-nvl72"].price.high_usd) == (3.0e6, 3.9e6)
    assert 200_000 <= s["mi300x-platform"].price.base_usd <= 230_000
    assert s["hgx-b300"].price.base_usd > s["hgx-b200"].price.base_usd


def test_rentals_are_products_with_terms(catalog):
    rp = catalog.rental_prices
    assert {r.term for r in rp.values()} == {"on_demand", "1y", "3y", "spot"}
    assert all(r.provider_class in ("hyperscaler", "neocloud") for r in rp.values())
    # NVL72 racks lease whole; everything else by server.
    for r in rp.values():
        assert (r.lease_unit == "whole_rack") == catalog.systems[r.system].whole_rack, r.id
    # The old $3.20 B200 "on-demand" figure is a 3-year price: on-demand now starts at the lowest tracked $3.75.
    b200 = {r.term: r.usd_per_gpu_hour for r in rp.values() if r.system == "hgx-b200"}
    assert b200["on_demand"].low_usd == 3.75 and b200["3y"].high_usd <= 3.20 < b200["on_demand"].base_usd
    # Capacity Blocks are short-term: never labelled as a 1-3-year commitment.
    assert all(r.term == "on_demand" for r in rp.values() if "capacity-block" in r.id)


def test_whole_rack_lease_of_a_server_is_an_error(tmp_path):
    d = tmp_path / "cat"
    d.mkdir()
    (d / "r.yaml").write_text(textwrap.dedent("""
        rental_prices:
          - id: bad
            name: bad
            system: hgx-h100
            term: 1y
            provider_class: neocloud
            lease_unit: whole_rack
            usd_per_gpu_hour: {low_usd: 1, base_usd: 1, high_usd: 1, date: "2026", source: "test"}
            sources: [test]
        """))
    with pytest.raises(CatalogError, match=r"bad.lease_unit: whole_rack but system hgx-h100 is a server"):
        load_catalog([d])


def test_cheapest_allowed_term_is_priced_and_named(tmp_path, catalog):
    inst = instance(catalog, RENT)
    sd = inst.systems["hgx-h100"]
    assert (sd.rent_term, sd.rent_product, sd.rent_usd_per_gpu_hour) == ("3y", "neocloud-h100-3y", 1.30)
    only_od = RENT + "  rental_terms: [on_demand]\n"
    sd = instance(catalog, only_od).systems["hgx-h100"]
    # Cheapest on-demand H100: neocloud $2.50 (AWS $5.40, GCP/Azure $5.00, Capacity Blocks $4.916).
    assert (sd.rent_term, sd.rent_usd_per_gpu_hour) == ("on_demand", 2.50)
    # spot is out unless asked for.
    mi = instance(catalog, RENT.replace("hgx-h100", "mi300x-platform")).systems["mi300x-platform"]
    assert mi.rent_term == "on_demand" and mi.rent_usd_per_gpu_hour == 1.75
    spot = instance(catalog, RENT.replace("hgx-h100", "mi300x-platform") + "  rental_terms: [spot]\n")
    assert spot.systems["mi300x-platform"].rent_term == "spot"

    out = solve(tmp_path, catalog, only_od)
    fl = out.plan.fleet
    assert fl.rental_terms == {"hgx-h100": "on_demand"}
    n = fl.servers_rented["hgx-h100"]
    assert fl.cost_breakdown_usd_per_hour["rental"] == pytest.approx(n * 8 * 2.50)
    # verify catches a plan that names another term than the one priced in
    bad = out.plan.model_copy(deep=True)
    bad.fleet.rental_terms = {"hgx-h100": "3y"}
    assert any("rental term '3y'" in x for x in verify_plan(bad, out.instance, catalog).violations)


# ------------------------------------------------------------------------------------------------ licences
def test_licence_charged_per_gpu_hour_unless_bundled(catalog):
    text = RENT.replace("systems: [hgx-h100]", "systems: [hgx-h100, h100-pcie-server, mi300x-platform]")
    text = text.replace("acquire: [rent]", "acquire: [buy, rent]")
    base = instance(catalog, text).systems
    lic = instance(catalog, text + "economics: {software_licence: nvidia-ai-enterprise}\n").systems
    per_server = 8 * 4500 / HOURS_PER_YEAR  # $4,500 per GPU per year
    assert lic["hgx-h100"].new_usd_per_hour - base["hgx-h100"].new_usd_per_hour == pytest.approx(per_server)
    assert lic["hgx-h100"].existing_usd_per_hour - base["hgx-h100"].existing_usd_per_hour == pytest.approx(
        per_server
    )
    # ~$1/GPU-hour on rented GPUs (cloud marketplaces)
    assert lic["hgx-h100"].rent_usd_per_hour - base["hgx-h100"].rent_usd_per_hour == pytest.approx(8 * 1.0)
    # bundled with H100 PCIe; not an AMD licence
    for s in ("h100-pcie-server", "mi300x-platform"):
        assert lic[s].new_usd_per_hour == base[s].new_usd_per_hour
    with pytest.raises(InputError, match=r"economics\.software_licence: unknown licence 'nvaie'"):
        instance(catalog, text + "economics: {software_licence: nvaie}\n")


def test_licence_shows_in_the_plan_and_verify_recomputes_it(tmp_path, catalog):
    text = RENT.replace("acquire: [rent]", "acquire: [buy]")
    text += "economics: {software_licence: nvidia-ai-enterprise}\n"
    out = solve(tmp_path, catalog, text)
    fl = out.plan.fleet
    gpus = sum(fl.servers.values()) * 8
    assert fl.cost_breakdown_usd_per_hour["licence"] == pytest.approx(gpus * 4500 / HOURS_PER_YEAR)
    assert out.verify.ok
    # verify recomputes the cost with the licence: without it in the instance the plan's cost no longer adds up
    free = dataclasses.replace(
        out.instance,
        systems={
            s: dataclasses.replace(sd, new_usd_per_hour=0.0, licence_usd_per_gpu_hour_owned=0.0)
            for s, sd in out.instance.systems.items()
        },
    )
    assert any(v.startswith("cost ") for v in verify_plan(out.plan, free, catalog).violations)


# ------------------------------------------------------------------------------------------------ power
def test_all_in_power_matches_inferencex_where_sourced(catalog):
    # InferenceX all-in power per GPU (chassis, CPUs, NICs, switches; before PUE): H100 1.73, B200 2.17, GB200 2.1
    for sid, kw_per_gpu in (("hgx-h100", 1.73), ("hgx-b200", 2.17), ("gb200-nvl72", 2.1)):
        s = catalog.systems[sid]
        assert power.provisioned_kw(s) / s.accelerator_count == pytest.approx(kw_per_gpu, rel=1e-9)


def test_reference_system_is_the_cheapest_per_gpu_not_per_server():
    # An 8-GPU server at $240k ($30k/GPU) against a 4-GPU one at $160k ($40k/GPU): a buyer compares per GPU.
    from types import SimpleNamespace as NS
    def system(sid, gpus, usd, acc="acc"):
        return NS(id=sid, accelerator=acc, accelerator_count=gpus, price=NS(base_usd=usd))
    cat = NS(systems={s.id: s for s in (system("four", 4, 160e3), system("eight", 8, 240e3),
                                         system("other", 1, 1e3, acc="other"))})
    assert power.reference_system(cat, "acc").id == "eight"
    assert power.reference_system(cat, "none") is None


def test_predict_frontier_and_solve_count_power_the_same_way(tmp_path, catalog):
    sys_ = catalog.systems["hgx-h100"]
    tdp = catalog.accelerators["h100-sxm"].tdp_w
    overhead_per_gpu = (0.5 * (10.2e3 - 8 * tdp) + 3.64e3) / 8  # host at half load + network, per GPU
    r = predict_one(catalog, model="llama-3.1-8b", gpu="h100-sxm", gpus=8, precision="fp8", isl=512, osl=256)
    assert r["dp"] * r["tp"] * r["pp"] == 8  # every GPU of the query serves (no idle GPU to account for)
    assert r["all_in_power_w"] == pytest.approx(r["avg_power_w"] + 8 * overhead_per_gpu)
    assert r["tokens_per_kwh"] == pytest.approx(r["output_tok_s"] * 3600 / (r["all_in_power_w"] / 1e3))
    assert power.reference_system(catalog, "h100-sxm").id == sys_.id
    front = compute_frontier(catalog, "llama-3.1-8b", ["h100-sxm"], ["fp8"], 512, 256)
    assert (front["all_in_w_per_gpu"] - front["avg_power_w_per_gpu"]).to_numpy() == pytest.approx(
        overhead_per_gpu
    )
    assert front["tokens_per_kwh"].to_numpy() == pytest.approx(
        (front["output_tok_s_per_gpu"] * 3600 / (front["all_in_w_per_gpu"] / 1e3)).to_numpy()
    )
    out = solve(tmp_path, catalog, RENT.replace("acquire: [rent]", "acquire: [buy]"))
    fl = out.plan.fleet
    servers = fl.servers["hgx-h100"]
    assert fl.it_power_kw == pytest.approx(servers * 13.84)  # provisioned all-in, not the 10.2 kW chassis
    owned_out = sum(d.output_tok_s for d in out.plan.deployments if d.mode == "own")
    assert fl.tokens_per_kwh == pytest.approx(owned_out * 3600 / fl.it_power_avg_kw)
    boards = sum(d.replicas * d.avg_power_w_per_replica for d in out.plan.deployments)
    idle_gpus = servers * 8 - sum(d.gpus for d in out.plan.deployments)
    idle_w = out.instance.systems["hgx-h100"].idle_w
    assert fl.it_power_avg_kw * 1e3 == pytest.approx(boards + idle_gpus * idle_w + servers * 8 * overhead_per_gpu)
    assert fl.output_tok_s_per_provisioned_mw == pytest.approx(owned_out / (fl.it_power_kw / 1e3))


# ------------------------------------------------------------------------------------------------ checkpoints
CKPT = """
name: ckpt
workloads:
  - id: chat
    archetype: chat
    demand: {requests_per_s: 5}
    models: [qwen3-32b]
    precisions: [int4]
    serving: [aggregated]
fleet:
  systems: [hgx-h100]
"""


def test_checkpoints_published_upcast_or_named_step(catalog):
    from planner.catalog.quality import checkpoint_of, needs_quantization

    assert checkpoint_of(catalog, "qwen3-32b", "fp8") == "published"
    assert checkpoint_of(catalog, "qwen3-32b", "nvfp4") == "published"
    assert checkpoint_of(catalog, "qwen3-32b", "mxfp4") == "MXFP4 post-training quantization (AMD Quark)"
    assert checkpoint_of(catalog, "deepseek-r1", "bf16") == "upcast from fp8"
    assert checkpoint_of(catalog, "gpt-oss-120b", "mxfp4") == "published"
    assert needs_quantization(checkpoint_of(catalog, "qwen3-32b", "int4"))
    assert not needs_quantization("upcast from fp8") and not needs_quantization("published")


def test_no_plan_quantizes_unless_the_problem_allows_it(tmp_path, catalog):
    with pytest.raises(InfeasibleError):
        solve(tmp_path, catalog, CKPT)
    allowed = CKPT.replace("serving: [aggregated]", "serving: [aggregated]\n    allow_quantization: true")
    out = solve(tmp_path, catalog, allowed)
    assert out.verify.ok
    assert {d.checkpoint for d in out.plan.deployments} == {
        "INT4 W4A16 weight-only quantization (GPTQ / AWQ, llm-compressor)"
    }
    # verify catches a quantized deployment where the workload does not allow it, and a misnamed checkpoint
    strict = dataclasses.replace(
        out.instance,
        workloads={k: dataclasses.replace(w, allow_quantization=False) for k, w in out.instance.workloads.items()},
    )
    assert any("does not allow quantization" in v for v in verify_plan(out.plan, strict, catalog).violations)
    bad = out.plan.model_copy(deep=True)
    bad.deployments[0].checkpoint = "published"
    found = verify_plan(bad, out.instance, catalog).violations
    assert any("checkpoint 'published' in the plan" in v for v in found)


def test_effort_levels_carry_scores_and_output_multipliers(catalog):
    m = catalog.models["gpt-oss-20b"]
    scores = {e.level: e.score("GPQA Diamond") for e in m.effort_levels}
    assert scores == {"low": 56.8, "medium": 66.0, "high": 71.5}
    assert [e.output_multiplier for e in m.effort_levels] == sorted(e.output_multiplier for e in m.effort_levels)
    q = catalog.models["qwen3-32b"]
    assert q.effort("non-thinking").score("GPQA Diamond") < q.effort("thinking").score("GPQA Diamond")
    assert q.effort("non-thinking").output_multiplier == 1
    plain = catalog.models["llama-3.1-8b"]
    assert plain.effort_levels == [] and plain.default_effort is None


def test_unset_tables_show_a_dash_not_a_blank():
    """`planner catalog show vllm` printed grouped_kv_decode_max_context (an empty per-vendor table) as a blank
    cell while every other unset field shows "-"."""
    from planner.report.catalog_view import _fmt

    assert _fmt({}) == _fmt([]) == _fmt(None) == "-"
    assert _fmt({"amd": 32768}) == "amd 32,768"
