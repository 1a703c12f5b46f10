"""Checks of `planner predict` queries: each query's first problem in one line naming the field ('' if none),
so a bad row of a --batch answers with its error instead of stopping the others.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.limits import env_name, limit
from planner.perf.engines import SPEC_CHOICES
from planner.predict import hidden
from planner.predict.cells import PREFILL_QUERY_COLUMNS, is_set, shown
from planner.predict.load_query import LENGTH_CHOICES, load_error

TRUE_WORDS = ("true", "yes", "1", "1.0")
FALSE_WORDS = ("false", "no", "0", "0.0")
SERVING_CHOICES = ("aggregated", "disaggregated", "auto")
KV_CHOICES = ("bf16", "fp8", "fp4")
# a replica's running sequences at most (its seats), as the engine is set to run: vLLM max_num_seqs
MAX_BATCH = "max_batch"
NUMERIC_COLUMNS = ("gpus", "isl", "osl", "tp", "pp", "ep", "concurrency", "ttft_slo_ms", "tpot_slo_ms",
                   "prefill_tp", "prefill_pp", hidden.COLUMN, MAX_BATCH)


def _number_error(col: str, v) -> str:
    """A numeric field that is set but not a finite number (text from a CSV, true/false, inf)."""
    if not is_set(v):
        return ""
    if isinstance(v, bool):
        return f"{col} must be a number, got {v!r}"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return f"{col} must be a number, got {v!r}"
    return "" if math.isfinite(x) else f"{col} must be a finite number, got {v!r}"


def canonical_case(queries: pd.DataFrame, catalog: Catalog, generic: str) -> pd.DataFrame:
    """Ids and choices written in another case ('Llama-3.1-8B', 'H100-SXM', 'FP8', 'Aggregated' from a
    spreadsheet) as the id they name: every catalog id and choice is lower case, so this is no guess; a cell
    that names none stays as written, for its row's error to name. `generic`: the engine named so in answers."""
    known = {"model": catalog.models, "gpu": catalog.accelerators, "prefill_gpu": catalog.accelerators,
             "precision": catalog.precisions, "engine": {*catalog.engines, generic}, "serving": SERVING_CHOICES,
             "kv_precision": KV_CHOICES, "length_dist": LENGTH_CHOICES, "speculative": SPEC_CHOICES}
    out = queries.copy()
    for col, table in known.items():
        if col in out:
            out[col] = [canonical_id(v, table) for v in out[col]]
    return out


def canonical_id(v, table):
    """`v` as the lower-case id of `table` it names in another case, else as written (for its error to name)."""
    return v.lower() if isinstance(v, str) and v not in table and v.lower() in table else v


def _positive_int_error(name: str, v) -> str:
    """A count that is set but not a positive integer ('' if unset or one)."""
    if is_set(v) and (float(v) <= 0 or float(v) != int(float(v))):
        return f"{name} must be a positive integer, got {shown(v)}"
    return ""


def max_batch_of(row: pd.Series) -> float:
    """A query's running-sequence cap per replica (`max_batch`) as a number, NaN where it gives none (the
    engine's or the memory's)."""
    return float(row[MAX_BATCH]) if is_set(row[MAX_BATCH]) else np.nan


def _max_batch_error(row: pd.Series) -> str:
    """The first problem with a query's running-sequence cap ('' if none)."""
    if msg := _positive_int_error(MAX_BATCH, row[MAX_BATCH]):
        return msg
    if is_set(row[MAX_BATCH]) and row["serving"] in ("disaggregated", "auto"):
        # a disaggregated unit sizes its decode batch to its targets or load (disagg_capacity): a cap given here
        # would be dropped without a word
        return (f"{MAX_BATCH} caps the running sequences of an aggregated replica; a disaggregated unit sizes "
                f"its own batch: give serving aggregated, or no {MAX_BATCH}")
    return ""


def query_error(row: pd.Series, catalog: Catalog) -> str:
    """The first problem with a query ('' if none): one line naming the field, as predict answers it."""
    checks = (("model", catalog.models), ("gpu", catalog.accelerators), ("precision", catalog.precisions))
    for col, table in checks:
        if not is_set(row[col]):
            return f"{col} is required"
        if row[col] not in table:
            if col == "gpu" and row[col] in catalog.systems:
                acc = catalog.systems[row[col]].accelerator
                return f"gpu {row[col]!r} is a system, not an accelerator: use its accelerator {acc!r}"
            return f"unknown {col} {row[col]!r} (known: {', '.join(sorted(table))})"
    for col in NUMERIC_COLUMNS:
        if msg := _number_error(col, row[col]):
            return msg
    if is_set(row["gpus"]) and float(row["gpus"]) > limit("gpus"):
        return f"gpus {float(row['gpus']):,.0f} is above the limit of {limit('gpus'):,} ({env_name('gpus')})"
    for col in ("gpus", "isl", "osl"):
        if not is_set(row[col]) or float(row[col]) <= 0 or float(row[col]) != int(float(row[col])):
            return f"{col} must be a positive integer, got {shown(row[col])}"
    if msg := hidden.hidden_error(row, catalog):
        return msg
    if is_set(row["kv_precision"]) and row["kv_precision"] not in KV_CHOICES:
        return f"kv_precision must be bf16, fp8 or fp4, got {row['kv_precision']!r}"
    if is_set(row["engine"]) and row["engine"] not in catalog.engines:
        return f"unknown engine {row['engine']!r} (known: {', '.join(sorted(catalog.engines))})"
    if is_set(row["speculative"]) and str(row["speculative"]).lower() not in SPEC_CHOICES:
        return f"speculative must be one of {', '.join(SPEC_CHOICES)}, got {row['speculative']!r}"
    if is_set(row["serving"]) and row["serving"] not in SERVING_CHOICES:
        return f"serving must be aggregated, disaggregated or auto, got {row['serving']!r}"
    if msg := _prefill_error(row, catalog):
        return msg
    model = catalog.models[row["model"]]
    gpus = int(float(row["gpus"]))
    for name in ("tp", "pp", "ep"):
        if msg := _positive_int_error(name, row[name]):
            return msg
    if msg := _max_batch_error(row):
        return msg
    tp = int(float(row["tp"])) if is_set(row["tp"]) else None
    pp = int(float(row["pp"])) if is_set(row["pp"]) else None
    ep = int(float(row["ep"])) if is_set(row["ep"]) else None
    if ep is not None and ep > 1 and not model.moe:
        return f"ep {ep} needs a mixture-of-experts model ({model.id} is dense)"
    if tp and model.num_heads % tp:
        return f"tp {tp} does not divide the {model.num_heads} attention heads of {model.id}"
    if pp and pp > model.layers:
        return f"pp {pp} exceeds the {model.layers} layers of {model.id}"
    if (tp or 1) * (pp or 1) > gpus:
        return f"gpus {gpus} < tp*pp = {(tp or 1) * (pp or 1)}"
    if gpus % ((tp or 1) * (pp or 1)):
        return f"gpus {gpus} is not a multiple of tp*pp = {(tp or 1) * (pp or 1)}"
    for col in ("concurrency", "ttft_slo_ms", "tpot_slo_ms"):
        if is_set(row[col]) and float(row[col]) <= 0:
            return f"{col} must be > 0, got {shown(row[col])}"
    mt = row["max_throughput"]
    if is_set(mt) and not isinstance(mt, bool | np.bool_):
        if str(mt).strip().lower() not in TRUE_WORDS + FALSE_WORDS:
            return f"max_throughput must be true or false, got {mt!r}"
        mt = str(mt).strip().lower() in TRUE_WORDS
    if is_set(mt) and bool(mt) and is_set(row["concurrency"]):
        return "give concurrency or max_throughput, not both"
    if is_set(mt) and bool(mt) and (is_set(row["ttft_slo_ms"]) or is_set(row["tpot_slo_ms"])):
        return "max_throughput means no latency target: drop ttft_slo_ms/tpot_slo_ms, or max_throughput"
    if is_set(mt) and bool(mt) and is_set(row["request_rate"]):
        return "give request_rate or max_throughput, not both"
    return load_error(row)


# the query fields a message names, as `predict` spells them on the command line (--name-with-dashes)
_FIELDS = ("model", "gpu", "gpus", "precision", "isl", "osl", "tp", "pp", "ep", "serving", "concurrency",
           "max_throughput", "ttft_slo_ms", "tpot_slo_ms", "kv_precision", "engine", "request_rate",
           "num_requests", "length_dist", "slo_percentile", "speculative", *PREFILL_QUERY_COLUMNS, hidden.COLUMN,
           hidden.EFFORT, MAX_BATCH)
_NAMED = "|".join(sorted(_FIELDS, key=len, reverse=True))
# a field of one plain word ("model", "engine") is its flag only where the message names it, not where it is
# the word ("needs a mixture-of-experts model"): leading the message, after "unknown"/"give"/"or", or before
# its value or verb; a field with an underscore is always one. (No "below osl": no query error says it, the hidden
# tokens being added to osl, so perf.load's "hidden_tokens ... below osl" never reaches a query's error.)
_FIELD = re.compile(rf"(?<![\w-])(?:(?P<u>\w+_\w+)|^(?P<a>{_NAMED})|(?:(?<=unknown )|(?<=give )|(?<= or ))"
                    rf"(?P<b>{_NAMED})|(?P<c>{_NAMED})(?= (?:must|is required|needs|\d|'|inf\b)))(?![\w-])")


def as_flags(message: str) -> str:
    """A query's error as the command line reads it: each field named by its flag (`slo_percentile must be ...`
    -> `--slo-percentile must be ...`), as the user typed it; a --batch CSV keeps the column names."""
    def flag(m: re.Match) -> str:
        name = next(v for v in m.groups() if v)
        return f"--{name.replace('_', '-')}" if name in _FIELDS else name
    return _FIELD.sub(flag, message.replace("tp*pp", "tp x pp").replace("tp x pp", "--tp x --pp"))


def _prefill_error(row: pd.Series, catalog: Catalog) -> str:
    """The first problem with a query's prefill columns ('' if none)."""
    given = [c for c in PREFILL_QUERY_COLUMNS if is_set(row[c])]
    if not given:
        return ""
    if row["serving"] != "disaggregated":
        return f"{', '.join(given)} set the prefill instances of serving disaggregated: give serving disaggregated"
    if is_set(row["prefill_gpu"]) and row["prefill_gpu"] not in catalog.accelerators:
        return f"unknown prefill_gpu {row['prefill_gpu']!r} (known: {', '.join(sorted(catalog.accelerators))})"
    for col in ("prefill_tp", "prefill_pp"):
        if msg := _positive_int_error(col, row[col]):
            return msg
    return ""


__all__ = [
    "FALSE_WORDS",
    "KV_CHOICES",
    "LENGTH_CHOICES",
    "MAX_BATCH",
    "NUMERIC_COLUMNS",
    "PREFILL_QUERY_COLUMNS",
    "SERVING_CHOICES",
    "TRUE_WORDS",
    "as_flags",
    "canonical_case",
    "canonical_id",
    "query_error",
]
