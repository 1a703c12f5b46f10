"""Random problem files (issue 13): whatever a careless or hostile user writes, `planner solve` answers with
a plan (0), a message naming the file and field (2) or an infeasibility explanation (3), never a traceback;
and physically absurd values are refused with the plausible range in the message."""

from __future__ import annotations

import copy
import os

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.cli import main

BASE = {
    "name": "fuzz",
    "workloads": [{"id": "chat", "archetype": "chat", "demand": {"requests_per_s": 5},
                   "models": ["qwen3-32b"], "precisions": ["fp8"], "serving": ["aggregated"]}],
    "fleet": {"systems": ["hgx-h100"], "acquire": ["buy"]},
    "site": {"id": "new-ai-facility", "power_limit_mw": 2.0},
    "economics": {"amortization_years": 4},
    "budget": {"usd_per_hour": 1000},
    "objective": {"kind": "min_cost"},
    "solver": {"time_limit_s": 10},
}
# paths into BASE that a mutation may replace (scalars and containers alike)
PATHS = [
    ("name",), ("workloads",), ("workloads", 0), ("workloads", 0, "id"), ("workloads", 0, "demand"),
    ("workloads", 0, "demand", "requests_per_s"), ("workloads", 0, "models"), ("workloads", 0, "precisions"),
    ("workloads", 0, "serving"), ("workloads", 0, "ttft_ms"), ("workloads", 0, "tpot_ms"),
    ("workloads", 0, "isl_tokens"), ("workloads", 0, "headroom"), ("workloads", 0, "min_replicas"),
    ("fleet", "systems"), ("fleet", "acquire"), ("fleet", "supply"), ("site", "power_limit_mw"), ("site", "pue"),
    ("site", "racks"), ("economics", "amortization_years"), ("economics", "cost_of_capital"),
    ("economics", "system_prices_usd"), ("economics", "electricity_usd_per_kwh"), ("budget", "usd_per_hour"),
    ("budget", "capex_usd"), ("objective",), ("objective", "kind"), ("objective", "demand_cap_multiple"),
    ("solver", "time_limit_s"), ("solver", "gap"), ("unknown_field",),
]
HOSTILE = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 1e-300, 5e-324, 1e300, 1.7e308, 2**63, 10**25, 0.5, 3, 1e9]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "[/bold]", "[link=file:///etc/passwd]x[/link]", "\x1b[31mred", "=HYPERLINK(1)",
                     "chat", "hgx-h100", "fp8", "max_throughput", "rent", "1e9", "-5", ".nan"]),
    st.text(max_size=12),
    st.lists(st.sampled_from(["chat", "fp8", "hgx-h100", "buy", "rent", 1, None, "aggregated"]), max_size=3),
    st.dictionaries(st.sampled_from(["requests_per_s", "hgx-h100", "x", "id", "kind"]),
                    st.sampled_from([0, 1, -1, 1e12, "x", None]), max_size=2),
)


def _set(doc, path, value) -> None:
    node = doc
    for key in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(key, {})
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return
    if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)):
        node[path[-1]] = value


# FUZZ_EXAMPLES=500 for a longer hunt; the suite runs 25
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(PATHS), HOSTILE), min_size=1, max_size=3))
def test_random_problem_files_never_raise_a_traceback(tmp_path, mutations):
    doc = copy.deepcopy(BASE)
    for path, value in mutations:
        _set(doc, path, value)
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:  # pragma: no cover - PyYAML cannot write it; nothing to test
        return
    p = tmp_path / "p.yaml"
    p.write_text(text, encoding="utf-8")
    res = CliRunner().invoke(main, ["solve", str(p), "--no-runner-up"])
    assert res.exception is None or isinstance(res.exception, SystemExit), (text, repr(res.exception))
    assert res.exit_code in (0, 2, 3), (text, res.output)
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("field", "value", "expect"),
    [
        (("site", "power_limit_mw"), 340_000, "site.power_limit_mw: 340,000 MW is outside the plausible range"),
        (("economics", "amortization_years"), 1e-300, "outside the plausible range 0.5..15 years"),
        (("economics", "system_prices_usd"), {"hgx-h100": 1e12}, "plausible range 0..1e+08 USD"),
        (("budget", "capex_usd"), 1e20, "budget.capex_usd: 1e+20 USD is outside the plausible range"),
    ],
)
def test_absurd_problem_values_name_the_plausible_range(tmp_path, field, value, expect):
    doc = copy.deepcopy(BASE)
    _set(doc, field, value)
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    res = CliRunner().invoke(main, ["solve", str(p)])
    assert res.exit_code == 2, res.output
    assert expect in " ".join(res.output.split())


@pytest.mark.parametrize(
    ("kind", "patch", "expect"),
    [
        ("accelerators", {"tdp_w": 0.7}, "tdp_w: 0.7 W is outside the plausible range 50..5,000 W"),
        ("models", {"layers": 10**12}, "layers: 1e+12 is outside the plausible range 1..1,000"),
        ("precisions", {"weight_bits": 6, "bytes_per_weight": 4},
         "bytes_per_weight 4 does not match weight_bits 6: expected 0.75..1.125"),
        ("systems", {"nameplate_power_kw": 340000}, "outside the plausible range 0.1..300 kW"),
        ("economics", {"amortization_years": 1e-300}, "outside the plausible range 0.5..15 years"),
    ],
)
def test_absurd_catalog_values_name_the_plausible_range(tmp_path, kind, patch, expect):
    from planner.catalog import load_catalog

    bundled = load_catalog()
    entry = next(iter(bundled.entries[kind].values()))
    data = {**entry.model_dump(mode="json", exclude_none=True), **patch}
    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "mine.yaml").write_text(yaml.safe_dump({kind: [data]}), encoding="utf-8")
    res = CliRunner().invoke(main, ["catalog", "validate", str(folder)])
    assert res.exit_code == 2, res.output
    assert expect in " ".join(res.output.split())


def test_fleet_size_guards_before_and_after_the_solve(tmp_path):
    huge = copy.deepcopy(BASE)
    huge["workloads"][0]["demand"] = {"requests_per_s": 1e6}  # plausible, but past PLANNER_MAX_GPUS
    p = tmp_path / "huge.yaml"
    p.write_text(yaml.safe_dump(huge))
    res = CliRunner().invoke(main, ["solve", str(p)], env={"PLANNER_MAX_GPUS": "1000"})  # refused before any MIP
    assert res.exit_code == 2 and "the demand needs at least" in res.output and "PLANNER_MAX_GPUS" in res.output
    rich = copy.deepcopy(BASE)
    del rich["workloads"][0]["demand"]
    rich["objective"] = {"kind": "max_throughput"}
    rich["budget"] = {"usd_per_hour": 5000}
    rich["site"] = {"id": "new-ai-facility"}
    p.write_text(yaml.safe_dump(rich))
    res = CliRunner().invoke(main, ["solve", str(p), "--no-runner-up"], env={"PLANNER_MAX_GPUS": "500"})
    assert res.exit_code == 2 and "the optimal fleet has" in " ".join(res.output.split()), res.output


def test_the_base_problem_solves(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(BASE))
    res = CliRunner().invoke(main, ["solve", str(p), "--no-runner-up"])
    assert res.exit_code == 0, res.output  # so that mutations start from a plan, not from an early refusal


def test_demand_past_any_service_is_refused_not_overflowed(tmp_path):
    """The fuzz found 1.8e308 requests/s: the fleet size overflowed to a traceback (math.ceil of infinity)."""
    doc = copy.deepcopy(BASE)
    doc["workloads"][0]["demand"] = {"requests_per_s": 1.7976931348623135e308}
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    res = CliRunner().invoke(main, ["solve", str(p), "--no-runner-up"])
    assert res.exit_code == 2, res.output
    assert "demand.requests_per_s" in res.output and "plausible range" in " ".join(res.output.split())
