"""The proposal's inline SVG charts as geometry: labels that must not print over each other."""

from __future__ import annotations

import re

from planner.proposal.model import TornadoBar
from planner.report.proposal_svg import tornado_chart


def _labels(svg: str) -> dict[str, tuple[float, str]]:
    """Each value label of a tornado ("-20%: $262k") -> (x, text-anchor)."""
    pattern = r'<text x="([\d.]+)" y="[\d.]+" font-size="10" text-anchor="(\w+)"[^>]*>([^<]+)</text>'
    found = re.findall(pattern, svg)
    return {text.split(":")[0]: (float(x), anchor) for x, anchor, text in found if ":" in text}


def test_tornado_labels_of_one_driver_take_both_sides_of_the_base_line():
    """Demand -20% left quickstart's fleet unchanged (cost = base) and +20% added $542: both labels were anchored
    right of the base line at nearly the same x, printed over each other. A label at the base goes to its own
    side (low left, high right); two labels on one side put the one nearer the base across the line."""
    base = 262_316.0
    svg = str(tornado_chart([
        TornadoBar("demand", "-20%", "+20%", base, base + 542),
        TornadoBar("system prices", "catalog low", "catalog high", base - 23_000, base + 116_000),
        TornadoBar("one way", "lowish", "highish", base + 1_000, base + 9_000),
    ], base))
    labels = _labels(svg)
    assert labels["-20%"][1] == "end" and labels["+20%"][1] == "start"
    assert labels["-20%"][0] < labels["+20%"][0]
    # both values above the base: the nearer (low) label crosses to the left of the base line
    assert labels["lowish"][1] == "end" and labels["highish"][1] == "start"
    assert labels["catalog low"][1] == "end" and labels["catalog high"][1] == "start"


def test_tco_axis_has_round_ticks_above_the_tallest_bar():
    """The axis cut the tallest bar into quarters: $933k / $700k / $466k / $233k for quickstart."""
    from planner.proposal.model import TcoYear
    from planner.report.proposal_svg import tco_chart

    years = [TcoYear(0, 560_000, 0, 0, 0, 0)] + [TcoYear(y, 0, 15_417, 49_824, 28_000, 0) for y in (1, 2, 3, 4)]
    svg = str(tco_chart(years))
    ticks = re.findall(r'text-anchor="end"[^>]*fill="#555"[^>]*>([^<]+)</text>', svg)
    assert ticks == ["$0", "$250k", "$500k", "$750k", "$1.00M"]

    # a small plan's axis: thousands to three digits (whole thousands read $2k / $5k / $8k for 2,500-dollar steps)
    small = [TcoYear(0, 9_000, 0, 0, 0, 0)]
    ticks = re.findall(r'text-anchor="end"[^>]*fill="#555"[^>]*>([^<]+)</text>', str(tco_chart(small)))
    assert ticks == ["$0", "$2.50k", "$5.00k", "$7.50k", "$10.0k"]


def test_short_dollars_one_rule():
    """The charts and the solver's budget messages share short_usd (they printed $12k and $12.3k, $500 and
    $500.00, $-12k for the same figures)."""
    from planner.fmt import short_usd
    from planner.optimize.diagnose import describe_shortfall
    from planner.optimize.model import Constraint

    got = [short_usd(x) for x in (0, 500, 812.5, 999.7, 2_500, 12_345, 262_000, 999_700, 2.29e6, -12_345)]
    assert got == ["$0", "$500", "$812.50", "$1.00k", "$2.50k", "$12.3k", "$262k", "$1.00M", "$2.29M", "-$12.3k"]
    con = Constraint(name="capex", family="budget_capex", coefs={}, hi=1_000.0)
    assert describe_shortfall(con, 11_345.0) == "capex budget $1.00k is short by $11.3k (raise it to $12.3k)"


def test_whole_rack_system_is_not_zero_rack_units():
    """An NVL72 rack read "120.0 / 132 kW, 0 / 48 U" under a frame it fills."""
    from planner.proposal.model import RackDrawing, RackSlot
    from planner.report.proposal_svg import rack_elevation

    nvl72 = (RackSlot("gb200-nvl72", 0, 120),)
    nvl = str(rack_elevation(RackDrawing("liquid-48u-132kw", 50, 48, 132, 120, 0, nvl72)))
    assert "120.0 / 132 kW, whole rack" in nvl and "0 / 48 U" not in nvl
    hgx = str(rack_elevation(RackDrawing("air-42u-17kw", 2, 42, 17, 10.2, 8, (RackSlot("hgx-h100", 8, 10.2),))))
    assert "10.2 / 17 kW, 8 / 42 U" in hgx


def test_whole_rack_in_markdown_too():
    """proposal.md's rack line read "120.0 kW of 132 kW, 0 of 48 U" for an NVL72 rack."""
    from planner.proposal.model import RackDrawing, RackSlot
    from planner.report.proposal_md import _racks

    class P:  # the one field _racks reads
        racks = (RackDrawing("liquid-48u-132kw", 50, 48, 132, 120, 0, (RackSlot("gb200-nvl72", 0, 120),)),)

    (line,) = [x for x in _racks(P()) if x.startswith("- ")]
    assert "120.0 kW of 132 kW, whole rack;" in line and "0 of 48 U" not in line
