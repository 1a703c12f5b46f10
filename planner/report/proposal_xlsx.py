"""The proposal as a real spreadsheet (openpyxl): Summary, BOM, TCO by year and Assumptions sheets.

Numbers are typed numeric cells; extended prices and totals are formulas over them (a reader who changes a
quantity or price sees the totals follow); headers are frozen; text from users or the catalog goes through
`safe_cell` (formula injection). Document timestamps are the proposal's date, so the workbook's content is the
same for the same input."""

from __future__ import annotations

import datetime as dt
import io

from planner.outputs import safe_cell
from planner.proposal.model import ONE_TIME, PER_YEAR, Proposal

USD = '"$"#,##0'
USD_CENTS = '"$"#,##0.00##'
NUM = "#,##0.##"


def _header(ws, names: list[str], widths: list[int]) -> None:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws.append(names)
    for i, wdt in enumerate(widths, start=1):
        c = ws.cell(row=1, column=i)
        c.font = Font(bold=True, color="FFFFFF")
        c.fill = PatternFill("solid", fgColor="1F4E79")
        ws.column_dimensions[get_column_letter(i)].width = wdt
    ws.freeze_panes = "A2"


def _bom_sheet(wb, p: Proposal) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet("BOM")
    _header(ws, ["Section", "Item", "Description", "Quantity", "Unit", "Unit price (USD)", "Extended (USD)",
                 "Recurrence", "Unit low (USD)", "Unit high (USD)", "Price source", "Price date", "Assumed"],
            [20, 28, 60, 12, 10, 16, 16, 11, 14, 14, 50, 14, 9])
    first = 2
    for r, b in enumerate(p.bom, start=first):
        ws.append([safe_cell(b.section), safe_cell(b.item), safe_cell(b.description), b.quantity,
                   safe_cell(b.unit), b.unit_price_usd, f"=D{r}*F{r}", b.recurrence, b.unit_low_usd,
                   b.unit_high_usd, safe_cell(b.source), safe_cell(b.date), "yes" if b.assumed else "no"])
        ws.cell(r, 4).number_format = NUM
        for col in (6, 9, 10):
            ws.cell(r, col).number_format = USD_CENTS
        ws.cell(r, 7).number_format = USD
    last = first + len(p.bom) - 1
    for label, rec in (("Capex total (one-time)", ONE_TIME), ("Operating cost per year", PER_YEAR)):
        ws.append(["Total", label, "", None, "", None, f'=SUMIF(H{first}:H{last},"{rec}",G{first}:G{last})', rec])
        row = ws.max_row
        ws.cell(row, 7).number_format = USD
        for col in (1, 2, 7):
            ws.cell(row, col).font = Font(bold=True)


def _tco_sheet(wb, p: Proposal) -> None:
    ws = wb.create_sheet("TCO by year")
    _header(ws, ["Year (0 = purchase)", "Capex (USD)", "Energy (USD)", "Facility (USD)", "Maintenance (USD)",
                 "Rentals (USD)", "Other (USD)", "Total (USD)", "Cumulative (USD)"],
            [18, 16, 16, 16, 18, 16, 14, 16, 18])
    for r, y in enumerate(p.tco, start=2):
        ws.append([y.year, y.capex_usd, y.energy_usd, y.facility_usd, y.maintenance_usd, y.rental_usd, y.other_usd,
                   f"=SUM(B{r}:G{r})", f"=H{r}" if r == 2 else f"=I{r - 1}+H{r}"])
        for col in range(2, 10):
            ws.cell(r, col).number_format = USD
    last = 1 + len(p.tco)
    ws.append(["Total"] + [f"=SUM({c}2:{c}{last})" for c in "BCDEFGH"])
    for col in range(2, 9):
        ws.cell(ws.max_row, col).number_format = USD


def _summary_sheet(wb, p: Proposal) -> None:
    ws = wb.active
    ws.title = "Summary"
    _header(ws, ["Figure", "Value", "Unit", "Key"], [48, 20, 16, 28])
    for f in p.figures:
        ws.append([safe_cell(f.label), f.value, f.unit, f.key])
        ws.cell(ws.max_row, 2).number_format = USD if f.unit in ("usd", "usd_per_year") else (
            USD_CENTS if f.unit == "usd_per_mtok" else NUM)
    ws.append([])
    for line in p.buy_summary:
        ws.append([safe_cell(line)])


def _assumptions_sheet(wb, p: Proposal) -> None:
    ws = wb.create_sheet("Assumptions")
    _header(ws, ["Topic", "Figure", "Value", "Source", "Date", "Assumed", "Reason / note"],
            [14, 40, 36, 60, 16, 9, 80])
    for a in p.assumptions:
        ws.append([safe_cell(x) for x in (a.topic, a.item, a.value, a.source, a.date)]
                  + ["yes" if a.assumed else "no", safe_cell(a.reason)])


def render_xlsx(p: Proposal) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    _summary_sheet(wb, p)
    _bom_sheet(wb, p)
    _tco_sheet(wb, p)
    _assumptions_sheet(wb, p)
    when = dt.datetime.fromisoformat(p.date) if _is_date(p.date) else dt.datetime(2000, 1, 1)
    wb.properties.created = wb.properties.modified = when
    wb.properties.creator = "planner"
    wb.properties.title = safe_cell(p.title)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _is_date(s: str) -> bool:
    try:
        dt.date.fromisoformat(s)
    except ValueError:
        return False
    return True
