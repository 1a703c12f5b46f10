"""The one reading of a query cell shared by every `planner predict` module (load, hidden, validate, ...):
set or not. Its own module so that those reading it import nothing else of each other (hidden.py and load.py
each need the other's names otherwise)."""

from __future__ import annotations

import math


def is_set(v) -> bool:
    """A query cell that holds a value (not None, NaN or blank)."""
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v).strip() != ""


__all__ = ["is_set"]
