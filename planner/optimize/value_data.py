"""What tokens earn and when they are asked for, resolved for the model (issue 10).

`resolve_values(problem)` turns the problem's `value` / `priority` / `demand_profile` fields into plain data on the
`Instance`: a price per workload (its own, else the problem-wide default), priority weights, and the hour classes
of the demand profiles (empty when no workload has a profile: one class, the peak, as before).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner.investment import tier_price_usd_per_mtok, token_revenue_usd_per_hour
from planner.optimize.hours import DailyProfile, HourClass, hour_classes


@dataclass(frozen=True)
class TokenPricing:
    usd_per_mtok_output: float
    usd_per_mtok_input: float = 0.0
    tiers: tuple[tuple[float, float], ...] = ()  # (min_tok_s_per_user, usd_per_mtok_output), slowest first

    def output_price(self, tpot_s: float) -> float:
        """$/Mtok of output for a service whose users see 1 / TPOT tokens per second."""
        return tier_price_usd_per_mtok(1.0 / tpot_s if tpot_s > 0 else 0.0, self.usd_per_mtok_output, self.tiers)

    def usd_per_hour_per_out_tok_s(self, tpot_s: float, isl: int, osl: int) -> float:
        """Revenue per hour of one output token per second sold, with its isl/osl input tokens."""
        return token_revenue_usd_per_hour(1.0, self.output_price(tpot_s), isl / osl, self.usd_per_mtok_input)


@dataclass(frozen=True)
class ValueData:
    pricing: dict[str, TokenPricing]  # workload -> price (only workloads that have one)
    priority: dict[str, float]  # workload -> weight (only workloads that give one)
    hour_classes: tuple[HourClass, ...]  # () without profiles
    profiles: dict[str, DailyProfile | None] = field(default_factory=dict)  # as given, for verify


def resolve_values(problem) -> ValueData:
    default = problem.value
    pricing: dict[str, TokenPricing] = {}
    priority: dict[str, float] = {}
    profiles: dict[str, DailyProfile | None] = {}
    for w in problem.workloads:
        v = w.value if w.value is not None else (default if w.priority is None else None)
        if v is not None:
            pricing[w.id] = TokenPricing(v.usd_per_mtok_output, v.usd_per_mtok_input, v.tier_pairs())
        if w.priority is not None:
            priority[w.id] = float(w.priority)
        p = w.demand_profile
        profiles[w.id] = DailyProfile(tuple(p.weekday), tuple(p.weekend)) if p is not None else None
    classes = tuple(hour_classes(profiles)) if any(p is not None for p in profiles.values()) else ()
    return ValueData(pricing, priority, classes, profiles)


def sell(offers: dict[float, float], cap: float | None) -> dict[float, float]:
    """Tokens sold per price: `offers` maps $/h per tok/s (or a weight) to the capacity offered at it; the
    best-paid capacity sells first, up to `cap` tok/s in all (no cap: everything). What a profit-maximizing
    seller does with a given fleet, and what the MIP's sales variables reach at its optimum."""
    left = math.inf if cap is None else cap
    sold: dict[float, float] = {}
    for rate in sorted(offers, reverse=True):
        take = max(0.0, min(offers[rate], left))
        sold[rate] = take
        left -= take
    return sold


def sales_cap(demand_out_tok_s: float | None, required_out_tok_s: float, objective: str,
              demand_cap_multiple: float | None) -> float | None:
    """Most output tok/s a workload can sell: its demand (max_throughput: with headroom, as its credit cap),
    times demand_cap_multiple; None without a demand (an open market)."""
    if not demand_out_tok_s:
        return None
    base = required_out_tok_s if objective == "max_throughput" else demand_out_tok_s
    return base * (demand_cap_multiple or 1.0)
