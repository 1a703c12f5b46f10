"""Render a `Proposal` as one self-contained HTML page (inline CSS and SVG; no scripts, no fetches), the same
page WeasyPrint turns into the PDF. Jinja2 autoescapes every string; charts are escaped SVG (proposal_svg)."""

from __future__ import annotations

from itertools import accumulate
from pathlib import Path

from planner.proposal.model import Proposal
from planner.report import proposal_format, proposal_svg

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def bom_sections(p: Proposal) -> list[tuple[str, list]]:
    out: dict[str, list] = {}
    for b in p.bom:
        out.setdefault(b.section, []).append(b)
    return list(out.items())


def render_html(p: Proposal, version: str) -> str:
    totals = [y.total_usd for y in p.tco]
    return _env().get_template("proposal.html.j2").render(
        p=p,
        fmt=proposal_format,
        version=version,
        racks=[proposal_svg.rack_elevation(r) for r in p.racks],
        tco_svg=proposal_svg.tco_chart(list(p.tco)),
        tornado_svg=proposal_svg.tornado_chart(list(p.tornado), p.base_usd_per_year),
        cumulative=list(accumulate(totals)),
        tco_total=sum(totals),
        bom_sections=bom_sections(p),
        has_other=any(y.other_usd for y in p.tco),
        percentile=", ".join(sorted({d.percentile for d in p.deployments})) or "-",
    )
