"""Sweep stage: sensitivity sweeps over a base problem (spec -> scenarios -> solves -> ledger -> results).

Public API: `load_sweep`, `expand`, `run_sweep`, `write_results`, `run_tornado`.
"""

from planner.sweep.design import Scenario, expand
from planner.sweep.runner import RunSummary, run_sweep
from planner.sweep.spec import Sweep, load_sweep
from planner.sweep.tornado import TornadoBar, run_tornado

__all__ = ["RunSummary", "Scenario", "Sweep", "TornadoBar", "expand", "load_sweep", "run_sweep", "run_tornado"]
