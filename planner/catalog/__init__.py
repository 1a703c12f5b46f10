"""Catalog stage: strict schemas, loading and validation of the YAML catalogs.

`Catalog`, `bundled_dir` and `load_catalog` are resolved on first use (PEP 562), so that importing
`planner.catalog.kinds` (the CLI's `--help`) does not load pydantic and every schema.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "Catalog": "planner.catalog.catalog",
    "bundled_dir": "planner.catalog.loader",
    "load_catalog": "planner.catalog.loader",
}
__all__ = ["Catalog", "bundled_dir", "load_catalog"]

if TYPE_CHECKING:
    from planner.catalog.catalog import Catalog
    from planner.catalog.loader import bundled_dir, load_catalog


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'planner.catalog' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
