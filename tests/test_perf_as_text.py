"""evaluate.as_text: an output column of text built by pyarrow at once is the column pandas makes of the object
array itself (dtype and values), and anything that is not all text is left to pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.perf.evaluate import as_text, output_frame


@pytest.mark.parametrize("values", [["", "memory", "batch 16 needs 3.2 GB"], [np.str_("tpot"), "x"], [None, "a"],
                                    [np.nan, "a"], [1, "a"], [], [1.5, 2.0]])
def test_as_text_makes_the_column_pandas_makes(values):
    v = np.array(values, dtype=object) if values and not isinstance(values[0], float) else np.array(values)
    want = pd.DataFrame({"c": v}, index=pd.RangeIndex(len(v)))
    got = pd.DataFrame({"c": as_text(v)}, index=pd.RangeIndex(len(v)))
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["c"].dtype == want["c"].dtype


def test_output_frame_columns_as_pandas_infers_them():
    g = pd.DataFrame({"model": pd.array(["a", "b", "c"], dtype="str"), "batch": [1, 2, 3]})
    cols = {"reason": np.array(["", "too big", ""], dtype=object), "fits": np.array([True, False, True]),
            "limited_by": np.array(["tpot", "memory", None], dtype=object), "ttft_s": np.array([0.1, np.nan, 0.2])}
    want = pd.concat([g, pd.DataFrame(cols, index=g.index)], axis=1)
    got = output_frame(g, cols)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.dtypes) == list(want.dtypes)
