"""Fidelity against our measured H100/H200 tables and the published benchmark set; the efficiency YAML."""

from __future__ import annotations

import numpy as np
import pytest
from perf_toy import base_catalog, toy_catalog

from planner.perf import fidelity_report
from planner.perf.params import ACCEL_PARAMS, SERVING_DEFAULTS, build_efficiency, read_yaml

CAT = base_catalog()


@pytest.fixture(scope="module")
def report():
    return fidelity_report(CAT)


def test_measured_e2e_decode_and_prefill_within_15_percent(report):
    e2e = report.measured[report.measured["op"].isin(["e2e_dec", "e2e_pre"])]
    assert len(e2e) == 20  # 8B decode x5 + prefill x3 per GPU, 70B fp8 decode x4 on H200
    assert set(e2e["accelerator"]) == {"h100-sxm", "h200-sxm"}
    worst = e2e.loc[e2e["abs_error_pct"].idxmax()]
    assert worst["abs_error_pct"] < 15.0, worst.to_dict()
    held_out = e2e[~e2e["used_in_fit"]]  # prefill rows and the whole 70B fp8 set
    assert len(held_out) == 10 and held_out["abs_error_pct"].max() < 15.0


def test_measured_ops_close(report):
    ops = report.measured
    # limits cover a few outliers of the tables themselves (H200 bf16 70b.gate_up at m=128 is slower than at
    # m=256: a cuBLAS kernel choice); the medians carry the claim
    for op, limit in (("gemm", 45.0), ("attn_dec", 40.0), ("attn_pre", 20.0), ("moe_bmm", 20.0)):
        sub = ops[ops["op"] == op]
        assert len(sub) > 0
        assert sub["abs_error_pct"].median() < 12.0, op
        assert sub["abs_error_pct"].max() < limit, (op, sub.loc[sub["abs_error_pct"].idxmax()].to_dict())


def test_every_published_row_is_predicted_or_explained(report):
    pub = report.published
    assert len(pub) == 256
    assert (pub["expressible"] | (pub["why_not"].fillna("") != "")).all()
    assert pub["expressible"].sum() >= 250
    assert pub.loc[pub["expressible"], "predicted"].gt(0).all()


def test_published_throughput_targets(report):
    s = report.summary["published_throughput"]
    assert s["n"] >= 240
    assert s["median_abs_pct"] <= 20.0
    # 37% before host time was charged per attention-DP rank (issue 8: wide EP on NVL72); the published
    # max-throughput DEP rows at batch > 2,000 are now over-predicted by ~50% (README, "does not capture");
    # 56.9% once HBM is read in GiB (catalog/tables.py): 7% more memory gives those over-predicted Hopper
    # MoE expert-parallel rows (DeepSeek-R1 / Qwen3-235B DEP8, Maverick EP8) still larger batches; 51.6% ->
    # 36.9% once each row runs with the engine its `framework` names (issue 8 target: 45%)
    assert s["p90_abs_pct"] <= 45.0
    assert report.summary["published_throughput_generic"]["p90_abs_pct"] > s["p90_abs_pct"]
    assert report.summary["spearman_groups"] >= 40
    assert report.summary["spearman_median"] >= 0.8


def test_mapping_reads_units_and_parallelism(report):
    pub = report.published.set_index("id")
    assert pub.loc["TRTDG-DSR1-1", "compare"] == "output_tok_s_per_gpu"
    assert (pub.loc["TRTDG-DSR1-1", ["tp", "attn_dp", "ep"]] == [1, 4, 4]).all()
    assert pub.loc["TRT10-L70-4", "compare"] == "output_tok_s" and pub.loc["TRT10-L70-4", "tp"] == 2
    assert pub.loc["TRTDG-GOSS120-3", "precision"] == "mxfp4"  # 'FP8' gpt-oss on Hopper = MXFP4 weight-only
    assert pub.loc["TRT10-L70-1", "precision"] == "nvfp4"
    assert pub.loc["OCI-MI300X-405B-B8-e2e_latency_s", "mode"] == "static_batch"
    assert bool(pub.loc["AMDDOC-MI300X-Oct-1", "ambiguous"])


def test_efficiency_yaml_covers_the_catalog():
    data = read_yaml()
    assert data, "efficiency YAML missing: run `python -m planner.perf.fit`"
    for acc_id in CAT.accelerators:
        entry = data["accelerators"][acc_id]
        for name in ACCEL_PARAMS:
            p = entry[name]
            assert np.isfinite(p["value"]) and (p.get("fitted_from") or p.get("source")), (acc_id, name)
    for ref in ("h100-sxm", "h200-sxm"):
        assert all("catalogs/measured" in data["accelerators"][ref][k]["fitted_from"] for k in ACCEL_PARAMS)
    assert set(data["serving"]) <= set(SERVING_DEFAULTS)
    for v in data["serving"].values():
        assert "published_benchmarks.csv" in v["fitted_from"]
    eff = build_efficiency(CAT, data)
    fractions = eff.accel[[c for c in ACCEL_PARAMS if "eta" in c]]
    assert ((fractions > 0) & (fractions < 1)).all().all()


def test_new_accelerator_is_derived_from_its_spec():
    cat = toy_catalog()
    eff = build_efficiency(cat, read_yaml())
    toy = eff.accel.loc["toy-gpu"]
    h100 = eff.accel.loc["h100-sxm"]
    assert toy["kernel_overhead_s"] == pytest.approx((h100["kernel_overhead_s"] + eff.accel.loc["h200-sxm",
                                                      "kernel_overhead_s"]) / 2)
    assert toy["power_idle_w"] == 100  # the catalog's idle_w
    assert toy["power_compute_bound_w"] == 500  # TDP
    assert "default" in eff.provenance["toy-gpu"]["gemm_eta_max_bf16"]  # no MAMF in the toy's catalog entry


def test_out_of_sample_error_is_reported_beside_in_sample(report):
    cv = report.summary["serving_cross_validation"]
    assert cv["leave_one_source_out"]["n"] == cv["in_sample"]["n"] > 200
    # Held-out sources cannot be predicted better than the factors fitted on them, nor worse than no fit.
    assert cv["in_sample"]["median_abs_pct"] <= cv["leave_one_source_out"]["median_abs_pct"]
    assert cv["leave_one_source_out"]["median_abs_pct"] < cv["neutral"]["median_abs_pct"]
    in_sample = report.summary["published_throughput_generic"]["median_abs_pct"]  # the serving factors' engine
    assert abs(in_sample - cv["in_sample"]["median_abs_pct"]) < 0.1, "efficiency.yaml is stale: rerun the fit"


def test_published_rows_run_with_the_engine_their_framework_names(report):
    """`framework` says TensorRT-LLM or vLLM on every published row: each is predicted with that engine's
    fitted factors and defaults (as the engine fit reads them), and the engine changes the prediction."""
    from planner.perf.under_load_mapping import published_engine

    assert published_engine("TensorRT-LLM 0.19.0 (trtllm-bench throughput)") == "trtllm"
    assert published_engine("vLLM (2024 ROCm build)") == "vllm-v0"  # the V0 engine of 2024 (0.8 made V1 default)
    assert published_engine("vLLM (rocm7.0.0_vllm_0.10.2_20251006)") == "vllm"
    assert published_engine("some new server") == ""  # the generic engine
    pub = report.published.set_index("id")
    assert pub.loc["OCI-MI300X-405B-B8-tokens_per_s_total", "engine"] == "vllm-v0"
    assert pub.loc["TRTDG-DSR1-1", "engine"] == "trtllm"
    from planner.perf import published_fidelity

    generic = published_fidelity(CAT, engines=False).set_index("id")
    assert "engine" not in generic
    row = "OCI-MI300X-405B-B8-tokens_per_s_total"  # vLLM 2024 on MI300X: its fitted step time and efficiency
    assert abs(pub.loc[row, "predicted"] / generic.loc[row, "predicted"] - 1.0) > 0.1


def test_published_set_with_engines_is_reported_leave_one_source_out(report):
    """The engine fit re-chooses each engine's factors without the held-out published source: the published
    figure with each row's engine holds out of sample too (issue 8: P90 <= 45%)."""
    pub = report.summary["engine_cross_validation"]["published"]
    now = report.summary["published_throughput"]
    assert pub["in_sample"]["n"] == pub["leave_one_source_out"]["n"] == now["n"]
    assert abs(pub["in_sample"]["median_abs_pct"] - now["median_abs_pct"]) < 0.1, "efficiency.yaml is stale"
    assert pub["in_sample"]["median_abs_pct"] <= pub["leave_one_source_out"]["median_abs_pct"]
    assert pub["in_sample"]["p90_abs_pct"] <= 45.0  # the stated target
    # out of sample too: 38% since runs whose acceptance is assumed (engines.yaml) pull no engine factor
    # (engine_fit.assumed_inputs). While AMD's MI355X EAGLE-3 runs (REAG, acceptance copied from gpt-oss-20b)
    # were fitted, holding AMDDOC out fitted vLLM on AMD on them and AMDDOC's dense MI300X rows went 8.5% -> 34%
    # (published LOSO P90 46%)
    assert pub["leave_one_source_out"]["p90_abs_pct"] <= 45.0


def test_calibrate_joins_each_rows_held_out_prediction(report):
    """calibrate's per-row tables carry the fit's held-out prediction of each row (engine_fit_loso.csv), and its
    LOSO groups (the issue-8 targets) are computed from those rows."""
    assert report.summary["loso_rows"]["status"] == "current", report.summary["loso_rows"]["message"]
    under = report.under_load
    assert under["predicted_loso"].notna().sum() >= under["predicted"].notna().sum() > 500
    thr = report.published[report.published["expressible"] & (report.published["metric_kind"] == "throughput")]
    assert thr["loso_error_pct"].notna().all()
    groups = {(g["by"], g["group"]): g for g in report.summary["engine_cross_validation"]["groups"]}
    g = groups[("metric_group", "throughput")]
    t = under[(under["kind"] == "throughput") & under["predicted"].notna()]
    assert g["loso_median_abs_pct"] == round(float(t["loso_error_pct"].abs().median()), 1)
