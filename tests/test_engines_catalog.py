"""The `engines:` catalog kind: bundled engines load, and every broken engine entry gets one clear message."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from planner.catalog import load_catalog
from planner.cli import main
from planner.errors import CatalogError

TOY_ENGINE = """
engines:
  - id: toy-engine
    name: Toy engine
    version: "1.0"
    date: "2025-01"
    vendors: [nvidia]
    precisions: [bf16, fp8]
    attention_dp: false
    wide_ep: false
    pipeline_parallel: true
    chunked_prefill: true
    max_batch: 256
    max_num_batched_tokens: 8192
    cuda_graph_max_batch: 64
    overlap_scheduling: false
    speculative:
      - method: eagle3
        model_families: [llama-3]
        draft_tokens: 3
        acceptance_length: {default: 2.5}
        assumed: true
        assumed_reason: a toy's guess
        source: test
    sources: ["https://example.com/engine"]
"""

UNSUPPORTED = """\
    unsupported_paths:
      - precision: PREC
        accelerators: [a100-sxm-80gb]
        reason: a toy fallback
        source: toy.py toy_backend 1.0
"""


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def findings(tmp_path, text: str) -> list[str]:
    folder = tmp_path / "cat"
    folder.mkdir(exist_ok=True)
    (folder / "engines.yaml").write_text(textwrap.dedent(text))
    with pytest.raises(CatalogError) as info:
        load_catalog([folder])
    return info.value.findings


def test_bundled_engines(catalog):
    assert {"vllm", "sglang", "trtllm", "tgi"} <= set(catalog.engines)
    trt = catalog.engines["trtllm"]
    assert trt.vendors == ["nvidia"] and trt.version and trt.date
    assert trt.supports("h100-sxm", "nvidia") and not trt.supports("mi300x", "amd")
    assert catalog.engines["vllm"].supports("mi300x", "amd")
    mtp = catalog.engines["sglang"].speculative_for("mtp", "deepseek-v3", "deepseek-r1")
    assert mtp is not None and mtp.acceptance_length["default"] > 1.0
    assert catalog.engines["tgi"].speculative_for("eagle3", "llama-3", "llama-3.1-8b") is None


def test_measured_acceptance_only_for_the_measured_model(catalog):
    """A measured acceptance covers the model ids it was measured on; every other model of the family gets the
    entry marked assumed (with its reason), never the measured one by family."""
    for eng in ("vllm", "sglang", "trtllm"):
        e = catalog.engines[eng]
        v3, r1 = e.speculative_for("mtp", "deepseek-v3", "deepseek-v3"), e.speculative_for("mtp", "deepseek-v3",
                                                                                            "deepseek-r1")
        assert not v3.assumed and v3.measured_on == ["deepseek-v3"]
        assert r1.assumed and "DeepSeek-V3.2" in r1.assumed_reason
        small, big = (e.speculative_for("eagle3", "gpt-oss", m) for m in ("gpt-oss-20b", "gpt-oss-120b"))
        assert not small.assumed and big.assumed
        assert e.speculative_for("eagle3", "qwen3", "qwen3-8b").assumed
    kimi = catalog.engines["vllm"].speculative_for("eagle3", "kimi-k2", "kimi-k2.5")
    assert kimi.assumed and "speed-ups, not acceptance" in kimi.assumed_reason
    # every entry of the bundled catalog is one or the other
    for e in catalog.engines.values():
        for s in e.speculative:
            assert s.assumed == bool(s.assumed_reason) and (s.assumed or s.measured_on)


def test_toy_engine_loads(tmp_path):
    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "engines.yaml").write_text(textwrap.dedent(TOY_ENGINE))
    cat = load_catalog([folder])
    assert cat.engines["toy-engine"].stream_tokens_per_chunk == 1.0


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("max_batch: 256", "max_batch: 0", "toy-engine.max_batch: must be > 0, got 0"),
    ("vendors: [nvidia]", "vendors: [nvidai]", "toy-engine.vendors.0: must be one of"),
    ("precisions: [bf16, fp8]", "precisions: [bf16, fp9]", "toy-engine.precisions[1]: unknown precision 'fp9'"),
    ("{default: 2.5}", "{chat: 2.5}", "acceptance_length needs a 'default' entry"),
    ("{default: 2.5}", "{default: 5.5}", "exceeds draft_tokens + 1 = 4"),
    ("method: eagle3", "method: medusa", "toy-engine.speculative.0.method: must be one of"),
    # an acceptance is measured on the model ids it names, or marked assumed with a reason (issue 8 honesty)
    ("        assumed_reason: a toy's guess\n", "", "assumed: true needs assumed_reason"),
    ("        assumed: true\n", "", "assumed_reason is given but assumed is false"),
    ("        assumed: true\n        assumed_reason: a toy's guess\n", "", "needs measured_on"),
    ("        assumed: true\n        assumed_reason: a toy's guess\n", "        measured_on: [llama-3.1-8b]\n",
     "model_families ['llama-3'] are not in measured_on ['llama-3.1-8b']"),
    ("model_families: [llama-3]\n        draft_tokens: 3\n        acceptance_length: {default: 2.5}\n"
     "        assumed: true\n        assumed_reason: a toy's guess\n",
     "model_families: [llama-9]\n        measured_on: [llama-9]\n        draft_tokens: 3\n"
     "        acceptance_length: {default: 2.5}\n",
     "toy-engine.speculative[0].measured_on[0]: unknown model 'llama-9'"),
    ("    overlap_scheduling: false\n", "", "toy-engine.overlap_scheduling: required field is missing"),
    ("    overlap_scheduling: false\n", "    overlap_scheduling: false\n    architecture_kernels: [amd]\n",
     "architecture_kernels names vendors ['amd'] the engine does not run on"),
    # a fallback path names a precision the engine serves, on accelerators the catalog holds
    ("    overlap_scheduling: false\n", "    overlap_scheduling: false\n" + UNSUPPORTED.replace("PREC", "mxfp4"),
     "unsupported_paths name precisions ['mxfp4'] the engine does not serve anyway"),
    ("    overlap_scheduling: false\n", "    overlap_scheduling: false\n"
     + UNSUPPORTED.replace("PREC", "fp8").replace("a100-sxm-80gb", "a100-sxm-99gb"),
     "toy-engine.unsupported_paths[0].accelerators[0]: unknown accelerator 'a100-sxm-99gb'"),
    ("cuda_graph_max_batch: 64", "cuda_graph_max_batch: 64\n    cuda_graphs: 64", "toy-engine.cuda_graphs: "
                                                                                  "unknown field"),
])
def test_broken_engine_entries(tmp_path, old, new, expected):
    assert old in TOY_ENGINE
    found = findings(tmp_path, TOY_ENGINE.replace(old, new))
    assert any(expected in f and "engines.yaml" in f for f in found), found


PER_VENDOR = {"grouped_kv_decode_max_context": "{amd: 32768}", "prompt_attention_eta_scale": "{amd: 0.5}",
              "architecture_kernels": "[amd]", "shared_expert_in_routed_moe": "[amd]"}


def test_every_per_vendor_field_is_found():
    """The one vendor validator reads the per-vendor fields off the annotations: the known ones are among them
    (a field it missed would take any vendor)."""
    from planner.catalog.schema_engines import Engine, vendor_fields

    assert set(PER_VENDOR) <= set(vendor_fields(Engine)) and "vendors" not in vendor_fields(Engine)


@pytest.mark.parametrize("field", sorted(PER_VENDOR))
def test_a_per_vendor_field_names_only_the_engines_vendors(tmp_path, field):
    new = f"    overlap_scheduling: false\n    {field}: {PER_VENDOR[field]}\n"
    found = findings(tmp_path, TOY_ENGINE.replace("    overlap_scheduling: false\n", new))
    assert any(f"{field} names vendors ['amd'] the engine does not run on" in f for f in found), found


def test_cli_lists_engines(catalog):
    res = CliRunner().invoke(main, ["catalog", "list", "engines", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["id"]: r for r in json.loads(res.output)}
    assert rows["sglang"]["speculative_methods"] == ["eagle3", "mtp"]
    assert rows["tgi"]["speculative_methods"] is None
