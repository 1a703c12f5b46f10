"""The bill of materials as CSV (numbers as plain numbers) and the one formula-injection guard for the
proposal's CSV and XLSX cells."""

from __future__ import annotations

import csv
import io

from planner.outputs import safe_cell
from planner.proposal.model import ONE_TIME, PER_YEAR, Proposal

BOM_COLUMNS = ("section", "item", "description", "quantity", "unit", "unit_price_usd", "extended_usd",
               "recurrence", "unit_low_usd", "unit_high_usd", "price_source", "price_date", "assumed")


def bom_rows(p: Proposal) -> list[list[object]]:
    rows = []
    for b in p.bom:
        rows.append([safe_cell(x) for x in (b.section, b.item, b.description)] + [
            b.quantity, safe_cell(b.unit), b.unit_price_usd, b.extended_usd, b.recurrence, b.unit_low_usd,
            b.unit_high_usd, safe_cell(b.source), safe_cell(b.date), "yes" if b.assumed else "no"])
    return rows


def _num(x: object) -> object:
    """Floats in their shortest exact form (repr), so a reader parses back the very number."""
    return repr(x) if isinstance(x, float) else ("" if x is None else x)


def render_bom_csv(p: Proposal) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(BOM_COLUMNS)
    for r in bom_rows(p):
        w.writerow([_num(x) for x in r])
    blank = [""] * (len(BOM_COLUMNS) - 8)
    w.writerow(["total", "capex (one-time)", "", "", "", "", _num(p.capex_total_usd), ONE_TIME, *blank])
    w.writerow(["total", "operating cost per year", "", "", "", "", _num(p.recurring_usd_per_year), PER_YEAR,
                *blank])
    return buf.getvalue()
