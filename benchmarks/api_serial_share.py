"""The share of the API-server time per request that is serial (planner/perf/arrivals.py API_SERIAL_SHARE),
chosen on whole sources with leave-one-source-out, as the engine factors are (planner/perf/engine_fit.py).

    python benchmarks/api_serial_share.py [--grid 0,0.1,0.2,0.3,0.5]

For each share on the grid: every expressible TTFT / TPOT / ITL row under load (serving_under_load.csv) predicted
with the engine factors of catalogs/calibration/efficiency.yaml, and the mean |log(predicted / actual)| per
source. The share chosen minimizes the mean over sources (each source weighs the same); shares within TIE (0.5%)
of the best count as equal and the nearest to 0 (no serial work: the model without the term) is taken, as the
engine fit prefers neutral factors. LOSO: the share the other sources choose with each source held out. Every
latency row counts, not TTFT alone: a larger share delays TTFT in bursts further but admits the prompts so slowly
that the steps carrying them shorten, so TPOT/ITL p99 (also targets) fall further below the measured.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

TIE = 0.005


def _errors(shares: list[float]) -> pd.DataFrame:
    from planner.cli.common import load_run_catalog
    from planner.perf import arrivals
    from planner.perf.params import load_efficiency
    from planner.perf.serving_fidelity import load_predictions
    from planner.perf.under_load_mapping import load_mapping

    cat = load_run_catalog(())
    eff = load_efficiency(cat)
    mapped = load_mapping(cat)
    keep = arrivals.API_SERIAL_SHARE
    rows = []
    try:
        for s in shares:
            arrivals.API_SERIAL_SHARE = s
            p = load_predictions(mapped, cat, eff)
            p = p[p["kind"].isin(["ttft", "tpot", "itl"]) & p["predicted"].notna()]
            err = np.abs(np.log(p["predicted"] / p["actual"]))
            for src, e in err.groupby(p["source_family"]):
                rows.append({"share": s, "source": src, "rows": len(e), "mean_abs_log": float(e.mean())})
    finally:
        arrivals.API_SERIAL_SHARE = keep
    return pd.DataFrame(rows).pivot(index="share", columns="source", values="mean_abs_log")


def choose(score: pd.Series) -> float:
    """The share with the least score; within TIE of it, the smallest share."""
    best = float(score.min())
    return float(min(s for s, v in score.items() if v <= best * (1.0 + TIE)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="0,0.1,0.2,0.3,0.5")
    args = ap.parse_args()
    table = _errors([float(x) for x in args.grid.split(",")])
    mean = table.mean(axis=1)
    print(table.assign(mean_over_sources=mean).round(4).to_string())
    print(f"chosen (all sources): {choose(mean):g}")
    for src in table.columns:
        print(f"  {src} held out: {choose(table.drop(columns=[src]).mean(axis=1)):g}")


if __name__ == "__main__":
    main()
