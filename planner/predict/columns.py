"""The columns of `planner predict`'s queries and answers, and the check that a table's other columns (carried
through as labels) are not misspelt query columns: one check for a --batch CSV and a `predict_many` table.
"""

from __future__ import annotations

import difflib

from planner.errors import InputError
from planner.predict import hidden
from planner.predict.load_query import LOAD_QUERY_COLUMNS, LOAD_RESULT_COLUMNS, OWN_PREFILL
from planner.predict.validate import MAX_BATCH, PREFILL_QUERY_COLUMNS

QUERY_COLUMNS = ("model", "gpu", "gpus", "precision", "isl", "osl", "tp", "pp", "ep", "serving", "concurrency",
                 "max_throughput", "ttft_slo_ms", "tpot_slo_ms", "kv_precision", *LOAD_QUERY_COLUMNS,
                 *PREFILL_QUERY_COLUMNS, hidden.COLUMN, hidden.EFFORT, MAX_BATCH)
# `concurrency` in an answer is the query's own (empty where it gave none); the requests the answer runs in flight
# are `in_flight`: an answer CSV read back as queries asks the same questions (the batch x replicas of an answer
# without a load, written as `concurrency`, turned it into a closed-loop query, and a request-rate row into an
# error for giving both)
# TTFT and TPOT at the query's own SLO percentile, what its targets are held to (p95, p99.9: not among p50/p90/p99)
AT_SLO = ("ttft_at_slo_s", "tpot_at_slo_s")
RESULT_COLUMNS = ("model", "gpu", "gpus", "precision", "tp", "pp", "ep", "dp", "attn_dp", "serving", "concurrency",
                  "in_flight", "fits", "ttft_s", "tpot_s", "output_tok_s", "output_tok_s_per_gpu",
                  "output_tok_s_per_user", "total_tok_s", "avg_power_w", "peak_power_w", "all_in_power_w",
                  "tokens_per_kwh", "limited_by", "notes", *LOAD_RESULT_COLUMNS, *AT_SLO, "slo_basis",
                  "itl_s", "acceptance_length", "acceptance_assumed", "prefill_instances", "decode_instances",
                  *PREFILL_QUERY_COLUMNS, *OWN_PREFILL)


# how close an unknown column must be to a query column to be taken for a misspelling of it (difflib ratio:
# tpot_ms -> tpot_slo_ms 0.78, concurency -> concurrency 0.95; label, id, scenario stay labels), and columns
# named as other tools name a query column (reasoning_tokens reads 0.62 of hidden_tokens)
MISSPELT_RATIO = 0.75
OTHER_NAMES = {"reasoning_tokens": hidden.COLUMN, "thinking_tokens": hidden.COLUMN, "max_num_seqs": MAX_BATCH}


def refuse_misspelt_columns(where: str, header) -> None:
    """Columns other than the queries' are carried through as labels, so a misspelt query column (`concurency`,
    `tpot_ms`, a flag name `tpot-slo-ms`) was silently ignored: the answer came back without that load or target.
    A column that reads as a query column not in the header is an input error naming both (a --batch CSV's and
    a `predict_many` table's alike)."""
    known = {*QUERY_COLUMNS, *RESULT_COLUMNS, "error"}  # an answer CSV read back as queries keeps its columns
    absent = [c for c in QUERY_COLUMNS if c not in header]
    for col in header:
        if not isinstance(col, str) or not col or col in known:
            continue
        flag = col.lower().lstrip("-").replace("-", "_")
        flag = OTHER_NAMES.get(flag, flag)
        match = [flag] if flag in absent else difflib.get_close_matches(flag, absent, 1, MISSPELT_RATIO)
        if match:
            raise InputError(f"{where}: column {col!r} is not a query column; did you mean {match[0]!r}? (columns "
                             "that are not query columns are carried through as labels, so it would be ignored)")
