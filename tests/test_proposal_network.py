"""The proposal's network estimate and BOM arithmetic, on instances whose answer is counted by hand."""

from __future__ import annotations

import pytest

from planner.proposal.network import estimate_network, nic_ports
from planner.report.proposal_csv import safe_cell


@pytest.mark.parametrize("text,want", [
    ("8x ConnectX-7 400 Gb/s", (8, 400.0)),
    ("72x ConnectX-8 800 Gb/s (one per GPU)", (72, 800.0)),
    ("24x 200 GbE on-die RoCE (3 per Gaudi 3)", (24, 200.0)),
    ("8x 400 Gb/s NIC (AMD Pollara 400 or ConnectX-7)", (8, 400.0)),
    ("two NICs", None),
])
def test_nic_ports_reads_count_and_speed(text, want):
    assert nic_ports(text) == want


def _counts(items):
    return {(c.item.id, c.why.split(":")[0]): c.quantity for c in items}


def test_one_switch_when_the_ports_fit_it(cat):
    # 4 HGX H100 x 8 NICs = 32 ports <= 64: one 64-port 400G switch, 32 links, 64 optics, 32 cables
    items, notes = estimate_network({"hgx-h100": 4}, cat)
    got = {c.item.id: c.quantity for c in items}
    assert got == {"switch-400g-64p": 1, "optic-400g": 64, "cable-fiber": 32}
    assert notes == []


def test_ports_that_fill_one_switch_exactly_need_no_spine(cat):
    # 8 HGX H100 x 8 NICs = 64 ports = the 64-port switch's ports: still one switch, 64 links; one server more
    # (72 ports) takes leaves ceil(72/32) = 3 and spines ceil(72/64) = 2.
    items, _ = estimate_network({"hgx-h100": 8}, cat)
    assert [(c.item.id, c.quantity) for c in items] == [("switch-400g-64p", 1), ("optic-400g", 128),
                                                         ("cable-fiber", 64)]
    items, _ = estimate_network({"hgx-h100": 9}, cat)
    assert [(c.item.id, c.quantity) for c in items][:2] == [("switch-400g-64p", 3), ("switch-400g-64p", 2)]


def test_two_servers_already_need_a_fabric(cat):
    # 2 HGX H100 x 8 NICs = 16 ports: one switch, 16 links (one server alone needs none)
    items, notes = estimate_network({"hgx-h100": 2}, cat)
    assert {c.item.id: c.quantity for c in items} == {"switch-400g-64p": 1, "optic-400g": 32, "cable-fiber": 16}
    assert notes == []


def test_leaf_spine_counts_by_hand(cat):
    # 20 x 8 = 160 ports: leaves ceil(160/32) = 5, spines ceil(160/64) = 3, links 160 + 160 = 320
    items, _ = estimate_network({"hgx-h100": 20}, cat)
    q = [(c.item.id, c.quantity) for c in items]
    assert q == [("switch-400g-64p", 5), ("switch-400g-64p", 3), ("optic-400g", 640), ("cable-fiber", 320)]


def test_speeds_form_separate_fabrics_and_one_system_needs_none(cat):
    items, _ = estimate_network({"hgx-h100": 2, "hgx-b300": 2}, cat)  # 16 x 400G, 16 x 800G
    assert {c.item.id: c.quantity for c in items} == {
        "switch-400g-64p": 1, "optic-400g": 32, "switch-800g-64p": 1, "optic-800g": 32, "cable-fiber": 16}
    items, notes = estimate_network({"gb200-nvl72": 1}, cat)
    assert items == [] and "no scale-out fabric" in notes[0]


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\t=x"])
def test_safe_cell_neutralizes_formula_starts(text):
    assert safe_cell(text) == "'" + text


def test_safe_cell_leaves_numbers_and_plain_text(cat):
    assert safe_cell(-3.5) == -3.5 and safe_cell("hgx-h100") == "hgx-h100" and safe_cell(None) is None


def test_bom_names_leaf_and_spine_switches(cat):
    from types import SimpleNamespace

    from planner.proposal.bom import network_lines

    plan = SimpleNamespace(fleet=SimpleNamespace(servers_new={"hgx-h100": 20}))
    sd = SimpleNamespace(price_usd=300_000.0)
    inst = SimpleNamespace(systems={"hgx-h100": sd}, network_fraction=0.1)
    lines, _ = network_lines(plan, inst, cat)
    items = [b.item for b in lines]
    assert "switch-400g-64p (leaf)" in items and "switch-400g-64p (spine)" in items
    # the balance line brings the network section to the plan's allowance: 10% of 20 x $300k
    assert sum(b.extended_usd for b in lines) == 600_000
