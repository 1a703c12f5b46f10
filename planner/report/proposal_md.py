"""Render a `Proposal` as Markdown: the HTML's content as text (tables instead of charts).

Every user or catalog string goes through `md()`: HTML-significant characters become entities (a Markdown
viewer shows them as text, never runs them) and Markdown syntax characters are backslash-escaped."""

from __future__ import annotations

import re
from itertools import accumulate

from planner.proposal.model import Proposal
from planner.report import proposal_format as f
from planner.report.proposal_html import bom_sections

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md(x: object) -> str:
    s = str(x).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", " ".join(s.split()))


def _table(head: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def render_md(p: Proposal, version: str) -> str:
    sections = (_head(p), _deployments(p), _racks(p), _tco(p), _alternatives(p), _sensitivity(p), _bom(p),
                _closing(p, version))
    return "\n".join(line for section in sections for line in section)


def _head(p: Proposal) -> list[str]:
    """Title, executive summary and headline figures."""
    L = [f"# {md(p.title)}", "",
         f"Problem **{md(p.problem)}** · {md(p.date)} · objective {md(p.objective)} · solve status {md(p.status)}",
         ""]
    if p.description:
        L += [md(p.description), ""]
    L += ["## Executive summary", "", "What to buy:", ""] + [f"- {md(x)}" for x in p.buy_summary] + [""]
    L += _table(["Figure", "Value"], [[md(x.label), md(f.figure_value(x))] for x in p.figures], {1})
    return L


def _deployments(p: Proposal) -> list[str]:
    """One row per deployment: achieved latency beside its target."""
    L = ["## Deployments per workload", ""]
    L += _table(
        ["Workload", "Model", "Precision / KV", "Engine", "Accelerator (system)", "Parallelism", "Serving",
         "Replicas", "GPUs", "Output tok/s", "TTFT ms (target)", "TPOT ms (target)", "Quality (floor)"],
        [[md(d.workload), md(d.model), md(f"{d.precision} / {d.kv_precision}"), md(d.engine),
          md(f"{d.accelerator} ({d.system}{', rented' if d.mode == 'rent' else ''})"), md(d.parallelism),
          md(d.serving), str(d.replicas), str(d.gpus), f.number(d.output_tok_s),
          f"{f.number(d.ttft_ms)} ({f.number(d.ttft_target_ms)} {md(d.percentile)})",
          f"{f.number(d.tpot_ms, 1)} ({f.number(d.tpot_target_ms, 1)} {md(d.percentile)})",
          f"{f.number(d.quality, 1)} ({md(d.quality_floor)})"] for d in p.deployments],
        {7, 8, 9, 10, 11, 12})
    if p.deployments_note:
        L += ["", md(p.deployments_note)]
    return L


def _racks(p: Proposal) -> list[str]:
    """Rack elevations as text: what sits in each rack type, bottom up."""
    if not p.racks:
        return []
    L = ["## Rack elevations", ""]
    for r in p.racks:
        slots = ", ".join(f"{s.system} ({'whole rack' if s.units == 0 else f'{s.units}U'}, {s.power_kw:g} kW)"
                          for s in r.slots)
        space = "whole rack" if r.whole_rack else f"{r.units_used} of {r.units_total} U"
        cap = f" of {r.max_kw:,.0f} kW, {space}" if r.max_kw else ""
        L.append(f"- {r.count} x {md(r.rack_type)}: {r.power_kw:,.1f} kW{cap}; bottom up: {md(slots)}")
    L.append("")
    return L


def _tco(p: Proposal) -> list[str]:
    """Total cost of ownership year by year."""
    L = [f"## Total cost of ownership over {p.horizon_years} years", ""]
    cum = list(accumulate(y.total_usd for y in p.tco))
    other = any(y.other_usd for y in p.tco)
    L += _table(["Year", "Capex", "Energy", "Facility", "Maintenance", "Rentals", *(["Other"] if other else []),
                 "Total", "Cumulative"],
                [["purchase" if y.year == 0 else f"year {y.year}", f.usd(y.capex_usd), f.usd(y.energy_usd),
                  f.usd(y.facility_usd), f.usd(y.maintenance_usd), f.usd(y.rental_usd),
                  *([f.usd(y.other_usd)] if other else []), f.usd(y.total_usd), f.usd(c)]
                 for y, c in zip(p.tco, cum, strict=True)], set(range(1, 9)))
    return L


def _alternatives(p: Proposal) -> list[str]:
    """The re-solves a buyer compares the plan with."""
    L = ["## Alternatives considered", ""]
    L += _table(["Alternative", "Accelerators", "Total cost / year", "Capex", "Output tok/s", "$ / Mtok",
                 "Delta $ / year", "Delta", "Note"],
                [[md(a.name), md(a.accelerators), f.usd(a.annual_cost_usd), f.usd(a.capex_usd),
                  f.number(a.output_tok_s), "-" if a.usd_per_mtok is None else f"${a.usd_per_mtok:.4f}",
                  f.signed_usd(a.delta_usd_per_year), f.pct(a.delta_pct), md(a.note)] for a in p.alternatives],
                {2, 3, 4, 5, 6, 7})
    if p.objective != "min_cost":
        L += [f"The objective is {md(p.objective)}: alternatives may serve a different number of tokens, so "
              "compare them on $ / Mtok as well as on total cost.", ""]
    return L


def _sensitivity(p: Proposal) -> list[str]:
    """The tornado of total cost."""
    L = ["## Sensitivity of total cost", "",
          f"Chosen plan: {f.usd(p.base_usd_per_year)} a year. Each low/high value is a fresh solve, except "
          "utilization, which keeps the fleet.", ""]
    L += _table(["Driver", "Low", "Cost / year", "High", "Cost / year", "Swing", "Note"],
                [[md(b.driver), md(b.low_label), f.usd(b.low_usd_per_year), md(b.high_label),
                  f.usd(b.high_usd_per_year), f.usd(b.swing_usd), md(b.note)] for b in p.tornado], {2, 4, 5})
    return L


def _bom(p: Proposal) -> list[str]:
    """Bill of materials by section, with unit price ranges and sources."""
    L = ["## Bill of materials", ""]
    rows = []
    for section, lines in bom_sections(p):
        rows.append([f"**{md(section)}**"] + [""] * 7)
        for b in lines:
            ext = f.usd(b.extended_usd) + (" / yr" if b.recurrence == "per year" else "")
            rng = "-" if b.unit_low_usd is None else \
                f"{f.unit_price(b.unit_low_usd)} / {f.unit_price(b.unit_high_usd)}"
            src = b.source + (f" ({b.date})" if b.date else "")
            rows.append([md(b.item) + (" (assumed)" if b.assumed else ""), md(b.description),
                         f.quantity(b.quantity), md(b.unit), f.unit_price(b.unit_price_usd), ext, rng, md(src)])
    rows.append(["**Capex total (one-time)**", "", "", "", "", f"**{f.usd(p.capex_total_usd)}**", "", ""])
    rows.append(["**Operating cost per year**", "", "", "", "", f"**{f.usd(p.recurring_usd_per_year)} / yr**",
                 "", ""])
    L += _table(["Item", "Description", "Qty", "Unit", "Unit price", "Extended", "Low / high (unit)",
                 "Source (date)"], rows, {2, 4, 5, 6})
    return L


def _closing(p: Proposal, version: str) -> list[str]:
    """Assumptions, risks, notes and the generator line."""
    L = ["## Assumptions", "",
          "Every catalog figure the plan rests on; (assumed) marks figures without a source.", ""]
    L += _table(["Topic", "Figure", "Value", "Source", "Date", "Reason / note"],
                [[md(a.topic), md(a.item) + (" (assumed)" if a.assumed else ""), md(a.value), md(a.source),
                  md(a.date or "-"), md(a.reason)] for a in p.assumptions])
    L += ["## Risks", ""]
    L += [f"- **{md(r.severity)}** {md(r.kind)}: {md(r.text)}" for r in p.risks] or ["- none found"]
    L.append("")
    if p.notes:
        L += ["## Notes", ""] + [f"- {md(n)}" for n in p.notes] + [""]
    L += [f"Generated by planner {md(version)} on {md(p.date)}. Numbers are the plan's (plan.json).", ""]
    return L
