"""Sweep files, parameter paths, designs and scenario application: no solving, fast."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.errors import InputError
from planner.sweep import adapter, expand, load_sweep
from planner.sweep.apply import scenario_catalog, scenario_inputs, scenario_problem
from planner.sweep.design import count, unit_samples
from planner.sweep.runner import group_key

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "problems" / "quickstart.yaml"


def write(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(f"name: t\nproblem: {QUICKSTART}\n" + textwrap.dedent(body))
    return p


PARAMS = """
parameters:
  - path: economics.electricity_usd_per_kwh
    range: {low: 0.05, high: 0.15, steps: 3}
  - path: catalog.systems.hgx-b200.price_usd
    catalog: low_base_high
  - path: workloads.chat.demand
    values: [0.5, 1, 2, 4]
"""


@pytest.mark.parametrize("design, expected", [
    ("{kind: grid}", 3 * 3 * 4),
    # each parameter through its values other than its base (0.08 $/kWh, not on the grid; 460000; 1)
    ("{kind: one_at_a_time}", 1 + 3 + 2 + 3),
    ("{kind: random, samples: 17, seed: 3}", 17),
    ("{kind: latin_hypercube, samples: 11, seed: 3}", 11),
    ("{kind: sobol, samples: 8, seed: 3}", 8 * (3 + 2)),
    ("{kind: morris, samples: 5, seed: 3}", 5 * (3 + 1)),
])
def test_design_counts_and_determinism(tmp_path, cat, design, expected):
    sw = load_sweep(write(tmp_path, PARAMS + f"design: {design}\n"), cat)
    a, b = expand(sw), expand(sw)
    assert len(a) == expected == count(sw)
    assert a == b  # same file, same seed: the same scenarios, in the same order
    assert [s.index for s in a] == list(range(expected))
    assert len({tuple(sorted(s.values.items())) for s in a}) > 1


def test_other_seed_other_scenarios(tmp_path, cat):
    one = expand(load_sweep(write(tmp_path, PARAMS + "design: {kind: random, samples: 5, seed: 1}\n"), cat))
    two = expand(load_sweep(write(tmp_path, PARAMS + "design: {kind: random, samples: 5, seed: 2}\n"), cat))
    assert [s.values for s in one] != [s.values for s in two]


def test_latin_hypercube_hits_every_stratum_once(tmp_path, cat):
    sw = load_sweep(write(tmp_path, PARAMS + "design: {kind: latin_hypercube, samples: 20, seed: 9}\n"), cat)
    u = unit_samples(sw)
    for col in u.T:
        assert sorted(np.floor(col * 20).astype(int)) == list(range(20))


def test_grid_values_and_one_at_a_time_base(tmp_path, cat):
    sw = load_sweep(write(tmp_path, PARAMS + "design: {kind: one_at_a_time}\n"), cat)
    elec, b200, demand = sw.parameters
    assert elec.values == (0.05, 0.1, 0.15)
    assert b200.values == (420000, 460000, 520000)  # the catalog's low/base/high quote for hgx-b200
    assert elec.base == 0.08  # the catalog's default economics (the problem does not set it)
    assert demand.base == 1 and b200.base == 460000
    sc = expand(sw)
    assert sc[0].varied == "" and sc[0].values == {p.path: p.base for p in sw.parameters}
    for s in sc[1:]:  # exactly one parameter off its base
        off = [p.path for p in sw.parameters if s.values[p.path] != p.base]
        assert off == [s.varied]


def test_scenario_application(tmp_path, cat):
    sw = load_sweep(write(tmp_path, PARAMS + "design: {kind: grid}\n"), cat)
    values = {"economics.electricity_usd_per_kwh": 0.15, "catalog.systems.hgx-b200.price_usd": 520000,
              "workloads.chat.demand": 4}
    problem = scenario_problem(sw, values)
    assert problem.workloads[0].demand.requests_per_s == 80  # 20 requests/s x 4
    assert problem.economics.electricity_usd_per_kwh == 0.15
    copy = scenario_catalog(sw, values, cat)
    price = copy.systems["hgx-b200"].price
    assert (price.low_usd, price.base_usd, price.high_usd) == (520000, 520000, 520000)
    assert cat.systems["hgx-b200"].price.base_usd == 460000  # the base catalog is untouched
    assert sw.problem_data["workloads"][0]["demand"] == {"requests_per_s": 20}
    _, inst, _ = scenario_inputs(sw, values, cat)
    assert inst.systems["hgx-b200"].price_usd == 520000
    assert math.isclose(inst.electricity_usd_per_kwh, 0.15)


def test_money_parameters_share_candidates_and_targets_do_not(tmp_path, cat):
    sw = load_sweep(write(tmp_path, PARAMS + """
  - path: workloads.chat.tpot_ms
    values: [30, 50]
design: {kind: grid}
"""), cat)
    base = {p.path: p.base for p in sw.parameters}
    money = {**base, "economics.electricity_usd_per_kwh": 0.15, "catalog.systems.hgx-b200.price_usd": 420000,
             "workloads.chat.demand": 2}
    target = {**base, "workloads.chat.tpot_ms": 30}
    assert group_key(sw, base) == group_key(sw, money) != group_key(sw, target)

    def key(values):
        _, inst, scat = scenario_inputs(sw, values, cat)
        return adapter.evaluation_key(inst, scat)

    assert key(base) == key(money) != key(target)


def test_catalog_technical_figure_changes_the_key(tmp_path, cat):
    sw = load_sweep(write(tmp_path, """
parameters:
  - path: catalog.accelerators.h100-sxm.tdp_w
    values: [600, 700]
"""), cat)
    assert not sw.parameters[0].money
    keys = set()
    for v in (600, 700):
        _, inst, scat = scenario_inputs(sw, {"catalog.accelerators.h100-sxm.tdp_w": v}, cat)
        keys.add(adapter.evaluation_key(inst, scat))
    assert len(keys) == 2


BAD = [
    ("parameters:\n  - path: economics.electricity_usd\n    values: [1]\n",
     "parameters[0].path: unknown parameter path 'economics.electricity_usd': economics has no field"),
    ("parameters:\n  - path: workloads.chta.tpot_ms\n    values: [1]\n",
     "parameters[0].path: workloads.chta.tpot_ms: workloads has no item with id 'chta' (in the problem: chat)"),
    ("parameters:\n  - path: site.power_limit_mw\n    values: []\n", "parameters[0]: values: empty list"),
    ("parameters:\n  - path: site.power_limit_mw\n    range: {low: 2, high: 1}\n",
     "parameters[0].range: empty range: high 1 < low 2"),
    ("parameters:\n  - path: site.power_limit_mw\n    range: {low: 1, high: 2, steps: 0}\n",
     "parameters[0].range.steps: must be >= 1"),
    ("parameters:\n  - path: catalog.systems.hgx-b900.price_usd\n    values: [1]\n",
     "parameters[0].path: catalog.systems.hgx-b900.price_usd: catalog.systems has no entry 'hgx-b900'"),
    ("parameters:\n  - path: catalog.systems.hgx-b200.colour\n    values: [1]\n",
     "unknown parameter path 'catalog.systems.hgx-b200.colour': catalog systems entries have no field 'colour'"),
    ("parameters:\n  - path: economics.electricity_usd_per_kwh\n    values: [-1]\n",
     "parameters[0] (economics.electricity_usd_per_kwh = -1) gives an invalid problem: "
     "economics.electricity_usd_per_kwh: must be >= 0, got -1"),  # the file named once, not twice
    # a catalog figure: the file named once and pydantic's reason (the message was its help link)
    ("parameters:\n  - path: catalog.accelerators.b200.tdp_w\n    values: [-5]\n",
     "parameters[0] (catalog.accelerators.b200.tdp_w = -5) gives an invalid problem: "
     "catalog.accelerators.b200.tdp_w: must be > 0, got -5"),
    ("parameters:\n  - path: workloads.chat.tpot_ms\n    catalog: low_base_high\n",
     "parameters[0].catalog: workloads.chat.tpot_ms has no catalog low/base/high"),
    ("parameters:\n  - path: site.power_limit_mw\n    values: [1]\n    range: {low: 1, high: 2}\n",
     "give exactly one of values, range, catalog (got values, range)"),
    ("parameters:\n  - path: site.power_limit_mw\n    values: [1]\ndesign: {kind: sobol, samples: 6}\n",
     "design: sobol samples must be a power of two"),
    ("parameters:\n  - path: workloads\n    values: [1]\n", "workloads is a list: address an item by its id"),
    ("parameters:\n  - path: site.power_limit_mw\n    values: [1]\nsolver: {backend: gurobi}\n",
     "solver.backend: unknown backend 'gurobi'"),
    ("parameters:\n  - path: site.power_limit_mw\n    values: [1]\n    colour: red\n",
     "parameters[0].colour: unknown field"),
    ("parameters:\n  - path: site.power_limit_mw\n    values: [1]\nsolver: {fast_solve: off}\n",
     "solver.fast_solve: off, no or false reads as a YAML boolean (false), not a choice: use small, all or none"),
    ("parameters:\n  - path: site.power_limit_mw\n    values: [1]\nsolver: {fast_solve: yes}\n",
     "solver.fast_solve: on, yes or true reads as a YAML boolean (true), not a choice: use small, all or none"),
    ("parameters:\n  - path: site.power_limit_mw\n    values: [1]\nsolver: {fast_solve: fast}\n",
     "solver.fast_solve: must be one of 'small', 'all' or 'none', got 'fast'"),
]


@pytest.mark.parametrize("body, expect", BAD)
def test_bad_sweep_files_name_file_and_field(tmp_path, cat, body, expect):
    path = write(tmp_path, body)
    with pytest.raises(InputError) as err:
        load_sweep(path, cat)
    msg = " ".join(str(err.value).split())
    assert msg.startswith(f"{path}: ") or msg.startswith(str(path)), msg
    assert expect in msg, msg


def test_bad_sweep_file_on_the_command_line_exits_2(tmp_path):
    path = write(tmp_path, BAD[1][0])
    res = CliRunner().invoke(main, ["sweep", str(path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert "workloads has no item with id 'chta'" in res.output
    missing = CliRunner().invoke(main, ["sweep", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "nope.yaml: cannot read" in missing.output
    good = write(tmp_path, "parameters:\n  - path: site.power_limit_mw\n    values: [1]\n", "g.yaml")
    flag = CliRunner().invoke(main, ["sweep", str(good), "--out", str(tmp_path / "o"), "--ray-address", "x:1"])
    assert flag.exit_code == 2 and "--ray-address needs --executor ray" in flag.output
    zero = CliRunner().invoke(main, ["sweep", str(good), "--out", str(tmp_path / "o"), "--workers", "0"])
    assert zero.exit_code == 2 and "Traceback" not in zero.output
    off = write(tmp_path, "parameters:\n  - path: site.power_limit_mw\n    values: [1]\n"
                "solver: {fast_solve: off}\n", "off.yaml")
    res = CliRunner().invoke(main, ["sweep", str(off), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "Traceback" not in res.output and "use small, all or none" in res.output


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "sweeps").glob("*.yaml")))
def test_example_sweeps_are_valid(cat, name):
    sw = load_sweep(ROOT / "sweeps" / name, cat)
    assert count(sw) == len(expand(sw)) >= 2


def test_run_tornado_api(cat):
    """The one-at-a-time API `planner propose` uses: bars sorted by swing, base metric, no files."""
    from planner.sweep import run_tornado

    base, bars = run_tornado(QUICKSTART, cat, [
        {"path": "economics.electricity_usd_per_kwh", "values": [0.04, 0.3]},
        {"path": "catalog.systems.hgx-b200.price_usd", "catalog": "low_base_high"},
        {"path": "site.power_limit_mw", "values": [0.001]},
    ])
    assert base is not None and base > 0
    by = {b.path: b for b in bars}
    elec = by["economics.electricity_usd_per_kwh"]
    assert (elec.low_value, elec.high_value) == (0.04, 0.3)
    assert elec.metric_at_low < base < elec.metric_at_high  # energy is part of the hourly cost
    power = by["site.power_limit_mw"]
    assert power.low_value == 0.001 and power.metric_at_low is None and "infeasible" in power.errors[0]
    assert [b.swing for b in bars] == sorted((b.swing for b in bars), reverse=True)
    with pytest.raises(InputError, match="unknown parameter path"):
        run_tornado(QUICKSTART, cat, [{"path": "economics.nope", "values": [1]}])


def test_without_fast_solve_drops_only_that_field_and_copies():
    from planner.sweep.spec import without_fast_solve

    spec = {"name": "s", "solver": {"gap": 0.01, "fast_solve": "all"}, "parameters": []}
    assert without_fast_solve(spec) == {"name": "s", "solver": {"gap": 0.01}, "parameters": []}
    assert spec["solver"] == {"gap": 0.01, "fast_solve": "all"}  # the caller's dict is left as it was
    assert without_fast_solve({"name": "s", "solver": None}) == {"name": "s", "solver": None}


@pytest.mark.parametrize("case", ["low", "base", "high"])
def test_problem_price_path_takes_the_problems_price_case(tmp_path, cat, case):
    """A problem path that falls back to a dated catalog price starts from the problem's own price case
    (economics.price_case), not always the base figure; the catalog's three levels come along."""
    problem = tmp_path / "p.yaml"
    problem.write_text(QUICKSTART.read_text().replace("  id: default ", f"  price_case: {case}\n  id: default "))
    body = "parameters:\n  - path: economics.system_prices_usd.hgx-b200\n    range: {low: 1, high: 2, steps: 2}\n"
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"name: t\nproblem: {problem}\n{body}")
    (param,) = load_sweep(sweep, cat).parameters
    price = cat.systems["hgx-b200"].price
    assert param.base == getattr(price, f"{case}_usd")
    assert len({price.low_usd, price.base_usd, price.high_usd}) == 3  # the three cases differ: the test can fail


def test_a_ttft_target_sweeps_numbers_and_a_word_base_is_one_clear_error(tmp_path, cat):
    """ttft_ms takes a number or the word none: a sweep over it is a number sweep (a word among the values is
    refused), and a base problem without a number there needs the parameter's own base (sorting the word among
    the numbers raised TypeError in run_tornado)."""
    body = "parameters:\n  - path: workloads.chat.ttft_ms\n    values: [200, 500, 1000]\n"
    sw = load_sweep(write(tmp_path, body), cat)
    assert sw.parameters[0].target.numeric
    with pytest.raises(InputError, match="is a number"):
        load_sweep(write(tmp_path, body.replace("1000]", "none]")), cat)
    no_ttft = tmp_path / "no-ttft.yaml"
    text = QUICKSTART.read_text()
    no_ttft.write_text(text.replace("    archetype: chat ", "    ttft_ms: none\n    archetype: chat "))
    (tmp_path / "s.yaml").write_text(f"name: t\nproblem: {no_ttft}\n" + body)
    with pytest.raises(InputError, match="not a number: give the parameter a numeric `base:`"):
        load_sweep(tmp_path / "s.yaml", cat)
    (tmp_path / "s.yaml").write_text(f"name: t\nproblem: {no_ttft}\n" + body + "    base: 500\n")
    assert load_sweep(tmp_path / "s.yaml", cat).parameters[0].base == 500
    (tmp_path / "s.yaml").write_text(f"name: t\nproblem: {no_ttft}\n" + body + "    base: none\n")
    with pytest.raises(InputError, match=r"parameters\[0\]\.base: .* is a number, got 'none'"):
        load_sweep(tmp_path / "s.yaml", cat)  # the user's own base named, not the base problem's


def test_range_points_linear_and_log_by_hand():
    from planner.sweep.spec import Range, _steps

    assert _steps(Range(low=1, high=100, steps=3, scale="log")) == pytest.approx([1, 10, 100], rel=1e-12)
    assert _steps(Range(low=0.04, high=0.2, steps=5)) == pytest.approx([0.04, 0.08, 0.12, 0.16, 0.2], rel=1e-12)
    assert _steps(Range(low=7, high=7, steps=1)) == [7]
