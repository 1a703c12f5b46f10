"""Number formatting of the proposal's HTML, Markdown and PDF (the spreadsheet and CSV keep numbers as numbers):
the neutral formatters of `planner.fmt` (the templates read them here as `fmt.usd` ...) and a figure's value by
its unit."""

from __future__ import annotations

from planner.fmt import number, pct, quantity, short_usd, signed_usd, unit_price, usd
from planner.proposal.model import Figure


def figure_value(f: Figure) -> str:
    v = f.value
    if v is None:
        return "-"
    return {
        "usd": lambda: usd(v),
        "usd_per_year": lambda: usd(v) + " / year",
        "usd_per_mtok": lambda: f"${v:,.4f}",
        "tokens_per_usd": lambda: number(v),
        "tokens_per_kwh": lambda: number(v),
        "tok_s": lambda: number(v),
        "kw": lambda: f"{v:,.1f} kW",
        "years": lambda: f"{v:,.1f} years",
        "pct": lambda: f"{v:.1f}%",
    }.get(f.unit, lambda: f"{v:,.4g}")()


__all__ = ["figure_value", "number", "pct", "quantity", "short_usd", "signed_usd", "unit_price", "usd"]
