"""Inline SVG charts for the proposal (no scripts, no external fetches): TCO, tornado, rack elevations.

Every text is escaped here (markupsafe), so the templates can insert the SVG as markup."""

from __future__ import annotations

import math

from markupsafe import Markup, escape

from planner.fmt import short_usd, usd
from planner.proposal.model import RackDrawing, TcoYear, TornadoBar

COLORS = {"capex": "#1f4e79", "energy": "#e07b39", "facility": "#8c8c8c", "maintenance": "#5b9bd5",
          "rental": "#70ad47", "other": "#b4a7d6"}
FONT = 'font-family="Helvetica, Arial, sans-serif"'


def _t(x: float, y: float, text: str, size: int = 11, anchor: str = "start", weight: str = "normal",
       fill: str = "#222") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{fill}" {FONT}>{escape(text)}</text>')


def axis_ticks(top: float, most: int = 4) -> tuple[float, int]:
    """A round step (1, 2, 2.5 or 5 x a power of ten) and how many steps reach `top` with at most `most` of them:
    the axis read $933k / $700k / $466k / $233k when it cut the tallest bar into quarters."""
    if top <= 0:
        return 1.0, most
    raw = top / most
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-12))
    return step, max(1, math.ceil(top / step - 1e-9))


def tco_chart(years: list[TcoYear]) -> Markup:
    """Cumulative cost of ownership at the end of each year, stacked by component."""
    w, h, left, top, bottom = 720, 280, 70, 30, 40
    parts = ["capex", "energy", "facility", "maintenance", "rental", "other"]
    cum = {p: 0.0 for p in parts}
    stacks = []
    for y in years:
        for p in parts:
            cum[p] += getattr(y, f"{p}_usd")
        stacks.append(dict(cum))
    step, ticks = axis_ticks(max((sum(s.values()) for s in stacks), default=0.0))
    top_val = step * ticks
    plot_h = h - top - bottom
    bw = (w - left - 20) / max(len(years), 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" '
           f'aria-label="cumulative cost of ownership by year">']
    for k in range(ticks + 1):
        y = top + plot_h * (1 - k / ticks)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w - 10}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(_t(left - 6, y + 4, short_usd(step * k), 10, "end", fill="#555"))
    for i, (yr, st) in enumerate(zip(years, stacks, strict=True)):
        x = left + i * bw + bw * 0.15
        base = top + plot_h
        for p in parts:
            hh = plot_h * st[p] / top_val
            if hh > 0:
                base -= hh
                out.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bw * 0.7:.1f}" height="{hh:.1f}" '
                           f'fill="{COLORS[p]}"><title>{escape(p)}: {escape(usd(st[p]))}</title></rect>')
        out.append(_t(x + bw * 0.35, base - 5, short_usd(sum(st.values())), 10, "middle", "bold"))
        out.append(_t(x + bw * 0.35, top + plot_h + 15, "purchase" if yr.year == 0 else f"year {yr.year}", 10,
                      "middle"))
    lx = left
    for p in parts:
        if any(getattr(y, f"{p}_usd") for y in years):
            out.append(f'<rect x="{lx}" y="{h - 14}" width="10" height="10" fill="{COLORS[p]}"/>')
            out.append(_t(lx + 14, h - 5, p, 10))
            lx += 24 + 7 * len(p)
    out.append(_t(left, 16, "Cumulative cost of ownership (end of year)", 12, weight="bold"))
    out.append("</svg>")
    return Markup("".join(out))


def _label_sides(low: float | None, high: float | None, base: float) -> tuple[int, int]:
    """Which side of the base line the low and high labels go (-1 left, +1 right): each value's own side, the
    low left and the high right where a value equals the base. Where both fall on one side (a driver that moves
    the cost one way only, or not at all: demand -20% at the same fleet), the label nearer the base crosses the
    line, else the two print over each other."""
    def side(v: float | None, default: int) -> int:
        return default if v is None or v == base else (-1 if v < base else 1)

    lo, hi = side(low, -1), side(high, 1)
    if lo == hi and low is not None and high is not None:
        if abs(low - base) <= abs(high - base):
            lo = -hi
        else:
            hi = -lo
    return lo, hi


def tornado_chart(bars: list[TornadoBar], base: float) -> Markup:
    """Annual total cost at each driver's low and high value, around the chosen plan's."""
    vals = [v for b in bars for v in (b.low_usd_per_year, b.high_usd_per_year) if v is not None] + [base]
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or max(abs(base) * 0.01, 1.0)
    # room on both sides for the value labels (about 130 px at this width)
    lo, hi = lo - span * 0.5, hi + span * 0.5
    w, row, left, right, top = 760, 34, 130, 10, 40
    h = top + row * len(bars) + 30
    plot_w = w - left - right

    def x(v: float) -> float:
        return left + plot_w * (v - lo) / (hi - lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" '
           f'aria-label="sensitivity of annual total cost">',
           _t(left, 16, "Annual total cost: low / high value of each driver", 12, weight="bold")]
    xb = x(base)
    for i, b in enumerate(bars):
        y = top + i * row
        out.append(_t(left - 8, y + row / 2 + 4, b.driver, 11, "end"))
        sides = _label_sides(b.low_usd_per_year, b.high_usd_per_year, base)
        for v, label, color, side in ((b.low_usd_per_year, b.low_label, "#5b9bd5", sides[0]),
                                      (b.high_usd_per_year, b.high_label, "#e07b39", sides[1])):
            if v is None:
                continue
            x0, x1 = sorted((xb, x(v)))
            out.append(f'<rect x="{x0:.1f}" y="{y + 6}" width="{max(x1 - x0, 1):.1f}" height="{row - 12}" '
                       f'fill="{color}"><title>{escape(label)}: {escape(usd(v))}</title></rect>')
            # beyond the bar's end on its own side; across the base line where the other label holds that side
            edge = x0 if side < 0 else x1
            tx = edge - 4 if side < 0 else edge + 4
            out.append(_t(tx, y + row / 2 + 4, f"{label}: {short_usd(v)}", 10, "end" if side < 0 else "start",
                          fill="#333"))
    out.append(f'<line x1="{xb:.1f}" y1="{top - 4}" x2="{xb:.1f}" y2="{top + row * len(bars)}" stroke="#222" '
               'stroke-width="1.5"/>')
    out.append(_t(xb, top + row * len(bars) + 16, f"chosen plan {short_usd(base)} / year", 10, "middle", "bold"))
    out.append("</svg>")
    return Markup("".join(out))


def rack_elevation(r: RackDrawing) -> Markup:
    """One rack, front view, bottom-up; a rack-scale system fills the whole frame."""
    units = r.units_total or max(sum(s.units for s in r.slots), 42)
    u_px, w, pad_top = 5, 190, 46
    h = pad_top + units * u_px + 26
    x0, inner = 20, 150
    # a rack-scale system (NVL72) has no rack units of its own: "0 / 48 U" under a full frame misread
    space = "whole rack" if r.whole_rack else f"{r.units_used} / {units} U"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
           f'aria-label="rack elevation {escape(r.rack_type)}">',
           _t(w / 2, 14, f"{r.count} x {r.rack_type}" if r.count > 1 else r.rack_type, 11, "middle", "bold"),
           _t(w / 2, 30, f"{r.power_kw:,.1f} / {r.max_kw:,.0f} kW, {space}"
              if r.max_kw else f"{r.power_kw:,.1f} kW", 10, "middle", fill="#444"),
           f'<rect x="{x0}" y="{pad_top}" width="{inner}" height="{units * u_px}" fill="#f4f4f4" '
           'stroke="#333" stroke-width="2"/>']
    bottom = pad_top + units * u_px
    for s in r.slots:
        hh = units * u_px if s.units == 0 else s.units * u_px
        y = bottom - hh
        out.append(f'<rect x="{x0 + 4}" y="{y + 1:.1f}" width="{inner - 8}" height="{hh - 2:.1f}" fill="#1f4e79" '
                   f'stroke="#0d2a45"><title>{escape(s.system)}: {s.power_kw:g} kW</title></rect>')
        label = f"{s.system} ({s.power_kw:g} kW)" if hh >= 14 else s.system
        out.append(_t(x0 + inner / 2, y + min(hh / 2 + 4, hh - 3), label, 9, "middle", fill="#fff"))
        bottom = y
    out.append(_t(w / 2, h - 8, "front view, U1 at the bottom", 9, "middle", fill="#777"))
    out.append("</svg>")
    return Markup("".join(out))
