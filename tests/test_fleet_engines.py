"""Allowed serving engines for the whole fleet (issue 8: "problem files may list allowed engines per workload or
fleet"): `fleet.engines` applies to every workload without its own `engines`; a workload's list wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.catalog import load_catalog
from planner.errors import InputError
from planner.optimize.problem import problem_from_text
from planner.optimize.resolve_problem import build_instance
from planner.optimize.resolve_workloads import current_engines

CAT = load_catalog()
QUICK = (Path(__file__).resolve().parents[1] / "problems" / "quickstart.yaml").read_text()


def with_fleet_engines(engines: str, text: str = QUICK) -> str:
    assert "\nfleet:\n" in text
    return text.replace("\nfleet:\n", f"\nfleet:\n  engines: {engines}\n", 1)


def engines_of(text: str) -> tuple[str, ...] | None:
    return build_instance(problem_from_text(text, "q.yaml"), CAT).workloads["chat"].engines


def test_fleet_engines_reach_every_workload_without_its_own():
    assert engines_of(QUICK) is None  # the generic engine
    assert engines_of(with_fleet_engines("[vllm, sglang]")) == ("vllm", "sglang")
    assert engines_of(with_fleet_engines("all")) == current_engines(CAT)


def test_a_workloads_own_engines_win():
    text = QUICK.replace("    headroom: 0.2", "    engines: [trtllm]\n    headroom: 0.2", 1)
    assert engines_of(with_fleet_engines("[vllm]", text)) == ("trtllm",)


@pytest.mark.parametrize("engines, message", [
    ("[vllmx]", r"fleet\.engines\[0\].*unknown engine 'vllmx'"),
    ("every", r"engines: give a list of engine ids or `all`"),
])
def test_bad_fleet_engines_are_input_errors(engines, message):
    with pytest.raises(InputError, match=message):
        build_instance(problem_from_text(with_fleet_engines(engines), "q.yaml"), CAT)
