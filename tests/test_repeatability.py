"""Rows the model cannot tell apart: their measured spread is reported per metric group (the data's own floor)."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.perf.repeatability import repeat_spread
from planner.perf.serving_fidelity import RUN


def _row(run: int, metric: str, kind: str, stat: str, actual: float, expressible: bool = True) -> dict:
    base = {k: 0 for k in RUN} | {"model": "m", "engine": "vllm", "load": "burst", "concurrency": run}
    return base | {"metric": metric, "kind": kind, "stat": stat, "actual": actual, "expressible": expressible}


def test_spread_is_max_over_min_of_each_repeated_configuration():
    rows = [_row(1, "ttft_p99_ms", "ttft", "p99", 100.0), _row(1, "ttft_p99_ms", "ttft", "p99", 150.0),
            _row(1, "ttft_p99_ms", "ttft", "p99", 120.0),  # one configuration, three runs: 150/100 - 1 = 50%
            _row(2, "ttft_p99_ms", "ttft", "p99", 200.0), _row(2, "ttft_p99_ms", "ttft", "p99", 220.0),  # 10%
            _row(3, "ttft_p99_ms", "ttft", "p99", 50.0),  # measured once: no repeat
            _row(2, "ttft_p99_ms", "ttft", "p99", 900.0, expressible=False),  # not a model run: left out
            _row(1, "output_tok_s", "throughput", "na", 1000.0),
            _row(1, "output_tok_s_per_gpu", "throughput", "na", 125.0)]  # another figure of the run, not a repeat
    out = repeat_spread(pd.DataFrame(rows)).set_index("metric_group")
    assert list(out.index) == ["ttft_p99"]
    r = out.loc["ttft_p99"]
    assert (r["configurations"], r["rows"]) == (2, 5)
    assert r["median_spread_pct"] == pytest.approx(30.0) and r["max_spread_pct"] == pytest.approx(50.0)


def test_no_repeats_gives_an_empty_table():
    out = repeat_spread(pd.DataFrame([_row(1, "output_tok_s", "throughput", "na", 10.0)]))
    assert out.empty and "median_spread_pct" in out
