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
        table.add_row(name, str(s["n"]), _fmt_pct(s["median_abs_pct"]), _fmt_pct(s["p90_abs_pct"]),
                      _fmt_pct(s["median_signed_pct"]))
    return table


def render(console: Console, report: FidelityReport) -> bool:
    """Print the summary; return whether every target is met."""
    s = report.summary
    console.print(_stats_table("measured (our H100/H200 op tables): error per op kind", s["measured_ops"]))
    overall = {"published: output throughput": s["published_throughput"],
               "published: unambiguous units only": s["published_throughput_unambiguous"],
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
            "the 3 serving factors are fitted on the published set; out of sample (leave one source out) the "
            f"throughput error is median {_fmt_pct(loso['median_abs_pct'])} / P90 {_fmt_pct(loso['p90_abs_pct'])}"
            f" (in sample {_fmt_pct(ins['median_abs_pct'])} / {_fmt_pct(ins['p90_abs_pct'])}; with neutral "
            f"factors {_fmt_pct(neutral['median_abs_pct'])} / {_fmt_pct(neutral['p90_abs_pct'])})")
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


def write(report: FidelityReport, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "fidelity_measured.csv": report.measured,
        "fidelity_published.csv": report.published,
        "fidelity_rank_correlation.csv": report.rank_correlation,
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
