"""The sweep summary as HTML (one self-contained file: plots inlined, every string escaped) and Markdown.

Renders only what `planner.sweep` computed from the ledger; never solves.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from planner.sweep.results import SOLVED, SweepData, decision_changes, tornado_basis

TOP = 10


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if isinstance(v, float):
        return f"{v:,.4g}"
    return str(v)


def _values(vals: list) -> str:
    return ", ".join(_fmt(v) for v in vals[:12]) + (" ..." if len(vals) > 12 else "")


def _sections(data: SweepData, tornado: list[dict], sens: dict) -> list[tuple[str, list[str], list[list]]]:
    """(title, header, rows) tables shared by both formats."""
    df = data.table
    m = data.meta
    runs = json.loads(m.get("runs", "[]"))
    status = df["status"].value_counts().to_dict() if not df.empty else {}
    overview = [
        ["sweep", m.get("name")], ["problem", m.get("problem_name")], ["objective", m.get("objective")],
        ["design", json.loads(m.get("spec", "{}")).get("design", {}).get("kind")],
        ["scenarios", f"{len(df)} recorded of {m.get('scenarios')}"],
        ["status", ", ".join(f"{k}: {v}" for k, v in sorted(status.items()))],
        ["metric analysed", data.metric],
    ]
    if runs:
        ev = sum(r.get("evaluations", 0) for r in runs)
        reused = sum(r.get("reused", 0) for r in runs)
        overview.append(["candidate evaluations", f"{ev} computed, {reused} scenarios reused one"])
    out = [("Overview", ["", ""], overview)]
    out.append(("Parameters", ["path", "values", "base", "kind"],
                [[p["path"], _values(p["values"]), _fmt(p["base"]),
                  "money/power/demand" if p["money"] else "technical"] for p in data.parameters]))
    if tornado:
        out.append((f"Tornado ({data.metric}; {tornado_basis(data)})",
                    ["parameter", "low", "high", "at low", "at high", "swing"],
                    [[t["label"], _fmt(t["low_value"]), _fmt(t["high_value"]), _fmt(t["metric_at_low"]),
                      _fmt(t["metric_at_high"]), _fmt(t["swing"])] for t in tornado]))
        nop = [f"{t['label']} = {_fmt(v)}" for t in tornado for v in t.get("no_plan_at", [])]
        if nop:
            out.append(("No plan at", ["parameter value"], [[x] for x in nop]))
    if sens.get("indices"):
        keys = list(next(iter(sens["indices"].values())))
        out.append((f"Sensitivity ({sens['method']}, {sens['metric']})", ["parameter", *keys],
                    [[n, *(_fmt(v.get(k)) for k in keys)] for n, v in sens["indices"].items()]))
    elif sens.get("reason"):
        out.append(("Sensitivity", ["", ""], [["not computed", sens["reason"]]]))
    changes = [[p["path"], c["column"], f"{_fmt(c['between'][0])} .. {_fmt(c['between'][1])}", c["from"], c["to"]]
               for p in data.parameters for c in decision_changes(data, p["path"])]
    if changes:
        out.append(("Decision changes", ["parameter", "choice", "between", "from", "to"], changes[:50]))
    solved = df[df["status"].isin(SOLVED)] if not df.empty else df
    if not solved.empty and data.metric in solved:
        asc = data.metric in ("cost_usd_per_hour", "usd_per_mtok", "capex_usd", "facility_power_kw")
        best = solved.sort_values(data.metric, ascending=asc).head(TOP)
        cols = ["scenario", *data.paths, data.metric]
        out.append((f"Best {min(TOP, len(best))} scenarios", cols, [[_fmt(r[c]) for c in cols]
                                                                    for _, r in best.iterrows()]))
    failed = df[~df["status"].isin(SOLVED)] if not df.empty else df
    if not failed.empty:
        reasons = failed.assign(first=failed["error"].fillna("").str.split("\n").str[0])
        agg = reasons.groupby(["status", "first"]).size().reset_index(name="n").sort_values("n", ascending=False)
        out.append(("Scenarios without a plan", ["status", "reason", "scenarios"],
                    [[r["status"], r["first"], r["n"]] for _, r in agg.head(20).iterrows()]))
    return out


def render_markdown(data: SweepData, tornado: list[dict], sens: dict, plots: list[Path]) -> str:
    def cell(v) -> str:
        return html.escape(_fmt(v)).replace("|", "\\|").replace("\n", " ")

    lines = [f"# Sweep: {cell(data.meta.get('name'))}", ""]
    for title, header, rows in _sections(data, tornado, sens):
        lines += [f"## {cell(title)}", "", "| " + " | ".join(cell(h) for h in header) + " |",
                  "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
        lines.append("")
    pngs = [p for p in plots if p.suffix == ".png"]
    if pngs:
        lines += ["## Plots", ""] + [f"![{cell(p.stem)}](plots/{p.name})" for p in pngs] + [""]
    return "\n".join(lines)


def render_html(data: SweepData, tornado: list[dict], sens: dict, plots: list[Path]) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>Sweep {e(_fmt(data.meta.get('name')))}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
             "margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
             "img{max-width:100%}</style></head><body>",
             f"<h1>Sweep: {e(_fmt(data.meta.get('name')))}</h1>"]
    for title, header, rows in _sections(data, tornado, sens):
        # a key/value section has an empty header (Markdown needs one, HTML prints an empty row)
        head = "".join(f"<th>{e(str(h))}</th>" for h in header) if any(str(h) for h in header) else ""
        parts.append(f"<h2>{e(title)}</h2><table>" + (f"<tr>{head}</tr>" if head else ""))
        parts += ["<tr>" + "".join(f"<td>{e(_fmt(v))}</td>" for v in r) + "</tr>" for r in rows]
        parts.append("</table>")
    pngs = [p for p in plots if p.suffix == ".png" and p.is_file()]
    if pngs:
        parts.append("<h2>Plots</h2>")
        for p in pngs:  # inlined: the HTML file stands alone
            b64 = base64.b64encode(p.read_bytes()).decode()
            parts.append(f"<h3>{e(p.stem)}</h3><img alt='{e(p.stem)}' src='data:image/png;base64,{b64}'>")
    parts.append("</body></html>\n")
    return "\n".join(parts)

