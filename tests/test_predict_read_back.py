"""An answer CSV of `planner predict --batch` read back as a query file asks the same questions: the answer's
requests in flight are `in_flight`, so the `concurrency` column stays the query's (the batch x replicas of an
answer without a load, written as `concurrency`, turned it into a closed-loop query; under a request rate the
row became an error for giving both)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.errors import InputError
from planner.outputs import safe_frame
from planner.predict import predict_many
from planner.predict.csv_queries import read_queries

ROW = dict(model="llama-3.1-8b", gpu="h100-sxm", gpus=1, precision="fp8", isl=1000, osl=200, tp=1)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _answer_file(answers: pd.DataFrame, path) -> pd.DataFrame:
    """As `predict --batch` writes it, then read as a query file."""
    path.write_text(safe_frame(answers).to_csv(index=False, float_format="%.6g"))
    return read_queries(path)


def test_an_answer_csv_reads_back_to_the_same_answers(tmp_path, catalog):
    first = predict_many(pd.DataFrame([ROW, ROW | dict(request_rate=5)]), catalog)
    assert first["fits"].all()
    # the query's own concurrency (none), the answer's requests in flight beside it
    assert first["concurrency"].isna().all() and (first["in_flight"] >= 1).all()
    again = predict_many(_answer_file(first, tmp_path / "a.csv"), catalog)
    assert (again["error"] == "").all() and again["concurrency"].isna().all()
    for col in ("tp", "dp", "in_flight", "ttft_s", "tpot_s", "ttft_p90_s", "e2e_p50_s", "requests_s",
                "output_tok_s"):
        assert np.allclose(again[col].astype(float), first[col].astype(float), rtol=1e-5), col


def test_an_older_answer_csv_names_its_concurrency_column(tmp_path):
    """An answer written before `in_flight` holds the answer's count in `concurrency`, which no reader can tell
    from a concurrency the user asked for: a whole-file error saying what to do, not silently other questions."""
    old = tmp_path / "old.csv"
    pd.DataFrame([ROW | dict(request_rate=5, concurrency=2, fits=True, ttft_s=0.01)]).to_csv(old, index=False)
    with pytest.raises(InputError, match=r"older planner.*in_flight"):
        read_queries(old)


@pytest.mark.parametrize("col", ["in_flight", "attn_dp", "prefill_ep", "prefill_attn_dp"])
def test_an_answer_only_column_in_a_query_file_is_refused(tmp_path, col):
    """A query file (no `fits`) giving an answer-only column as an input: before, carried as a label and
    overwritten by the answer's own value, so the layout or load asked for was silently not the one answered."""
    q = tmp_path / "q.csv"
    pd.DataFrame([ROW | {col: 2}]).to_csv(q, index=False)
    with pytest.raises(InputError, match=rf"column '{col}' is written by answers"):
        read_queries(q)
