"""Number formatting shared by the proposal's HTML, Markdown and PDF (the spreadsheet and CSV keep numbers as
numbers). Dollars are whole dollars with thousands separators, so a figure reads the same in every format."""

from __future__ import annotations

from planner.proposal.model import Figure


def usd(x: float | None, cents: bool = False) -> str:
    if x is None:
        return "-"
    sign = "-" if x < 0 else ""
    return f"{sign}${abs(x):,.2f}" if cents else f"{sign}${abs(x):,.0f}"


def unit_price(x: float | None) -> str:
    """Unit prices below $10 (electricity, rentals, optics per unit) keep their cents."""
    if x is None:
        return "-"
    return usd(x, cents=abs(x) < 10 and x != 0) if abs(x) >= 0.01 or x == 0 else f"${x:.4f}"


def signed_usd(x: float | None) -> str:
    return "-" if x is None else ("+" if x > 0 else "") + usd(x)


def pct(x: float | None, signed: bool = True) -> str:
    if x is None:
        return "-"
    return f"{x:+.1f}%" if signed else f"{x:.1f}%"


def number(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def quantity(x: float) -> str:
    return f"{x:,.0f}" if abs(x - round(x)) < 1e-9 or abs(x) >= 100 else f"{x:,.2f}"


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
