"""Every requested proposal file, rendered from one `Proposal`: name -> text or bytes (nothing is solved here)."""

from __future__ import annotations

from planner.proposal.model import Proposal

FILES = {"html": "proposal.html", "md": "proposal.md", "pdf": "proposal.pdf", "xlsx": "bom.xlsx",
         "csv": "bom.csv", "json": "plan.json"}


def render_files(prop: Proposal, formats: tuple[str, ...], plan_text: str, version: str) -> dict[str, str | bytes]:
    """`formats` from html, md, pdf, xlsx, csv, json; `plan_text` is plan.json as `planner solve` writes it."""
    from planner.report.proposal_csv import render_bom_csv
    from planner.report.proposal_html import render_html

    out: dict[str, str | bytes] = {}
    html = render_html(prop, version) if {"html", "pdf"} & set(formats) else ""
    if "html" in formats:
        out[FILES["html"]] = html
    if "md" in formats:
        from planner.report.proposal_md import render_md

        out[FILES["md"]] = render_md(prop, version)
    if "pdf" in formats:
        from planner.report.proposal_pdf import render_pdf

        out[FILES["pdf"]] = render_pdf(html)
    if "xlsx" in formats:
        from planner.report.proposal_xlsx import render_xlsx

        out[FILES["xlsx"]] = render_xlsx(prop)
    if "csv" in formats:
        out[FILES["csv"]] = render_bom_csv(prop)
    if "json" in formats:
        out[FILES["json"]] = plan_text
    return out
