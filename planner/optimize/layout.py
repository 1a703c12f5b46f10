"""Physical layout: which servers share a rack, and which replica groups share a scale-up domain.

Racks are chosen through *patterns* (Gilmore-Gomory style): a pattern is a maximal multiset of systems that fits
one rack type's power, space and cooling; the model buys an integer number of racks per pattern, so every rack
in the plan is a real, checkable layout. A whole-rack system (NVL72) is a pattern of its own in a rack type of its
cooling whose power covers it (the rack type stands for the floor position and its power feed). A rack
mixes at most MAX_KINDS_PER_RACK system types.

Domain packing is the first-fit-decreasing assignment of TP/EP groups to scale-up domains that `verify` uses to
show the GPU constraints of the model are achievable (exact for group sizes that divide each other).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from planner.optimize.instance import Instance, RackData, SystemData

# kW of float noise a rack's power sum may carry (0.1 + 0.2 > 0.3): a server that fills the rack's power to the
# watt still fits. Assumed, far below any nameplate figure.
KW_TOL = 1e-9

MAX_PATTERNS_PER_RACK = 2000
# A rack mixes at most two system types: the usual operating rule (spares, cabling, firmware per rack), and it
# keeps the number of patterns, hence the MIP, small. One type per rack is the fallback for huge catalogs.
MAX_KINDS_PER_RACK = 2


@dataclass(frozen=True)
class Pattern:
    rack: str
    counts: tuple[tuple[str, int], ...]  # (system id, servers), sorted by id

    @property
    def label(self) -> str:
        return "+".join(f"{n}x{s}" for s, n in self.counts)

    def count(self, system: str) -> int:
        return dict(self.counts).get(system, 0)


def fits_rack(system: SystemData, rack: RackData) -> bool:
    if system.cooling != rack.cooling or system.nameplate_kw > rack.max_kw + KW_TOL:
        return False
    return system.whole_rack or (system.rack_units or 0) <= rack.units


def rack_patterns(inst: Instance, systems: list[str]) -> tuple[list[Pattern], list[str]]:
    """Maximal rack fills for the owned `systems`; notes say where mixing had to be limited."""
    notes: list[str] = []
    out: list[Pattern] = []
    for rid in sorted(inst.racks):
        rack = inst.racks[rid]
        fit = [inst.systems[s] for s in sorted(systems) if fits_rack(inst.systems[s], rack)]
        whole = [s for s in fit if s.whole_rack]
        parts = [s for s in fit if not s.whole_rack]
        out.extend(Pattern(rid, ((s.id, 1),)) for s in whole)
        for max_kinds in range(MAX_KINDS_PER_RACK, 0, -1):
            pats = _maximal_fills(parts, rack, max_kinds)
            if pats is not None:
                if max_kinds < MAX_KINDS_PER_RACK and len(parts) > max_kinds:
                    notes.append(f"rack {rid}: racks mix at most {max_kinds} system types (too many combinations)")
                break
        out.extend(Pattern(rid, p) for p in pats or [])
    return out, notes


def _maximal_fills(parts: list[SystemData], rack: RackData, max_kinds: int):
    found: list[tuple[tuple[str, int], ...]] = []

    def room(units: int, kw: float, s: SystemData) -> bool:
        return units + (s.rack_units or 0) <= rack.units and kw + s.nameplate_kw <= rack.max_kw + KW_TOL

    def dfs(i: int, counts: list[tuple[str, int]], units: int, kw: float) -> bool:
        if i == len(parts):
            if counts and not any(room(units, kw, s) for s in parts if _addable(s, counts, max_kinds)):
                found.append(tuple(counts))
                if len(found) > MAX_PATTERNS_PER_RACK:
                    return False
            return True
        s = parts[i]
        n_max = 0
        if len(counts) < max_kinds:
            n_max = min(
                (rack.units - units) // max(s.rack_units or 1, 1),
                int((rack.max_kw - kw + KW_TOL) // s.nameplate_kw),
            )
        for n in range(n_max, -1, -1):
            nxt = [*counts, (s.id, n)] if n else counts
            if not dfs(i + 1, nxt, units + n * (s.rack_units or 0), kw + n * s.nameplate_kw):
                return False
        return True

    ok = dfs(0, [], 0, 0.0)
    return found if ok else None


def _addable(s: SystemData, counts: list[tuple[str, int]], max_kinds: int) -> bool:
    return any(c == s.id for c, _ in counts) or len(counts) < max_kinds


def pack_groups(groups, domain: int, gpus_per_server: int, servers: int) -> bool:
    """Best-fit decreasing of TP/EP groups into the scale-up domains of `servers` servers.

    `groups`: a list of group sizes, or a mapping {size: how many}. Bins and groups are handled as counts
    (free capacity -> bins, size -> groups), so the work grows with the number of distinct sizes, not with the
    number of servers or replicas: a forged plan claiming 1e9 servers is checked in microseconds. For group
    sizes that divide each other (powers of two, as the planner builds them) this finds a packing whenever
    one exists."""
    counts = Counter(groups) if not isinstance(groups, Mapping) else Counter(dict(groups))
    full, rest = divmod(gpus_per_server, domain)
    bins: Counter = Counter()
    if servers > 0:
        if full:
            bins[domain] += full * servers
        if rest:
            bins[rest] += servers
    for g in sorted((g for g, n in counts.items() if n > 0), reverse=True):
        need = counts[g]
        if g <= 0:
            continue
        for free in sorted(c for c in bins if c >= g):  # best fit: the tightest bins first
            if need <= 0:
                break
            per_bin, m = free // g, bins[free]
            used = min(m, -(-need // per_bin))  # bins this size takes from this class
            placed = min(need, used * per_bin)
            bins[free] -= used
            full_bins, last = divmod(placed, per_bin)
            bins[free - per_bin * g] += full_bins
            if last:
                bins[free - last * g] += 1
            need -= placed
        bins = +bins  # drop emptied classes
        if need > 0:
            return False
    return True


def assign_racks(rack_counts: dict[Pattern, int], servers: dict[str, int], inst: Instance) -> list[dict]:
    """Put the plan's owned servers into its racks; returns one dict per rack (type, systems, power_kw)."""
    left = dict(servers)
    racks = []
    for pat in sorted(rack_counts, key=lambda p: (p.rack, p.counts)):
        for _ in range(rack_counts[pat]):
            placed = {}
            for sid, n in pat.counts:
                k = min(n, left.get(sid, 0))
                if k:
                    placed[sid] = k
                    left[sid] -= k
            if not placed:
                continue
            kw = sum(inst.systems[s].nameplate_kw * k for s, k in placed.items())
            units = sum((inst.systems[s].rack_units or 0) * k for s, k in placed.items())
            racks.append(
                {"rack_type": pat.rack, "systems": placed, "power_kw": round(kw, 3), "rack_units_used": units}
            )
    return racks
