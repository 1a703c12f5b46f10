r"""Failure domains: where each replica sits, and the fleet surviving the loss of any N servers.

Without `survive` the MIP counts GPUs per system (server_fit) and the plan's placement per physical server is a
first-fit-decreasing packing of the replicas (exists by server_fit). With `survive: {servers: N}` on any
workload the placement becomes part of the model, exactly:

    slots j = 1..U_{s,m} per system s and mode m (own | rent): y_j in {0,1} server j in use, y_j >= y_{j+1}
    n_{c,j} >= 0 integer     replicas of candidate c (on s, m) on server j;   x_c = sum_j n_{c,j}
    slot_fit    sum_{c: q_c >= t} g_c n_{c,j} <= cap_s(t) y_j       (each TP/EP group inside one domain)
    slot_count  sum_j y_j = b_s + e_s (own)  or  r_s (rent)
    survive     for every workload w with N_w > 0, the capacity left after losing the N_w servers carrying most
                of w is at least its peak demand D_w. The loss is the sum of the N_w largest per-server
                capacities L_{w,j} = sum_{c in w} o_c n_{c,j}; with the LP dual of "sum of the N largest":
                    sum_{c in w} o_c x_c - N_w t_w - sum_j p_{w,j} >= D_w,   p_{w,j} >= L_{w,j} - t_w,  p, t >= 0
                which holds for some (t, p) exactly when it holds for the N_w largest L (exact for every N).

A replica that needs more GPUs than one server has would span servers and die with any of them; under
`survive` such candidates are left out (said in the plan's notes). U_{s,m} (`failure_slots`) starts from an
estimate and is raised, where a min-cost plan's cost says an optimum could use more domains, to a bound no optimal
plan exceeds; a plan that uses every slot of a group still capped (MAX_SLOTS, supply) says so in its notes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from planner.optimize.failure_slots import SlotGroup, rack_capacity, slot_groups
from planner.optimize.model import MipModel


@dataclass
class Slot:
    """A failure domain: one server (`rack` None), or one rack of `rack` type holding `servers` servers of one
    system (survive racks: racks are homogeneous so each is a checkable layout of its own)."""

    system: str
    mode: str
    index: int
    used: int  # binary variable: the domain exists
    place: dict[int, int] = field(default_factory=dict)  # candidate row -> integer variable (replicas here)
    rack: str | None = None
    servers: int | None = None  # integer variable: servers in the rack (None: a single server, = used)

    @property
    def count_var(self) -> int:
        return self.servers if self.servers is not None else self.used


@dataclass
class Domains:
    level: str
    slots: list[Slot]
    excluded: list[str] = field(default_factory=list)  # candidate keys left out (span several servers)
    groups: list[SlotGroup] = field(default_factory=list)  # how many slots each system and mode has, and why
    checked: bool = False  # failure_slots.check compared the slots with a min-cost plan's cost


def survive_level(inst) -> str | None:
    levels = {w.survive_level for w in inst.workloads.values() if w.survive_level}
    return next(iter(levels)) if levels else None


def replicas_per_domain(inst, level: str, s: str, mode: str, gpus: int) -> int:
    """The most replicas of `gpus` GPUs on system `s` (own | rent) that one failure domain can hold (a bound: TP/EP
    groups may pack fewer)."""
    sd = inst.systems[s]
    per = 1
    if level == "racks" and mode == "own" and not sd.whole_rack:
        per = max((p for _, p in rack_capacity(inst, s)), default=1)
    return (sd.gpus * per) // max(gpus, 1)


def add(m: MipModel, ix) -> None:
    """Build the slots and the survive rows (nothing when no workload asks to survive anything)."""
    inst = ix.inst
    level = survive_level(inst)
    if level is None:
        return
    dom = Domains(level, [])
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i in range(len(ix.keys)):
        s = ix.system[i]
        if ix.gpus[i] > inst.systems[s].gpus:
            m.fix(ix.x[i], 0.0, 0.0)
            dom.excluded.append(ix.keys[i])
            continue
        groups[(s, ix.mode[i])].append(i)
    for (s, mode), rows in sorted(groups.items()):
        mine = _group_slots(m, ix, dom, s, mode, rows)
        dom.slots += mine
        _link_group(m, ix, s, mode, rows, mine)
    _add_survive_rows(m, ix, dom)
    _add_survive_cuts(m, ix, dom)
    if level == "racks":
        _add_rack_counts(m, ix, dom)
    if dom.excluded:
        ix.notes.append(
            f"survive: {len(dom.excluded)} candidate(s) spanning several servers left out (a replica across "
            "servers dies with any of them)"
        )
    ix.domains = dom


def _group_slots(m: MipModel, ix, dom: Domains, s: str, mode: str, rows: list[int]) -> list[Slot]:
    """The failure domains (servers, or racks of them) one system and mode can fill, each with its placement
    variables, in symmetry-broken order."""
    sd = ix.inst.systems[s]
    racked = dom.level == "racks" and mode == "own" and not sd.whole_rack
    groups = slot_groups(ix, s, mode, rows, racked, ix.slot_floor)
    dom.groups.extend(groups)
    slots: list[Slot] = []
    for g in groups:
        rack, per_rack = g.key[2], g.per_rack
        prev = None
        for j in range(g.slots):
            tag = f"{s},{mode},{rack or 'server'},{j + 1}"
            y = m.add_var(f"domain[{tag}]", ub=1.0, integer=True)
            slot = Slot(s, mode, j + 1, y, rack=rack)
            if rack is not None:
                slot.servers = m.add_var(f"rack_servers[{tag}]", ub=float(per_rack), integer=True)
                m.add(f"rack_servers_cap[{tag}]", "rack_slot", {slot.servers: 1.0, y: -float(per_rack)},
                      hi=0.0, entity=rack, unit="servers")
                m.add(f"rack_servers_used[{tag}]", "rack_slot", {slot.servers: 1.0, y: -1.0}, lo=0.0,
                      entity=rack, unit="servers")
            per_replica_cap = sd.gpus * per_rack
            for i in rows:
                slot.place[i] = m.add_var(f"on[{ix.keys[i]},{tag}]", ub=float(per_replica_cap // ix.gpus[i]),
                                          integer=True)
            _slot_fit(m, ix, sd, slot, rows, tag)
            if prev is not None:
                _order_slots(m, ix, s, prev, slot, rows, tag)
            prev = slot
            slots.append(slot)
    return slots


def _order_slots(m: MipModel, ix, s: str, prev: Slot, slot: Slot, rows: list[int], tag: str) -> None:
    """Interchangeable domains: used ones first, then by GPUs in use (symmetry breaking)."""
    m.add(f"slot_order[{tag}]", "slot_order", {prev.used: 1.0, slot.used: -1.0}, lo=0.0, entity=s)
    load = {prev.place[i]: float(ix.gpus[i]) for i in rows}
    for i in rows:
        load[slot.place[i]] = load.get(slot.place[i], 0.0) - float(ix.gpus[i])
    m.add(f"slot_load_order[{tag}]", "slot_order", load, lo=0.0, entity=s, unit="GPUs")


def _link_group(m: MipModel, ix, s: str, mode: str, rows: list[int], mine: list[Slot]) -> None:
    """Every replica of the group sits in one of its domains, and the domains in use are the servers bought,
    kept or rented."""
    for i in rows:
        coefs = {sl.place[i]: 1.0 for sl in mine}
        coefs[ix.x[i]] = -1.0
        m.add(f"placed[{ix.keys[i]}]", "placement", coefs, lo=0.0, hi=0.0, entity=ix.keys[i], unit="replicas")
    count = {sl.count_var: 1.0 for sl in mine}
    server_vars = [ix.buy.get(s), ix.exist.get(s)] if mode == "own" else [ix.rent.get(s)]
    for v in server_vars:
        if v is not None:
            count[v] = -1.0
    m.add(f"slot_count[{s},{mode}]", "slot_count", count, lo=0.0, hi=0.0, entity=s, unit="servers")


def _slot_fit(m: MipModel, ix, sd, slot: Slot, rows: list[int], tag: str) -> None:
    """Groups of the replicas in a domain fit its servers' scale-up domains (aggregated over the servers of a
    rack: exact for power-of-two group sizes, as server_fit)."""
    for t in sorted({ix.group[i] for i in rows} | {1}):
        cap = sd.domain_capacity(t)
        if t > 1 and cap == sd.domain_capacity(1):
            continue
        coefs = {slot.place[i]: float(ix.gpus[i]) for i in rows if ix.group[i] >= t}
        if coefs:
            coefs[slot.count_var] = -float(cap)
            m.add(f"slot_fit[{tag},q>={t}]", "slot_fit", coefs, hi=0.0, entity=sd.id, unit="GPUs")


def _add_rack_counts(m: MipModel, ix, dom: Domains) -> None:
    """Racks per type: the homogeneous rack domains are the plan's racks; their count per type equals the rack
    patterns' (which carry the rack cost and the per-type availability)."""
    by_type: dict[str, list[int]] = defaultdict(list)
    for sl in dom.slots:
        if sl.rack is not None:
            by_type[sl.rack].append(sl.used)
    for rid in sorted(set(by_type) | {p.rack for p in ix.patterns}):
        coefs = {v: 1.0 for v in by_type.get(rid, [])}
        for k, p in enumerate(ix.patterns):
            if p.rack == rid and ix.inst.systems[p.counts[0][0]].whole_rack is False:
                coefs[ix.z[k]] = coefs.get(ix.z[k], 0.0) - 1.0
        if coefs:
            m.add(f"rack_domains[{rid}]", "rack_domains", coefs, lo=0.0, hi=0.0, entity=rid, unit="racks")


def _add_survive_rows(m: MipModel, ix, dom: Domains) -> None:
    inst = ix.inst
    for w, rows in sorted(ix.by_workload.items()):
        wl = inst.workloads[w]
        n = wl.survive_count
        if not wl.survive_level or n <= 0 or not wl.demand_out_tok_s:
            continue
        t = m.add_var(f"survive_t[{w}]")
        coefs = {ix.x[i]: ix.out[i] for i in rows}
        coefs[t] = -float(n)
        mine = set(rows)
        for sl in dom.slots:
            here = {sl.place[i]: ix.out[i] for i in sl.place if i in mine}
            if not here:
                continue
            p = m.add_var(f"survive_p[{w},{sl.system},{sl.mode},{sl.index}]")
            m.add(f"survive_loss[{w},{sl.system},{sl.mode},{sl.index}]", "survive_loss",
                  {**{v: -c for v, c in here.items()}, p: 1.0, t: 1.0}, lo=0.0, entity=w, unit="tok/s")
            coefs[p] = -1.0
        m.add(f"survive[{w}]", "survive", coefs, lo=wl.demand_out_tok_s, entity=w, unit="tok/s")


MAX_SECANTS = 24  # per workload: bounds the rows where no headroom ends them (f(k) -> D_w)


def _add_survive_cuts(m: MipModel, ix, dom: Domains) -> None:
    """Valid inequalities that tie a workload's capacity to the number of domains it is spread over (the LP spreads
    fractional servers over many slots, so losing one costs it almost nothing). With K' domains carrying w, the
    N_w most loaded hold at least N_w / K' of X_w = sum_{c in w} o_c x_c, so X_w (K' - N_w) / K' >= D_w, i.e.
    X_w >= f(K') = D_w K' / (K' - N_w); f decreases in K', so it holds for K = sum of y_j over every domain that
    could carry w (K >= K'), and K >= N_w + 1 (else losing N_w domains loses all of w). f is convex, so every
    secant through consecutive integers lies below it at every integer K:
        sum_j y_j >= N_w + 1,    X_w >= f(k) + (f(k+1) - f(k)) (K - k)   for k = N_w + 1 .. (slots - 1)
    Measured (CPU s, cold solve of simplicity-and-failure-domains without b200, the runner-up): SCIP 3.3 -> 1.8,
    HiGHS 3.2 -> 1.0, CBC 4.3 -> 1.8."""
    inst = ix.inst
    for w, rows in sorted(ix.by_workload.items()):
        wl = inst.workloads[w]
        n, demand = wl.survive_count, wl.demand_out_tok_s
        if not wl.survive_level or n <= 0 or not demand:
            continue
        mine = set(rows)
        ys = [sl.used for sl in dom.slots if any(i in mine for i in sl.place)]
        m.add(f"survive_domains[{w}]", "survive_cut", {y: 1.0 for y in ys}, lo=n + 1, entity=w, unit="domains")
        capacity = {ix.x[i]: ix.out[i] for i in rows}

        def f(k: int, n: int = n, demand: float = demand) -> float:
            return demand * k / (k - n)

        # a secant starting at f(k) <= (1 + h_w) D_w is implied by the demand row, and so are all after it
        for k in range(n + 1, min(len(ys), n + 1 + MAX_SECANTS)):
            if f(k) <= wl.required_out_tok_s:
                break
            slope = f(k + 1) - f(k)
            coefs = dict(capacity)
            for y in ys:
                coefs[y] = -slope
            m.add(f"survive_secant[{w},{k}]", "survive_cut", coefs, lo=f(k) - slope * k, entity=w, unit="tok/s")


# ------------------------------------------------------------------------------------------------ placement
def placement_from_solution(ix, values: list[float], deployments: list) -> tuple[list[dict], list[dict]] | None:
    """(servers with the replicas the MIP put on them, racks of the rack domains), or None without slots. The
    servers of a rack domain are packed first-fit (exists by the aggregated slot_fit)."""
    dom = ix.domains
    if dom is None:
        return None
    inst = ix.inst
    by_key = {d.key: d for d in deployments}
    out, racks = [], []
    per_type: dict[str, int] = defaultdict(int)
    for sl in dom.slots:
        if round(values[sl.used]) < 1:
            continue
        deps = {ix.keys[i]: round(values[v]) for i, v in sorted(sl.place.items()) if round(values[v]) > 0}
        if sl.rack is None:
            out.append({"system": sl.system, "mode": sl.mode, "deployments": deps, "rack": None})
            continue
        n = round(values[sl.servers])
        per_type[sl.rack] += 1
        label = f"{sl.rack}#{per_type[sl.rack]}"
        sd = inst.systems[sl.system]
        sub = [dataclasses_replace(by_key[k], replicas=r) for k, r in deps.items()]
        for e in pack_placement(sub, {(sl.system, sl.mode): n}, lambda s: inst.systems[s].domain,
                                lambda s: inst.systems[s].gpus):
            out.append({**e, "rack": label})
        racks.append({"rack_type": sl.rack, "systems": {sl.system: n}, "power_kw": round(sd.nameplate_kw * n, 3),
                      "rack_units_used": (sd.rack_units or 0) * n})
    return out, racks


def dataclasses_replace(d, **kw):
    return d.model_copy(update=kw)


def fleet_servers(new: dict, old: dict, rented: dict) -> dict[tuple[str, str], int]:
    """(system, own | rent) -> servers of a fleet: the bins `pack_placement` fills (extract and verify)."""
    servers = {(s, "own"): new.get(s, 0) + old.get(s, 0) for s in sorted(set(new) | set(old))}
    servers.update({(s, "rent"): n for s, n in rented.items()})
    return servers


def pack_placement(deployments: list, servers: dict[tuple[str, str], int], domain_of, gpus_of) -> list[dict]:
    """First-fit-decreasing of every replica's TP/EP groups onto the servers of its system and mode (exists by
    server_fit); a replica larger than a server takes whole consecutive servers and is listed on each."""
    out = []
    by_sm: dict[tuple[str, str], list] = defaultdict(list)
    for d in deployments:
        by_sm[(d.system, d.mode)].append(d)
    for (s, mode), n in sorted(servers.items()):
        G, D = gpus_of(s), domain_of(s)
        full, rest = divmod(G, D)
        bins = [[D] * full + ([rest] if rest else []) for _ in range(n)]
        deps: list[dict[str, int]] = [dict() for _ in range(n)]
        items = []
        for d in sorted(by_sm.get((s, mode), []), key=lambda d: d.key):
            for _ in range(d.replicas):
                items.append((d.group_gpus, d.gpus_per_replica // max(d.group_gpus, 1), d.key))
        # whole replicas first (largest group first), each on the first server with room for all its groups;
        # where none has room, its groups go one by one (pipeline stages across servers) and it is listed on
        # every server it touches
        items.sort(key=lambda it: (-it[0] * it[1], -it[0], it[2]))
        first = _FirstFit(bins)
        for g, count, key in items:
            touched = first.whole(g, count)
            if touched is None:
                touched = first.groups(g, count)
            for j in touched:
                deps[j][key] = deps[j].get(key, 0) + 1
        out.extend({"system": s, "mode": mode, "deployments": dd} for dd in deps)
    return out


class _FirstFit:
    """First fit over servers whose free capacity only ever shrinks: for a fixed request the first server that
    can take it never moves back, so each request kind resumes where its last search stopped (linear in the
    servers per request kind, instead of per replica: a 10 MW plan has thousands of servers)."""

    def __init__(self, bins: list[list[int]]) -> None:
        self.bins = bins
        self.from_whole: dict[tuple[int, int], int] = {}
        self.from_group: dict[int, int] = {}

    def whole(self, g: int, count: int) -> list[int] | None:
        bins = self.bins
        for j in range(self.from_whole.get((g, count), 0), len(bins)):
            free = _take(bins[j], g, count)
            if free is not None:
                bins[j] = free
                self.from_whole[(g, count)] = j
                return [j]
        self.from_whole[(g, count)] = len(bins)
        return None

    def groups(self, g: int, count: int) -> list[int]:
        touched: list[int] = []
        bins = self.bins
        for _ in range(count):
            for j in range(self.from_group.get(g, 0), len(bins)):
                k = next((b for b, f in enumerate(bins[j]) if f >= g), None)
                if k is not None:
                    bins[j][k] -= g
                    if j not in touched:
                        touched.append(j)
                    self.from_group[g] = j
                    break
            else:
                self.from_group[g] = len(bins)
        return touched


def _take(free_bins: list[int], g: int, count: int) -> list[int] | None:
    """The server's free domains after placing `count` groups of `g` GPUs first-fit, or None if they do not fit."""
    free = list(free_bins)
    for _ in range(count):
        k = next((b for b, f in enumerate(free) if f >= g), None)
        if k is None:
            return None
        free[k] -= g
    return free
