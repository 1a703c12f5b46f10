"""An answer with one visible output token (`osl` 1): it has no time between output tokens, so no TPOT or ITL.

The step model still prices a decode step there (0.296 s TPOT was shown for `--osl 1`), a figure no request
ever sees. Those fields are answered empty ('-' in the table, empty in CSV, null in JSON), as a saturated steady
state's are, and a TPOT target is trivially met: it is set aside (and the notes say so) rather than held to the
step's figure, which failed or passed queries on a number no request has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.predict.cells import is_set

# the fields that are times between output tokens (or their inverse, tokens/s a user sees after the first)
INTER_TOKEN = ("tpot_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "itl_s", "itl_p50_s", "itl_p99_s",
               "output_tok_s_per_user", "tpot_at_slo_s")
NOTE = "one output token: no TPOT or ITL (no time between output tokens)"
TARGET_NOTE = "the TPOT target is met trivially (one output token) and was not held to a figure"
SET_ASIDE = "_tpot_target_set_aside"


def one_token(row: pd.Series) -> bool:
    """A valid query asking for one visible output token."""
    try:
        return not row["error"] and float(row["osl"]) == 1
    except (TypeError, ValueError):
        return False


def set_aside_targets(queries: pd.DataFrame) -> None:
    """Valid one-token queries: their TPOT target cleared (in place; kept in SET_ASIDE for the answer's notes
    and its echo of the query)."""
    # one_token over the frame: a valid row ('' error) whose osl reads as 1
    ones = (queries["error"] == "") & (pd.to_numeric(queries["osl"], errors="coerce") == 1)
    mask = ones & queries["tpot_slo_ms"].map(is_set)
    queries[SET_ASIDE] = pd.Series(np.nan, index=queries.index, dtype=object)
    queries.loc[mask, SET_ASIDE] = queries.loc[mask, "tpot_slo_ms"]
    queries.loc[mask, "tpot_slo_ms"] = np.nan


def as_given(row: pd.Series) -> pd.Series:
    """A query row with its TPOT target as the user gave it (an answer echoes it; read back, it asks the same)."""
    if not is_set(row.get(SET_ASIDE)):
        return row
    out = row.copy()
    out["tpot_slo_ms"] = row[SET_ASIDE]
    return out


def without_inter_token(res: dict, row: pd.Series) -> dict:
    """A fitting answer of a one-token query with its inter-token fields empty and a note."""
    if not res.get("fits") or not one_token(row):
        return res
    notes = [NOTE, *([TARGET_NOTE] if is_set(row.get(SET_ASIDE)) else []), res.get("notes") or ""]
    # a request ends at its first token: end-to-end is TTFT (a disaggregated answer's e2e p50, simulated, read
    # 625 ms beside the queues' TTFT p50 of 737 ms)
    ends = {"e2e_p50_s": res["ttft_p50_s"]} if "ttft_p50_s" in res else {}
    return {**res, **dict.fromkeys(INTER_TOKEN, float("nan")), **ends, "notes": "; ".join(n for n in notes if n)}


__all__ = ["INTER_TOKEN", "as_given", "one_token", "set_aside_targets", "without_inter_token"]
