import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest


@pytest.fixture(scope="module")
def cat():
    """The bundled catalog (one load per test module)."""
    from planner.catalog import load_catalog

    return load_catalog(())
