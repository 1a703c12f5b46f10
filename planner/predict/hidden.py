"""Hidden reasoning tokens of `predict` queries (`hidden_tokens`, `--hidden-tokens`, or `effort`, `--effort`).

A query's `osl` is the visible answer; `hidden_tokens` are reasoning tokens the model decodes before it (0 where
not given), or those of one of the model's reasoning effort levels (catalog `effort_levels`: round(osl x its
output_multiplier) - osl, as `solve` decodes an effort, `planner.perf.reasoning.decoded_osl`). The performance
model sees the tokens the engine decodes, osl + hidden_tokens (KV, steps, seats), as `solve` plans a reasoning
effort (`planner.perf.reasoning`). The answer reads as the plan's figures do: TTFT to the first visible token
(the hidden tokens' decode steps included, at every percentile), TPOT over the visible tokens, and throughput in
visible tokens (output_tok_s and what derives from it); the notes say so.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.reasoning import decoded_osl
from planner.predict.cells import is_set

COLUMN = "hidden_tokens"
EFFORT = "effort"
# the performance model's "isl+osl = N tokens exceed the model's context" (planner.perf.resolve): its osl is
# every decoded token, the hidden ones included, which the answer then says
CONTEXT = " tokens exceed the model's context"
# the answer's throughput figures that count output tokens: scaled to the visible ones
PER_OUTPUT = ("output_tok_s", "output_tok_s_per_gpu", "tokens_per_kwh")


def hidden_error(row: pd.Series, catalog: Catalog) -> str:
    """The problem with a query's hidden_tokens or effort ('' if none): a whole number >= 0, or an effort level
    of the (known) model, not both."""
    v, effort = row.get(COLUMN), row.get(EFFORT)
    if is_set(effort):
        model = catalog.models[row["model"]]
        known = [e.level for e in model.effort_levels]
        if is_set(v):
            return f"give {EFFORT} or {COLUMN}, not both"
        if model.effort(str(effort)) is None:
            return (f"unknown {EFFORT} {effort!r} for {model.id} (known: {', '.join(known)})" if known else
                    f"{EFFORT} {effort!r}: {model.id} has no reasoning effort levels (give {COLUMN} instead)")
        return ""
    if not is_set(v):
        return ""
    try:
        x = float(v)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(v, bool) or not math.isfinite(x) or x < 0 or x != int(x):
        return (f"{COLUMN} must be a whole number >= 0 (reasoning tokens decoded before the first visible one), "
                f"got {v!r}")
    return ""


def resolve_efforts(queries: pd.DataFrame, catalog: Catalog) -> None:
    """Each valid query with an effort gets that level's hidden tokens as its hidden_tokens (in place)."""
    for i, row in queries.iterrows():
        if not row["error"] and is_set(row.get(EFFORT)):
            osl = int(float(row["osl"]))
            mult = catalog.models[row["model"]].effort(str(row[EFFORT])).output_multiplier
            queries.at[i, COLUMN] = decoded_osl(osl, mult) - osl


def hidden_of(row: pd.Series) -> int:
    """A valid query's hidden tokens (0 where not given)."""
    v = row.get(COLUMN)
    return int(float(v)) if is_set(v) else 0


def per_query(queries: pd.DataFrame, qids) -> np.ndarray:
    """hidden tokens of the queries `qids` (floats, 0 where not given or the query has an error): one column
    operation (called per group of queries; a loop over every query each time grew with the square of a batch)."""
    if COLUMN not in queries:
        return np.zeros(len(qids))
    h = pd.to_numeric(queries[COLUMN], errors="coerce").where(~queries["error"].astype(bool))
    return h.reindex(qids).fillna(0.0).to_numpy(dtype=float)


def visible_answer(res: dict, query: pd.Series, catalog: Catalog | None = None) -> dict:
    """An answer (`predict_many`'s fields of a query) in visible tokens: output throughput x the visible share
    osl / (osl + hidden), total throughput without the hidden tokens, and a note; an answer that does not fit
    for the context says its osl counted the hidden tokens. A reasoning model asked without hidden tokens gets a
    note that its osl counted every decoded token (`_unstated_effort`)."""
    h = hidden_of(query)
    if h <= 0 and res.get("fits") and catalog is not None and (note := _unstated_effort(query, catalog)):
        return {**res, "notes": "; ".join(n for n in (note, res.get("notes") or "") if n)}
    isl, osl = float(query["isl"]), float(query["osl"])
    if h > 0 and not res.get("fits") and CONTEXT in (res.get("notes") or ""):  # the model's osl was osl + hidden
        said = f" (osl {osl + h:g}: {osl:g} visible + {h} hidden reasoning) exceed"
        return {**res, "notes": res["notes"].replace(CONTEXT, CONTEXT.replace(" exceed", said), 1)}
    if h <= 0 or not res.get("fits"):
        return res
    share = osl / (osl + h)
    out = dict(res)
    for k in PER_OUTPUT:
        if out.get(k) is not None:
            out[k] = float(out[k]) * share
    if out.get("total_tok_s") is not None:
        out["total_tok_s"] = float(out["total_tok_s"]) * (isl + osl) / (isl + osl + h)
    note = (f"{h} hidden reasoning tokens per request before the {osl:g} visible: decoded as output (KV, "
            f"steps), TTFT to the first visible token, throughput in visible tokens")
    out["notes"] = "; ".join(n for n in (note, out.get("notes") or "") if n)
    return out


def _unstated_effort(query: pd.Series, catalog: Catalog) -> str:
    """'' unless the model reasons (catalog effort levels) and the query gave neither effort nor hidden tokens:
    then the answer decodes osl tokens in all, as benchmark tools count a reasoning model's output, where `solve`
    plans an effort level's hidden tokens before the osl visible ones; the note says how to ask for that."""
    model = catalog.models.get(query.get("model"))
    if model is None or not model.effort_levels or is_set(query.get(COLUMN)) or is_set(query.get(EFFORT)):
        return ""
    return (f"{model.id} reasons (effort levels {', '.join(e.level for e in model.effort_levels)}, default "
            f"{model.default_effort}): osl counts every decoded token here, hidden ones included; --effort or "
            "--hidden-tokens for TTFT to the first visible token")


__all__ = ["COLUMN", "EFFORT", "hidden_error", "hidden_of", "per_query", "resolve_efforts", "visible_answer"]
