"""Scale-out network estimate for the bill of materials: NIC ports -> leaf/spine switches, optics, cables.

Per port speed, the new servers' scale-out NIC ports form one non-blocking fabric of the catalog switch of
that speed (the next faster one when none matches) with P ports:
    N <= P ports       one switch, N links
    N > P              leaves L = ceil(N / (P/2)) (half the ports down, half up), spines S = ceil(N / P),
                       links N (server-leaf) + N (leaf-spine)
Each link takes two optics and one cable. The NICs themselves are part of the system price. Existing
servers are taken as already cabled; a single new system needs no fabric. This is an estimate for
budgeting, not a network design.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from planner.catalog.catalog import Catalog
from planner.catalog.schema_prices import NetworkItem

_COUNT = re.compile(r"^\s*(\d+)\s*x", re.IGNORECASE)
_SPEED = re.compile(r"(\d+)\s*G(?:b/s|bE|b)\b", re.IGNORECASE)


def nic_ports(scale_out_nics: str) -> tuple[int, float] | None:
    """`8x ConnectX-7 400 Gb/s` -> (8, 400.0); None when the text gives no count or speed."""
    count, speed = _COUNT.search(scale_out_nics), _SPEED.search(scale_out_nics)
    if not count or not speed:
        return None
    return int(count.group(1)), float(speed.group(1))


@dataclass(frozen=True)
class NetworkCount:
    item: NetworkItem
    quantity: int
    why: str


def _pick(catalog: Catalog, role: str, speed: float) -> NetworkItem | None:
    """The catalog part of `role` at `speed`, else the slowest faster one (deterministic by id)."""
    parts = sorted(
        (p for p in catalog.network.values() if p.role == role and p.port_speed_gbps >= speed),
        key=lambda p: (p.port_speed_gbps, p.id),
    )
    return parts[0] if parts else None


def estimate_network(servers_new: dict[str, int], catalog: Catalog) -> tuple[list[NetworkCount], list[str]]:
    """Switches, optics and cables for the new servers' NIC ports, and notes on what could not be counted."""
    ports: dict[float, int] = {}
    notes: list[str] = []
    if sum(servers_new.values()) <= 1:
        # One server (or one rack-scale system) talks to nothing over a scale-out fabric.
        return [], ["one new system: no scale-out fabric needed (front-end networking is outside the estimate)"]
    for sid, n in sorted(servers_new.items()):
        parsed = nic_ports(catalog.systems[sid].scale_out_nics)
        if parsed is None:
            notes.append(f"{sid}: scale-out NICs {catalog.systems[sid].scale_out_nics!r} give no port count and "
                         "speed: not counted in the network estimate")
            continue
        per, speed = parsed
        ports[speed] = ports.get(speed, 0) + per * n
    out: list[NetworkCount] = []
    for speed, n in sorted(ports.items()):
        switch, optic, cable = (_pick(catalog, r, speed) for r in ("switch", "optic", "cable"))
        if switch is None or optic is None or cable is None:
            notes.append(f"{n} NIC ports at {speed:g} Gb/s: no catalog switch, optic or cable that fast; "
                         "not counted in the network estimate")
            continue
        p = switch.ports or 1
        if n <= p:
            out.append(NetworkCount(switch, 1, f"{n} x {speed:g}G NIC ports fit one {p}-port switch"))
            links = n
        else:
            leaves, spines = math.ceil(n / (p // 2)), math.ceil(n / p)
            out.append(NetworkCount(switch, leaves, f"leaves: {n} x {speed:g}G ports / {p // 2} down-ports each"))
            out.append(NetworkCount(switch, spines, f"spines: {n} leaf uplinks / {p} ports each (non-blocking)"))
            links = 2 * n
        out.append(NetworkCount(optic, 2 * links, f"{links} links x 2 ends"))
        out.append(NetworkCount(cable, links, f"{links} links"))
    return out, notes
