"""Catalog stage: strict schemas, loading and validation of the YAML catalogs."""

from planner.catalog.catalog import Catalog
from planner.catalog.loader import bundled_dir, load_catalog

__all__ = ["Catalog", "bundled_dir", "load_catalog"]
