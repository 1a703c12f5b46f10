"""Print and write the performance model's fidelity report: predicted vs actual, errors, targets."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from planner.outputs import safe_frame, write_atomic
from planner.perf import FidelityReport

# The targets, checked and printed on every run (never tuned per point).
TARGETS = {
    "measured e2e decode/prefill, worst |error|": ("measured_e2e_max_abs_pct", 15.0),
    "published output throughput, median |error|": ("published_throughput.median_abs_pct", 20.0),
    "published output throughput, P90 |error|": ("published_throughput.p90_abs_pct", 45.0),
}


def _lookup(summary: dict, path: str) -> float:
    node = summary
    for part in path.split("."):
        node = node[part]
    return float(node)


def _fmt_pct(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}%"


def _stats_table(title: str, groups: dict[str, dict]) -> Table:
    table = Table(title=title, title_justify="left")
    for col, justify in (("group", "left"), ("n", "right"), ("median |err|", "right"), ("P90 |err|", "right"),
                         ("median signed", "right")):
        table.add_column(col, justify=justify)
    for name, s in groups.items():
        if s is None:
            continue
        table.add_row(name, str(s["n"]), _fmt_pct(s["median_abs_pct"]), _fmt_pct(s["p90_abs_pct"]),
                      _fmt_pct(s["median_signed_pct"]))
    return table


def render(console: Console, report: FidelityReport) -> bool:
    """Print the summary; return whether every target is met."""
    s = report.summary
    console.print(_stats_table("measured (our H100/H200 op tables): error per op kind", s["measured_ops"]))
    overall = {"published: output throughput (each row's engine)": s["published_throughput"],
               "published: unambiguous units only": s["published_throughput_unambiguous"],
               "published: generic engine (the serving factors' fit)": s.get("published_throughput_generic"),
               "published: static-batch latency": s["published_latency"]}
    console.print(_stats_table("published benchmarks", overall))
    console.print(_stats_table("published throughput by accelerator", s["published_by_accelerator"]))
    console.print(_stats_table("published throughput by model family", s["published_by_model_family"]))
    console.print(_stats_table("published throughput by source", s["published_by_source"]))
    console.print(f"accelerator ranking (Spearman, per model/workload with >= 3 accelerators): "
                  f"median {s['spearman_median']:.2f}, mean {s['spearman_mean']:.2f} over "
                  f"{s['spearman_groups']} groups")
    console.print(f"published rows the model cannot express: {s['published_not_expressible']}")
    cv = s.get("serving_cross_validation") or {}
    if cv:
        loso, ins, neutral = cv["leave_one_source_out"], cv["in_sample"], cv["neutral"]
        console.print(
            "the serving factors are fitted on the published set; out of sample (leave one source out) the "
            f"throughput error is median {_fmt_pct(loso['median_abs_pct'])} / P90 {_fmt_pct(loso['p90_abs_pct'])}"
            f" (in sample {_fmt_pct(ins['median_abs_pct'])} / {_fmt_pct(ins['p90_abs_pct'])}; with neutral "
            f"factors {_fmt_pct(neutral['median_abs_pct'])} / {_fmt_pct(neutral['p90_abs_pct'])})")
    if pub_cv := (s.get("engine_cross_validation") or {}).get("published"):
        loso, ins = pub_cv["leave_one_source_out"], pub_cv["in_sample"]
        console.print(
            "published with each row's engine: with the engine factors re-chosen without the row's source the "
            f"throughput error is median {_fmt_pct(loso['median_abs_pct'])} / P90 {_fmt_pct(loso['p90_abs_pct'])}"
            f" (in sample {_fmt_pct(ins['median_abs_pct'])} / {_fmt_pct(ins['p90_abs_pct'])})")
    _render_under_load(console, s)
    _render_speculative(console, s)
    all_met = True
    table = Table(title="targets", title_justify="left")
    for col in ("target", "reached", "limit", "met"):
        table.add_column(col)
    for label, (path, limit) in TARGETS.items():
        value = _lookup(s, path)
        met = value <= limit
        all_met &= met
        table.add_row(label, _fmt_pct(value), f"<= {limit:.0f}%", "yes" if met else "[red]no[/red]")
    console.print(table)
    return all_met


def _render_speculative(console: Console, s: dict) -> None:
    """Speculative decoding (speed-up over the same run without a draft, acceptance length): a group of its own,
    not in the throughput targets; in-sample rows are the ones engines.yaml copies its acceptance from."""
    rows = s.get("speculative") or []
    if not rows:
        return
    table = Table(title="speculative decoding (serving_under_load.csv speedup_x, acceptance_length)",
                  title_justify="left")
    for col in ("metric", "rows", "n", "acceptance assumed", "median |err|", "P90 |err|", "median signed"):
        table.add_column(col, justify="left" if col in ("metric", "rows") else "right")
    for r in rows:
        # rows whose acceptance engines.yaml copies from another model's draft (`assumed: true`)
        table.add_row(r["metric"], r["rows"], str(r["n"]), str(r.get("assumed_acceptance", "-")),
                      _fmt_pct(r["median_abs_pct"]), _fmt_pct(r["p90_abs_pct"]), _fmt_pct(r["median_signed_pct"]))
    console.print(table)


def _render_under_load(console: Console, s: dict) -> None:
    """Errors on serving_under_load.csv per engine x metric and metric x load regime: in sample (now) next to
    leave one source out (from the fit)."""
    rows = s.get("under_load") or []
    if not rows:
        return
    loso = {(g["by"], g["group"]): g for g in (s.get("engine_cross_validation") or {}).get("groups", [])}
    for by, title in (("engine_name+metric_group", "under load: error per engine and metric"),
                      ("metric_group+regime", "under load: error per metric and load regime (knee)"),
                      ("source_family+metric_group", "under load: error per source")):
        table = Table(title=title, title_justify="left")
        for col in ("group", "n", "median |err|", "P90 |err|", "LOSO median", "LOSO P90"):
            table.add_column(col, justify="left" if col == "group" else "right")
        for r in rows:
            if r["by"] != by:
                continue
            lo = loso.get((by, r["group"]), {})
            table.add_row(r["group"], str(r["n"]), _fmt_pct(r["median_abs_pct"]), _fmt_pct(r["p90_abs_pct"]),
                          _fmt_pct(lo.get("loso_median_abs_pct")), _fmt_pct(lo.get("loso_p90_abs_pct")))
        console.print(table)
    console.print(f"serving_under_load rows the model cannot express: {s.get('under_load_not_expressible', 0)}")
    if quoted := s.get("under_load_quoted_twice"):  # under_load_mapping.QUOTED_TWICE
        console.print("serving_under_load rows of a run its source prints twice, counted once as the kept run: "
                      + "; ".join(f"{q['run']} ({q['rows']} rows) = {q['kept']}" for q in quoted))
    _render_loso_rows(console, s.get("loso_rows") or {})
    table = Table(title="issue 8 targets under load (leave one source out)", title_justify="left")
    for col in ("target", "LOSO median", "LOSO P90", "limit", "met"):
        table.add_column(col)
    for t in s.get("load_targets") or []:
        if t["met"] is None:
            table.add_row(t["target"], "-", "-", "", "no data")
            continue
        limit = f"median <= {t['median_limit_pct']:.0f}%" + (
            f", P90 <= {t['p90_limit_pct']:.0f}%" if t["p90_limit_pct"] else "")
        table.add_row(t["target"], _fmt_pct(t["loso_median_abs_pct"]), _fmt_pct(t["loso_p90_abs_pct"]), limit,
                      "yes" if t["met"] else "[red]no[/red]")
    console.print(table)
    _render_repeats(console, s.get("repeat_spread") or [])


def _render_loso_rows(console: Console, info: dict) -> None:
    """Where the LOSO figures come from: the fit's per-row file (fidelity_under_load.csv / fidelity_published.csv
    carry predicted_loso and loso_error_pct per row), or, stale or missing, efficiency.yaml's groups alone."""
    if not info:
        return
    if info["status"] == "current":
        console.print(f"{info['message']} (predicted_loso, loso_error_pct per row in fidelity_under_load.csv and "
                      "fidelity_published.csv; the LOSO figures above and below are computed from it)")
    else:
        console.print(f"[red]{info['message']}[/red]")


def _render_repeats(console: Console, rows: list[dict]) -> None:
    """Rows the model cannot tell apart (same inputs and load), and how far apart they are measured."""
    if not rows:
        return
    table = Table(title="repeats: rows with the same model inputs and load, measured apart by (max/min - 1)",
                  title_justify="left")
    for col in ("metric", "configurations", "rows", "median spread", "max spread"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for r in rows:
        table.add_row(r["metric_group"], str(r["configurations"]), str(r["rows"]),
                      _fmt_pct(r["median_spread_pct"]), _fmt_pct(r["max_spread_pct"]))
    console.print(table)


def write(report: FidelityReport, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "fidelity_measured.csv": report.measured,
        "fidelity_published.csv": report.published,
        "fidelity_rank_correlation.csv": report.rank_correlation,
        "fidelity_under_load.csv": report.under_load,
        "fidelity_speculative.csv": report.speculative,
    }
    written = []
    for name, frame in paths.items():
        # catalog and published labels are user-editable text: neutralized for spreadsheets
        write_atomic(out_dir / name, safe_frame(frame).to_csv(index=False, float_format="%.6g"))
        written.append(out_dir / name)
    summary_path = out_dir / "fidelity_summary.json"
    write_atomic(summary_path, json.dumps(report.summary, indent=2, sort_keys=True, default=float) + "\n")
    written.append(summary_path)
    return written
