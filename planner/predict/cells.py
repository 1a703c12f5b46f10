"""The one reading of a query cell shared by every `planner predict` module (load, hidden, validate, ...):
set or not, and shown as the user wrote it. Its own module so that those reading it import nothing else of each
other (hidden.py and load.py each need the other's names otherwise)."""

from __future__ import annotations

import math

import numpy as np

# disaggregated serving: the prefill instances' own accelerator and layout (default: the decode instances'); here
# because validate.py checks them and load.py reads them, and validate.py imports load.py
PREFILL_QUERY_COLUMNS = ("prefill_gpu", "prefill_tp", "prefill_pp")


def is_set(v) -> bool:
    """A query cell that holds a value (not None, NaN or blank)."""
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v).strip() != ""


def shown(v) -> str:
    """A cell as the user wrote it: a number in its shortest form (a CSV column of numbers is read as floats, so
    the 0 a user typed read back as 0.0), text quoted."""
    if isinstance(v, float | int | np.floating | np.integer) and not isinstance(v, bool):
        x = float(v)
        return str(int(x)) if x.is_integer() else repr(x)
    return repr(v)


def ms_text(seconds: float, digits: int = 3) -> str:
    """A latency in milliseconds to `digits` significant digits, without an exponent: a best TTFT of 30 s read
    "3e+04 ms" beside its "5000 ms target"."""
    x = seconds * 1e3
    return f"{x:,.0f} ms" if abs(x) >= 10 ** (digits - 1) else f"{x:.{digits}g} ms"


__all__ = ["PREFILL_QUERY_COLUMNS", "is_set", "ms_text", "shown"]
