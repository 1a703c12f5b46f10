"""How far apart serving_under_load.csv's rows are where the model cannot tell them apart: the floor under any
model's error.

`repeat_spread(mapped)`  per metric group, the configurations measured more than once with the same model inputs
    and load (same model, accelerator, precisions, engine, layout, lengths, load; a repeat of a run, or a run
    whose difference the model does not read, such as a torch.compile flag), and how far apart their values are:
    max / min - 1, in percent. Predicting each repeat with one value, the best any model can do on such a set is
    about half that spread, so a metric whose repeats disagree by 30% cannot be predicted within a few percent.
"""

from __future__ import annotations

import pandas as pd

from planner.perf.serving_fidelity import RUN, metric_group


def repeat_spread(mapped: pd.DataFrame) -> pd.DataFrame:
    """Per metric group: configurations with repeats, rows in them, median and max spread (max/min - 1, %)."""
    cols = ["metric_group", "configurations", "rows", "median_spread_pct", "max_spread_pct"]
    ok = mapped[mapped["expressible"].astype(bool)]
    if ok.empty:
        return pd.DataFrame(columns=cols)
    ok = ok.assign(metric_group=metric_group(ok))
    # the CSV's metric name too: output tok/s and tok/s per GPU of one run are both "throughput" (a metric
    # names one kind and statistic, so its group rides along in the key)
    keys = [*RUN, "metric", "metric_group"]
    sized = ok.groupby(keys, dropna=False, sort=True)["actual"].agg(["size", "max", "min"])
    sized = sized[sized["size"] > 1].reset_index()
    if sized.empty:
        return pd.DataFrame(columns=cols)
    sized["spread_pct"] = (sized["max"] / sized["min"] - 1.0) * 100.0
    out = sized.groupby("metric_group", sort=True).agg(
        configurations=("spread_pct", "size"), rows=("size", "sum"),
        median_spread_pct=("spread_pct", "median"), max_spread_pct=("spread_pct", "max")).reset_index()
    return out[cols].round({"median_spread_pct": 1, "max_spread_pct": 1})
