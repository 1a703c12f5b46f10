import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The CLI's tables are read at the captured width (planner.cli.common._width: 160 when not a terminal);
# pytest-xdist's workers inherit COLUMNS=80, and rich would fold the labels the tests read.
os.environ["COLUMNS"] = "160"

import pytest


@pytest.fixture(scope="module")
def cat():
    """The bundled catalog (one load per test module)."""
    from planner.catalog import load_catalog

    return load_catalog(())
