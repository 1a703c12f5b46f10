"""serving_under_load.csv rows read as their runs ran: a run its source prints twice counts once
(under_load_mapping.QUOTED_TWICE), and a vLLM command's --async-scheduling turns the overlap scheduler on for
that row (under_load_mapping.ASYNC_SCHEDULING, engines.py `overlap_scheduling`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.perf.engine_fit import _light_ttft_rows
from planner.perf.evaluate import evaluate
from planner.perf.params import load_efficiency
from planner.perf.repeatability import repeat_spread
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.serving_fidelity import load_predictions
from planner.perf.under_load_mapping import (
    LOAD_PATH,
    QUOTE_PLACE,
    QUOTE_PLACE_NOTE,
    QUOTED_TWICE,
    load_mapping,
    quoted_once,
    run_id,
)

CAT = load_catalog()
EFF = load_efficiency(CAT)
KEPT, QUOTE = "GPS-qwen3-8b-h100-latency-0", "GPS-qwen3-8b-h100-latency-19"


@pytest.fixture(scope="module")
def rows():
    return pd.read_csv(LOAD_PATH)


@pytest.fixture(scope="module")
def mapped():
    return load_mapping(CAT)


def _runs(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([run_id(i, m) for i, m in zip(frame["id"], frame["metric"], strict=True)], index=frame.index)


def test_every_run_quoted_twice_is_listed(rows):
    """Runs equal in every column but where they are quoted, figure for figure: all but one of each such set are
    QUOTED_TWICE entries naming a kept run of the set (so a new copy of the CSV cannot bring one in unnoticed)."""
    r = rows.assign(run=_runs(rows), place_free=rows["notes"].str.replace(QUOTE_PLACE_NOTE, "", regex=True))
    cols = [c for c in r.columns if c not in (*QUOTE_PLACE, "run")]
    sig = r.groupby("run").apply(lambda g: tuple(sorted(map(tuple, g[cols].astype(str).to_numpy()))))
    sets = [sorted(g.index) for _, g in sig.groupby(sig) if len(g) > 1]
    assert sets == [[KEPT, QUOTE]]  # today's one (same page, two sections)
    for runs in sets:
        dropped = [x for x in runs if x in QUOTED_TWICE]
        assert len(dropped) == len(runs) - 1
        assert all(QUOTED_TWICE[d][0] in runs and QUOTED_TWICE[d][0] not in QUOTED_TWICE for d in dropped)


def test_quoted_run_counts_once(mapped):
    """The quote's 10 rows are not expressible and name the kept row of their metric; the kept run stays, and
    neither the repeats table nor the engine fit's light-load TTFT rows (request_s) see the run twice."""
    runs = _runs(mapped)
    quote, kept = mapped[runs == QUOTE], mapped[runs == KEPT]
    assert len(quote) == len(kept) == 10
    assert not quote["expressible"].any() and kept["expressible"].all()
    assert (quote["duplicate_of"].to_numpy() == kept["id"].to_numpy()).all()
    assert quote["why_not"].str.contains(KEPT).all() and (kept["duplicate_of"] == "").all()
    # the run's configuration is no longer a 'repeat' of itself at 0% spread
    assert repeat_spread(mapped[runs.isin([KEPT, QUOTE])]).empty
    sub = mapped[runs.str.startswith("GPS-qwen3-8b-h100-latency-")]
    pred = load_predictions(sub, CAT, EFF)
    light = pred[_light_ttft_rows(pred)]
    assert (light["actual"] == 60.26).sum() == 1  # the run's TTFT p50: once among the API-server rows


def test_a_quote_that_differs_is_refused(rows, mapped):
    """An entry that no longer holds (a figure of the quote changed: a rerun, not a quote) raises."""
    bad = rows.copy()
    bad.loc[(_runs(bad) == QUOTE) & (bad["metric"] == "ttft_p50_ms"), "value"] = 60.27
    with pytest.raises(ValueError, match="no longer a quote"):
        quoted_once(bad, mapped.drop(columns="duplicate_of"))


def test_async_scheduling_read_for_the_row(mapped):
    """GPUStack's gpt-oss-120b TP2 run at concurrency 4 states --async-scheduling: overlap on for it (and the
    other vLLM runs that state it), the engine's default (off) where the command does not, or where vLLM refuses
    the flag (pipeline parallel)."""
    m = mapped.set_index("id")
    assert m.loc["GPS-gpt-oss-120b-h100-17-tpot_mean_ms", "overlap_scheduling"] == 1.0
    runs = sorted(set(_runs(mapped)[mapped["overlap_scheduling"] == 1.0]))
    assert runs == sorted(f"GPS-gpt-oss-120b-{r}" for r in ("h100-3", "h100-4", "h100-5", "h100-17", "a100-15"))
    for off in ("GPS-gpt-oss-120b-h100-12", "GPS-gpt-oss-120b-h100-6"):  # no flag; -pp 2 (vLLM refuses it)
        assert np.isnan(m.loc[f"{off}-tpot_mean_ms", "overlap_scheduling"])


def test_overlap_column_sets_the_engine_overlap():
    """`overlap_scheduling` 1 turns vLLM's overlap on for that row only, empty keeps engines.yaml's (off); an
    unreadable value is a config error; the step it decodes is no slower with the host's work hidden."""
    base = dict(model="gpt-oss-120b", accelerator="h100-sxm", precision="mxfp4", kv_precision="bf16", tp=2, pp=1,
                ep=1, attn_dp=1, isl=230, osl=217, engine="vllm", batch=4)
    grid = pd.DataFrame([base | dict(overlap_scheduling=v) for v in (1.0, np.nan, "false", "maybe")])
    c, reason = resolve(normalize_grid(grid), CAT, EFF)
    assert list(c.eng_overlap[:3]) == [1.0, 0.0, 0.0]
    assert reason[:3].tolist() == ["", "", ""] and "overlap_scheduling maybe" in reason[3]
    tpot = evaluate(grid.iloc[:2], CAT, efficiency=EFF)["tpot_s"].to_numpy()
    assert tpot[0] < tpot[1]
