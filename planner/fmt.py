"""Numbers and dollars as people read them, one rule per kind of figure, for every layer that writes text: the
proposal (HTML, Markdown, PDF), the console views and the solver's messages (the spreadsheet and CSV keep
numbers as numbers). Depends on nothing in the planner, so the optimizer's messages need not import the report
layer. Dollars carry the sign first (-$12.3k)."""

from __future__ import annotations


def usd(x: float | None, cents: bool = False) -> str:
    """Whole dollars with thousands separators (with `cents`, two decimals), so a figure reads the same in every
    format of the proposal."""
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


def table_usd(x: float | None) -> str:
    """Dollars in a console table whose rows add up (the investment view's cost per hour beside its parts):
    millions with two decimals, whole dollars from $10,000, cents below. Not `short_usd`: ai-factory-10mw's
    cost per hour read "$10k" above its parts $6,706.26 + $1,110.60 + ..., which a reader cannot add."""
    if x is None:
        return "-"
    sign, a = ("-" if x < 0 else ""), abs(x)
    if a >= 1e6:
        return f"{sign}${a / 1e6:,.2f}M"
    return usd(x, cents=a < 1e4)


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


def formatted(x: float | None, spec: str = ",.0f") -> str:
    """A console figure in its own format spec (`.1f` for a TPOT in ms, `,.6g` for an objective), "-" where the
    plan has none."""
    return "-" if x is None else format(x, spec)


def number(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def quantity(x: float) -> str:
    return f"{x:,.0f}" if abs(x - round(x)) < 1e-9 or abs(x) >= 100 else f"{x:,.2f}"


__all__ = ["formatted", "number", "pct", "quantity", "short_usd", "signed_usd", "table_usd", "unit_price", "usd"]
