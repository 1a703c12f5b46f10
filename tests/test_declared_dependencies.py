"""planner's modules import only what pyproject.toml declares for a plain install: scipy comes with SALib (the
`sweep` extra), so a module importing it at its top (cohorts.py's gammaln did) broke `planner predict` on an
install without the extra, while CI (which installs every extra) stayed green."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

UNDECLARED = ("scipy", "SALib", "ray", "weasyprint")  # extras', imported only where their command needs them

PROBE = f"""
import importlib, pkgutil, sys
import planner
for m in pkgutil.walk_packages(planner.__path__, "planner."):
    # `planner sweep` is the extra's own command; a __main__ runs the CLI
    if not m.name.startswith("planner.sweep") and not m.name.endswith("__main__"):
        importlib.import_module(m.name)
print(",".join(sorted(k for k in sys.modules if k.split(".")[0] in {UNDECLARED!r})))
"""


def test_no_module_imports_an_undeclared_package():
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=root, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ""
