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
        draft_cost_fraction: 0.05
        source: test
    sources: ["https://example.com/engine"]
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
    ("    overlap_scheduling: false\n", "", "toy-engine.overlap_scheduling: required field is missing"),
    ("cuda_graph_max_batch: 64", "cuda_graph_max_batch: 64\n    cuda_graphs: 64", "toy-engine.cuda_graphs: "
                                                                                  "unknown field"),
])
def test_broken_engine_entries(tmp_path, old, new, expected):
    assert old in TOY_ENGINE
    found = findings(tmp_path, TOY_ENGINE.replace(old, new))
    assert any(expected in f and "engines.yaml" in f for f in found), found


def test_cli_lists_engines(catalog):
    res = CliRunner().invoke(main, ["catalog", "list", "engines", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["id"]: r for r in json.loads(res.output)}
    assert rows["sglang"]["speculative_methods"] == ["eagle3", "mtp"]
    assert rows["tgi"]["speculative_methods"] is None
