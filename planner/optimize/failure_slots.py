r"""How many failure domains (server or rack slots) the `survive` model offers each system and mode, and the proof
that an optimal plan needs no more.

The slots start from an estimate (per workload, ceil(demand / its fastest candidate's output per server) plus the
N_w spares and min_replicas, summed, + 1; racks: ceil(servers / per rack) + 2) capped by supply and MAX_SLOTS.
The estimate alone can cut the optimum off: a slower candidate that needs more servers can still be cheaper
(3000 tok/s, survive 1 server: 6 servers of a 700 tok/s replica at 0.873 $/h against 2 of 3400 tok/s at
1.357 $/h; the estimate allowed 4). A cost argument bounds what any optimal plan can use (min_cost):

    every server, rack and charge costs >= 0 (else nothing is claimed), so a plan of objective <= C, with n_g
    domains of group g (system s, mode m, rack type r or a single server), pays at least
        n_g (F_g + P_r + G_s e_s)  +  sum_{c own} E+_c x_c   >=   n_g (F_g + P_r + G_s e_s) + E_LB,
        E_LB = sum_w (1 + h_w) D_w min_{c in w} E+_c / o_c           (energy of meeting demand, any split),
    F_g the cheapest $/h of one server of (s, m) (new or kept, rented), P_r the rack's $/h (each rack domain
    holds at least one server: rack_servers_used), E+_c = max(E_c, 0), e_s = min(0, min_c E_c / g_c) <= 0 (a
    replica drawing less than its GPUs' idle power takes at most G_s e_s off a server's cost; nothing is
    claimed where F_g + P_r + G_s e_s < 0 for some group); hence
        n_g <= K_g(C) = floor((C - E_LB) / (F_g + P_r + G_s e_s)).
    Owned servers kept in service cost less than bought ones (F_kept < F_new; no capital), but there are at most
    X_s of them: of the n_g servers the domains hold (one each at least, all distinct), at most X_s cost
    a = F_kept + P_r + G_s e_s and the rest at least b = F_new + P_r + G_s e_s >= a >= 0, so the domains cost
    at least the cheapest n_g of those: n_g a where n_g <= X_s, else X_s a + (n_g - X_s) b. Hence
        n_g <= floor((C - E_LB) / a)                              where that is < X_s (a > 0),
        n_g <= X_s + floor((C - E_LB - X_s a) / b)                otherwise (b = inf: nothing to buy, X_s),
    never more than K_g with F_g = F_kept, and finite where kept servers cost (next to) nothing (a = 0 gave
    K_g = inf: 48 slots, MAX_SLOTS, and a "bound reached" note).
    Any feasible plan of the full model (the slotted model is a restriction of it) gives such a C >= the optimum
    C*, and K_g is monotone in C, so slots U_g >= K_g(C) keep every optimum.

`check` compares the slots built with K_g(C) of the solved plan (C its objective, tie-break included): where some
uncapped U_g < K_g(C) the solve runs once more, from that plan, with U_g raised to K_g(C) (capped by supply, rack
count, MAX_SLOTS); then U_g >= K_g(C) >= K_g(C*) and only MAX_SLOTS can still cut an optimum. A solve that finds no
plan takes the hourly budget as C, where there is one (the estimate can leave only plans over budget). Groups with
U_g >= K_g are proven ("cost"). The ratio objective takes the min-cost plan's slots, where its optimum can cost
more (a full rack of servers can have the better ratio): under an hourly budget B every plan costs <= B, so U_g >=
K_g(B) keeps every ratio optimum; so does K_g of N_cap C_tb(x0) / N(x0) where every workload's credit is capped
(solve._ratio_upper_usd_per_hour); otherwise no slot count is claimed enough. Notes: a group filled up to its
supply or rack count (real limits, said); one capped by MAX_SLOTS below its K_g ("bound reached: the optimum may
need more servers"); without a cost bound (the ratio objective without a budget or caps, max_throughput short of
its caps and without a budget: see solve._throughput_upper_usd_per_hour; a server, rack or charge costing less than
nothing) the same where every slot of a group is in use.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from planner.optimize.layout import KW_TOL, fits_rack

MAX_SLOTS = 48  # per slot group (system, mode, rack type): bounds the model size (a plan short of them says so)
# Slots over the estimate (servers: one; racks: two over those its servers fill): room for a plan the estimate
# misjudges before `check` has to solve again. Assumed, not measured; `check` proves or raises the count anyway.
SPARE_SERVER_SLOTS = 1
SPARE_RACK_SLOTS = 2
# a quotient of $/h that is a whole number of domains but for float noise (2.9999999999) counts as that number
# (assumed)
DOMAIN_COUNT_TOL = 1e-9
SlotKey = tuple[str, str, str | None]  # (system, own | rent, rack type or None for single-server domains)


@dataclass
class SlotGroup:
    """The slots of one system, mode and domain kind, and what stopped their number growing."""

    key: SlotKey
    per_rack: int  # most servers of the system one domain holds (1: a single server)
    slots: int
    limit: str  # "estimate" (unproven) | "cost" (proven by `check`) | "supply" | "rack count" | "MAX_SLOTS"


def _capped(want: int, cap: float, cap_name: str) -> tuple[int, str]:
    if cap <= min(want, MAX_SLOTS):
        return int(max(cap, 0)), cap_name
    if want >= MAX_SLOTS:
        return MAX_SLOTS, "MAX_SLOTS"
    return want, "estimate"


def _server_estimate(ix, s: str, rows: list[int]) -> int:
    inst = ix.inst
    sd = inst.systems[s]
    total = 0
    by_w: dict[str, list[int]] = defaultdict(list)
    for i in rows:
        by_w[ix.workload[i]].append(i)
    for w, rs in by_w.items():
        wl = inst.workloads[w]
        best = max(ix.out[i] * (sd.gpus // ix.gpus[i]) for i in rs)
        need = wl.required_out_tok_s if ix.enforce_demand else 0.0
        total += (math.ceil(need / best) if best > 0 and need > 0 else 0) + wl.survive_count + wl.min_replicas
    return total + SPARE_SERVER_SLOTS


def _server_cap(inst, s: str, mode: str) -> float:
    sd = inst.systems[s]
    if mode == "own":
        return sd.existing + (sd.supply if sd.buy and sd.supply is not None else math.inf if sd.buy else 0)
    return sd.rent_supply if sd.rent_supply is not None else math.inf


def slot_groups(ix, s: str, mode: str, rows: list[int], racked: bool, floors: dict) -> list[SlotGroup]:
    """The slot groups of system `s` and `mode`: single servers, or one group per rack type that holds s;
    `floors` (SlotKey -> slots) raises the estimate (`check`'s K_g)."""
    inst = ix.inst
    servers, limit = _capped(max(_server_estimate(ix, s, rows), floors.get((s, mode, None), 0)),
                             _server_cap(inst, s, mode), "supply")
    if not racked:
        return [SlotGroup((s, mode, None), 1, servers, limit)]
    out = []
    for rid, per in rack_capacity(inst, s):
        r = inst.racks[rid]
        want = max(math.ceil(servers / per) + SPARE_RACK_SLOTS, floors.get((s, mode, rid), 0))
        n, lim = _capped(want, r.count if r.count is not None else math.inf, "rack count")
        out.append(SlotGroup((s, mode, rid), per, n, lim))
    return out


def rack_capacity(inst, s: str) -> list[tuple[str, int]]:
    """(rack type, most servers of s per rack) for each rack type that holds s."""
    sd = inst.systems[s]
    out = []
    for rid, r in sorted(inst.racks.items()):
        if not fits_rack(sd, r):
            continue
        per = min(r.units // max(sd.rack_units or 1, 1), int((r.max_kw + KW_TOL) // sd.nameplate_kw))
        if per >= 1:
            out.append((rid, per))
    return out


def _server_prices(sd, mode: str) -> tuple[int, float, float]:
    """(X, a, b): at most X servers of (s, mode) cost a $/h each, every other one b >= a (own: the X kept in
    service, the rest bought, b = inf where none can be; rented: X = 0)."""
    if mode == "rent":
        return 0, sd.rent_usd_per_hour, sd.rent_usd_per_hour
    new = sd.new_usd_per_hour if sd.buy else math.inf
    if not sd.existing or sd.existing_usd_per_hour >= new:
        return 0, new, new
    return sd.existing, sd.existing_usd_per_hour, new


def _most_domains(room_usd_per_hour: float, cheap: int, usd_a: float, usd_b: float) -> float:
    """The most domains `room` $/h pays for when `cheap` of them cost >= usd_a each and the rest >= usd_b >= usd_a
    >= 0 (the cheapest n first: module docstring)."""
    if usd_b <= 0:
        return math.inf
    if usd_a > 0 and room_usd_per_hour < cheap * usd_a:
        return math.floor(room_usd_per_hour / usd_a + DOMAIN_COUNT_TOL)
    return cheap + math.floor((room_usd_per_hour - cheap * usd_a) / usd_b + DOMAIN_COUNT_TOL)


def cost_bounds(ix, upper_usd_per_hour: float, cost_coefs: dict[int, float]) -> dict[SlotKey, float] | None:
    """K_g(C) of every slot group (module docstring), C = `upper_usd_per_hour`, `cost_coefs` the objective's $/h
    per variable (constraints.cost_coefs; passed in: constraints imports this module's users); None where some
    server, rack or charge costs less than nothing, or a server with its replicas could (no bound is claimed)."""
    energy_vars = {ix.x[i] for i in range(len(ix.keys))}
    if any(c < 0 for v, c in cost_coefs.items() if v not in energy_vars):
        return None
    credit = _idle_credit_usd_per_hour(ix)
    prices = {}  # (X, a, b) per domain: each domain holds at least one server (module docstring)
    for g in ix.domains.groups:
        s, mode, rid = g.key
        cheap, usd_a, usd_b = _server_prices(ix.inst.systems[s], mode)
        extra = credit.get((s, mode), 0.0) + (ix.inst.racks[rid].usd_per_hour if rid else 0.0)
        prices[g.key] = (cheap, usd_a + extra, usd_b + extra)
    if any(a < 0 for _, a, _ in prices.values()):
        return None
    energy_lb = 0.0
    for w, rows in ix.by_workload.items():
        per_tok = [max(ix.energy_usd_per_hour[i], 0.0) / ix.out[i] for i in rows if ix.out[i] > 0]
        if per_tok and ix.enforce_demand:
            energy_lb += ix.inst.workloads[w].required_out_tok_s * min(per_tok)
    room = upper_usd_per_hour - energy_lb
    return {k: _most_domains(room, *p) for k, p in prices.items()}


def _idle_credit_usd_per_hour(ix) -> dict[tuple[str, str], float]:
    """(system, mode) -> the most a server's replicas can take off its cost (<= 0): a replica drawing less than
    its GPUs' idle power has a negative energy term E_c, at most G_s min_c E_c / g_c over a server's G_s GPUs
    (E_LB then counts the other replicas' energy, E_c >= 0, alone)."""
    out: dict[tuple[str, str], float] = {}
    for i in range(len(ix.keys)):
        s, mode = ix.system[i], ix.mode[i]
        per_gpu = min(ix.energy_usd_per_hour[i], 0.0) / max(ix.gpus[i], 1)
        out[(s, mode)] = min(out.get((s, mode), 0.0), ix.inst.systems[s].gpus * per_gpu)
    return out


def check(ix, upper_usd_per_hour: float, cost_coefs: dict[int, float]) -> dict[SlotKey, float] | None:
    """After a min-cost solve of objective `upper_usd_per_hour`: the floors (K_g) for a solve whose optimum no
    slot bound cuts, or None when the slots built already prove the plan (groups with U_g >= K_g are marked
    "cost"; a group capped below its K_g keeps its cap as the reason)."""
    bounds = cost_bounds(ix, upper_usd_per_hour, cost_coefs)
    return None if bounds is None else settle(ix, bounds)


def settle(ix, bounds: dict[SlotKey, float]) -> dict[SlotKey, float] | None:
    """`check` with the K_g already known (`cost_bounds`)."""
    ix.domains.checked = True
    groups = ix.domains.groups
    if any(g.limit == "estimate" and bounds[g.key] > g.slots for g in groups):
        return {g.key: max(g.slots, bounds[g.key]) for g in groups}
    for g in groups:
        if g.limit in ("estimate", "MAX_SLOTS") and bounds[g.key] <= g.slots:
            g.limit = "cost"
    return None


def full_slot_notes(ix, values: list[float]) -> list[str]:
    """A note per slot group the plan may be short of: capped by MAX_SLOTS (or an estimate no cost proved) below
    what an optimum could use, or, unchecked (no cost bound: module docstring), every slot in use; and one per
    group whose every slot the plan uses up to its supply or rack count."""
    dom = ix.domains
    if dom is None:
        return []
    used: dict[SlotKey, int] = defaultdict(int)
    for sl in dom.slots:
        used[(sl.system, sl.mode, sl.rack)] += round(values[sl.used]) >= 1
    notes = []
    for g in dom.groups:
        full = g.slots > 0 and used[g.key] >= g.slots
        s, mode, rid = g.key
        what = f"{g.slots} {'racks of type ' + rid if rid else 'servers'} of {s} ({mode})"
        if g.limit in ("supply", "rack count") and full:
            notes.append(f"survive: the plan uses all {what}, the most its {g.limit} allows")
        elif g.limit in ("estimate", "MAX_SLOTS") and (full or dom.checked):
            notes.append(f"survive: the plan uses {used[g.key]} of the {what} the model offers ({g.limit}); "
                         "bound reached: the optimum may need more servers")
    return notes
