"""Every benchmark script imports (their figures are printed, not tested, but a script that no longer imports
is a benchmark nobody can run: benchmarks/synthetic.py imported a name that had moved, unnoticed)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_script_imports(name, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    # solve_cpu_stages sets PLANNER_SOLVE_IN_PROCESS=1 as it loads: monkeypatch restores the variable as it
    # was (left set, every later test's planner would solve without its forked solver process)
    monkeypatch.setenv("PLANNER_SOLVE_IN_PROCESS", os.environ.get("PLANNER_SOLVE_IN_PROCESS", "0"))
    try:
        module = importlib.import_module(f"benchmarks.{name}")
    finally:
        sys.modules.pop(f"benchmarks.{name}", None)
    assert module.__doc__, f"benchmarks/{name}.py says what it measures"


def test_synthetic_instance_builds():
    from benchmarks.synthetic import synthetic_instance

    inst, cands = synthetic_instance(workloads=3, systems=2)
    assert len(inst.workloads) == 3 and len(cands) > 0


def test_every_timed_phase_names_a_function_that_exists(monkeypatch):
    """bench_candidates --phases wraps module functions by name: a function moved or deleted (capacity's
    disaggregated_visible was) would only fail when someone runs it."""
    import importlib

    monkeypatch.syspath_prepend(str(ROOT))
    try:
        bench = importlib.import_module("benchmarks.bench_candidates")
        for mod_name, fn_name, label, _ in bench.PHASES:
            assert callable(getattr(importlib.import_module(mod_name), fn_name, None)), (mod_name, fn_name, label)
    finally:
        sys.modules.pop("benchmarks.bench_candidates", None)
