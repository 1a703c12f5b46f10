"""The bundled catalog loads; every class of broken file gets one precise message and exit code 2."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.catalog import load_catalog
from planner.catalog.schemas import KINDS
from planner.cli import main
from planner.errors import CatalogError

REQUIRED = {
    "accelerators": [
        "a100-sxm-80gb", "h100-sxm", "h100-pcie", "h200-sxm", "l40s", "b200", "b300", "gb200", "gb300",
        "mi300x", "mi325x", "mi355x", "gaudi3",
    ],
    "models": [
        "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b", "llama-3.1-405b", "llama-4-scout",
        "llama-4-maverick", "mixtral-8x7b", "deepseek-v3", "deepseek-r1", "gpt-oss-20b", "gpt-oss-120b",
        "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b", "gemma-3-27b",
    ],
    "precisions": ["bf16", "fp8", "int8", "nvfp4", "mxfp4", "int4"],
    "workloads": ["chat", "coding-assistant", "reasoning", "summarization-rag", "voice-agent", "offline-batch"],
}

GOOD_ACCEL = """
accelerators:
  - id: toy-gpu
    name: Toy GPU
    vendor: nvidia
    architecture: Toy
    form_factor: sxm
    hbm_gb: 80
    hbm_bandwidth_tb_s: 3.35
    tdp_w: 700
    dense_tflops: {bf16: 989, fp8: 1979}
    native_precisions: [bf16, fp8]
    scale_up_bandwidth_gb_s: 450
    scale_up_domain: 8
    scale_up_tech: NVLink 4
    sources: ["https://example.com/datasheet"]
"""


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def write(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "cat"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))
    return folder


def errors_for(folder: Path) -> list[str]:
    with pytest.raises(CatalogError) as info:
        load_catalog([folder])
    return info.value.findings


def test_bundled_catalog_has_required_entries(catalog):
    for kind, ids in REQUIRED.items():
        missing = set(ids) - set(catalog.entries[kind])
        assert not missing, f"{kind} lacks {sorted(missing)}"


def test_every_entry_has_a_source_and_assumptions_have_reasons(catalog):
    for kind in KINDS:
        for entry in catalog.entries[kind].values():
            assert entry.sources, f"{kind} {entry.id} has no source"
            for field, reason in entry.assumed_fields().items():
                assert reason.strip(), f"{kind} {entry.id}.{field} assumed without a reason"


def test_units_are_converted_once_into_si(catalog):
    from planner.catalog.tables import accelerator_table

    table = accelerator_table(catalog)
    h100 = table.loc["h100-sxm"]
    acc = catalog.accelerators["h100-sxm"]
    assert h100["hbm_bytes"] == pytest.approx(acc.hbm_gb * 2**30)  # vendors' and drivers' "GB" are GiB
    assert h100["hbm_bandwidth_bytes_s"] == pytest.approx(acc.hbm_bandwidth_tb_s * 1e12)
    assert h100["flops_bf16"] == pytest.approx(acc.dense_tflops["bf16"] * 1e12)
    assert h100["scale_up_bandwidth_bytes_s"] == pytest.approx(acc.scale_up_bandwidth_gb_s * 1e9)
    assert h100["tdp_w"] == acc.tdp_w


def test_user_folder_overrides_and_extends(tmp_path, catalog):
    folder = write(tmp_path, "mine.yaml", GOOD_ACCEL.replace("toy-gpu", "h100-sxm").replace("3.35", "3.0"))
    (folder / "extra.yaml").write_text(textwrap.dedent(GOOD_ACCEL))
    cat = load_catalog([folder])
    assert cat.accelerators["h100-sxm"].hbm_bandwidth_tb_s == 3.0
    assert "toy-gpu" in cat.accelerators
    assert len(cat.models) == len(catalog.models)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD_ACCEL.replace("3.35", "-3"), "mine.yaml: toy-gpu.hbm_bandwidth_tb_s: must be > 0, got -3"),
        (GOOD_ACCEL.replace("3.35", "3350"), "toy-gpu.hbm_bandwidth_tb_s: must be <= 50, got 3350"),
        (GOOD_ACCEL.replace("tdp_w: 700", "tdp_w: 700\n    tdp_watts: 700"), "toy-gpu.tdp_watts: unknown field"),
        (GOOD_ACCEL.replace("    hbm_gb: 80\n", ""), "toy-gpu.hbm_gb: required field is missing"),
        (GOOD_ACCEL.replace("vendor: nvidia", "vendor: nvidai"), "toy-gpu.vendor: must be one of"),
        (
            GOOD_ACCEL.replace("[bf16, fp8]", "[bf16, fp9]"),
            "toy-gpu.native_precisions[1]: unknown precision 'fp9'",
        ),
        (GOOD_ACCEL.replace("hbm_gb: 80", "hbm_gb: lots"), "toy-gpu.hbm_gb: Input should be a valid number"),
        (GOOD_ACCEL + GOOD_ACCEL.split("accelerators:\n")[1], "toy-gpu: duplicate id in accelerators"),
        (GOOD_ACCEL.replace("accelerators:", "accelerator:"), "accelerator: unknown kind"),
        (GOOD_ACCEL.replace('sources: ["https://example.com/datasheet"]', "sources: []"), "toy-gpu.sources:"),
        ("accelerators: [\n  - id: x", "mine.yaml: not valid YAML at line"),
        ("- just\n- a list\n", "mine.yaml: top level must be a mapping of kinds"),
        ("accelerators: {id: x}", "accelerators: must be a list of entries"),
    ],
)
def test_broken_file_is_named_precisely(tmp_path, text, expected):
    findings = errors_for(write(tmp_path, "mine.yaml", text))
    assert any(expected in f for f in findings), findings
    assert all("mine.yaml" in f for f in findings), findings


def test_unknown_reference_names_the_missing_accelerator(tmp_path):
    system = """
    systems:
      - id: toy-server
        name: Toy server
        accelerator: no-such-gpu
        accelerator_count: 8
        scale_up_domain: 8
        nameplate_power_kw: 10
        rack_units: 8
        cooling: air
        scale_out_nics: 8x 400G
        price: {low_usd: 1, base_usd: 2, high_usd: 3, date: "2025", source: "https://example.com"}
        sources: ["https://example.com"]
    """
    findings = errors_for(write(tmp_path, "mine.yaml", system))
    assert any("toy-server.accelerator: unknown accelerator 'no-such-gpu'" in f for f in findings), findings


def test_duplicate_id_across_files_of_one_folder(tmp_path):
    folder = write(tmp_path, "a.yaml", GOOD_ACCEL)
    (folder / "b.yaml").write_text(textwrap.dedent(GOOD_ACCEL))
    assert any("duplicate id in accelerators (also in" in f for f in errors_for(folder))


def test_assumed_figure_needs_a_reason(tmp_path):
    text = GOOD_ACCEL + "    provenance: {tdp_w: {assumed: true}}\n"
    findings = errors_for(write(tmp_path, "m.yaml", text))
    assert any("toy-gpu.provenance.tdp_w" in f and "reason" in f for f in findings), findings


def test_provenance_must_name_a_real_field(tmp_path):
    text = GOOD_ACCEL + "    provenance: {tdp: {source: x}}\n"
    assert any("unknown field 'tdp'" in f for f in errors_for(write(tmp_path, "m.yaml", text)))


def test_yaml_is_loaded_safely(tmp_path):
    text = "accelerators: !!python/object/apply:os.system ['echo pwned']\n"
    assert any("not valid YAML" in f for f in errors_for(write(tmp_path, "m.yaml", text)))


# ------------------------------------------------------------------------------------------------- CLI
def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_validate_reports_error_with_exit_2_and_no_traceback(tmp_path):
    folder = write(tmp_path, "mine.yaml", GOOD_ACCEL.replace("3.35", "-3"))
    result = run("catalog", "validate", str(folder))
    assert result.exit_code == 2
    assert "toy-gpu.hbm_bandwidth_tb_s: must be > 0, got -3" in result.output
    assert "Traceback" not in result.output


def test_cli_validate_ok():
    result = run("catalog", "validate")
    assert result.exit_code == 0, result.output
    assert "catalog OK" in result.output


@pytest.mark.parametrize("kind", list(KINDS))
def test_cli_list_every_kind(kind, catalog):
    result = run("catalog", "list", kind, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["id"] for r in rows} == set(catalog.entries[kind])
    assert run("catalog", "list", kind).exit_code == 0


def test_cli_show_has_units_and_sources():
    result = run("catalog", "show", "h100-sxm")
    assert result.exit_code == 0, result.output
    assert "TB/s" in result.output and "sources" in result.output


def test_cli_show_unknown_id_suggests():
    result = run("catalog", "show", "h100-sx")
    assert result.exit_code == 2
    assert "did you mean" in result.output and "h100-sxm" in result.output


def test_cli_schema_is_json_schema():
    result = run("catalog", "schema", "accelerators")
    schema = json.loads(result.output)
    assert schema["properties"]["hbm_bandwidth_tb_s"]["unit"] == "TB/s"
    assert "additionalProperties" in schema and schema["additionalProperties"] is False


MONEY = """
rental_prices:
  - id: toy-rent
    name: Toy rental
    system: hgx-h100
    term: on_demand
    provider_class: neocloud
    usd_per_gpu_hour: {low_usd: 2, base_usd: 3, high_usd: 4, date: "2025", source: "https://example.com"}
    sources: ["https://example.com"]
economics:
  - id: toy-econ
    name: Toy economics
    amortization_years: 4
    cost_of_capital: 0.08
    maintenance_fraction_per_year: 0.05
    electricity_usd_per_kwh: {low_usd: 0.07, base_usd: 0.08, high_usd: 0.09, date: "2024", source: "https://x.org"}
    sources: ["https://example.com"]
sites:
  - id: toy-site
    name: Toy site
    pue: 1.3
    facility_usd_per_kw_month: {low_usd: 100, base_usd: 150, high_usd: 200, date: "2026", source: "https://x.org"}
    sources: ["https://example.com"]
"""


def test_a_good_money_file_loads(tmp_path):
    cat = load_catalog([write(tmp_path, "m.yaml", MONEY)])
    assert cat.sites["toy-site"].pue == 1.3 and cat.economics["toy-econ"].cost_of_capital == 0.08


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("usd_per_gpu_hour: {low_usd: 2,", "usd_per_gpu_hour: {low_usd: -2,", "low_usd: must be >= 0"),
    ("low_usd: 2, base_usd: 3,", "low_usd: 3.5, base_usd: 3,", "needs low <= base <= high"),
    ("base_usd: 3, high_usd: 4,", "base_usd: 3, high_usd: 2000,", "outside the plausible range 0..1,000"),
    ("cost_of_capital: 0.08", "cost_of_capital: -0.08", "cost_of_capital: must be >= 0"),
    ("pue: 1.3", "pue: 0.9", "pue: must be >= 1"),
    ('date: "2026", source: "https://x.org"}', 'date: "2026", source: "https://x.org", assumed: true}',
     "assumed: true needs a reason"),
])
def test_money_figures_a_buyer_would_reject_are_refused(tmp_path, old, new, expected):
    assert MONEY.count(old) == 1
    findings = errors_for(write(tmp_path, "m.yaml", MONEY.replace(old, new)))
    assert any(expected in f for f in findings), findings
