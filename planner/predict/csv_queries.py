"""The query CSV of `planner predict --batch`: read into a table of strings and numbers; every whole-file mistake
(empty, duplicate or missing columns, ragged lines) is an InputError naming the file and line. Row-level
mistakes stay in the table so that `predict_many` answers each row with its own error."""

from __future__ import annotations

import csv
import difflib
import io
from pathlib import Path

import pandas as pd

from planner.errors import InputError
from planner.inputs import display_path, read_text
from planner.limits import check
from planner.predict.columns import QUERY_COLUMNS, refuse_misspelt_columns
from planner.predict.load_query import LOAD_NUMERIC_COLUMNS
from planner.predict.validate import NUMERIC_COLUMNS

REQUIRED_COLUMNS = ("model", "gpu", "gpus", "precision", "isl", "osl")


def read_queries(path: Path) -> pd.DataFrame:
    """The query CSV as strings, numbers where a numeric column holds one; whole-file mistakes exit 2."""
    where = display_path(path)
    text, problem = read_text(path)
    if problem:
        raise InputError(f"{where}: {problem}")
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    rows: list[tuple[int, list[str]]] = []
    try:
        for r in reader:
            if any(c.strip() for c in r):
                rows.append((reader.line_num, [c.strip() for c in r]))
    except csv.Error as exc:
        raise InputError(f"{where}: line {reader.line_num}: not a readable CSV: {exc}") from None
    if not rows:
        raise InputError(f"{where}: the file is empty (expected a header line: {','.join(REQUIRED_COLUMNS)}, ...)")
    header = rows[0][1]
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise InputError(f"{where}: column {', '.join(repr(c) for c in dup)} appears more than once in the header")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        hints = [f"{m!r} for {c!r}" for c in header for m in difflib.get_close_matches(c, QUERY_COLUMNS, 1, 0.7)
                 if m in missing]
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        if any(sep in header[0] for sep in ";\t"):
            hint += "; columns must be separated by commas"
        raise InputError(
            f"{where}: missing column(s) {', '.join(missing)} (the header has: {', '.join(header)}){hint}"
        )
    refuse_misspelt_columns(where, header)
    _refuse_old_answers(where, header)
    _refuse_answer_inputs(where, header)
    body = []
    for line, r in rows[1:]:
        if len(r) > len(header) and any(r[len(header):]):
            raise InputError(f"{where}: line {line} has {len(r)} fields but the header has {len(header)}")
        body.append((r + [""] * len(header))[: len(header)])
    if not body:
        raise InputError(f"{where}: no queries below the header line")
    check("csv_rows", len(body), f"{where}: query rows")
    unnamed = [i for i, c in enumerate(header) if not c]
    if any(r[i] for r in body for i in unnamed):
        raise InputError(f"{where}: column {unnamed[0] + 1} has values but no name in the header")
    frame = pd.DataFrame(body, columns=header).drop(columns=[header[i] for i in unnamed][:1])
    frame = frame.replace("", float("nan"))
    for col in (*NUMERIC_COLUMNS, *LOAD_NUMERIC_COLUMNS):  # request_rate may be "inf"
        if col in frame:
            num = pd.to_numeric(frame[col], errors="coerce")
            # keep text that is not a number ("eight", "nan") so the row's error names it
            bad = num.isna() & frame[col].notna()
            if bad.any():
                values = zip(num, frame[col], bad, strict=True)
                frame[col] = pd.Series(
                    [t if b else (int(x) if x.is_integer() else x) for x, t, b in values],
                    index=frame.index, dtype=object,
                )
            else:
                frame[col] = num
    frame.attrs["lines"] = [line for line, _ in rows[1:]]  # each query's line in the file, for its error
    return frame


def _refuse_old_answers(where: str, header: list[str]) -> None:
    """An answer CSV (it has `fits`) read back as queries asks its questions again: its `concurrency` column holds
    the queries' own since answers name what they run in flight `in_flight`. An answer written before that held
    the answer's count there (the batch x replicas of a query without a load, Little's law under a request
    rate), which cannot be told from a concurrency the user asked for: read back, it turned queries without a
    load into closed-loop ones and request-rate rows into errors."""
    if "fits" in header and "concurrency" in header and "in_flight" not in header:
        raise InputError(f"{where}: an answer CSV of an older planner: its 'concurrency' column holds each "
                         "answer's requests in flight, not the concurrency the query asked for (answers now write "
                         "them as 'in_flight'); keep its values only on the rows that asked for a concurrency (or "
                         "drop the column), then read it back")


# answer columns a user may write in a query CSV as an input: carried through as labels, and overwritten by the
# answer's own values, so the layout or load asked for was silently not the one answered
ANSWER_ONLY = {"in_flight": "a query gives its load as 'concurrency' or 'request_rate'",
               **dict.fromkeys(("dp", "attn_dp", "prefill_ep", "prefill_attn_dp"), "predict searches it; a query "
                               "fixes tp, pp, ep and prefill_gpu/prefill_tp/prefill_pp")}


def _refuse_answer_inputs(where: str, header: list[str]) -> None:
    """A query CSV (no `fits`: not an answer read back) with an answer-only column is an input error."""
    if "fits" in header:
        return
    for col in header:
        if col in ANSWER_ONLY:
            raise InputError(f"{where}: column {col!r} is written by answers, not read from queries: "
                             f"{ANSWER_ONLY[col]} (it would be ignored)")

