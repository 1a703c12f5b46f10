"""Every benchmark script imports (their figures are printed, not tested, but a script that no longer imports
is a benchmark nobody can run: benchmarks/synthetic.py imported a name that had moved, unnoticed)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_script_imports(name, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module(f"benchmarks.{name}")
    assert module.__doc__, f"benchmarks/{name}.py says what it measures"
    sys.modules.pop(f"benchmarks.{name}", None)


def test_synthetic_instance_builds():
    from benchmarks.synthetic import synthetic_instance

    inst, cands = synthetic_instance(workloads=3, systems=2)
    assert len(inst.workloads) == 3 and len(cands) > 0
