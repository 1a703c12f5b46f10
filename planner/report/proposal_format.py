"""Number formatting shared by the proposal's HTML, Markdown and PDF (the spreadsheet and CSV keep numbers as
numbers). Dollars are whole dollars with thousands separators, so a figure reads the same in every format."""

from __future__ import annotations

from planner.proposal.model import Figure


def usd(x: float | None, cents: bool = False) -> str:
    if x is None:
        return "-"
    sign = "-" if x < 0 else ""
    return f"{sign}${abs(x):,.2f}" if cents else f"{sign}${abs(x):,.0f}"


def short_usd(x: float) -> str:
    """Dollars in short, for chart labels and messages: millions with two decimals ($2.29M), thousands to three
    significant digits ($933k, $12.3k, $2.50k), below $1,000 whole dollars with the cents where there are any
    ($500, $812.50); the sign first (-$12.3k). The proposal's charts and the solver's budget messages use it."""
    a = abs(x)
    k = float(f"{a / 1e3:.3g}")  # thousands rounded to three digits first, so $999.7k reads $1.00M
    if k >= 1e3:
        return f"{'-' if x < 0 else ''}${a / 1e6:,.2f}M"
    if k >= 1.0:
        return f"{'-' if x < 0 else ''}${k:.{2 if k < 10 else 1 if k < 100 else 0}f}k"
    return usd(x, cents=a != round(a))


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
